"""Host-side verification: an honest result is accepted with the host's own numbers; a result
whose statistics or decisions were tampered with is not; two runs that decided differently are
reported as non-deterministic."""

from __future__ import annotations

import copy
import io

from sandbox.protocol import CaseResult, DeterminismCheck
from sandbox.runner import decisions_digest, run_case
from sandbox.verify import canonical_stats, determinism_problem, verify_case
from simulator.trace_io import read_trace
from tests.sandbox.helpers import small_case


def honest() -> tuple[dict, list, CaseResult]:
    case = small_case()
    out = run_case({"case": case, "policy_builtin": "priority", "record_decisions": True})
    assert out["status"] == "ok"
    trace = read_trace(io.StringIO(case["trace_csv_text"]))
    return case["params"], trace, CaseResult(name="tiny", **out)


def test_an_honest_result_is_verified_with_the_hosts_statistics():
    params, trace, result = honest()
    verdict = verify_case(params, trace, result)
    assert verdict.verified and verdict.reason is None
    assert canonical_stats(verdict.stats) == canonical_stats(result.stats)


def test_inflated_statistics_are_unverifiable_and_name_the_field():
    params, trace, result = honest()
    result.stats = {**result.stats, "throughput": result.stats["throughput"] + 1e-12}
    verdict = verify_case(params, trace, result)
    assert not verdict.verified and verdict.stats is None
    assert "throughput" in verdict.reason


def test_a_forged_decision_log_is_unverifiable():
    params, trace, result = honest()
    forged = copy.deepcopy(result.decisions)
    forged[0]["assignments"][0]["ops"] = [[999, 0]]
    result.decisions = forged
    verdict = verify_case(params, trace, result)
    assert not verdict.verified and "does not replay" in verdict.reason


def test_dropping_decisions_changes_the_replayed_statistics():
    params, trace, result = honest()
    result.decisions = result.decisions[:1]
    assert not verify_case(params, trace, result).verified


def test_determinism_compares_the_repeat_digest():
    _, _, result = honest()
    same = DeterminismCheck(case="tiny", status="ok",
                            decisions_sha256=decisions_digest(result.decisions))
    assert determinism_problem(result, same) is None
    other = DeterminismCheck(case="tiny", status="ok", decisions_sha256="0" * 64)
    assert "non-deterministic" in determinism_problem(result, other)
    crashed = DeterminismCheck(case="tiny", status="crashed")
    assert "non-deterministic" in determinism_problem(result, crashed)


def test_a_profiled_replay_verifies_the_same_and_carries_the_hosts_profile():
    params, trace, result = honest()
    verdict = verify_case(params, trace, result, profile=True)
    assert verdict.verified
    assert canonical_stats(verdict.stats) == canonical_stats(result.stats)
    profile = verdict.replay.profile
    assert profile["utilisation"]["seconds"] and profile["pipelines"]
    assert verify_case(params, trace, result).replay.profile is None


def test_the_host_parses_a_trace_once_per_content_and_its_replays_leave_it_unchanged(monkeypatch):
    import simulator.trace_io
    from sandbox import evaluation
    from sandbox.evaluation import CaseInput, check_case

    params, _, result = honest()
    monkeypatch.setattr(evaluation, "_TRACES", evaluation.DerivedCache(budget=1 << 20))
    parsed = []
    real = simulator.trace_io.read_trace
    monkeypatch.setattr(simulator.trace_io, "read_trace",
                        lambda *a, **k: parsed.append(1) or real(*a, **k))
    text = small_case()["trace_csv_text"]
    checks = [check_case(CaseInput(name, params, text), result, profile=False)
              for name in ("tiny", "tiny", "same-trace-other-name")]
    assert len(parsed) == 1
    assert all(c.verdict.verified for c in checks)
    assert checks[0].verdict.stats == checks[2].verdict.stats and checks[2].bounds
    (kept, _), = evaluation._TRACES.held.values()
    assert kept == real(io.StringIO(text))  # three replays later, as parsed


def test_derived_data_past_its_budget_drops_the_oldest_first():
    from sandbox.evaluation import DerivedCache

    cache, derived = DerivedCache(budget=10), []

    def derive(value: str):
        return lambda: derived.append(value) or value

    assert cache.get("a", derive("a"), size=6) == "a"
    assert cache.get("b", derive("b"), size=3) == "b"
    assert cache.get("a", derive("a?"), size=6) == "a"  # kept: derived once
    assert cache.get("c", derive("c"), size=4) == "c"  # 13 > 10: b, the least recently used, goes
    assert cache.get("a", derive("a?"), size=6) == "a"
    assert cache.get("b", derive("b"), size=3) == "b"  # and now c goes
    assert cache.get("a", derive("a?"), size=6) == "a"
    assert derived == ["a", "b", "c", "b"] and list(cache.held) == ["b", "a"]


def test_the_streamed_check_runs_without_the_automatic_collector(monkeypatch):
    # decoding a decision log makes thousands of containers: with the collector on, that
    # triggers full scans of the host's whole heap while the sandbox waits to be read
    import gc
    import json

    from sandbox import evaluation, protocol
    from sandbox.evaluation import CaseInput, StreamedReplay

    params, _, result = honest()
    case = CaseInput("tiny", params, small_case()["trace_csv_text"])
    seen = []
    real = protocol.parse_case_line
    monkeypatch.setattr(protocol, "parse_case_line",
                        lambda line: seen.append(gc.isenabled()) or real(line))
    assert gc.isenabled()
    replay = StreamedReplay([case], profile=False)
    line = json.dumps({"stream_case": result.model_dump(), "index": 0}).encode()
    replay.feed(line[:50])
    replay.feed(line[50:] + b"\n")
    (got,) = replay.finish().values()
    assert got.verdict.verified and got.index == 0
    assert seen == [False] and gc.isenabled()  # off for the check, restored after
    assert evaluation.check_case(case, result, profile=False).verdict.stats == got.verdict.stats
