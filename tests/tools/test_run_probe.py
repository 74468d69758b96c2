"""``run_probe``: the reviewer's robustness probe on a draft, the same cases the reviewer runs."""

from __future__ import annotations

from agents.robustness import probe
from tests.tools.conftest import RAISING_POLICY
from tools import run_probe
from tools.context import ToolContext
from tools.drafts import draft_id


def test_a_good_policy_runs_every_probe_case_cleanly(ctx: ToolContext, good_policy: str) -> None:
    answer = run_probe.make_tool(ctx).invoke({"code": good_policy})
    lines = answer.splitlines()
    assert lines[0] == "ok: the probe ran every case cleanly"
    for name in run_probe.STRESS:
        line = next(x for x in lines if x.startswith(f"{name}: "))
        assert line.startswith(f"{name}: ok, ") and "simulated in" in line
    assert f"(draft {draft_id(good_policy)}, now current" in lines[-1]
    # The draft is then used by reference.
    again = run_probe.make_tool(ctx).invoke({"draft": "current"})
    assert again.splitlines()[0] == lines[0] and again.endswith(f"(draft {draft_id(good_policy)})")


def test_a_raising_policy_fails_where_the_reviewer_would_fail_it(ctx: ToolContext,
                                                                 local_backend: object) -> None:
    answer = run_probe.make_tool(ctx).invoke({"code": RAISING_POLICY})
    assert answer.startswith("error: the probe found")
    assert "ZeroDivisionError" in answer
    reviewer = probe(RAISING_POLICY, ctx.backend, ctx.limits)
    assert reviewer and all(p.split(":")[0] in answer for p in reviewer)


def test_no_draft_yet_is_an_error(ctx: ToolContext) -> None:
    assert run_probe.make_tool(ctx).invoke({}).startswith("error: there is no current draft")
