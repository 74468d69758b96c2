"""A scripted run in its own process, for the kill-and-resume test.

    python -m tests.agents.fault_run start RUNS_DIR RUN_ID [POPULATION WORKERS]
    python -m tests.agents.fault_run resume RUN_DIR [ray]

With a population and workers > 1 the run evaluates on an embedded Ray in the Docker sandbox
(``resume RUN_DIR ray`` continues it so); otherwise in this process on the local backend.

Answers come from responders (`tests.agents.scripted.responders`), so the resumed process gives
the same answers as an uninterrupted run would. Prints the outcome as JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents.budget import BudgetLimits
from agents.lifecycle import resume_run, start_run
from agents.run_config import RunConfig
from agents.scripted import scripted_configs, scripted_models
from policyforge.exit_codes import run_exit_code
from sandbox.local_backend import LocalBackend
from tests.agents.scripted import responders


def main(argv: list[str]) -> int:
    models = scripted_models(responders())
    if argv[0] == "start":
        population, workers = (int(argv[3]), int(argv[4])) if len(argv) > 3 else (1, 1)
        ray = workers > 1
        config = RunConfig(run_id=argv[2], goal="most completed pipelines", suite="small",
                           models=scripted_configs(), budget=BudgetLimits(max_iterations=5),
                           timeout_s=120, population=population, workers=workers,
                           sandbox="docker" if ray else "auto")
        outcome = start_run(config, argv[1], chat_models=models,
                            backend=None if ray else LocalBackend(warn=False))
    else:
        ray = argv[2:] == ["ray"]
        outcome = resume_run(Path(argv[1]), chat_models=models,
                             backend=None if ray else LocalBackend(warn=False))
    print(outcome.model_dump_json())
    return run_exit_code(outcome.status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
