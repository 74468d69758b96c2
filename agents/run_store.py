"""A run's directory (docs/run-directory.md): run.json, the transcript, candidates, baselines.

The writer side: the graph appends transcript events and writes candidates as they happen;
`agents.review` reads the same files. Every JSON document and transcript line goes through
`agents.secrets.scrub` first, so no API key or other secret reaches the disk.
"""

from __future__ import annotations

import json
import os
import secrets as _random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.errors import AgentError


class RunNotFound(AgentError):
    """A RUN_ID that is neither a run folder nor a run in the runs directory."""


class BadRunFolder(AgentError):
    """A run folder whose run.json cannot be read or lacks what a command needs."""


def new_run_id() -> str:
    """``20261124-153012-ab12cd``: sortable by time, unique enough for one machine."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + _random.token_hex(3)


def resolve_run(run: str, runs_dir: str | Path = "runs") -> Path:
    """A run's folder from its id (looked up in ``runs_dir``) or from a path to the folder."""
    as_path = Path(run)
    tried = list(dict.fromkeys((as_path, Path(runs_dir) / run)))
    for candidate in tried:
        if (candidate / "run.json").is_file():
            return candidate
    where = " and ".join(str(p / "run.json") for p in tried)
    raise RunNotFound(f"no run {run!r}: looked for {where}; `policyforge runs list "
                      "--runs-dir DIR` shows the runs in a folder")


def now_iso() -> str:
    """UTC time with milliseconds, ``Z`` suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _scrub(obj: Any) -> Any:
    from agents.secrets import scrub

    return scrub(obj)


def write_json(path: Path, data: Any) -> None:
    """Write scrubbed JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_scrub(data), indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class Transcript:
    """``transcript.jsonl``: append-only, one event per line, flushed and synced as written."""

    def __init__(self, path: Path, elapsed_base: float = 0.0) -> None:
        self.path = path
        self.seq = 0
        self._start = time.monotonic() - elapsed_base
        self._lock = threading.Lock()  # a population's candidates write at once
        if path.exists():
            data = path.read_bytes()
            self.seq = data.count(b"\n")
            if data and not data.endswith(b"\n"):  # a killed run's half line stays on its own
                with path.open("ab") as f:
                    f.write(b"\n")
                self.seq += 1

    def carry_over(self, seconds: float) -> None:
        """Count at least ``seconds`` as already spent (a checkpoint may know more than
        run.json after a kill)."""
        if seconds > self.elapsed():
            self._start = time.monotonic() - seconds

    def elapsed(self) -> float:
        """Seconds of this run so far (time of earlier sessions included)."""
        return time.monotonic() - self._start

    def events(self) -> list[dict[str, Any]]:
        """The events written so far (a damaged line, e.g. a killed run's half line, skipped;
        `agents.review` reads the same file and reports such lines)."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                out.append(event)
        return out

    def write(self, event_type: str, **fields: Any) -> dict[str, Any]:
        """Append one event; returns it as written."""
        with self._lock:
            self.seq += 1
            event = {"seq": self.seq, "time": now_iso(), "elapsed_s": round(self.elapsed(), 3),
                     "type": event_type, **fields}
            event = _scrub(event)
            line = json.dumps(event, default=str, allow_nan=True) + "\n"
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        return event


class RunStore:
    """One run's folder."""

    def __init__(self, path: Path, elapsed_base: float = 0.0) -> None:
        self.path = path
        (path / "candidates").mkdir(parents=True, exist_ok=True)
        self.transcript = Transcript(path / "transcript.jsonl", elapsed_base)
        self._lock = threading.Lock()  # run.json is read, merged and written whole

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoints.sqlite"

    def read_run(self) -> dict[str, Any]:
        return self.read_run_json(self.path)

    @staticmethod
    def read_run_json(path: Path) -> dict[str, Any]:
        """A run folder's run.json; `BadRunFolder` names the file, line and column."""
        file = Path(path) / "run.json"
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadRunFolder(f"cannot read {file}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f":{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise BadRunFolder(f"{file}{where}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or "run_id" not in data:
            raise BadRunFolder(f"{file}: not a policyforge run.json (no run_id)")
        return data

    def write_run(self, data: dict[str, Any]) -> None:
        write_json(self.path / "run.json", data)

    def update_run(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into run.json."""
        with self._lock:
            data = self.read_run()
            data.update(fields)
            self.write_run(data)
        return data

    def candidate_dir(self, n: int) -> Path:
        d = self.path / "candidates" / str(n)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def write_policy(self, n: int, source: str) -> Path:
        path = self.candidate_dir(n) / "policy.py"
        path.write_text(source, encoding="utf-8")
        return path

    def read_policy(self, n: int) -> str:
        return (self.candidate_dir(n) / "policy.py").read_text(encoding="utf-8")

    def write_result(self, n: int, result: dict[str, Any], *, held_out: bool = False) -> None:
        write_json(self.candidate_dir(n) / ("held_out.json" if held_out else "result.json"),
                   result)

    def read_result(self, n: int, *, held_out: bool = False) -> dict[str, Any] | None:
        path = self.path / "candidates" / str(n) / ("held_out.json" if held_out else "result.json")
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def write_cascade(self, n: int, data: dict[str, Any]) -> None:
        """The first stage of candidate ``n``'s cascade (its smallest search case)."""
        write_json(self.candidate_dir(n) / "cascade.json", data)

    def read_cascade(self, n: int) -> dict[str, Any] | None:
        path = self.path / "candidates" / str(n) / "cascade.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def write_baselines(self, data: dict[str, Any]) -> None:
        write_json(self.path / "baselines.json", data)

    def read_baselines(self) -> dict[str, Any] | None:
        path = self.path / "baselines.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
