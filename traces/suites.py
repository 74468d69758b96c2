"""Named, versioned trace suites: (params, trace) cases split into a search and a held-out part.

A suite is defined here, in code: base params, variants (load or burst scales, mixes) and two
disjoint sets of seeds. Its traces are generated with the seeded generator on first use, cached on
disk and checked against the SHA-256 digests pinned in ``suite_pins.json``, so a suite's version
promises the same bytes on every machine; a cached file that does not match is regenerated.

The search part and the held-out part live in separate cache folders and behind separately named
methods. ``Suite.search_cases()`` takes no arguments and nothing it returns refers to a held-out
case; only ``Suite.held_out_cases()`` gives those, for the critic's final check.

Cache: ``$POLICYFORGE_CACHE_DIR/traces/<suite>-v<version>/{search,held-out}/<case>.csv`` (with the
case's params beside it as ``<case>.toml``); ``POLICYFORGE_CACHE_DIR`` defaults to
``~/.cache/policyforge``.

A user's own suites (`traces.user_suites`, ``policyforge traces suites add``) are resolved by the
same `get_suite`: ``NAME`` is the latest stored version, ``NAME@vN`` one version.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.errors import ParamsError
from simulator.generator import generate_trace
from simulator.params import load_params, params_to_toml
from simulator.trace_io import trace_to_text
from traces import user_suites
from traces.cases import HELD_OUT, SEARCH, SuiteCase, SuiteInfo, sha256_hex
from traces.errors import SuiteError

CACHE_ENV = "POLICYFORGE_CACHE_DIR"
PINS_FILE = Path(__file__).with_name("suite_pins.json")


# --- definitions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteVariant:
    """One setting of a suite (a load scale, a mix); each seed of the suite is run on it."""

    label: str
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class SuiteDefinition:
    """What a suite is: params, variants and the seeds of its two parts."""

    name: str
    version: int
    description: str
    base: Mapping[str, Any]
    variants: tuple[SuiteVariant, ...]
    search_seeds: tuple[int, ...]
    held_out_seeds: tuple[int, ...]
    # a policy must work from estimates: reading an operator's true resource profile is a
    # static-check error on this suite, not a warning (`sandbox.evaluation`)
    estimates_only: bool = False
    # what the suite is scored by, as `agents.objective.Objective` fields (empty: the default
    # objective, the most completed pipelines); plain data here, validated by the agents
    objective: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shared = set(self.search_seeds) & set(self.held_out_seeds)
        if shared:
            raise SuiteError(
                f"search and held-out seeds must be disjoint; both have {sorted(shared)}",
                suite=self.name,
            )

    @property
    def key(self) -> str:
        """``<name>-v<version>``: the cache folder and the pin table's key."""
        return f"{self.name}-v{self.version}"


# The paper's setting (arXiv 2510.18897): 600 s at 1000 ticks/s, one 64-CPU / 500 GB pool,
# ~10 operators per pipeline, single-operator containers, Eudoxia's default priority mix.
_PAPER_BASE: dict[str, Any] = {
    "duration": 600,
    "ticks_per_second": 1000,
    "num_pools": 1,
    "cpus_per_pool": 64,
    "ram_gb_per_pool": 500,
    "num_operators": 10,
    "multi_operator_containers": False,
    "interactive_prob": 0.3,
    "query_prob": 0.1,
    "batch_prob": 0.6,
}


def paper_params(scale: int = 1, seed: int = 10) -> dict[str, Any]:
    """The paper's setting at burst scale ``scale`` (10·k pipelines every 10·k s), one seed."""
    return {
        **_PAPER_BASE,
        "num_pipelines": 10 * scale,
        "waiting_seconds_mean": 10.0 * scale,
        "random_seed": seed,
    }


def _paper() -> SuiteDefinition:
    # Burst scale k: k times the pipelines per arrival, k times the gap; same mean load.
    variants = tuple(
        SuiteVariant(f"{k}x", {"num_pipelines": 10 * k, "waiting_seconds_mean": 10.0 * k})
        for k in (1, 2, 4, 8, 16)
    )
    return SuiteDefinition(
        name="paper",
        version=1,
        description="the paper's setting at burst scales 1x-16x (same mean load, larger bursts)",
        base=_PAPER_BASE,
        variants=variants,
        search_seeds=(10, 11),
        held_out_seeds=(910, 911),
    )


def _small() -> SuiteDefinition:
    # 120 s of the paper's cluster with smaller pipelines: the least memory demand is just above
    # capacity (1.02-1.06x), so the cluster saturates (naive completes a few pipelines, priority
    # about a fifth) and a better policy still has room to show.
    base = {
        **_PAPER_BASE,
        "duration": 120,
        "num_pipelines": 6,
        "num_operators": 5,
        "waiting_seconds_mean": 10.0,
    }
    return SuiteDefinition(
        name="small",
        version=1,
        description="fast: 120 s of the paper's cluster, saturated (memory demand above capacity)",
        base=base,
        variants=(SuiteVariant("", {}),),
        search_seeds=(1, 2, 3),
        held_out_seeds=(901, 902, 903),
    )


_MIXES = {
    # interactive / query / batch; each triple sums to exactly 1.0 left to right in float64
    "query-heavy": (0.2, 0.5, 0.3),
    "batch-heavy": (0.3, 0.1, 0.6),
}


def _mixed() -> SuiteDefinition:
    base = {
        "duration": 300,
        "ticks_per_second": 1000,
        "num_pools": 4,
        "cpus_per_pool": 32,
        "ram_gb_per_pool": 256,
        "num_operators": 6,
        "waiting_seconds_mean": 10.0,
        "multi_operator_containers": True,
        "max_job_seconds": 60,
        "dag_linear_prob": 0.4,
        "dag_branch_in_prob": 0.3,
        "dag_branch_out_prob": 0.3,
    }
    # True load scale k: k times the pipelines per arrival at the same gap.
    variants = tuple(
        SuiteVariant(
            f"{mix}-{k}x",
            {"interactive_prob": i, "query_prob": q, "batch_prob": b, "num_pipelines": 4 * k},
        )
        for mix, (i, q, b) in _MIXES.items()
        for k in (1, 2, 4)
    )
    return SuiteDefinition(
        name="mixed",
        version=1,
        description="4 pools, multi-operator containers, 60 s deadlines, branching DAGs, "
        "query-heavy and batch-heavy mixes at load 1x-4x",
        base=base,
        variants=variants,
        search_seeds=(21, 22),
        held_out_seeds=(921, 922),
    )


# --- the scenario library: settings the paper's problem does not saturate ---------------------

# The saturated 120 s cluster of `small`, the base of `noisy` and `overcommit`.
_SMALL_BASE: dict[str, Any] = {
    **_PAPER_BASE, "duration": 120, "num_pipelines": 6, "num_operators": 5,
    "waiting_seconds_mean": 10.0,
}


def _noisy() -> SuiteDefinition:
    # Eudoxia's noisy peak-memory estimator: each operator's estimate is its true peak times a
    # lognormal factor (seeded by random_seed); a policy sees estimates, not true sizes.
    variants = tuple(SuiteVariant(f"sigma{label}", {"noisy_estimator_sigma": sigma})
                     for label, sigma in (("0.25", 0.25), ("1", 1.0)))
    return SuiteDefinition(
        name="noisy",
        version=1,
        description="the saturated 120 s cluster with the noisy peak-memory estimator at sigma "
        "0.25 and 1 (estimates only)",
        base={**_SMALL_BASE, "estimator_algo": "noisy"},
        variants=variants,
        search_seeds=(31, 32),
        held_out_seeds=(931, 932),
        estimates_only=True,
    )


def _overcommit() -> SuiteDefinition:
    # Allocations are unchecked; the pool's OOM killer decides when consumption exceeds RAM.
    variants = tuple(SuiteVariant(f"{k}x", {"num_pipelines": 6 * k}) for k in (1, 2))
    return SuiteDefinition(
        name="overcommit",
        version=1,
        description="the saturated 120 s cluster with memory overcommit: the pool's OOM killer "
        "decides; load 1x and 2x",
        base={**_SMALL_BASE, "allow_memory_overcommit": True},
        variants=variants,
        search_seeds=(41, 42),
        held_out_seeds=(941, 942),
    )


_INTERACTIVE_MIXES = {
    # interactive / query / batch; each triple sums to exactly 1.0 left to right in float64
    "interactive-heavy": (0.6, 0.2, 0.2),
    "interactive-query": (0.5, 0.4, 0.1),
}


def _latency() -> SuiteDefinition:
    base = {
        "duration": 120, "ticks_per_second": 1000, "num_pools": 2, "cpus_per_pool": 32,
        "ram_gb_per_pool": 250, "num_operators": 5, "num_pipelines": 10,
        "waiting_seconds_mean": 10.0, "multi_operator_containers": True, "max_job_seconds": 30,
    }
    variants = tuple(
        SuiteVariant(mix, {"interactive_prob": i, "query_prob": q, "batch_prob": b})
        for mix, (i, q, b) in _INTERACTIVE_MIXES.items()
    )
    return SuiteDefinition(
        name="latency",
        version=1,
        description="interactive-heavy mixes with 30 s deadlines on 2 pools, for latency "
        "objectives (adjusted latency, per-class p99)",
        base=base,
        variants=variants,
        search_seeds=(51, 52),
        held_out_seeds=(951, 952),
        objective={"metric": "adjusted_latency"},  # penalised: the suite has deadlines
    )


def _scales() -> SuiteDefinition:
    # The follow-up work's protocol: one workload on CPUs and RAM x1-x16 of one 64-CPU / 500 GB
    # pool at 100 ticks/s, 360 s deadlines, single-operator containers; 600 s instead of its
    # 3600 s, with a load (32 pipelines every 10 s) that still contends at x16, so the suite stays
    # quick. The trace depends only on the workload keys and the seed, so every size of a seed
    # replays the same trace.
    base = {
        "duration": 600, "ticks_per_second": 100, "num_pools": 1, "cpus_per_pool": 64,
        "ram_gb_per_pool": 500, "num_operators": 5, "num_pipelines": 32,
        "waiting_seconds_mean": 10.0, "multi_operator_containers": False,
        "max_job_seconds": 360,
    }
    variants = tuple(
        SuiteVariant(f"x{k}", {"cpus_per_pool": 64 * k, "ram_gb_per_pool": 500 * k})
        for k in (1, 2, 4, 8, 16)
    )
    return SuiteDefinition(
        name="scales",
        version=1,
        description="one workload on 5 cluster sizes (x1-x16 of a 64-CPU / 500 GB pool), 600 s "
        "at 100 ticks/s, 360 s deadlines: a policy must scale, not fit one size",
        base=base,
        variants=variants,
        search_seeds=(61,),
        held_out_seeds=(961,),
        # the follow-up work's score: the penalised adjusted latency, geometric mean over sizes,
        # a size whose run fails (the policy raises, over-allocates...) counting what a run that
        # completes nothing scores: every pipeline at 2 x max_job_seconds
        objective={"metric": "adjusted_latency", "aggregate": "geomean",
                   "failed_case_value": 2 * base["max_job_seconds"]},
    )


SUITES: dict[str, SuiteDefinition] = {
    d.name: d for d in (_paper(), _small(), _mixed(), _noisy(), _latency(), _scales(),
                        _overcommit())
}


# --- cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pin:
    sha256: str
    pipelines: int


@dataclass(frozen=True)
class _CaseSpec:
    name: str
    seed: int
    params: dict[str, Any] = field(repr=False)


def _case_specs(definition: SuiteDefinition, seeds: tuple[int, ...]) -> list[_CaseSpec]:
    specs = []
    for variant in definition.variants:
        for seed in seeds:
            name = f"{variant.label}-seed{seed}" if variant.label else f"seed{seed}"
            raw = {**definition.base, **variant.overrides, "random_seed": seed}
            try:
                params = load_params(raw)
            except ParamsError as exc:
                raise SuiteError(
                    f"bad params: {exc.message}", suite=definition.key, case=name
                ) from None
            specs.append(_CaseSpec(name, seed, params))
    return specs


def trace_bytes(params: dict[str, Any]) -> tuple[bytes, int]:
    """The trace CSV the generator writes for ``params`` as bytes, and its number of pipelines."""
    pipelines = generate_trace(params)
    return trace_to_text(pipelines).encode("utf-8"), len(pipelines)


class Suite:
    """A suite bound to a cache folder; traces are made and checked when cases are asked for."""

    user = False

    def __init__(self, definition: SuiteDefinition, cache_root: Path) -> None:
        self.definition = definition
        self.cache_dir = cache_root / "traces" / definition.key
        self._search = _case_specs(definition, definition.search_seeds)
        self._held_out = _case_specs(definition, definition.held_out_seeds)
        self._pins = _pins_for(definition, [c.name for c in self._search + self._held_out])

    @property
    def name(self) -> str:
        """The suite's name, e.g. ``paper``."""
        return self.definition.name

    @property
    def version(self) -> int:
        """The suite's version; results record it next to the name."""
        return self.definition.version

    @property
    def estimates_only(self) -> bool:
        """Whether reading an operator's true resource profile is an error on this suite."""
        return self.definition.estimates_only

    @property
    def objective(self) -> dict[str, Any]:
        """The fields of the objective the suite is scored by (empty: the default)."""
        return dict(self.definition.objective)

    def search_cases(self) -> list[SuiteCase]:
        """The cases a policy may be tuned on (never a held-out case)."""
        return [self._materialise(spec, SEARCH) for spec in self._search]

    def held_out_cases(self) -> list[SuiteCase]:
        """The held-out cases, for the final verdict only: never show them to the coder."""
        return [self._materialise(spec, HELD_OUT) for spec in self._held_out]

    def cache_state(self) -> str:
        """``cached``, ``not cached`` or ``partial: K of N cases`` (traces whose digest matches)."""
        parts = [(s, SEARCH) for s in self._search] + [(s, HELD_OUT) for s in self._held_out]
        good = sum(self._cached_ok(spec, part) for spec, part in parts)
        if good == len(parts):
            return "cached"
        return "not cached" if good == 0 else f"partial: {good} of {len(parts)} cases"

    def case_rows(self) -> list[tuple[str, str, int, int]]:
        """(part, case name, seed, pipelines) of every case, search first; nothing is generated."""
        return [(part, spec.name, spec.seed, self._pins[spec.name].pipelines)
                for part, specs in ((SEARCH, self._search), (HELD_OUT, self._held_out))
                for spec in specs]

    def hashes(self) -> dict[str, str]:
        """``{"<part>/<case>": pinned trace sha256}`` of every case (a run's provenance)."""
        return {f"{part}/{spec.name}": self._pins[spec.name].sha256
                for part, specs in ((SEARCH, self._search), (HELD_OUT, self._held_out))
                for spec in specs}

    def info(self) -> SuiteInfo:
        """Counts, pipelines per case and cache state."""
        counts = [pin.pipelines for pin in self._pins.values()]
        return SuiteInfo(
            name=self.name,
            version=self.version,
            description=self.definition.description,
            search_cases=len(self._search),
            held_out_cases=len(self._held_out),
            min_pipelines=min(counts),
            max_pipelines=max(counts),
            cache_dir=self.cache_dir,
            cache_state=self.cache_state(),
        )

    # --- cache -----------------------------------------------------------------------------

    def _paths(self, spec: _CaseSpec, part: str) -> tuple[Path, Path]:
        folder = self.cache_dir / part
        return folder / f"{spec.name}.csv", folder / f"{spec.name}.toml"

    def _cached_ok(self, spec: _CaseSpec, part: str) -> bool:
        trace_path, _ = self._paths(spec, part)
        try:
            data = trace_path.read_bytes()
        except OSError:
            return False
        return sha256_hex(data) == self._pins[spec.name].sha256

    def _materialise(self, spec: _CaseSpec, part: str) -> SuiteCase:
        """The case, with its trace on disk and matching its pinned digest."""
        pin = self._pins[spec.name]
        trace_path, params_path = self._paths(spec, part)
        if not self._cached_ok(spec, part):
            data, _ = trace_bytes(spec.params)
            digest = sha256_hex(data)
            if digest != pin.sha256:
                raise SuiteError(
                    f"the generator now writes a different trace (sha256 {digest[:12]}…, pinned "
                    f"{pin.sha256[:12]}…); if that is intended, give the suite a new version and "
                    "pin it with `python -m traces.suites --pin`",
                    suite=self.definition.key,
                    case=spec.name,
                )
            _write_atomically(trace_path, data)
        toml = params_to_toml(spec.params).encode("utf-8")
        if not _same_content(params_path, toml):
            _write_atomically(params_path, toml)
        return SuiteCase(
            spec.name, dict(spec.params), trace_path, spec.seed, pin.pipelines, pin.sha256
        )


def _same_content(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a temporary file in the same folder and rename it: readers never see half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise SuiteError(
            f"cannot write the trace cache: {exc.strerror or exc}; set {CACHE_ENV} to a writable "
            "folder",
            path=str(path),
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SuiteError(
            f"cannot write the trace cache: {exc.strerror or exc}", path=str(path)
        ) from None


# --- pins --------------------------------------------------------------------------------------


def _read_pin_table() -> dict[str, dict[str, dict[str, Any]]]:
    try:
        return json.loads(PINS_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _pins_for(definition: SuiteDefinition, names: list[str]) -> dict[str, _Pin]:
    table = _read_pin_table().get(definition.key, {})
    missing = [n for n in names if n not in table]
    if missing:
        raise SuiteError(
            f"no pinned digest for case(s) {', '.join(missing)}; run `python -m traces.suites "
            "--pin` to pin a new suite version",
            suite=definition.key,
        )
    return {n: _Pin(table[n]["sha256"], int(table[n]["pipelines"])) for n in names}


def pin_table() -> dict[str, dict[str, dict[str, Any]]]:
    """Digest and pipeline count of every case of every defined suite, generated afresh."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for definition in SUITES.values():
        specs = _case_specs(definition, definition.search_seeds + definition.held_out_seeds)
        entries = {}
        for spec in specs:
            data, count = trace_bytes(spec.params)
            entries[spec.name] = {"sha256": sha256_hex(data), "pipelines": count}
        table[definition.key] = entries
    return table


def write_pins() -> list[str]:
    """Add pins for suite versions not pinned yet; refuse to change an existing pin.

    Returns the keys of the suite versions it added. A changed digest means the same version
    would name different traces, so it raises ``SuiteError`` asking for a new version instead.
    """
    old = _read_pin_table()
    new = pin_table()
    for key, entries in new.items():
        for case, pin in entries.items():
            before = old.get(key, {}).get(case)
            if before is not None and before != pin:
                raise SuiteError(
                    "pinned trace changed; give the suite a new version instead of re-pinning",
                    suite=key,
                    case=case,
                )
    added = [key for key in new if key not in old]
    merged = {**old, **new}
    _write_atomically(PINS_FILE, (json.dumps(merged, indent=1, sort_keys=True) + "\n").encode())
    return added


# --- public API --------------------------------------------------------------------------------


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where policyforge caches things: ``cache_dir``, else ``$POLICYFORGE_CACHE_DIR``, else
    ``~/.cache/policyforge``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "policyforge"


def get_suite(name: str, *, cache_dir: str | Path | None = None,
              data_dir: str | Path | None = None) -> Any:
    """The suite called ``name``: a built-in (a `Suite` bound to the cache folder) or one of the
    user's own (a `traces.user_suites.UserSuite`: ``NAME`` is its latest version, ``NAME@vN``
    one version). Both answer ``search_cases``, ``held_out_cases``, ``info``, ``case_rows`` and
    ``hashes``."""
    base, _, version = name.partition("@")
    definition = SUITES.get(base)
    if definition is not None and (not version or version == f"v{definition.version}"):
        return Suite(definition, cache_root(cache_dir))
    if definition is None and base in user_suites.user_suite_names(data_dir):
        number = None
        if version:
            if not (version.startswith("v") and version[1:].isdigit()):
                raise SuiteError(f"suite {name!r}: expected NAME or NAME@vN")
            number = int(version[1:])
        return user_suites.load_user_suite(base, number, data_dir=data_dir)
    if definition is not None:
        raise SuiteError(f"built-in suite {base!r} has only version v{definition.version}")
    mine = user_suites.user_suite_names(data_dir)
    known = ", ".join(SUITES) + (f"; your suites: {', '.join(mine)}" if mine else "")
    raise SuiteError(f"unknown suite {name!r}; expected one of {known} (add your own with "
                     "`policyforge traces suites add`)")


def suite_names(data_dir: str | Path | None = None) -> list[str]:
    """The built-in suites, then the user's own."""
    return list(SUITES) + user_suites.user_suite_names(data_dir)


def add_user_suite(name: str, sources: list[user_suites.CaseSource], *, description: str = "",
                   data_dir: str | Path | None = None) -> user_suites.UserSuite:
    """Store the user's suite ``name`` (`traces.user_suites.add_suite`); a built-in's name is
    refused."""
    return user_suites.add_suite(name, sources, description=description, data_dir=data_dir,
                                 reserved=tuple(SUITES))


def remove_user_suite(name: str, data_dir: str | Path | None = None) -> list[int]:
    """Delete every version of the user's suite ``name``; a built-in's name is refused."""
    return user_suites.remove_suite(name, data_dir, reserved=tuple(SUITES))


def list_suites(*, cache_dir: str | Path | None = None,
                data_dir: str | Path | None = None) -> list[SuiteInfo]:
    """Every suite (built-in, then the user's) with its version, case counts, pipelines per case
    and cache state."""
    return [get_suite(name, cache_dir=cache_dir, data_dir=data_dir).info()
            for name in suite_names(data_dir)]


# --- CLI -------------------------------------------------------------------------------------


if __name__ == "__main__":  # maintainers: `python -m traces.suites --pin` after adding a version
    if sys.argv[1:] != ["--pin"]:
        print("usage: python -m traces.suites --pin", file=sys.stderr)
        raise SystemExit(2)
    try:
        print("pinned:", ", ".join(write_pins()) or "nothing new")
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
