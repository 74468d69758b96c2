"""One evaluation: static checks, a sandboxed batch, host-side verification, one report.

``evaluate_policy`` is what ``policyforge evaluate`` and, later, the agents' evaluate node call.
The order is the trust order: static checks first (findings go back to the coder), then the
sandbox runs every case, then the host believes only the statistics it recomputed itself. The
report's numbers are always the host's; a case the host could not reproduce has none.

Statuses: ``ok`` (every case ran and was verified; once the caller's objective counts failed
runs, `count_failed_runs`, also a report whose only failures are failed runs), ``rejected``
(static checks found errors; nothing ran), ``failed`` (the policy or the sandbox failed: an
exception, a policy mistake, a crash, output over the cap, malformed output), ``timeout`` (a case
or the batch ran out of time), ``unverifiable`` (the host's replay disagrees with what the
sandbox reported, or two runs of the same case decided differently).

Failed runs and trust failures (each case's ``failure``, and the report's). A case's *run fails*
when the policy itself ends it inside the simulation (`case_failure`): it raises (the simulator's
``policy_exception``), returns a decision Eudoxia refuses (``policy_decision_error``:
over-allocation, a bad operator state, an impossible suspension), or runs out of time (the case
``timeout``s, or is ``skipped`` because the batch's deadline passed before it started). That is
the policy's own result on that case, as a built-in's failure is a baseline's (`agents.baselines`
classifies those the same way), and an objective may count it at a fixed figure
(`agents.objective.Objective.failed_case_value`) instead of failing the candidate. Everything
else is a *trust failure*, which fails the evaluation whatever the objective says: static-check
errors, a batch that timed out (the host's kill), printed too much, exited uncleanly or returned
malformed output, a runner error, a case process that crashed (a sandbox limit killed it) or that
the sandbox returned no result for, a case whose result the host's replay does not reproduce
(forged or tampered statistics), and non-determinism (the first case's repeat decided
differently). A trust failure outranks any failed run in the report's status and reason.

A failed run is the sandbox's word (there is no finished run to replay), so a policy could fail
on purpose, or claim to: it never gains by it as long as the figure counted is no better than the
worst a finished run can reach (on ``scales``, 2 x ``max_job_seconds``, the figure of a run that
completes nothing).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.backend import Backend, Limits, RawRun, cpu_set
from sandbox.errors import ProtocolError, SandboxError
from sandbox.protocol import (
    CaseResult,
    EvaluationReport,
    Failure,
    SandboxCase,
    SandboxInfo,
    SandboxRequest,
    SandboxResult,
    Status,
    TraceOutcome,
    Verification,
    parse_result,
)
from sandbox.verify import determinism_problem, verify_case
from simulator.gc_pause import no_automatic_gc


@dataclass(frozen=True)
class PolicyInput:
    """The policy to evaluate: a file's source, or a built-in key."""

    label: str
    source: str | None = None
    filename: str = "policy.py"
    builtin: str | None = None


@dataclass(frozen=True)
class CaseInput:
    """One (params, trace) case, with the trace as CSV text."""

    name: str
    params: dict[str, Any]
    trace_csv_text: str


def policy_input(policy: str) -> PolicyInput:
    """A policy file path or a built-in key; `SandboxError` names what is wrong."""
    from simulator.policy_loader import builtin_keys, is_policy_path

    if is_policy_path(policy):
        path = Path(policy)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SandboxError(f"cannot read policy file {policy}: {exc}", file=policy) from None
        return PolicyInput(policy, source=source, filename=path.name)
    if policy not in builtin_keys():
        raise SandboxError(
            f"{policy!r} is neither a policy file nor a built-in policy "
            f"(built-ins: {', '.join(builtin_keys())})"
        )
    return PolicyInput(policy, builtin=policy)


def suite_inputs(suite: str, part: str) -> list[CaseInput]:
    """The cases of a named suite's search or held-out part, traces read into memory."""
    from traces.suites import get_suite

    s = get_suite(suite)
    cases = s.search_cases() if part == "search" else s.held_out_cases()
    return [CaseInput(c.name, dict(c.params), Path(c.trace_path).read_text(encoding="utf-8"))
            for c in cases]


def evaluate_policy(
    policy: PolicyInput,
    cases: list[CaseInput],
    backend: Backend,
    limits: Limits,
    *,
    static_checks: bool = True,
    suite: str | None = None,
    part: str | None = None,
    profile: bool = False,
) -> EvaluationReport:
    """Check, run in ``backend``, verify on the host; never raises for anything the policy does."""
    report = EvaluationReport(status="ok", policy=policy.label, suite=suite, part=part)
    if static_checks and policy.source is not None:
        from sandbox.static_checks import check_policy_source

        checked = check_policy_source(policy.source, policy.filename)
        report.findings = [f.to_dict() for f in checked.findings]
        if not checked.ok:
            first = checked.errors[0]
            return _end(report, "rejected", f"static checks: {first.format(policy.filename)}")
        oracle = [f for f in checked.findings if f.rule == "oracle-info"]
        if oracle and suite and _estimates_only(suite):
            report.findings = [{**f, "severity": "error"} if f["rule"] == "oracle-info" else f
                               for f in report.findings]
            first = oracle[0].model_copy(update={"severity": "error"})
            return _end(report, "rejected",
                        f"static checks: {first.format(policy.filename)} (suite {suite} is "
                        "estimates-only: a policy there sees op.estimate, never the true profile)")
    with _pinned(limits.cpuset):
        return _run_and_verify(report, policy, cases, backend, limits, profile)


@contextlib.contextmanager
def _pinned(cpuset: str | None) -> Any:
    """This thread (the replay, and the threads and local runner it starts) on ``cpuset``."""
    if not cpuset or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpu_set(cpuset))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _run_and_verify(report: EvaluationReport, policy: PolicyInput, cases: list[CaseInput],
                    backend: Backend, limits: Limits, profile: bool) -> EvaluationReport:
    request = SandboxRequest(
        policy_source=policy.source,
        policy_filename=policy.filename,
        policy_builtin=policy.builtin,
        cases=[SandboxCase(name=c.name, params=c.params, trace_csv_text=c.trace_csv_text)
               for c in cases],
        workers=limits.workers,
        deadline_seconds=limits.runner_deadline,
    )
    early = StreamedReplay(cases, profile) if getattr(backend, "streams", False) else None
    if early is not None:
        raw = backend.run(request.to_bytes(), limits, on_stdout=early.feed)  # type: ignore[call-arg]
    else:
        raw = backend.run(request.to_bytes(), limits)
    exited = time.monotonic()
    report.sandbox = SandboxInfo(backend=backend.name, isolation=backend.isolation,
                                 image=backend.image, timings=dict(raw.timings),
                                 output_bytes=len(raw.stdout), notes=list(raw.notes))
    problem = _batch_problem(raw, limits)
    if problem:
        if early is not None:
            early.abandon()
        return _end(report, *problem)
    # Only now, the runner having exited cleanly, may anything it printed be read.
    early_checks = early.finish() if early is not None else {}
    with no_automatic_gc():  # see StreamedReplay._check
        try:
            result = parse_result(raw.stdout, {line: (c.index, c.result)
                                               for line, c in early_checks.items()})
        except ProtocolError as exc:
            return _end(report, "failed", exc.message)
        if result.error:
            return _end(report, "failed", f"sandbox runner: {result.error.get('message')}")
        if result.seconds is not None:  # the runner's own figure: a timing to show, nothing more
            report_timing(report, "run_inside", result.seconds)
        done = {id(c.result): c for c in early_checks.values()}
        if early is not None:
            report_timing(report, "host_replay", early.seconds)
        final = _verify(report, cases, result, profile, done)
    report_timing(report, "after_exit", time.monotonic() - exited)
    return final


@dataclass
class CaseCheck:
    """The host's check of one case: the parsed result, its replay verdict, bounds, fractions."""

    result: CaseResult
    verdict: Any = None
    index: int = 0
    bounds: dict[str, Any] | None = None
    fractions: dict[str, float | None] | None = None


def check_case(case: CaseInput, got: CaseResult, profile: bool) -> CaseCheck:
    """Replay one case's decisions on the host and take its bounds (pure: the host's own data)."""
    trace_key = _digest(case.trace_csv_text)
    trace = _TRACES.get(trace_key, lambda: _parse_trace(case), size=len(case.trace_csv_text))
    verdict = verify_case(case.params, trace, got, profile=profile)
    check = CaseCheck(got, verdict)
    if verdict.verified:
        check.bounds, check.fractions = _bounds_of(case, trace_key, trace, verdict.replay)
    return check


class StreamedReplay:
    """Replays each case the runner streams while it still runs the next ones.

    What it computes is the host's own work on untrusted input, kept aside: `evaluate_policy`
    uses it only after the runner has exited cleanly, and only for the very lines it then parses
    as the result. A line that fails to parse is left for `parse_result` to report.
    """

    def __init__(self, cases: list[CaseInput], profile: bool) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.cases = {c.name: c for c in cases}
        self.profile = profile
        self.pending = bytearray()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay")
        self.futures: dict[bytes, Any] = {}
        self.seconds = 0.0

    def feed(self, data: bytes) -> None:
        """Take stdout bytes; each complete case line is queued for replay."""
        self.pending += data
        while (end := self.pending.find(b"\n")) >= 0:
            line = bytes(self.pending[:end])
            del self.pending[: end + 1]
            if line.startswith(b'{"stream_case"'):
                self.futures[line] = self.pool.submit(self._check, line)

    def _check(self, line: bytes) -> CaseCheck | None:
        from sandbox.protocol import parse_case_line

        t0 = time.monotonic()
        # Decoding a case's decision log makes thousands of containers, which would trigger the
        # automatic collector's full scans of this process's whole heap (0.16 s in the
        # evaluation benchmark; longer in a run's process) while the sandbox waits to be read;
        # what is made here is acyclic, so reference counting frees it.
        with no_automatic_gc():
            try:
                index, got = parse_case_line(line)
            except ProtocolError:
                return None
            case = self.cases.get(got.name)
            check = CaseCheck(got) if case is None or got.status != "ok" else \
                check_case(case, got, self.profile)
        check.index = index
        self.seconds += time.monotonic() - t0
        return check

    def finish(self) -> dict[bytes, CaseCheck]:
        """Wait for every queued replay; the checks by the line they came from."""
        self.pool.shutdown(wait=True)
        out = {line: f.result() for line, f in self.futures.items()}
        return {line: c for line, c in out.items() if c is not None}

    def abandon(self) -> None:
        """The runner did not exit cleanly: drop everything (nothing it printed counts)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.futures.clear()


def _estimates_only(suite: str) -> bool:
    """Whether suite ``suite`` refuses policies that read true resource profiles."""
    from traces.suites import get_suite

    return bool(getattr(get_suite(suite), "estimates_only", False))


def _batch_problem(raw: RawRun, limits: Limits) -> tuple[Status, str] | None:
    if raw.timed_out:
        return "timeout", f"the batch did not finish within {limits.timeout_seconds:g} s"
    if raw.output_overflow:
        return "failed", f"the sandbox printed more than {limits.output_bytes} bytes"
    if raw.exit_code is not None and raw.exit_code != 0:
        # The runner always exits 0 once it has printed its result; anything else means it was
        # killed (out of memory, or by the policy, which may have written to its stdout first),
        # so nothing it printed is believed.
        return "failed", f"the sandbox runner did not exit cleanly ({_exit_status(raw.exit_code)})"
    return None


def _exit_status(code: int) -> str:
    signal_number = -code if code < 0 else code - 128 if code > 128 else None
    if signal_number is None:
        return f"status {code}"
    try:
        name = signal.Signals(signal_number).name
    except ValueError:
        name = f"signal {signal_number}"
    hint = ": out of memory, or a policy killed it" if name == "SIGKILL" else ""
    return f"status {code}, killed by {name}{hint}"


def _verify(report: EvaluationReport, cases: list[CaseInput], result: SandboxResult,
            profile: bool = False, done: dict[int, CaseCheck] | None = None) -> EvaluationReport:
    done = done or {}
    by_name = {c.name: c for c in result.cases}
    verification = Verification()
    worst: Problem = OK
    for case in cases:
        got = by_name.get(case.name)
        missing = got is None
        if got is None:
            got = CaseResult(name=case.name, status="skipped",
                             error={"message": "the sandbox returned no result for this case"})
        outcome = TraceOutcome(name=case.name, status=got.status, error=got.error,
                               seconds=got.seconds, policy_calls=got.policy_calls,
                               ticks=got.ticks)
        report.traces.append(outcome)
        if got.status != "ok":
            outcome.failure = "trust" if missing else case_failure(got.status, got.error)
            worst = _worse(worst, (*_case_failure(got), outcome.failure))
            continue
        verification.compared += 1
        check = done.get(id(got))  # replayed while the sandbox ran (the very same result)
        if check is None or check.verdict is None:
            t0 = time.monotonic()
            check = check_case(case, got, profile)
            report_timing(report, "host_replay", time.monotonic() - t0)
        verdict = check.verdict
        if verdict.verified:
            verification.verified += 1
            outcome.verified, outcome.stats = True, verdict.stats
            outcome.bounds, outcome.bound_fractions = check.bounds, check.fractions
            if profile and verdict.replay.profile is not None:
                outcome.profile_summary = profile_summary(verdict.replay.profile)
                if report.profile is None:
                    report.profile = {"case": case.name, "profile": verdict.replay.profile}
        else:
            outcome.status, outcome.failure = "unverifiable", "trust"
            outcome.error = {"message": verdict.reason}
            worst = _worse(worst, ("unverifiable", f"{case.name}: {verdict.reason}", "trust"))
    first = by_name.get(cases[0].name) if cases else None
    nondeterministic = determinism_problem(first, result.determinism)
    repeated = (first is not None and first.status == "ok" and result.determinism is not None
                and result.determinism.status == "ok")  # both runs went to the end
    verification.determinism = nondeterministic or ("same decisions" if repeated else None)
    if nondeterministic:
        worst = _worse(worst, ("unverifiable", nondeterministic, "trust"))
    report.verification = verification
    report.aggregate = _aggregate([t.stats for t in report.traces if t.stats])
    report.bound_fractions = _median_fractions(
        [t.bound_fractions for t in report.traces if t.bound_fractions])
    return _end(report, *worst)


# The simulator's errors that are the policy's own doing inside a run (`simulator.errors`): an
# exception it raised, a decision Eudoxia refuses. Its run failed; nothing was untrustworthy.
POLICY_ERROR_KINDS = frozenset({"policy_exception", "policy_decision_error"})


def case_failure(status: str, error: dict[str, Any] | None) -> Failure | None:
    """What a case that ended with ``status`` (and ``error``) is, in the terms of the module
    doc: None when it ran to the end (the host's replay then decides), ``run`` when the policy's
    own error or the time limit ended its run, else ``trust``."""
    if status == "ok":
        return None
    if status in ("timeout", "skipped"):  # the runner skips a case only once its deadline passed
        return "run"
    if status == "error" and (error or {}).get("kind") in POLICY_ERROR_KINDS:
        return "run"
    return "trust"


def failed_runs(report: EvaluationReport) -> dict[str, str]:
    """The report's cases whose run failed, each with why (the simulator's message, where)."""
    return {t.name: failure_text(t.error) for t in report.traces if t.failure == "run"}


def counted_failed_runs(report: EvaluationReport) -> dict[str, str]:
    """The failed runs (case -> why) an evaluation report counted (`count_failed_runs`: each
    at ``report.failed_run_value``); none where it did not."""
    return failed_runs(report) if report.failed_run_value is not None else {}


def count_failed_runs(report: EvaluationReport, value: float) -> EvaluationReport:
    """``report`` as an objective that counts each failed run at ``value`` sees it: ``ok`` (and
    ``failed_run_value`` set) when its only failures are failed runs; unchanged otherwise (a
    trust failure fails the evaluation whatever the objective says)."""
    if report.failure != "run":
        return report
    return report.model_copy(update={"status": "ok", "reason": None, "failed_run_value": value})


def merge_reports(first: EvaluationReport, rest: EvaluationReport,
                  order: list[str]) -> EvaluationReport:
    """One suite's report from two batches (the agents' cascade: its first case, then the
    others), each checked, sandboxed, replayed on the host and repeated for determinism: the
    cases in ``order``, the verification counts added, the medians and bound fractions over
    every verified case, the more serious status, both batches' sandbox timings added."""
    by_name = {t.name: t for t in [*first.traces, *rest.traces]}
    status, reason, failure = _worse((first.status, first.reason, first.failure),
                                     (rest.status, rest.reason, rest.failure))
    checks = [v.determinism for v in (first.verification, rest.verification) if v.determinism]
    problems = [d for d in checks if d != "same decisions"]
    verification = Verification(
        verified=first.verification.verified + rest.verification.verified,
        compared=first.verification.compared + rest.verification.compared,
        determinism=problems[0] if problems else (checks[0] if checks else None))
    traces = [by_name[name] for name in order if name in by_name]
    sandbox = rest.sandbox or first.sandbox
    if first.sandbox is not None and rest.sandbox is not None:
        timings = dict(first.sandbox.timings)
        for key, value in rest.sandbox.timings.items():
            timings[key] = round(timings.get(key, 0.0) + value, 6)
        sandbox = rest.sandbox.model_copy(update={
            "timings": timings, "notes": [*first.sandbox.notes, *rest.sandbox.notes],
            "output_bytes": first.sandbox.output_bytes + rest.sandbox.output_bytes})
    return EvaluationReport(
        status=status, reason=reason, policy=first.policy, suite=first.suite, part=first.part,
        findings=first.findings, traces=traces, verification=verification,
        aggregate=_aggregate([t.stats for t in traces if t.stats]),
        bound_fractions=_median_fractions([t.bound_fractions for t in traces
                                           if t.bound_fractions]),
        profile=first.profile or rest.profile, sandbox=sandbox, error=first.error or rest.error,
        failure=failure)


_RANK = {"ok": 0, "unverifiable": 1, "failed": 2, "timeout": 3, "rejected": 4}
_FAILURE_RANK = {None: 0, "run": 1, "trust": 2}
# (status, reason, failure): how an evaluation, or a part of one, ended.
Problem = tuple[Status, str | None, Failure | None]
OK: Problem = ("ok", None, None)


def _worse(current: Problem, new: Problem) -> Problem:
    """Keep the first reason of the most serious problem: any trust failure before any failed
    run, then the more serious status."""
    def rank(p: Problem) -> tuple[int, int]:
        return _FAILURE_RANK[p[2]], _RANK[p[0]]

    return new if rank(new) > rank(current) else current


def _case_failure(case: CaseResult) -> tuple[Status, str]:
    status: Status = "timeout" if case.status == "timeout" else "failed"
    return status, f"{case.name}: {failure_text(case.error)}"


def failure_text(error: dict[str, Any] | None) -> str:
    """Why a case has no result: the message, with the policy file's line and the tick."""
    err = error or {}
    where = ""
    if err.get("file"):
        where = f" ({err['file']}" + (f":{err['line']}" if err.get("line") else "") + ")"
    if err.get("tick") is not None:
        where += f" at tick {err['tick']}"
    return f"{err.get('message') or 'no result'}{where}"


def _aggregate(stats: list[dict[str, Any]]) -> dict[str, float | None]:
    """Medians over the verified cases of each score metric (`traces.metrics.SCORE_METRICS`)."""
    from traces.metrics import SCORE_METRICS, metric_value

    out: dict[str, float | None] = {}
    for name in SCORE_METRICS:
        values = [metric_value(name, s) for s in stats]
        out[name] = statistics.median(values) if values else None
    return out


class DerivedCache:
    """Pure data derived from a case's own inputs, kept by content hash (never by policy), the
    oldest dropped once the sizes of what it holds pass ``budget``. Safe across threads."""

    def __init__(self, budget: int) -> None:
        import threading
        from collections import OrderedDict

        self.budget = budget
        self.held: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: str, derive: Callable[[], Any], size: int = 1) -> Any:
        """The value kept under ``key``, or ``derive()``'s, kept from now on."""
        with self.lock:
            if key in self.held:
                self.held.move_to_end(key)
                return self.held[key][0]
        value = derive()  # outside the lock: two threads may derive the same value, harmlessly
        with self.lock:
            if key not in self.held:
                self.held[key] = (value, size)
                self.size += size
            while self.size > self.budget and len(self.held) > 1:
                _, (_, dropped) = self.held.popitem(last=False)
                self.size -= dropped
        return value


# The host would otherwise parse a case's trace for every replay (about 7 ms for a paper case)
# and compute its bounds for every policy. A parsed trace is plain data the simulator only reads;
# it takes about 15 times its CSV text in memory, hence a budget in text bytes.
_TRACES = DerivedCache(budget=8 * 1024 * 1024)
_BOUNDS = DerivedCache(budget=256)


def _digest(*parts: str) -> str:
    import hashlib

    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _parse_trace(case: CaseInput) -> Any:
    from simulator.trace_io import read_trace

    return read_trace(io.StringIO(case.trace_csv_text), name=f"{case.name}.csv")


def _bounds_of(case: CaseInput, trace_key: str, trace: Any,
               replay: Any) -> tuple[dict[str, Any] | None, dict[str, float | None] | None]:
    """The case's bounds and the verified run's fractions of them (None if not computable)."""
    import json

    from traces.bounds import bound_fractions

    if replay is None:
        return None, None
    params = json.dumps(case.params, sort_keys=True, default=str)
    bounds = _BOUNDS.get(_digest(trace_key, params), lambda: _compute_bounds(trace, case.params))
    if bounds is None:
        return None, None
    from traces.metrics import BOUND_KEYS

    summary = bounds.to_dict()
    # the bound of every metric a score can be on, and the two the critic's reasons cite
    wanted = {*BOUND_KEYS.values(), "max_completed_pipelines", "max_completed_operators"}
    kept = {k: v for k, v in summary.items() if k in wanted}
    return kept, bound_fractions(replay, bounds)


def _compute_bounds(trace: Any, params: dict[str, Any]) -> Any:
    from simulator.errors import SimulatorError
    from traces.bounds import compute_bounds

    try:
        return compute_bounds(trace, params)
    except SimulatorError:
        return None


def profile_summary(profile: dict[str, Any]) -> dict[str, float]:
    """The few figures of a run profile that say where capacity went (for every case)."""
    util, idle = profile.get("utilisation", {}), profile.get("idle_capacity", {})
    capacity = float(util.get("cpu_total") or 0.0) * float(idle.get("seconds_sampled") or 0)
    idle_cpu = float(idle.get("cpu_seconds_idle_while_work_ready") or 0.0)
    return {
        "oom_kills": float(profile.get("oom", {}).get("kills", 0)),
        "oom_wasted_cpu_seconds": float(profile.get("oom", {}).get("wasted_cpu_seconds", 0.0)),
        "timeout_kills": float(profile.get("timeouts", {}).get("kills", 0)),
        "suspensions": float(profile.get("suspensions", {}).get("count", 0)),
        "idle_cpu_fraction": idle_cpu / capacity if capacity else 0.0,
        "cpu_allocated_fraction": float(util.get("mean_cpu_allocated_fraction") or 0.0),
        "ram_allocated_fraction": float(util.get("mean_ram_allocated_fraction") or 0.0),
        "ram_used_fraction": float(util.get("mean_ram_used_fraction") or 0.0),
    }


def _median_fractions(fractions: list[dict[str, float | None]]) -> dict[str, float | None]:
    keys = sorted({k for f in fractions for k in f})
    out: dict[str, float | None] = {}
    for key in keys:
        values = [f[key] for f in fractions if f.get(key) is not None]
        out[key] = statistics.median(values) if values else None  # type: ignore[type-var]
    return out


def report_timing(report: EvaluationReport, key: str, seconds: float) -> None:
    """Add ``seconds`` to the report's timing ``key`` (host-side work such as replay)."""
    if report.sandbox is not None:
        report.sandbox.timings[key] = report.sandbox.timings.get(key, 0.0) + seconds


def _end(report: EvaluationReport, status: Status, reason: str | None,
         failure: Failure | None = "trust") -> EvaluationReport:
    """``report`` ended with ``status``: anything that ends it before its cases were checked
    (static checks, the batch, its output) is a trust failure."""
    report.status = status
    report.reason = reason
    report.failure = None if status == "ok" else failure
    return report
