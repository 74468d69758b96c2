"""``validate_policy``: the static checks as short text."""

from __future__ import annotations

from tools.context import ToolContext
from tools.text import LIMIT
from tools.validate_policy import make_tool


def test_a_good_policy_is_ok_and_names_its_key(ctx: ToolContext, good_policy: str) -> None:
    answer = make_tool(ctx).invoke({"code": good_policy})
    assert answer.startswith("ok: no errors")
    assert "'heuristic'" in answer


def test_findings_come_with_line_rule_and_message(ctx: ToolContext) -> None:
    answer = make_tool(ctx).invoke({"code": "import os\nx = eval('1')\n"})
    assert answer.startswith("error: static checks found")
    assert "line 1:1 error [import]" in answer
    assert "line 2:" in answer and "eval" in answer
    assert "[registration]" in answer


def test_a_syntax_error_is_a_finding_not_a_traceback(ctx: ToolContext) -> None:
    answer = make_tool(ctx).invoke({"code": "def f(:\n"})
    assert answer.startswith("error:") and "[syntax]" in answer
    assert "Traceback" not in answer


def test_many_findings_stay_bounded(ctx: ToolContext) -> None:
    code = "".join(f"import os as o{i}\n" for i in range(300))
    answer = make_tool(ctx).invoke({"code": code})
    assert len(answer) <= LIMIT
    assert "more finding(s)" in answer or "truncated" in answer
