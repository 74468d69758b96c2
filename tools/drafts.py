"""The coder's drafts, by reference: a policy's full text is sent once, then named.

A tool that takes policy code accepts either ``code`` (the complete source: it becomes the
*current* draft, kept under an id made from its content) or ``draft`` (``"current"``, a draft id
such as ``"d3f9a2c"``, or ``"candidate 3"`` for an archived candidate's code). So a coder that
validates, simulates and profiles the same file sends it once, not once per tool call; the coder
node (`agents.nodes.coder`) replaces the older copies in its conversation by their id.

Drafts are kept in memory and, with a run folder, in ``drafts/<id>.py`` so a resumed run still
finds them. *Current* is per writer: a population's coders write at once, each in its own
`writing_as` context (its candidate's number), so one coder's ``draft='current'`` never names
another's code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from tools.errors import ToolError

CURRENT = "current"
CODE_HELP = ("The complete policy.py source; it becomes the current draft (afterwards pass "
             "draft='current' instead of sending it again).")
DRAFT_HELP = ("Instead of `code`: 'current' (the last code you sent or the starting candidate), "
              "a draft id such as 'd1a2b3c', or 'candidate N' for an archived candidate's code.")


_WRITER: ContextVar[str] = ContextVar("policyforge_draft_writer", default="")


@contextmanager
def writing_as(writer: str) -> Iterator[None]:
    """Tool calls made inside have their own *current* draft (a population's candidate)."""
    token = _WRITER.set(writer)
    try:
        yield
    finally:
        _WRITER.reset(token)


def draft_id(code: str) -> str:
    """The id a draft is known by: ``d`` and the first 7 hex digits of its SHA-256."""
    return "d" + hashlib.sha256(code.encode()).hexdigest()[:7]


class DraftBook:
    """The drafts of one run (the latest is ``current``)."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._drafts: dict[str, str] = {}
        self._current: dict[str, str] = {}  # writer -> its current draft's id

    @property
    def current(self) -> str | None:
        """The id of this writer's current draft (None before its first)."""
        return self._current.get(_WRITER.get())

    def put(self, code: str) -> str:
        """Keep ``code`` as the current draft; its id."""
        key = draft_id(code)
        self._drafts[key] = code
        self._current[_WRITER.get()] = key
        if self.run_dir is not None:
            folder = self.run_dir / "drafts"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{key}.py").write_text(code)
            (folder / _current_file()).write_text(key)
        return key

    def get(self, ref: str) -> tuple[str, str]:
        """The (id, source) a reference names; `ToolError` when it names nothing."""
        text = ref.strip().lower()
        if text in (CURRENT, "", "latest"):
            key = self.current or self._stored_current()
            if key is None:
                raise ToolError("there is no current draft yet: pass the policy source as `code`")
            text = key
        label = text.removeprefix("candidate").strip().lstrip("#")
        if label.isdigit():
            return self._candidate(int(label))
        code = self._drafts.get(text)
        if code is None and self.run_dir is not None:
            path = self.run_dir / "drafts" / f"{text}.py"
            if path.is_file():
                code = path.read_text()
                self._drafts[text] = code
        if code is None:
            known = ", ".join(sorted(self._drafts)) or "none"
            raise ToolError(f"no draft {ref!r} (known drafts: {known}; or 'current', "
                            "'candidate N')")
        return text, code

    def resolve(self, code: str | None, draft: str | None) -> tuple[str, str, bool]:
        """The policy a tool call means: (id, source, whether it was sent as new ``code``)."""
        if code is not None and draft is not None:
            raise ToolError("give `code` or `draft`, not both")
        if code is not None:
            return self.put(code), code, True
        key, source = self.get(draft or CURRENT)
        return key, source, False

    def _stored_current(self) -> str | None:
        if self.run_dir is None:
            return None
        path = self.run_dir / "drafts" / _current_file()
        return path.read_text().strip() if path.is_file() else None

    def _candidate(self, n: int) -> tuple[str, str]:
        if self.run_dir is None:
            raise ToolError("no run folder: archived candidates are not available")
        path = self.run_dir / "candidates" / str(n) / "policy.py"
        if not path.is_file():
            raise ToolError(f"no candidate {n} with a policy in this run")
        code = path.read_text()
        key = draft_id(code)
        self._drafts[key] = code
        return key, code


def _current_file() -> str:
    """``CURRENT``, or ``CURRENT-<writer>`` for a population's candidate."""
    writer = _WRITER.get()
    return f"CURRENT-{writer}" if writer else "CURRENT"


def draft_note(key: str, new: bool) -> str:
    """The last line of a tool's result: the draft it used."""
    return (f"(draft {key}, now current: next time pass draft='current' instead of the code)"
            if new else f"(draft {key})")
