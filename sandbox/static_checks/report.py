"""What the static checks report: `Finding`s (line, column, rule, severity, what to do
instead) gathered in a `CheckReport`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

Severity = Literal["error", "warning"]



class Finding(BaseModel):
    """One problem in a policy file, at a 1-based line and column, with what to do instead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    column: int
    rule: str
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return self.model_dump(mode="json")

    def format(self, filename: str) -> str:
        """``file:line:col: severity [rule] message``, the form the coder reads."""
        return f"{filename}:{self.line}:{self.column}: {self.severity} [{self.rule}] {self.message}"


class CheckReport(BaseModel):
    """All findings for one policy file, sorted by position, and the key it registers."""

    model_config = ConfigDict(extra="forbid")

    filename: str
    findings: list[Finding] = []
    registered_key: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        """The findings that block the run."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings that do not block the run."""
        return [f for f in self.findings if f.severity == "warning"]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for sandbox results and transcripts): filename, findings, key, ok."""
        return self.model_dump(mode="json")

    def to_text(self) -> str:
        """One line per finding, or a one-line all-clear."""
        if not self.findings:
            return f"{self.filename}: no findings"
        return "\n".join(f.format(self.filename) for f in self.findings)


def make_finding(line: int, column: int, rule: str, message: str,
             severity: Severity = "error") -> Finding:
    return Finding(line=line, column=column, rule=rule, severity=severity, message=message)

