"""The sandbox: static checks, the Docker image and runners, host-side verification.

Kept import-free: the image carries this package's runner, which needs only the standard
library and the simulator.
"""

# The modules other packages may import (tests/house/test_surface.py guards it); strings only,
# so the package stays import-free.
__all__ = [
    "backend", "daemon", "errors", "evaluation", "executor", "image", "protocol", "reaper",
    "registry",
    "static_checks", "verify",
]
