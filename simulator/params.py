"""Eudoxia params: the default table, TOML loading with precise errors, and validation (§2)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from simulator.errors import ParamsError

# Same keys, order, values and types as Eudoxia's default table (spec §2.2).
DEFAULTS: dict[str, Any] = {
    "duration": 600,
    "ticks_per_second": 1000,
    "waiting_seconds_mean": 10.0,
    "num_pipelines": 4,
    "num_operators": 5,
    "num_segs": 1,
    "interactive_prob": 0.3,
    "query_prob": 0.1,
    "batch_prob": 0.6,
    "dag_linear_prob": 1.0,
    "dag_branch_in_prob": 0.0,
    "dag_branch_out_prob": 0.0,
    "cpu_io_ratio": 0.5,
    "scheduler_algo": "priority",
    "rest_scheduler_addr": "localhost:8080",
    "rest_poll_interval": 1.0,
    "num_pools": 8,
    "cpus_per_pool": 64,
    "ram_gb_per_pool": 256,
    "multi_operator_containers": True,
    "allow_memory_overcommit": False,
    "random_seed": 42,
    "max_job_seconds": 0,
    "estimator_algo": "",
    "noisy_estimator_sigma": 0.0,
}

_NUMERIC = {
    "duration": "number",
    "ticks_per_second": "number",
    "waiting_seconds_mean": "number",
    "num_pipelines": "int",
    "num_operators": "number",
    "num_segs": "int",
    "interactive_prob": "number",
    "query_prob": "number",
    "batch_prob": "number",
    "dag_linear_prob": "number",
    "dag_branch_in_prob": "number",
    "dag_branch_out_prob": "number",
    "cpu_io_ratio": "number",
    "rest_poll_interval": "number",
    "num_pools": "int",
    "cpus_per_pool": "number",
    "ram_gb_per_pool": "number",
    "random_seed": "int",
    "max_job_seconds": "number",
    "noisy_estimator_sigma": "number",
}
_BOOL = ("multi_operator_containers", "allow_memory_overcommit")
_STRING = ("scheduler_algo", "rest_scheduler_addr", "estimator_algo")


def default_params() -> dict[str, Any]:
    """A fresh copy of Eudoxia's default params."""
    return dict(DEFAULTS)


def with_defaults(params: dict[str, Any]) -> dict[str, Any]:
    """Shallow copy of ``params`` with every missing default filled in (unknown keys kept)."""
    merged = dict(params)
    for key, value in DEFAULTS.items():
        merged.setdefault(key, value)
    return merged


def load_params(source: str | Path | dict[str, Any], *, validate: bool = True) -> dict[str, Any]:
    """Load a params TOML file (or copy a dict), fill defaults and check the values."""
    if isinstance(source, dict):
        params, name = with_defaults(source), "<params>"
    else:
        name = str(source)
        params = with_defaults(_read_toml(Path(source)))
    if validate:
        try:
            validate_params(params, name)
        except ParamsError as exc:
            if exc.line is None and exc.field and not isinstance(source, dict):
                exc = ParamsError(
                    exc.message,
                    file=name,
                    line=_line_of(Path(source).read_text("utf-8", "replace"), exc.field),
                    field=exc.field,
                )
            raise exc from None
    return params


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ParamsError("params file not found", file=str(path)) from None
    except IsADirectoryError:
        raise ParamsError("params path is a directory, not a TOML file", file=str(path)) from None
    try:
        text = data.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ParamsError(f"params file is not UTF-8 text ({exc.reason})", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        if line is None and "(at line " in msg:
            tail = msg.rsplit("(at line ", 1)[1].rstrip(")")
            try:
                line_s, col_s = tail.split(", column ")
                line, col = int(line_s), int(col_s)
            except ValueError:
                pass
            msg = msg.rsplit(" (at line ", 1)[0]
        raise ParamsError(
            f"invalid TOML: {msg}; expected flat `key = value` lines",
            file=str(path),
            line=line,
            column=col,
        ) from None
    for key, value in doc.items():
        if isinstance(value, dict):
            raise ParamsError(
                f"params must be flat `key = value` pairs; [{key}] is a table",
                file=str(path),
                line=_line_of(text, key),
                field=key,
            )
    return doc


def unknown_keys(path: str | Path) -> list[ParamsError]:
    """One `ParamsError` per key of a params file that Eudoxia does not know (a typo, most
    likely), naming its line and the closest known key. Eudoxia ignores such keys and so do we;
    the command line warns, and refuses them with ``--strict``."""
    import difflib

    source = Path(path)
    found = []
    for key in _read_toml(source):
        if key in DEFAULTS:
            continue
        close = difflib.get_close_matches(key, list(DEFAULTS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        found.append(ParamsError(f"unknown params key {key!r}{hint}",
                                 file=str(source), field=key,
                                 line=_line_of(source.read_text("utf-8", "replace"), key)))
    return found


def _line_of(text: str, key: str) -> int | None:
    """Line of ``key = …`` (or ``[key]``) in a TOML text, if it is there."""
    for i, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        head = stripped.split("=", 1)[0].strip().strip('"')
        if head == key or stripped.startswith(f"[{key}]"):
            return i
    return None


def validate_params(params: dict[str, Any], name: str = "<params>") -> None:
    """Type checks plus Eudoxia's own assertions (probabilities, cpu_io_ratio)."""
    for key, kind in _NUMERIC.items():
        value = params[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok:
            expected = "an integer" if kind == "int" else "a number"
            raise ParamsError(f"{key} must be {expected}, got {value!r}", file=name, field=key)
    for key in _BOOL:
        if not isinstance(params[key], bool):
            raise ParamsError(
                f"{key} must be true or false, got {params[key]!r}", file=name, field=key
            )
    for key in _STRING:
        if params[key] is not None and not isinstance(params[key], str):
            raise ParamsError(f"{key} must be a string, got {params[key]!r}", file=name, field=key)
    if params["interactive_prob"] + params["query_prob"] + params["batch_prob"] != 1:
        raise ParamsError(
            "Probabilities must sum to 1 (interactive_prob + query_prob + batch_prob, "
            "evaluated left to right in float64 as Eudoxia does)",
            file=name,
            field="interactive_prob",
        )
    if not 0 <= params["cpu_io_ratio"] <= 1:
        raise ParamsError("CPU IO ratio must be between 0 and 1", file=name, field="cpu_io_ratio")
    for key in ("duration", "ticks_per_second"):
        if params[key] <= 0:
            raise ParamsError(f"{key} must be positive, got {params[key]!r}", file=name, field=key)
    if params["num_pools"] < 1:
        raise ParamsError("num_pools must be at least 1", file=name, field="num_pools")
    for key in ("cpus_per_pool", "ram_gb_per_pool"):
        if params[key] <= 0:
            # Eudoxia would divide by zero in its memory statistics (or never run anything)
            raise ParamsError(
                f"{key} must be positive, got {params[key]!r}", file=name, field=key
            )
    if params["noisy_estimator_sigma"] < 0:
        raise ParamsError(
            f"sigma must be >= 0, got {params['noisy_estimator_sigma']}",
            file=name,
            field="noisy_estimator_sigma",
        )


def params_to_toml(params: dict[str, Any]) -> str:
    """`key = value` lines in the default table's order, as `eudoxia init` writes them."""
    lines = []
    for key, value in params.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = str(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"
