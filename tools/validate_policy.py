"""``validate_policy``: the static checks the sandbox runs first, without running anything."""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.drafts import CODE_HELP, DRAFT_HELP, draft_note
from tools.errors import tool_function

NAME = "validate_policy"
DESCRIPTION = (
    "Check a policy file's source without running it: syntax, the two registrations "
    "(@register_scheduler_init and @register_scheduler with the same key), allowed imports, no "
    "introspection, no reading of the operators' true resource profile. Returns `ok` (with any "
    "warnings) or one line per finding: line:column, severity [rule], what to write instead. "
    "Errors block evaluation; warnings do not. Cheap: call it after every edit."
)
MAX_FINDINGS = 20


class ValidatePolicyArgs(BaseModel):
    """Arguments of ``validate_policy``."""

    code: str | None = Field(default=None, description=CODE_HELP)
    draft: str | None = Field(default=None, description=DRAFT_HELP)


def validate(code: str) -> str:
    """The static checks' verdict on ``code`` as short text."""
    from sandbox.static_checks import check_policy_source

    report = check_policy_source(code, "policy.py")
    errors, warnings = len(report.errors), len(report.warnings)
    if report.ok:
        head = f"ok: no errors, {warnings} warning(s); registers key {report.registered_key!r}"
    else:
        head = (f"error: static checks found {errors} error(s) and {warnings} warning(s); "
                "the policy would be rejected before running")
    ordered = report.errors + report.warnings  # what blocks the run first
    lines = [head]
    lines += [f"line {f.line}:{f.column} {f.severity} [{f.rule}] {f.message}"
              for f in ordered[:MAX_FINDINGS]]
    if len(ordered) > MAX_FINDINGS:
        lines.append(f"… and {len(ordered) - MAX_FINDINGS} more finding(s)")
    return "\n".join(lines)


def make_tool(ctx: ToolContext) -> BaseTool:
    """The ``validate_policy`` tool (it needs only the context's drafts)."""

    @tool_function()
    def validate_policy(code: str | None = None, draft: str | None = None) -> str:
        key, source, new = ctx.drafts.resolve(code, draft)
        return validate(source) + "\n" + draft_note(key, new)

    return StructuredTool.from_function(func=validate_policy, name=NAME, description=DESCRIPTION,
                                        args_schema=ValidatePolicyArgs)
