"""Static checks on a candidate policy file before it runs (DESIGN.md, "Sandbox and trust").

A policy written by an LLM is untrusted. Before the sandbox runs it, these checks reject what a
scheduling policy never needs (imports beyond a small allowlist, dunder names, ``eval`` and
friends, frame introspection, string annotations, writes into the simulator) and warn about what a
real scheduler could not know (an operator's true resource profile). Every finding says what to
write instead, because findings go back to the coder as feedback.

They are a cheap first filter, not the isolation boundary: the sandbox is, and the host replays
the decision log with the trusted simulator, so a policy that slips past them still cannot move
its score.

Public API: `check_policy_source` returns a `CheckReport` of `Finding`s. The rule tables are
in `rules`, the report model in `report`, the visitor that applies the rules in `visitor`.
"""

from __future__ import annotations

import ast
import warnings

from sandbox.static_checks.report import CheckReport, Finding, make_finding
from sandbox.static_checks.rules import (
    ALLOWED_STDLIB,
    FORBIDDEN_BUILTINS,
    MAX_SOURCE_BYTES,
    NUMPY_REJECTED,
)
from sandbox.static_checks.visitor import PolicyChecker
from simulator.python_ast import compile_tree, parse

__all__ = [
    "ALLOWED_STDLIB", "FORBIDDEN_BUILTINS", "MAX_SOURCE_BYTES", "NUMPY_REJECTED", "CheckReport",
    "Finding", "check_policy_source", "report", "rules", "visitor",
]


def check_policy_source(source: str, filename: str = "policy.py") -> CheckReport:
    """Check an untrusted policy file's source; never raises for any text."""
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        return CheckReport(filename=filename, findings=[make_finding(
            1, 1, "source-too-large",
            f"the policy is {size} bytes; the limit is {MAX_SOURCE_BYTES}. A policy fits in a few "
            "hundred lines: remove generated tables and dead code.",
        )])
    parsed = _parse(source, filename)
    if isinstance(parsed, Finding):
        return CheckReport(filename=filename, findings=[parsed])
    checker = PolicyChecker(source, parsed)
    try:
        checker.run()
    except (RecursionError, MemoryError):
        return CheckReport(filename=filename, findings=[_too_complex()])
    findings = sorted(checker.findings, key=lambda f: (f.line, f.column, f.rule, f.message))
    return CheckReport(filename=filename, findings=findings,
                       registered_key=checker.registered_key())


def _too_complex() -> Finding:
    return make_finding(1, 1, "too-complex", "the code nests too deeply to check; split long "
                    "expressions and deep nesting into smaller functions")


def _parse(source: str, filename: str) -> ast.Module | Finding:
    """The module's AST, or the syntax finding; also runs the compiler's own checks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = parse(source, filename)
            compile_tree(tree, filename)
    except SyntaxError as exc:
        text = (exc.text or "").strip()[:120]
        where = f" in `{text}`" if text else ""
        return make_finding(max(exc.lineno or 1, 1), max(exc.offset or 1, 1), "syntax",
                        f"syntax error: {exc.msg}{where}; fix it so the file parses as Python 3.11")
    except (RecursionError, MemoryError):
        return _too_complex()
    except ValueError as exc:  # e.g. lone surrogates
        return make_finding(1, 1, "syntax",
                        f"the source is not valid Python text ({exc}); write plain UTF-8 source")
    return tree

