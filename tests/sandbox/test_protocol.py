"""The boundary models: a request names exactly one policy; a result is one JSON object of the
right shape, with NaN kept and decision logs validated but passed on unchanged."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from sandbox.errors import ProtocolError
from sandbox.protocol import SandboxRequest, parse_result
from sandbox.runner import PROTOCOL
from tests.sandbox.helpers import small_case

DECISION = {"tick": 3, "suspensions": [], "assignments": [
    {"ops": [[0, 0]], "cpu": 2, "ram": 1.5, "priority": "QUERY", "pool_id": 0,
     "pipeline_id": "p0"}]}


def result_text(**case) -> bytes:
    base = {"name": "a", "status": "ok", "stats": {"x": float("nan")}, "decisions": [DECISION]}
    return json.dumps({"protocol": PROTOCOL, "cases": [{**base, **case}]}).encode()


def test_request_protocol_is_the_runners():
    req = SandboxRequest(policy_builtin="naive", cases=[small_case()], deadline_seconds=5)
    assert json.loads(req.to_bytes())["protocol"] == PROTOCOL


def test_request_needs_exactly_one_policy():
    with pytest.raises(ValidationError, match="exactly one"):
        SandboxRequest(cases=[], deadline_seconds=5)
    with pytest.raises(ValidationError, match="exactly one"):
        SandboxRequest(policy_builtin="naive", policy_source="x", cases=[], deadline_seconds=5)


def test_result_keeps_nan_and_the_raw_decision_entries():
    result = parse_result(result_text())
    case = result.cases[0]
    assert case.stats["x"] != case.stats["x"]  # NaN survived
    assert case.decisions == [DECISION] and isinstance(case.decisions[0]["assignments"][0]["cpu"],
                                                       int)


@pytest.mark.parametrize("stdout", [b"", b"not json", b'{"protocol": "x", "cases": []}',
                                    b'{"a": 1}{"b": 2}', b"\xff\xfe"])
def test_anything_but_one_result_object_is_a_protocol_error(stdout):
    with pytest.raises(ProtocolError):
        parse_result(stdout)


@pytest.mark.parametrize("bad", [
    {"tick": "3", "suspensions": [], "assignments": []},
    {"tick": 3, "suspensions": [], "assignments": [{**DECISION["assignments"][0], "cpu": "2"}]},
    {"tick": 3, "suspensions": [], "assignments": [{**DECISION["assignments"][0], "ops": []}]},
    {"tick": 3, "suspensions": [], "assignments": [], "extra": 1},
])
def test_malformed_decision_entries_are_rejected(bad):
    with pytest.raises(ProtocolError, match="decisions"):
        parse_result(result_text(decisions=[bad]))
