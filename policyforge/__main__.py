"""``python -m policyforge`` is the ``policyforge`` console script."""

from policyforge.main import main

raise SystemExit(main())
