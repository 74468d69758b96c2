"""A run directory (docs/run-directory.md) loaded into read-only views for the review front ends.

`load_run` reads ``run.json``, ``transcript.jsonl``, ``baselines.json`` and every
``candidates/<n>/``; `find_run` resolves a run id or a folder. Every run folder any version wrote
can be read, early failures and killed runs included:

- ``run.json`` fields that are null (``"objective": null`` when the run failed at its objective
  step) or missing take their defaults; a field of the wrong type is ignored and reported in
  the view's ``warnings``, as is a missing ``run_id`` (the folder's name is used).
- A transcript line cut short by a kill (the last line, or the line before a resumed run's
  ``run_started``) is skipped and reported in ``warnings``; an event's null or mistyped
  ``seq``, ``time``, ``elapsed_s``, ``iteration`` or ``role`` takes its default.
- A candidate whose ``result.json`` or ``held_out.json`` cannot be read, or whose
  ``policy.py`` is missing, is kept with status ``damaged`` and the reasons (`Candidate.damage`);
  the other candidates are read as usual. An unreadable ``baselines.json`` is a warning.

Only a ``run.json`` that is not a JSON object, or another transcript line that is not a JSON
object with a ``type``, raises `RunDirError`, naming the file and line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import AgentError
from traces.metrics import METRICS

PRIORITY_KEYS = {
    "QUERY": "pipelines_query",
    "INTERACTIVE": "pipelines_interactive",
    "BATCH_PIPELINE": "pipelines_batch",
}


class ReviewError(AgentError):
    """Anything the review commands cannot do; the message says what and where."""


class RunNotFound(ReviewError):
    """A run id or path that names no run directory."""


class RunDirError(ReviewError):
    """A run directory's file that cannot be read; the message names the file and line."""


# --- views -------------------------------------------------------------------------------------


class RunInfo(BaseModel):
    """``run.json``: the fields the review shows; everything else is kept in ``model_extra``."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    created: str | None = None
    goal: str = ""
    objective: dict[str, Any] | None = None  # null when the run ended before its objective step
    suite: str | None = None
    seed: int | None = None
    sandbox: str | None = None
    models: dict[str, Any] = Field(default_factory=dict)
    heuristic: bool = False
    budget: dict[str, Any] = Field(default_factory=dict)
    spent: dict[str, Any] = Field(default_factory=dict)
    status: str = "unknown"
    stop_reason: str | None = None
    best_candidate: int | None = None
    accepted_candidate: int | None = None
    baseline: dict[str, Any] | None = None
    bound: dict[str, Any] | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)

    @property
    def search_text(self) -> str:
        """``feedback, 1 candidate per round, until accepted`` (``--strategy``, ``--population``,
        ``--until``; a run from before these existed is the first kind)."""
        config = (self.model_extra or {}).get("config")
        config = config if isinstance(config, dict) else {}
        k = config.get("population") or 1
        per_round = f"{k} candidate{'s' if k != 1 else ''} per round"
        workers = config.get("workers")
        on = f" on {workers} workers" if isinstance(workers, int) and workers > 1 else ""
        cascade = ", cascade" if config.get("cascade") else ""
        return (f"{config.get('strategy') or 'feedback'}, {per_round}{on}{cascade}, until "
                f"{config.get('until') or 'accepted'}")

    @property
    def metric(self) -> str:
        """The objective's metric (``completed_pipelines`` when the objective does not say)."""
        return str((self.objective or {}).get("metric") or "completed_pipelines")

    @property
    def objective_text(self) -> str:
        """The objective's summary, else ``direction metric``, else why there is none."""
        objective = self.objective or {}
        summary = objective.get("summary")
        if summary:
            return str(summary)
        if objective:
            return f"{objective.get('direction', '')} {self.metric}".strip()
        if self.status == "running":
            return "not set yet (the objective step has not finished)"
        return "none: the run ended before its objective was set"

    @property
    def lower_is_better(self) -> bool:
        """Whether a smaller score is better (the objective's direction, else the metric's)."""
        direction = (self.objective or {}).get("direction")
        if direction:
            return str(direction).startswith("min")
        metric = METRICS.get(self.metric)
        return metric is not None and not metric.higher_is_better

    @property
    def baseline_score(self) -> float | None:
        """The baseline's search score, if known."""
        return _number((self.baseline or {}).get("score"))

    @property
    def bound_score(self) -> float | None:
        """The bound's score for the metric, if one exists."""
        return _number((self.bound or {}).get("score"))


class Event(BaseModel):
    """One transcript line; the type's own fields are in ``model_extra`` (see `field`)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    time: str | None = None
    elapsed_s: float = 0.0
    type: str
    iteration: int | None = None
    role: str | None = None
    line: int = 0

    def field(self, name: str, default: Any = None) -> Any:
        """A type-specific field (``tool``, ``cost_usd``, ...), or ``default``."""
        return (self.model_extra or {}).get(name, default)


class Candidate(BaseModel):
    """``candidates/<n>/``: the policy source and its result (and held-out result, if any).

    ``damage`` lists what could not be read (a truncated ``result.json``, a missing
    ``policy.py``); such a candidate's status is ``damaged``.
    """

    n: int
    source: str | None
    result: dict[str, Any] | None
    held_out: dict[str, Any] | None = None
    event: Event | None = None
    fallback_score: float | None = None
    damage: list[str] = Field(default_factory=list)

    @property
    def status(self) -> str:
        """``damaged``, else the evaluation status (``missing`` when there is no result yet)."""
        if self.damage:
            return "damaged"
        return str((self.result or {}).get("status") or "missing")

    @property
    def reason(self) -> str | None:
        """Why it is damaged, else why its evaluation was not ``ok``, or which failed runs an
        ``ok`` one counted (``x16-seed61: run failed (...) - counts 720 s``); else None."""
        if self.damage:
            return "; ".join(self.damage)
        why = (self.result or {}).get("reason")
        return str(why) if why not in (None, "") else None

    @property
    def score(self) -> float | None:
        """The search score: result.json's, else its evaluation event's or aggregate's."""
        stored = _number((self.result or {}).get("score"))
        return stored if stored is not None else self.fallback_score

    @property
    def iteration(self) -> int | None:
        """The iteration that produced it (from its transcript event)."""
        return self.event.iteration if self.event else None

    @property
    def verdict(self) -> dict[str, Any]:
        """The critic's verdict stored with the result (may be empty)."""
        return dict(_dict((self.result or {}).get("verdict")))

    def first_case(self) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
        """(case name, stats, profile) of the first search case, the one with the profile."""
        result = self.result or {}
        case, profile = _unwrap_profile(result.get("profile"))
        evaluation = _dict(result.get("evaluation"))
        if profile is None:
            case, profile = _unwrap_profile(evaluation.get("profile"))
        traces = [t for t in _list(evaluation.get("traces")) if isinstance(t, dict)]
        chosen = next((t for t in traces if case and t.get("name") == case), None)
        chosen = chosen or next((t for t in traces if isinstance(t.get("stats"), dict)), None)
        if chosen is None:
            return case, None, profile
        stats = chosen.get("stats")
        return (case or chosen.get("name"), stats if isinstance(stats, dict) else None,
                profile)


class RunView(BaseModel):
    """A whole run directory, read once."""

    path: Path
    run: RunInfo
    events: list[Event]
    candidates: list[Candidate]
    baselines: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)

    def candidate(self, n: int) -> Candidate:
        """Candidate ``n``; `ReviewError` listing the candidates when there is none."""
        for c in self.candidates:
            if c.n == n:
                return c
        known = ", ".join(str(c.n) for c in self.candidates) or "none"
        raise ReviewError(f"run {self.run.run_id} has no candidate {n} (candidates: {known})")

    def best(self) -> Candidate | None:
        """The accepted candidate, else run.json's best, else the best undamaged one with a
        finite score."""
        for n in (self.run.accepted_candidate, self.run.best_candidate):
            if n is not None and any(c.n == n for c in self.candidates):
                return self.candidate(n)
        scored = [c for c in self.candidates
                  if not c.damage and c.score is not None and math.isfinite(c.score)]
        if not scored:
            return None
        pick = min if self.run.lower_is_better else max
        return pick(scored, key=lambda c: c.score or 0.0)

    def verdicts(self, n: int) -> list[Event]:
        """The critic's verdict events on candidate ``n``, oldest first."""
        return [e for e in self.events if e.type == "verdict" and e.field("candidate") == n]

    def model_calls(self) -> list[Event]:
        """Every model call event (failed ones too)."""
        return [e for e in self.events if e.type == "model_call"]


# --- finding and loading -----------------------------------------------------------------------


def find_run(run: str, runs_dir: str | Path = "runs") -> Path:
    """A run's folder from a run id (looked up in ``runs_dir``) or a path to the folder."""
    from agents import run_store

    try:
        return run_store.resolve_run(run, runs_dir)
    except run_store.RunNotFound as exc:
        raise RunNotFound(str(exc)) from None


RUN_MARKERS = ("run.json", "run.json.tmp", "transcript.jsonl")


def list_run_dirs(runs_dir: str | Path) -> list[Path]:
    """Folders of ``runs_dir`` that hold a ``run.json`` (or, from a run killed while writing
    its first one, ``run.json.tmp`` or a transcript), oldest name first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and any((p / name).is_file() for name in RUN_MARKERS))


class RunRow(BaseModel):
    """One line of `runs list`: run.json and the best candidate's score, or why it is unreadable.

    ``warnings`` says what of run.json was ignored (see the module docstring).
    """

    name: str
    path: Path
    run: RunInfo | None = None
    best_score: float | None = None
    problem: str | None = None
    warnings: list[str] = Field(default_factory=list)


def list_runs(runs_dir: str | Path) -> list[RunRow]:
    """Every run in ``runs_dir``; a run whose files cannot be read is listed with the reason."""
    rows = []
    for folder in list_run_dirs(runs_dir):
        if not (folder / "run.json").is_file():
            rows.append(RunRow(name=folder.name, path=folder, problem=(
                f"{folder / 'run.json'} is missing (the run was probably killed while writing "
                "it)")))
            continue
        try:
            run, warnings = read_run_info(folder)
        except RunDirError as exc:
            rows.append(RunRow(name=folder.name, path=folder, problem=str(exc)))
            continue
        rows.append(RunRow(name=folder.name, path=folder, run=run,
                           best_score=_best_score(folder, run), warnings=warnings))
    return rows


def _best_score(folder: Path, run: RunInfo) -> float | None:
    """run.json names the best candidate but not its score: read it from its result.json."""
    n = run.accepted_candidate if run.accepted_candidate is not None else run.best_candidate
    if n is None:
        return None
    try:
        result = _optional_object(folder / "candidates" / str(n) / "result.json")
    except RunDirError:
        return None
    score = _number((result or {}).get("score"))
    return score if score is not None else _aggregate_score(result, run.metric)


def _aggregate_score(result: dict[str, Any] | None, metric: str) -> float | None:
    """The evaluation report's median of the metric, for a result.json without ``score``."""
    if not result or result.get("status", "ok") != "ok":
        return None
    aggregate = _dict(_dict(result.get("evaluation")).get("aggregate"))
    return _number(aggregate.get(metric))


def load_run(path: str | Path) -> RunView:
    """Read a run directory; `RunDirError` names the file (and line) that cannot be read."""
    root = Path(path)
    run, warnings = read_run_info(root)
    events = _read_transcript(root / "transcript.jsonl", warnings)
    by_candidate = {e.field("candidate"): e for e in events if e.type == "candidate"}
    candidates = [_read_candidate(d, by_candidate.get(int(d.name)))
                  for d in _candidate_dirs(root / "candidates")]
    scored = {e.field("candidate"): _number(e.field("score")) for e in events
              if e.type == "evaluation" and e.field("status", "ok") == "ok"}
    for c in candidates:
        c.fallback_score = scored.get(c.n)
        if c.fallback_score is None:
            c.fallback_score = _aggregate_score(c.result, run.metric)
        warnings.extend(f"candidate {c.n} is damaged: {why}" for why in c.damage)
    return RunView(path=root, run=run, events=events, candidates=candidates,
                   baselines=_read_baselines(root / "baselines.json", warnings),
                   warnings=warnings)


def load_run_info(root: Path) -> RunInfo:
    """Only ``run.json`` (for `runs list`); see `read_run_info` for what is tolerated."""
    return read_run_info(root)[0]


def _live_status(root: Path, run: RunInfo, warnings: list[str]) -> RunInfo:
    """A run whose run.json says ``running`` but whose process is gone (no live holder of its
    lock: killed, or the machine restarted) is ``interrupted``, and resumable."""
    from agents.run_lock import holder_alive

    if run.status != "running" or holder_alive(root):
        return run
    warnings.append("run.json says running, but no process holds the run: it was interrupted "
                    "(resume it with `policyforge run --resume`)")
    return run.model_copy(update={"status": "interrupted",
                                  "stop_reason": run.stop_reason or "its process is gone"})


def read_run_info(root: Path) -> tuple[RunInfo, list[str]]:
    """``run.json`` and what of it was ignored: null or missing fields take their defaults,
    a field of the wrong type is dropped with a warning, a missing ``run_id`` is the folder's
    name. `RunDirError` only when the file is not a JSON object."""
    path = root / "run.json"
    data = _read_json(path)
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(data).__name__}")
    data, warnings = dict(data), []
    if not isinstance(data.get("run_id"), str) or not data["run_id"]:
        warnings.append(f"run.json has no run_id; the folder's name {root.name!r} is used")
        data["run_id"] = root.name
    for _ in range(len(RunInfo.model_fields) + 1):
        try:
            return _live_status(root, RunInfo.model_validate(data), warnings), warnings
        except ValidationError as exc:
            for error in exc.errors():
                key = error["loc"][0] if error["loc"] else None
                if key not in data:
                    continue
                if data.pop(key) is not None:  # null means "not known": the default says so
                    where = ".".join(str(x) for x in error["loc"])
                    warnings.append(f"run.json field {where}: {error['msg']}; ignored")
    raise RunDirError(f"{path}: cannot be read as a run's run.json")  # pragma: no cover


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunDirError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{path}: not UTF-8 text (byte {exc.start}): damaged") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _read_transcript(path: Path, warnings: list[str]) -> list[Event]:
    if not path.is_file():
        warnings.append(f"{path.name} is missing: no events to show")
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RunDirError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = text.split("\n")
    # A last line without its newline can be a write cut short by a killed run; so can a line
    # just before a resumed run's first event (the writer ends the half line and goes on).
    unterminated = lines[-1] if lines[-1].strip() else None
    body = lines[:-1]
    events: list[Event] = []
    for number, line in enumerate(body, start=1):
        if not line.strip():
            continue
        try:
            events.append(_parse_event(path, number, line, warnings))
        except RunDirError:
            if not _resumes_after(body, number):
                raise
            warnings.append(f"{path.name}:{number}: line is incomplete (the run was killed "
                            f"while writing it, then resumed); ignored")
    if unterminated is not None:
        number = len(body) + 1
        try:
            events.append(_parse_event(path, number, unterminated, warnings))
        except RunDirError:
            warnings.append(f"{path.name}:{number}: last line is incomplete (the run was "
                            f"probably killed while writing it); ignored")
    return events


def _parse_event(path: Path, number: int, line: str, warnings: list[str]) -> Event:
    """One transcript line. Without a valid ``type`` it is an error; a null or mistyped
    ``time``, ``elapsed_s``, ``iteration`` or ``role`` takes its default, a bad ``seq`` the
    line number (with a warning unless it was null)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}:{number}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}:{number}: expected a JSON object, got {type(data).__name__}")
    data = {**data, "line": number}
    for _ in range(len(Event.model_fields) + 1):
        try:
            return Event.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                key = error["loc"][0] if error["loc"] else None
                where = ".".join(str(x) for x in error["loc"])
                if key in ("type", "line", None):
                    raise RunDirError(f"{path}:{number}: field {where}: {error['msg']}") from None
                value = data.pop(key, None)
                if key == "seq":
                    data["seq"] = number
                if value is not None:
                    warnings.append(f"{path.name}:{number}: field {where}: {error['msg']}; "
                                    "ignored")
    raise RunDirError(f"{path}:{number}: cannot be read as an event")  # pragma: no cover


def _resumes_after(body: list[str], number: int) -> bool:
    """Whether the next non-blank line after line ``number`` is a resumed run's start."""
    following = next((line for line in body[number:] if line.strip()), None)
    if following is None:
        return False
    try:
        data = json.loads(following)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("type") == "run_started" and bool(
        data.get("resumed"))


def _read_baselines(path: Path, warnings: list[str]) -> dict[str, Any] | None:
    """``baselines.json`` if present and readable; otherwise None (and a warning if damaged)."""
    if not path.is_file():
        return None
    try:
        data = _read_json(path)
    except RunDirError as exc:
        warnings.append(f"{exc}; baselines.json ignored")
        return None
    if not isinstance(data, dict):
        warnings.append(f"{path.name}: expected a JSON object, got {type(data).__name__}; "
                        "ignored")
        return None
    return data


def _candidate_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted((d for d in root.iterdir() if d.is_dir() and d.name.isdigit()),
                  key=lambda d: int(d.name))


def _read_candidate(folder: Path, event: Event | None) -> Candidate:
    """One candidate folder; what cannot be read goes to ``damage``, never raises."""
    damage: list[str] = []
    policy = folder / "policy.py"
    source = None
    if not policy.is_file():
        damage.append(f"candidates/{folder.name}/policy.py is missing")
    else:
        try:
            source = policy.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            damage.append(f"cannot read candidates/{folder.name}/policy.py: {exc}")
    result = _candidate_object(folder / "result.json", damage)
    held_out = _candidate_object(folder / "held_out.json", damage)
    return Candidate(n=int(folder.name), source=source, result=result, held_out=held_out,
                     event=event, damage=damage)


def _candidate_object(path: Path, damage: list[str]) -> dict[str, Any] | None:
    """A candidate's JSON file, or None (its absence is no damage: not evaluated yet)."""
    try:
        return _optional_object(path)
    except RunDirError as exc:
        # Name the file relative to the candidate's folder: the message is shown in tables.
        damage.append(str(exc).replace(str(path), f"candidates/{path.parent.name}/{path.name}"))
        return None


def _optional_object(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = _read_json(path)
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


# --- small shared helpers ----------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one (a file from another version)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def _unwrap_profile(value: Any) -> tuple[str | None, dict[str, Any] | None]:
    """A profile is stored bare, or as the evaluation report's ``{"case", "profile"}``."""
    if not isinstance(value, dict):
        return None, None
    if isinstance(value.get("profile"), dict):
        return value.get("case"), value["profile"]
    return None, value


def baseline_first_case(view: RunView) -> tuple[dict[str, Any] | None, dict[str, Any] | None,
                                                 str]:
    """(stats, profile, where from) of the baseline policy on the first search case.

    ``baselines.json`` (``{"search": {"policies": {name: {case: stats}}, ...}}``) holds the
    statistics but no profile, so both are computed on this host by running the built-in
    baseline policy (trusted code) in-process on the suite's first search case; the stored
    statistics are used only when that cannot be done.
    """
    policy = str((view.run.baseline or {}).get("policy") or "priority")
    stats, profile, where = _compute_baseline(view.run.suite, policy)
    if profile is not None:
        return stats, profile, where
    stored = _stored_baseline_stats(view.baselines, policy)
    if stored is not None:
        return stored, None, f"baselines.json ({policy}); no profile: {where}"
    return None, None, where


def _stored_baseline_stats(baselines: dict[str, Any] | None, policy: str
                           ) -> dict[str, Any] | None:
    search = (baselines or {}).get("search")
    per_case = ((search or {}).get("policies") or {}).get(policy) if isinstance(search, dict) \
        else None
    if not isinstance(per_case, dict) or not per_case:
        return None
    first = next(iter(per_case.values()))
    return first if isinstance(first, dict) else None


def _compute_baseline(suite: str | None, policy: str) -> tuple[dict[str, Any] | None,
                                                                dict[str, Any] | None, str]:
    if not suite:
        return None, None, "no suite in run.json: baseline not computed"
    from traces.builtin_runs import run_builtin
    from traces.errors import SuiteError
    from traces.suites import get_suite

    try:
        case = get_suite(suite).search_cases()[0]
    except (SuiteError, KeyError, IndexError, OSError) as exc:
        return None, None, f"baseline {policy!r} on {suite!r} could not be computed: {exc}"
    run = run_builtin(case.params, case.trace_path, policy, profile=True)
    if run.stats is None:
        return None, None, f"baseline {policy!r} on {suite!r} could not be computed: {run.detail}"
    return (run.stats, run.profile,
            f"computed on this host ({policy} on {suite}/{case.name})")


# --- secrets -----------------------------------------------------------------------------------


def secret_values(extra_env: Iterable[str] = ()) -> list[str]:
    """Values of secret-holding environment variables (`agents.secrets`), longest first."""
    from agents.secrets import secret_values as shared

    return shared(extra_env)


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (raw, JSON- or HTML-escaped) replaced by a marker."""
    import html

    from agents.secrets import REDACTED

    for value in secrets:
        for form in sorted({value, html.escape(value), json.dumps(value)[1:-1]}, key=len,
                           reverse=True):
            text = text.replace(form, REDACTED)
    return text


def scrub(obj: Any, secrets: list[str]) -> Any:
    """A copy of a JSON-like value with every secret replaced in its strings (`agents.secrets`)."""
    from agents.secrets import scrub as shared

    return shared(obj, secrets)


def secret_env_names(models: list[dict[str, Any]]) -> list[str]:
    names = []
    for per_role in models:
        for config in (per_role or {}).values():
            if isinstance(config, dict) and config.get("api_key_env"):
                names.append(str(config["api_key_env"]))
    return names


def scrubbed_view(view: Any) -> tuple[list[str], Any]:
    """The secrets to hide, and the view with them removed from every string it holds."""
    secrets = secret_values(secret_env_names([view.run.models]))
    if not secrets:
        return secrets, view
    return secrets, RunView.model_validate(scrub(view.model_dump(), secrets))

