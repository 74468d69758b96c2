"""The one error tree of policyforge, rooted here because the simulator is the lowest layer.

Every error raised on purpose is a `PolicyforgeError`: a message that says what to do, and the
context that caused it (a file with line and column for a bad input file, the tick and the
offending decision for a policy's mistake, the suite or case, the run folder). ``to_dict()`` gives
the structured form the command line prints under ``{"error": {...}}``. Each layer subclasses it
in its own ``errors`` module::

    PolicyforgeError
    ├── SimulatorError                  simulator/errors.py
    │   ├── InputFileError              ParamsError, TraceError, PolicyLoadError
    │   └── RunError                    PolicyDecisionError, PolicyException, WorkloadError,
    │                                   ReplayError
    ├── TracesError                     traces/errors.py: SuiteError
    ├── SandboxError                    sandbox/errors.py: EngineUnavailable, ImageError,
    │                                   ImageMissing, SandboxRunError, ProtocolError
    ├── ToolError                       tools/errors.py
    └── AgentError                      agents/errors.py: model, budget, objective, run folder,
                                        review, export and heuristic errors

(`simulator.workload.EudoxiaException` is not in the tree: it is Eudoxia's own exception, part of
the policy API.)
"""

from __future__ import annotations

from typing import Any


class PolicyforgeError(Exception):
    """Base class of every error policyforge raises on purpose."""

    kind = "error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """Structured form for JSON output."""
        return {"kind": self.kind, "message": self.message, **self.context}

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.context.items() if k != "traceback")
        return f"{self.message} ({where})" if where else self.message


class SimulatorError(PolicyforgeError):
    """Base class of every error the simulator raises on purpose."""

    kind = "simulator_error"


class InputFileError(SimulatorError):
    """A params, trace or policy file that cannot be used: names file, line, column."""

    kind = "input_error"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, column=column, field=field)
        self.file, self.line, self.column, self.field = file, line, column, field

    def __str__(self) -> str:
        loc = self.file or "<input>"
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        extra = f" (field {self.field!r})" if self.field else ""
        return f"{loc}: {self.message}{extra}"


class ParamsError(InputFileError):
    """Bad params TOML or a bad parameter value."""

    kind = "params_error"


class TraceError(InputFileError):
    """Bad trace CSV."""

    kind = "trace_error"


class PolicyLoadError(InputFileError):
    """A policy file that cannot be loaded or registers the wrong keys."""

    kind = "policy_load_error"


class RunError(SimulatorError):
    """Something went wrong during a run, at a known tick."""

    kind = "run_error"

    def __init__(self, message: str, *, tick: int | None = None, **context: Any) -> None:
        super().__init__(message, tick=tick, **context)
        self.tick = tick


class PolicyDecisionError(RunError):
    """A decision the policy returned that Eudoxia rejects (over-allocation, bad suspend...)."""

    kind = "policy_decision_error"


class PolicyException(RunError):
    """The policy itself raised an exception."""

    kind = "policy_exception"


class WorkloadError(RunError):
    """The workload cannot be simulated the way Eudoxia would (e.g. zero-length operators)."""

    kind = "workload_error"


class ReplayError(RunError):
    """A decision log that does not fit the trace and params it is replayed on."""

    kind = "replay_error"
