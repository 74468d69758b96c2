"""`parse`: ``ast.parse`` that is safe to call from several threads at once.

CPython 3.11 keeps the AST constructor's recursion depth in state that every thread shares, so
two parses at once can fail with ``SystemError: AST constructor recursion depth mismatch``
(python/cpython#106905; Python 3.11 is what we run). A population's candidates are checked at
once in threads, so every parse of policy source in policyforge goes through `parse`, which
takes one process-wide lock (parsing a policy takes about a millisecond).
"""

from __future__ import annotations

import ast
import threading
from types import CodeType

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source, filename)``, one thread at a time."""
    with _LOCK:
        return ast.parse(source, filename)


def compile_tree(tree: ast.Module, filename: str) -> CodeType:
    """``compile(tree, filename, "exec", dont_inherit=True)``, one thread at a time (compiling
    an AST object reads it back through the same shared state)."""
    with _LOCK:
        return compile(tree, filename, "exec", dont_inherit=True)
