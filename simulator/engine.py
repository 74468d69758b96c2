"""The event loop: Eudoxia's tick semantics (spec §5), skipping ticks where nothing can happen.

Eudoxia runs every tick: arrivals, one policy call, one executor tick, statistics. This engine
runs the same *full tick* only where needed and jumps over the rest:

* The executor's next discrete change (an operator starting or finishing, an OOM point, a
  suspension completing, the pool-level OOM killer firing) is computed ahead; quiet ticks in
  between only advance counters and memory, replayed exactly by `ResourcePool.fast_forward`.
* Arrivals, deadlines (``max_job_seconds``) and the last tick are full ticks. Eudoxia's records
  of every simulated second (the memory sample, timeouts) inside a jump are taken from the
  pools' planned ledgers (`_samples_within`): nothing else moves in quiet ticks.
* The policy is called at every full tick. After a tick where it could observe something new,
  it is called again on the next tick with no new input (a *quiet call*). If that call returns
  no decisions, reads nothing time-varying (the clock, a container's memory or elapsed ticks, a
  pool's consumed RAM) and leaves its state equal by value (attributes of ``s`` and its module's
  globals), every further quiet call would do the same, so the engine skips to the next event.
  Otherwise it keeps calling it tick by tick. ``can_suspend_container()`` and ``has_timed_out()``
  only change at full ticks (operator boundaries and deadlines are events), so reading them does
  not force tick stepping.

``event_driven=False`` runs every tick as a full tick: the plain reference the property tests
compare against.
"""

from __future__ import annotations

import functools
import gc
import heapq
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.clock import ReadTracker, SimClock
from simulator.decision_log import encode_decisions, replay_policy
from simulator.errors import (
    PolicyDecisionError,
    PolicyException,
    RunError,
    SimulatorError,
)
from simulator.executor import Assignment, ExecutionResult, Executor, Suspend
from simulator.gc_pause import no_automatic_gc
from simulator.native import is_simulator_frame
from simulator.params import load_params
from simulator.policy_loader import LoadedPolicy, eudoxia_names, policy_line, resolve_policy
from simulator.policy_writes import WRITES_NAME
from simulator.scheduling import Scheduler
from simulator.state_compare import StateProbe
from simulator.stats import SimulatorStats, compute_pipeline_stats
from simulator.trace_io import TracePipeline, delivery_ticks, read_trace
from simulator.workload import TRANSITIONS, Pipeline, Priority, Segment

if TYPE_CHECKING:
    from simulator.observer import RunObserver

_NONE: list[Any] = []  # an empty decision list, never mutated
_GC_EVERY = (1 << 13) - 1  # a young-generation collection every 8192 full ticks


@dataclass
class Arrival:
    """A pipeline and the tick it is delivered."""

    tick: int
    spec: TracePipeline


@dataclass
class RunCounters:
    """How much work the engine did (for benchmarks and tests)."""

    full_ticks: int = 0
    policy_calls: int = 0
    quiet_calls: int = 0
    events: int = 0
    elided_calls: int = 0
    # snapshots of the policy's state taken to prove a quiet call clean (a call of a tracked
    # file that raised no flag needs none: `simulator.policy_effects`)
    snapshots: int = 0
    wall_seconds: float = 0.0


@dataclass
class SimulationResult:
    """Statistics plus what the run recorded.

    ``pipeline_ticks`` has (pipeline id, arrival tick, finish tick or None) for every pipeline
    that arrived, in arrival order. ``pipelines`` is empty unless the run was asked to keep them
    (``keep_pipelines``): then they are the run's pipelines, detached (`Pipeline.detach`): ids,
    priorities and runtime statuses (ticks, operator states) are there; operators no longer link
    to their pipeline, parents or children. Without them a finished run is freed before the
    collector is back on, so it never scans the run's objects.
    """

    stats: SimulatorStats
    decisions: list[dict[str, Any]] | None
    counters: RunCounters
    params: dict[str, Any]
    policy_key: str
    pipelines: list[Pipeline] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    pipeline_ticks: list[tuple[str, int | None, int | None]] = field(default_factory=list)

    def stats_json(self) -> dict[str, Any]:
        """The statistics as JSON data: Eudoxia's ``to_dict()`` plus ``adjusted_latency`` (default
        arguments, as the fixtures pin it), ``adjusted_latency_penalised`` (what Eudoxia's CLI
        prints: with ``max_job_seconds > 0`` every unfinished pipeline counts 2 x
        ``max_job_seconds`` and nothing is divided by the completion rate; otherwise the same as
        ``adjusted_latency``), the memory means and completed pipelines per second. What
        ``simulate --json`` prints, what the sandbox returns and what the host compares."""
        stats = self.stats
        out = stats.to_dict()
        out["adjusted_latency"] = stats.adjusted_latency()
        out["adjusted_latency_penalised"] = stats.cli_adjusted_latency(
            float(self.params.get("max_job_seconds") or 0))
        out["mean_memory_allocated_percent"] = stats.mean_memory_allocated_percent
        out["mean_memory_consumed_percent"] = stats.mean_memory_consumed_percent
        out["completed_pipelines_per_second"] = (
            stats.pipelines_all.completion_count / self.params["duration"]
        )
        return out


def build_pipeline(spec: TracePipeline, seq: int) -> Pipeline:
    """A live Pipeline from a trace pipeline; operators remember (seq, row) for decision logs.
    They are built when something first reads them (`Pipeline.deferred`)."""
    p = Pipeline.deferred(
        spec.pipeline_id, Priority[spec.priority], len(spec.operators),
        functools.partial(_add_operators, spec, seq),
    )
    p._seq = seq
    return p


def _add_operators(spec: TracePipeline, seq: int, p: Pipeline) -> None:
    by_id: dict[str, Any] = {}
    for row, top in enumerate(spec.operators):
        parents = [by_id[name] for name in top.parents]
        op = p.new_operator(parents or None)
        op.add_segment(
            Segment(top.baseline_cpu_seconds, top.cpu_scaling, top.memory_gb, top.storage_read_gb)
        )
        op._ref = (seq, row)
        by_id[top.operator_id] = op


class _Estimator:
    """Eudoxia's estimator hook: none, or ``noisy`` (spec §5.4)."""

    def __init__(self, params: dict[str, Any]) -> None:
        algo = params.get("estimator_algo") or ""
        self.algo = algo
        if algo not in ("", "noisy"):
            from simulator.errors import ParamsError

            raise ParamsError(
                f"Unknown estimator_algo: '{algo}'. Options: ['noisy']", field="estimator_algo"
            )
        self.sigma = params.get("noisy_estimator_sigma", 0.0)
        self.rng = np.random.default_rng(params["random_seed"]) if algo == "noisy" else None

    def estimate(self, pipeline: Pipeline) -> None:
        if self.rng is None:
            return
        for op in pipeline.values:
            peak = max(seg.get_peak_memory_gb() for seg in op.values)
            if self.sigma > 0:
                peak = peak * self.rng.lognormal(mean=0.0, sigma=self.sigma)
            op.estimate.mem_peak_gb = peak


class Simulation:
    """One run: params, a workload, a policy; `run()` returns a `SimulationResult`."""

    def __init__(
        self,
        params: dict[str, Any],
        arrivals: list[Arrival],
        policy: LoadedPolicy,
        *,
        record_decisions: bool = False,
        event_driven: bool = True,
        quiet_idempotent: bool | None = None,
        forced_ticks: list[int] | None = None,
        profile: bool = False,
        replaying: bool = False,
        keep_pipelines: bool = False,
    ) -> None:
        self.params = params
        self.tps = params["ticks_per_second"]
        self.max_ticks = int(params["duration"] * self.tps)
        self.mjt = int(params["max_job_seconds"] * self.tps)
        self.arrivals = arrivals
        self.policy = policy
        self.record = record_decisions
        self.event_driven = event_driven
        if quiet_idempotent is None:
            from simulator.policies import QUIET_IDEMPOTENT

            quiet_idempotent = policy.builtin and policy.key in QUIET_IDEMPOTENT
        self.trusted_quiet = quiet_idempotent
        self.forced = sorted(set(forced_ticks or []))
        # A decision log's replay decides only at its logged (forced) ticks and never reacts to
        # what it is shown, so a tick after a change need not be a full tick for its sake.
        self.replaying = replaying
        self.keep_pipelines = keep_pipelines
        self.decisions: list[dict[str, Any]] = []
        self.counters = RunCounters()
        self.pipelines: list[Pipeline] = []
        self._skip_checks = 0
        self._check_backoff = 1
        self._probe: StateProbe | None = None
        self._effects: Any = None
        self._expect_dirty = False  # the last checked quiet call raised the effects flag
        # The snapshot after the last clean quiet call, while nothing the policy can hold by
        # value has changed since (only skipped ticks and quiet executor ticks in between).
        self._clean_snap: Any = None
        self.profiler: RunObserver | None = None
        if profile:
            from simulator.profile import RunProfiler

            self.profiler = RunProfiler(self.tps)

    # --- setup ---------------------------------------------------------------------------------

    def _setup(self) -> None:
        params = self.params
        self.tracker = ReadTracker()
        self.clock = SimClock(self.tps, self.tracker)
        self.executor = Executor(
            self.clock,
            params["num_pools"],
            params["cpus_per_pool"],
            params["ram_gb_per_pool"],
            self.tps,
            params["allow_memory_overcommit"],
            tracker=self.tracker,
            multi_operator_containers=params["multi_operator_containers"],
        )
        for pool in self.executor.pools:
            pool._mjt = self.mjt
        s_params = {k: v for k, v in params.items() if k != "scheduler_algo"}
        module = self.policy.module
        writes = vars(module).get(WRITES_NAME) if module is not None else None
        if writes is not None:
            writes.clear()  # this run's records only (a policy loaded once)
        # a file compiled to raise a flag on anything that may change state
        # (`simulator.policy_effects`): a quiet call that leaves it down needs no snapshots
        self._effects = writes if writes is not None and writes.tracked else None
        if self._effects is not None:
            self._effects.enter()  # left in `run`
        try:
            self.s = Scheduler(
                self.clock,
                self.executor,
                self.policy.key,
                self.policy.init,
                self.policy.func,
                **s_params,
            )
        except SimulatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - anything the policy raises is reported as its error
            raise self._policy_error(exc, "init") from None
        self.estimator = _Estimator(params)
        self.outstanding: dict[str, Pipeline] = {}
        self.arrived = {p: 0 for p in Priority}
        self.latencies: dict[Priority, list[int]] = {p: [] for p in Priority}
        self.timeouts = {p: 0 for p in Priority}
        self.newly_complete: list[Pipeline] = []
        self.deadlines: list[tuple[int, int]] = []
        self.mem_alloc: list[float] = []
        self.mem_used: list[float] = []
        self.n_created = self.n_assign = self.n_suspend = self.n_fail = 0
        self.fail_counts: dict[str, int] = {}

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        """Simulate every tick of ``duration`` and compute the statistics."""
        started = time.perf_counter()
        with eudoxia_names(), no_automatic_gc():
            try:
                self._setup()
                self._loop()
            finally:
                if self._effects is not None:
                    self._effects.leave()  # the policy's functions back to their tracked code
        stats = self._stats()
        profile = None
        if self.profiler is not None:
            self.profiler.finish(self)
            profile = self.profiler.to_dict(self)
        ticks = []
        for p in self.pipelines:
            status = p.runtime_status()
            ticks.append((p.pipeline_id, status.arrival_tick, status.finish_tick))
            p.detach(self.keep_pipelines)
        for pool in self.executor.pools:  # containers and their pool are a cycle too
            pool.active_containers = []
            pool.suspending_containers = []
            pool.suspended_containers = []
        self.counters.wall_seconds = time.perf_counter() - started
        return SimulationResult(
            stats,
            self.decisions if self.record else None,
            self.counters,
            self.params,
            self.policy.key,
            self.pipelines if self.keep_pipelines else [],
            profile,
            ticks,
        )

    def _loop(self) -> None:
        arrivals = self.arrivals
        ai = 0
        fi = 0
        forced = self.forced
        tps = self.tps
        tps_int = int(tps) if float(tps).is_integer() else None
        pools = self.executor.pools
        results: list[ExecutionResult] = []
        t = 0
        last = -1
        idle = False
        while t < self.max_ticks:
            k = t - 1 - last
            if k > 0:
                for pool in pools:
                    pool.fast_forward(k)
            self.clock._ticks = t
            new: list[Pipeline] = []
            while ai < len(arrivals) and arrivals[ai].tick <= t:
                new.append(self._arrive(arrivals[ai], ai))
                ai += 1
            quiet = not new and not results
            if quiet and idle and self.event_driven:
                # The last call was clean and nothing changed since: this call would be the
                # same quiet no-op (a deadline can flip has_timed_out(), so those ticks call).
                deadlines = self.deadlines
                while deadlines and deadlines[0][0] < t:
                    heapq.heappop(deadlines)
                while fi < len(forced) and forced[fi] < t:
                    fi += 1
                call = (deadlines and deadlines[0][0] == t) or (
                    fi < len(forced) and forced[fi] == t
                )
            else:
                call = True
            if call:
                sus, asg, clean = self._call_policy(results, new, quiet)
            else:
                sus, asg, clean = _NONE, _NONE, True
                self.counters.elided_calls += 1
            results, changed = self._executor_tick(sus, asg)
            idle = clean and not changed and not results
            if not idle:
                self._clean_snap = None
            if self.profiler is not None:
                self.profiler.on_tick(self, t, sus, asg, results)
            self._bookkeeping(t, new, sus, asg, results, tps)
            last = t
            self.counters.full_ticks += 1
            if not self.counters.full_ticks & _GC_EVERY:
                gc.collect(0)  # the cyclic garbage of the youngest objects (see simulator.gc_pause)
            if not self.event_driven or (
                not self.replaying and (changed or results or not clean)
            ):
                t += 1
                continue
            nxt = self.max_ticks - 1 if t < self.max_ticks - 1 else self.max_ticks
            if ai < len(arrivals):
                nxt = min(nxt, arrivals[ai].tick)
            if tps_int is None:
                nxt = t + 1
            while fi < len(forced) and forced[fi] <= t:
                fi += 1
            if fi < len(forced):
                nxt = min(nxt, forced[fi])
            while self.deadlines and self.deadlines[0][0] <= t:
                heapq.heappop(self.deadlines)
            if self.deadlines:
                nxt = min(nxt, self.deadlines[0][0])
            for pool in pools:
                d = pool.next_discrete(t)
                if d is not None and d < nxt:
                    nxt = d
            nxt = max(nxt, t + 1)
            k = nxt - t - 1
            if k > 0:
                trigger = None
                for pool in pools:
                    off, _ = pool.plan_fast_forward(k)
                    if off is not None and (trigger is None or off < trigger):
                        trigger = off
                if trigger is not None:
                    nxt = t + 1 + trigger
                self.counters.events += 1
                self._samples_within(t, nxt, tps_int)  # type: ignore[arg-type]
            t = nxt

    def _arrive(self, arrival: Arrival, seq: int) -> Pipeline:
        p = build_pipeline(arrival.spec, seq)
        status = p.runtime_status()
        status.record_arrival(self.clock, self.mjt)
        status._on_complete = self.newly_complete.append  # type: ignore[attr-defined]
        self.outstanding[p.pipeline_id] = p
        self.arrived[p.priority] += 1
        self.estimator.estimate(p)
        if self.profiler is not None:
            self.profiler.on_arrival(p, self.clock._ticks)
        if self.mjt > 0:
            heapq.heappush(self.deadlines, (status.arrival_tick + self.mjt, seq))  # type: ignore[operator]
        self.pipelines.append(p)
        return p

    def _call_policy(
        self, results: list[ExecutionResult], new: list[Pipeline], quiet: bool
    ) -> tuple[list[Suspend], list[Assignment], bool]:
        check_state = quiet and self.event_driven and not self.trusted_quiet
        skip_check = check_state and self._skip_checks > 0
        if skip_check:
            # Recent quiet calls were busy (decisions, clock reads or state changes): treat this
            # one as busy too without paying for a snapshot. Conservative, so still exact; it
            # keeps policies that are busy every tick as cheap as Eudoxia's per-tick calls.
            self._skip_checks -= 1
            check_state = False
        effects = self._effects if check_state else None
        before = None
        if check_state and (effects is None or self._expect_dirty):
            if self._probe is None:
                self._probe = StateProbe(self.s, self.policy.module)
            before = self._clean_snap
            if before is None:
                before = self._probe.snapshot()
                self.counters.snapshots += 1
        if effects is not None:
            effects.dirty = False
        self._clean_snap = None
        self.tracker.reads = 0
        self.counters.policy_calls += 1
        if quiet:
            self.counters.quiet_calls += 1
        if self._effects is not None:
            self._effects.run_tracked(effects is not None)  # plain code where nothing checks
        moves = TRANSITIONS[0]
        try:
            out = self.policy.func(self.s, results, new)
        except SimulatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - anything the policy raises is reported as its error
            raise self._policy_error(exc, "call") from None
        if effects is not None and (type(out) is not tuple or len(out) != 2 or type(out[0])
                                    is not list or type(out[1]) is not list):
            effects.dirty = True  # unpacking it below may consume the policy's own iterator
        sus, asg = self._unpack(out)
        clean = (quiet and not sus and not asg and self.tracker.reads == 0 and not skip_check
                 and TRANSITIONS[0] == moves)
        if clean and check_state:
            if effects is not None and not effects.dirty:
                self._expect_dirty = False  # nothing ran that could change state
            else:
                if effects is not None:
                    self._expect_dirty = True
                if before is None:
                    # flagged with no snapshot from before: not known clean; the next quiet
                    # call (the next tick) is checked by snapshots
                    return sus, asg, False
                after = self._probe.snapshot()  # type: ignore[union-attr]
                self.counters.snapshots += 1
                clean = after == before
                if clean:
                    self._clean_snap = after
        if check_state:
            if clean:
                self._check_backoff = 1
            else:
                self._skip_checks = self._check_backoff
                self._check_backoff = min(2 * self._check_backoff, 1024)
        if self.record and (sus or asg):
            self.decisions.append(encode_decisions(self.clock._ticks, sus, asg))
        return sus, asg, clean

    def _unpack(self, out: Any) -> tuple[list[Suspend], list[Assignment]]:
        tick = self.clock._ticks
        try:
            sus, asg = out
            sus, asg = list(sus), list(asg)
        except Exception:  # noqa: BLE001 - a malformed return value of any kind
            raise PolicyDecisionError(
                "the policy must return a pair (suspensions, assignments) of lists, "
                f"got {type(out).__name__}: {_short(out)}",
                tick=tick,
            ) from None
        for s in sus:
            if not isinstance(s, Suspend):
                raise PolicyDecisionError(
                    f"suspensions must be Suspend objects, got {type(s).__name__}: {_short(s)}",
                    tick=tick,
                    decision=_short(s),
                )
        for a in asg:
            if not isinstance(a, Assignment):
                raise PolicyDecisionError(
                    f"assignments must be Assignment objects, got {type(a).__name__}: {_short(a)}",
                    tick=tick,
                    decision=_short(a),
                )
        return sus, asg

    def _policy_error(self, exc: BaseException, where: str) -> RunError:
        tick = self.clock._ticks if hasattr(self, "clock") else -1
        frames = traceback.extract_tb(exc.__traceback__)
        inner = frames[-1] if frames else None
        path = str(self.policy.path) if self.policy.path else None
        line = policy_line(exc, path) if path else None
        policy_frames = [f for f in frames if not is_simulator_frame(f.filename)]
        tb_text = "".join(traceback.format_list(policy_frames[-5:]))
        # Drop the finished frames' locals now: the error object keeps the exception as its
        # context, and a policy's locals can be huge (it may have died of MemoryError).
        traceback.clear_frames(exc.__traceback__)
        if (
            isinstance(exc, AssertionError)
            and inner is not None
            and is_simulator_frame(inner.filename)
        ):
            return PolicyDecisionError(
                str(exc) or "AssertionError", tick=tick, file=path, line=line, traceback=tb_text
            )
        what = "policy init" if where == "init" else "policy"
        return PolicyException(
            f"the {what} raised {type(exc).__name__}: {exc}",
            tick=tick,
            file=path,
            line=line,
            traceback=tb_text,
        )

    def _executor_tick(
        self, sus: list[Suspend], asg: list[Assignment]
    ) -> tuple[list[ExecutionResult], bool]:
        try:
            return self.executor._tick(sus, asg)
        except SimulatorError:
            raise
        except AssertionError as exc:
            raise PolicyDecisionError(
                str(exc), tick=self.clock._ticks, decision=_short([*sus, *asg])
            ) from None

    def _bookkeeping(
        self,
        t: int,
        new: list[Pipeline],
        sus: list[Suspend],
        asg: list[Assignment],
        results: list[ExecutionResult],
        tps: float,
    ) -> None:
        self.n_created += len(new)
        self.n_assign += len(asg)
        self.n_suspend += len(sus)
        for r in results:
            if r.error is not None:
                self.n_fail += 1
                self.fail_counts[r.error] = self.fail_counts.get(r.error, 0) + 1
        if results and self.newly_complete:
            for p in self.newly_complete:
                if self.outstanding.get(p.pipeline_id) is p:
                    status = p.runtime_status()
                    status.record_finish()
                    self.latencies[p.priority].append(status.get_latency_ticks())
                    del self.outstanding[p.pipeline_id]
                    if self.profiler is not None:
                        self.profiler.on_leave(p)
            self.newly_complete.clear()
        if t % tps == 0:
            self._per_second(t, [p._consumed for p in self.executor.pools])
        elif self.mjt > 0 and t == self.max_ticks - 1:
            self._count_timeouts()

    def _per_second(self, t: int, consumed: list[float]) -> None:
        """What Eudoxia records at the end of every simulated second ``t``: timeouts (with
        ``max_job_seconds``) and the memory sample, ``consumed`` being each pool's RAM in use."""
        if self.mjt > 0:
            self._count_timeouts()
        pools = self.executor.pools
        total = self.params["num_pools"] * self.params["ram_gb_per_pool"]
        self.mem_alloc.append(100 * sum(p.max_ram_pool - p.avail_ram_pool for p in pools) / total)
        self.mem_used.append(100 * sum(consumed) / total)
        if self.profiler is not None:
            self.profiler.on_sample(self, t, consumed)

    def _count_timeouts(self) -> None:
        for pid, p in list(self.outstanding.items()):
            if p.runtime_status().has_timed_out():
                self.timeouts[p.priority] += 1
                del self.outstanding[pid]
                if self.profiler is not None:
                    self.profiler.on_leave(p)

    def _samples_within(self, t: int, nxt: int, every: int) -> None:
        """The per-second records of the quiet ticks strictly between ``t`` and ``nxt``, from the
        pools' memory ledgers: those ticks are skipped, and nothing but memory and the clock
        moves in them (see `_loop`)."""
        s = (t // every + 1) * every
        pools = self.executor.pools
        while s < nxt:
            self.clock._ticks = s  # has_timed_out() reads the clock
            self._per_second(s, [p.consumed_after(s - t) for p in pools])
            s += every

    # --- statistics ----------------------------------------------------------------------------

    def _stats(self) -> SimulatorStats:
        tps = self.tps
        tick_times = self.executor.container_tick_times()
        if not tick_times:
            raise RunError(
                "no container finished during the run, so there is no container latency "
                "(Eudoxia fails here with IndexError); the policy may never assign work, or "
                "duration is shorter than the first operator",
                tick=self.max_ticks - 1,
            )
        completed = self.executor.num_completed()
        order = (Priority.QUERY, Priority.INTERACTIVE, Priority.BATCH_PIPELINE)
        per = {
            p: compute_pipeline_stats(self.arrived[p], self.latencies[p], self.timeouts[p], tps)
            for p in order
        }
        all_lat = [x for p in order for x in self.latencies[p]]
        overall = compute_pipeline_stats(
            sum(self.arrived.values()), all_lat, sum(self.timeouts.values()), tps
        )
        return SimulatorStats(
            pipelines_created=self.n_created,
            containers_completed=completed,
            throughput=completed / self.params["duration"],
            p99_latency=np.percentile(tick_times, 99) / tps,
            assignments=self.n_assign,
            suspensions=self.n_suspend,
            failures=self.n_fail,
            failure_error_counts=dict(self.fail_counts),
            mean_memory_allocated_percent=float(np.mean(self.mem_alloc))
            if self.mem_alloc
            else math.nan,
            mean_memory_consumed_percent=float(np.mean(self.mem_used))
            if self.mem_used
            else math.nan,
            pipelines_all=overall,
            pipelines_query=per[Priority.QUERY],
            pipelines_interactive=per[Priority.INTERACTIVE],
            pipelines_batch=per[Priority.BATCH_PIPELINE],
        )


def _short(obj: Any, limit: int = 300) -> str:
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide the real error
        text = f"<unprintable {type(obj).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- public entry points -----------------------------------------------------------------------


def workload_arrivals(
    params: dict[str, Any], trace: str | Path | list[TracePipeline] | None
) -> list[Arrival]:
    """Delivery ticks for a trace (Eudoxia's float rule) or the on-the-fly generator."""
    max_ticks = int(params["duration"] * params["ticks_per_second"])
    if trace is None:
        from simulator.generator import generate_arrivals

        return [Arrival(t, spec) for t, spec in generate_arrivals(params) if t < max_ticks]
    specs = trace if isinstance(trace, list) else read_trace(trace)
    ticks = delivery_ticks(specs, params["ticks_per_second"])
    return [Arrival(t, spec) for t, spec in zip(ticks, specs, strict=True) if t < max_ticks]


def run_simulation(
    params: str | Path | dict[str, Any],
    trace: str | Path | list[TracePipeline] | None = None,
    policy: str | Path | LoadedPolicy | None = None,
    *,
    record_decisions: bool = False,
    replay: list[dict[str, Any]] | None = None,
    event_driven: bool = True,
    profile: bool = False,
    keep_pipelines: bool = False,
) -> SimulationResult:
    """Run one simulation and return statistics, counters, and optionally the decision log,
    the run profile (`simulator.profile`) and the pipelines (see `SimulationResult`)."""
    with no_automatic_gc():
        return _run_simulation(
            params,
            trace,
            policy,
            record_decisions=record_decisions,
            replay=replay,
            event_driven=event_driven,
            profile=profile,
            keep_pipelines=keep_pipelines,
        )


def _run_simulation(
    params: str | Path | dict[str, Any],
    trace: str | Path | list[TracePipeline] | None,
    policy: str | Path | LoadedPolicy | None,
    *,
    record_decisions: bool,
    replay: list[dict[str, Any]] | None,
    event_driven: bool,
    profile: bool,
    keep_pipelines: bool,
) -> SimulationResult:
    p = load_params(params)
    if replay is not None:
        loaded = replay_policy(replay)
        forced = [int(e["tick"]) for e in replay]
        sim = Simulation(
            p,
            workload_arrivals(p, trace),
            loaded,
            record_decisions=record_decisions,
            event_driven=event_driven,
            quiet_idempotent=True,
            forced_ticks=forced,
            profile=profile,
            replaying=True,
            keep_pipelines=keep_pipelines,
        )
        return sim.run()
    loaded = policy if isinstance(policy, LoadedPolicy) else resolve_policy(policy, p)
    sim = Simulation(
        p,
        workload_arrivals(p, trace),
        loaded,
        record_decisions=record_decisions,
        event_driven=event_driven,
        profile=profile,
        keep_pipelines=keep_pipelines,
    )
    return sim.run()


def simulate(
    params: str | Path | dict[str, Any],
    trace: str | Path | list[TracePipeline] | None = None,
    policy: str | Path | None = None,
) -> SimulatorStats:
    """Simulate ``params`` (path or dict) on ``trace`` (or the generator) with ``policy``.

    ``policy`` is a built-in key, a policy file path, or None for the params' ``scheduler_algo``.
    """
    return run_simulation(params, trace, policy).stats


PolicyCallable = Callable[..., Any]
