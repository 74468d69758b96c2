"""What crosses the sandbox boundary, as pydantic models.

`SandboxRequest` goes in (policy, cases with their trace text, what to record); `SandboxResult`
comes out of the runner (`sandbox.runner`, which stays stdlib-only and writes the same shape as
plain JSON). Everything in a result is untrusted until `sandbox.verify` has replayed it: these
models only check its shape. `EvaluationReport` is what ``policyforge evaluate --json`` prints.

Results are parsed with the standard library's ``json`` (which reads ``NaN`` and ``Infinity`` as
Python writes them) and then validated, so floats reach verification exactly as they were sent.
Decision logs are validated entry by entry but kept as the raw dicts the runner sent, so a
replay sees exactly the values (ints stay ints) the policy produced.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as _ValidationError

from sandbox.errors import ProtocolError

Number = StrictInt | StrictFloat


class SandboxCase(BaseModel):
    """One (params, trace) pair, the trace as CSV text (never a file in the sandbox)."""

    name: str
    params: dict[str, Any]
    trace_csv_text: str


class SandboxRequest(BaseModel):
    """A batch: one policy (source or built-in key) on several cases."""

    protocol: Literal["policyforge-sandbox/1"] = "policyforge-sandbox/1"
    policy_source: str | None = None
    policy_filename: str = "policy.py"
    policy_builtin: str | None = None
    cases: list[SandboxCase]
    record_decisions: bool = True
    check_determinism: bool = True
    workers: int = Field(default=1, ge=1)
    deadline_seconds: float = Field(gt=0)

    @model_validator(mode="after")
    def _one_policy(self) -> SandboxRequest:
        if (self.policy_builtin is None) == (self.policy_source is None):
            raise ValueError("give exactly one of policy_source and policy_builtin")
        return self

    def to_bytes(self) -> bytes:
        """The request as the runner reads it on stdin."""
        return self.model_dump_json().encode("utf-8")


class SuspendDecision(BaseModel):
    """A logged `Suspend`."""

    model_config = ConfigDict(extra="forbid")
    container_id: str
    pool_id: StrictInt


class AssignmentDecision(BaseModel):
    """A logged `Assignment` (operators as [pipeline sequence, row] pairs)."""

    model_config = ConfigDict(extra="forbid")
    ops: list[tuple[StrictInt, StrictInt]] = Field(min_length=1)
    cpu: Number
    ram: Number
    priority: Literal["QUERY", "INTERACTIVE", "BATCH_PIPELINE"]
    pool_id: StrictInt
    pipeline_id: str


class DecisionEntry(BaseModel):
    """One policy call that decided something."""

    model_config = ConfigDict(extra="forbid")
    tick: StrictInt
    suspensions: list[SuspendDecision]
    assignments: list[AssignmentDecision]


class CaseResult(BaseModel):
    """What the sandbox says happened on one case."""

    name: str
    status: Literal["ok", "error", "timeout", "crashed", "skipped"]
    stats: dict[str, Any] | None = None
    decisions: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None
    seconds: float | None = None
    policy_calls: int | None = None  # ticks on which the engine called the policy
    ticks: int | None = None  # ticks the case lasts

    @field_validator("decisions")
    @classmethod
    def _decisions_well_formed(cls, value: list[dict[str, Any]] | None) -> Any:
        for entry in value or []:
            DecisionEntry.model_validate(entry)
        return value  # the raw entries, for an exact replay


class DeterminismCheck(BaseModel):
    """The digest of the first case's decisions from a second, separate run."""

    case: str
    status: str
    decisions_sha256: str | None = None


class SandboxResult(BaseModel):
    """The runner's one JSON object."""

    protocol: Literal["policyforge-sandbox/1"]
    cases: list[CaseResult]
    determinism: DeterminismCheck | None = None
    error: dict[str, Any] | None = None
    seconds: float | None = None


def result_lines(stdout: bytes) -> tuple[list[bytes], bytes]:
    """The runner's output split into its streamed case lines and its last (summary) line."""
    lines = [line for line in stdout.split(b"\n") if line.strip()]
    if not lines:
        return [], b""
    return lines[:-1], lines[-1]


def parse_case_line(line: bytes) -> tuple[int, CaseResult]:
    """One streamed ``{"stream_case": {...}, "index": i}`` line, validated."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"a streamed case line is not JSON ({exc}); it starts "
                            f"{line[:80]!r}") from None
    if not isinstance(data, dict) or set(data) != {"stream_case", "index"} or \
            not isinstance(data["index"], int):
        raise ProtocolError(f"a streamed line is not a case result; it starts {line[:80]!r}")
    try:
        return data["index"], CaseResult.model_validate(data["stream_case"])
    except _ValidationError as exc:
        first = exc.errors()[0]
        where = "stream_case." + ".".join(str(p) for p in first["loc"])
        raise ProtocolError(f"the sandbox's result is malformed at {where}: {first['msg']}",
                            field=where) from None


def parse_result(stdout: bytes,
                 parsed: dict[bytes, tuple[int, CaseResult]] | None = None) -> SandboxResult:
    """Validate the runner's stdout: case lines, then exactly one JSON object of the result's
    shape; the streamed cases join its ``cases``. ``parsed`` maps case lines already validated
    (as they streamed in) to their result, so they are not parsed twice."""
    streamed, last = result_lines(stdout)
    try:
        data = json.loads(last.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(
            f"the sandbox's output is not one JSON document ({exc}); "
            f"it starts {stdout[:80]!r}"
        ) from None
    try:
        result = SandboxResult.model_validate(data)
    except _ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(
            f"the sandbox's result is malformed at {where}: {first['msg']}", field=where
        ) from None
    known = parsed or {}
    cases = sorted((known[line] if line in known else parse_case_line(line) for line in streamed),
                   key=lambda indexed: indexed[0])  # the request's order, not the finishing one
    result.cases = [c for _, c in cases] + result.cases
    return result


# --- the evaluation report ---------------------------------------------------------------------

Status = Literal["ok", "rejected", "failed", "timeout", "unverifiable"]
# Why a case, or an evaluation, has no verified result (`sandbox.evaluation` defines both): its
# run failed by the policy's own doing (an objective may count such a case at a fixed figure), or
# a trust failure (which always fails the evaluation).
Failure = Literal["run", "trust"]


class TraceOutcome(BaseModel):
    """One case of the suite: the host's verified statistics, or why there are none."""

    name: str
    status: str
    verified: bool = False
    stats: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    seconds: float | None = None
    # The case's bounds (what no policy can beat) and the verified run as fractions of them.
    bounds: dict[str, Any] | None = None
    bound_fractions: dict[str, float | None] | None = None
    # With ``profile=True``: where capacity went in the host's replay (OOM kills, idle CPU...).
    profile_summary: dict[str, float] | None = None
    # As the sandbox reported them (information, never part of a score): on how many of the
    # case's ticks the engine had to call the policy (every tick for a policy that reads the
    # clock on quiet calls).
    policy_calls: int | None = None
    ticks: int | None = None
    # None when verified; else "run" (the policy's error, or the time limit, ended the run) or
    # "trust" (anything else: see `sandbox.evaluation`).
    failure: Failure | None = None


class Verification(BaseModel):
    """How many cases the host replayed and found equal."""

    verified: int = 0
    compared: int = 0
    determinism: str | None = None


class SandboxInfo(BaseModel):
    """Which backend ran the batch, with its timings."""

    backend: str
    isolation: str
    image: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    output_bytes: int = 0
    notes: list[str] = Field(default_factory=list)


class EvaluationReport(BaseModel):
    """``policyforge evaluate --json``: status, reason, findings, per-trace and aggregate."""

    status: Status
    reason: str | None = None
    policy: str
    suite: str | None = None
    part: str | None = None
    findings: list[dict[str, Any]] = Field(default_factory=list)
    traces: list[TraceOutcome] = Field(default_factory=list)
    aggregate: dict[str, float | None] = Field(default_factory=dict)
    # Medians over verified cases of each metric as a fraction of its bound (1.0 = best possible).
    bound_fractions: dict[str, float | None] = Field(default_factory=dict)
    verification: Verification = Field(default_factory=Verification)
    # With ``profile=True``: the host's full run profile of the first verified case.
    profile: dict[str, Any] | None = None
    sandbox: SandboxInfo | None = None
    error: dict[str, Any] | None = None
    # The most serious failure: None when every case was verified, "run" when the only failures
    # are failed runs, "trust" when anything else went wrong (`sandbox.evaluation`).
    failure: Failure | None = None
    # Set when the caller's objective counts each failed run at this figure
    # (`sandbox.evaluation.count_failed_runs`): the status is then ``ok``.
    failed_run_value: float | None = None

    def to_json(self) -> str:
        """One JSON object, NaN and infinities written as Python's json writes them."""
        return json.dumps(self.model_dump(mode="python"))
