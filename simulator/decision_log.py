"""The decision log's file format: a header line, then one JSON line per policy call that decided
something (tick, assignments, suspensions). `write_decision_log` writes it, `read_decision_log`
reads it back with errors naming the file, line and field; `simulator.engine` records and replays
the entries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.errors import InputFileError

DECISION_LOG_FORMAT = "policyforge-decisions/1"


def write_decision_log(path: str | Path, decisions: list[dict[str, Any]], policy: str) -> None:
    """A header line then one JSON line per policy call that decided something."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": DECISION_LOG_FORMAT, "policy": policy}) + "\n")
        fh.writelines(json.dumps(entry) + "\n" for entry in decisions)


def read_decision_log(path: str | Path) -> list[dict[str, Any]]:
    """Decisions from a log written by `write_decision_log`; errors name file and line."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read decision log: {exc}", file=name) from None
    entries: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                f"not JSON: {exc.msg}", file=name, line=lineno, column=exc.colno
            ) from None
        if not isinstance(obj, dict):
            raise InputFileError("each line must be a JSON object", file=name, line=lineno)
        if "format" in obj:
            if obj["format"] != DECISION_LOG_FORMAT:
                raise InputFileError(
                    f"unknown decision log format {obj['format']!r}", file=name, line=lineno
                )
            continue
        for key, kind in (("tick", int), ("suspensions", list), ("assignments", list)):
            if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
                raise InputFileError(
                    f"field {key!r} must be {kind.__name__}", file=name, line=lineno, field=key
                )
        _check_decisions(obj, name, lineno)
        entries.append(obj)
    return entries


_ASSIGNMENT_FIELDS = {
    "ops": list,
    "cpu": (int, float),
    "ram": (int, float),
    "priority": str,
    "pool_id": int,
    "pipeline_id": str,
}


_SUSPEND_FIELDS = {"container_id": str, "pool_id": int}


def _check_decisions(obj: dict[str, Any], name: str, lineno: int) -> None:
    for kind, fields in (("assignments", _ASSIGNMENT_FIELDS), ("suspensions", _SUSPEND_FIELDS)):
        for i, item in enumerate(obj[kind]):
            for key, types in fields.items():
                value = item.get(key) if isinstance(item, dict) else None
                if not isinstance(value, types) or isinstance(value, bool):  # type: ignore[arg-type]
                    raise InputFileError(
                        f"{kind}[{i}].{key} is missing or of the wrong type",
                        file=name,
                        line=lineno,
                        field=key,
                    )
            if kind == "assignments":
                if item["priority"] not in ("QUERY", "INTERACTIVE", "BATCH_PIPELINE"):
                    raise InputFileError(
                        f"assignments[{i}].priority {item['priority']!r} is not a priority",
                        file=name,
                        line=lineno,
                        field="priority",
                    )
                refs = item["ops"]
                if not refs or not all(
                    isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) for x in r)
                    for r in refs
                ):
                    raise InputFileError(
                        f"assignments[{i}].ops must be a non-empty list of [pipeline, row] pairs",
                        file=name,
                        line=lineno,
                        field="ops",
                    )

