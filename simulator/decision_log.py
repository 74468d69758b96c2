"""The decision log: one entry per policy call that decided something (tick, assignments,
suspensions), the record the host replays to verify a sandboxed run.

`encode_decisions` turns a call's decisions into an entry (the engine records them as it runs),
`replay_policy` is the policy that returns exactly the logged decisions at the logged ticks, and
the file format is a header line then one JSON line per entry: `write_decision_log` writes it,
`read_decision_log` reads it back with errors naming the file, line and field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.errors import InputFileError, ReplayError
from simulator.executor import Assignment, Suspend
from simulator.policy_loader import LoadedPolicy
from simulator.workload import Priority

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


def encode_decisions(tick: int, sus: list[Suspend], asg: list[Assignment]) -> dict[str, Any]:
    """One policy call's decisions as JSON-ready data (operators as [pipeline seq, row])."""
    return {
        "tick": tick,
        "suspensions": [{"container_id": s.container_id, "pool_id": s.pool_id} for s in sus],
        "assignments": [
            {
                "ops": [list(op._ref) for op in a.ops],
                "cpu": a.cpu,
                "ram": a.ram,
                "priority": a.priority.name if isinstance(a.priority, Priority) else a.priority,
                "pool_id": a.pool_id,
                "pipeline_id": a.pipeline_id,
            }
            for a in asg
        ],
    }


def replay_policy(log: list[dict[str, Any]]) -> LoadedPolicy:
    """A policy that returns exactly the logged decisions at the logged ticks."""
    by_tick = {int(entry["tick"]): entry for entry in log}

    def init(s: Any) -> None:
        s._replay_pipelines = {}

    def func(s: Any, results: list[Any], pipelines: list[Any]) -> tuple[list, list]:
        arrived = s._replay_pipelines  # by arrival number; an operator is (arrival, trace row)
        for p in pipelines:
            arrived[p._seq] = p
        entry = by_tick.get(s.clock._ticks)
        if entry is None:
            return [], []
        sus = [Suspend(d["container_id"], d["pool_id"]) for d in entry["suspensions"]]
        asg = []
        for d in entry["assignments"]:
            try:
                chosen = [_logged_operator(arrived, seq, row) for seq, row in d["ops"]]
            except (KeyError, IndexError, TypeError, ValueError):
                raise ReplayError(
                    f"decision log names an operator of {d['ops']!r} that has not arrived",
                    tick=s.clock._ticks,
                ) from None
            prio = d["priority"]
            asg.append(
                Assignment(
                    chosen,
                    d["cpu"],
                    d["ram"],
                    Priority[prio] if isinstance(prio, str) else prio,
                    d["pool_id"],
                    d["pipeline_id"],
                )
            )
        return sus, asg

    return LoadedPolicy("replay", init, func, "<decision log>")


def _logged_operator(arrived: dict[int, Any], seq: int, row: int) -> Any:
    """The operator on trace row ``row`` of the ``seq``-th pipeline to arrive; `IndexError` for
    a row it does not have (a negative one included), `KeyError` if it has not arrived."""
    if row < 0:
        raise IndexError(row)
    return arrived[seq].values._nodes[row]

