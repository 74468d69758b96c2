"""The heuristic proposer: a non-LLM baseline that tunes `HeuristicConfig` knobs from feedback.

Tuning rule (a feedback-guided coordinate search around the best configuration so far):

1. The first proposal is a sensible default composition (`HeuristicConfig()`): priority-first
   FIFO, first attempts sharing the cluster's RAM among the unfinished pipelines (at most 10 % of
   a pool), doubling OOM retries, per-class CPUs, reservations for queries.
2. Every later proposal starts from the best evaluated configuration (objective met first, then
   the median, then the mean completions) and reads its feedback:
   * many OOM kills -> start larger (initial RAM, estimate headroom), grow retries faster;
   * a starved or weak QUERY/INTERACTIVE class -> more reservation, preemption, priority order;
   * a starved or weak batch class -> shortest-first order, aging, less reservation, no pool
     partition;
   * few OOM kills (capacity idle while ready work waited) -> smaller slices, less reservation;
   * then structural alternatives (queue order, backfill, CPUs per class, class RAM learning).
   The concerns' moves are interleaved (first move of each concern, then the second, ...), big
   steps before small ones, skipping any configuration already evaluated; so a move that made
   things worse is not repeated and the next one is tried.
3. From the fourth proposal on, with probability `explore` (and whenever the directed moves are
   used up) it perturbs one or two random knobs of the best configuration instead, with an RNG
   seeded from (seed, iteration), so a run is reproducible for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from agents.heuristic.config import HeuristicConfig, Knob, knob_space
from agents.heuristic.feedback import HeuristicFeedback

History = Sequence[tuple[HeuristicConfig, HeuristicFeedback]]
Move = dict[str, Any]

OOM_RATE_HIGH = 0.02
IDLE_CPU_HIGH = 0.25
WARM_UP = 3  # the first proposals follow the feedback only; random moves come after


class HeuristicProposer:
    """Proposes the next `HeuristicConfig` from the (config, feedback) history; deterministic."""

    def __init__(self, seed: int = 0, explore: float = 0.2) -> None:
        self.seed = seed
        self.explore = explore
        self._knobs = {k.name: k for k in knob_space()}

    def initial(self) -> HeuristicConfig:
        """The default composition of known heuristics, before any feedback."""
        return HeuristicConfig()

    def propose(self, history: History) -> HeuristicConfig:
        """The next configuration to evaluate (one not yet in ``history``)."""
        return self._propose(history, [], 0)

    def propose_round(self, history: History, k: int) -> list[HeuristicConfig]:
        """``k`` pairwise distinct configurations for one round of a population, the first
        being `propose`'s; each later one is the next proposal with the earlier ones of the round
        counted as tried (no feedback yet). Deterministic for a given history and seed."""
        chosen: list[HeuristicConfig] = []
        for i in range(k):
            chosen.append(self._propose(history, chosen, i))
        return chosen

    def sample(self, n: int, tried: Sequence[HeuristicConfig] = ()) -> HeuristicConfig:
        """Candidate ``n``'s configuration drawn without feedback (``--strategy best-of-n``):
        the default composition for the first, then random configurations from an RNG seeded by
        (seed, n), none already tried. The same for a given seed and ``n``, whatever the order
        in which earlier candidates finished."""
        seen = {cfg.model_dump_json() for cfg in tried}
        if self.initial().model_dump_json() not in seen:
            return self.initial()
        rng = random.Random(self.seed * 1_000_003 + 104_729 * n)
        candidate = self.initial()
        for _ in range(500):
            candidate = self._random_config(rng)
            if candidate.model_dump_json() not in seen:
                break
        return candidate

    def _propose(self, history: History, avoid: Sequence[HeuristicConfig],
                 salt: int) -> HeuristicConfig:
        if not history and not avoid:
            return self.initial()
        tried = {cfg.model_dump_json() for cfg, _ in history} | {
            cfg.model_dump_json() for cfg in avoid}
        if not history:  # a first round: neighbours of the default composition
            rng = random.Random(self.seed * 1_000_003 + 7_919 * salt)
            for _ in range(500):
                candidate = self._neighbour(self.initial(), rng)
                if candidate.model_dump_json() not in tried:
                    return candidate
            return self._random_config(rng)
        best_cfg, best_fb = best_of(history)
        rng = random.Random(self.seed * 1_000_003 + len(history) + 7_919 * salt)
        directed = [
            c
            for c in self._apply_all(best_cfg, directed_moves(best_cfg, best_fb))
            if c.model_dump_json() not in tried
        ]
        if directed and (len(history) < WARM_UP or rng.random() >= self.explore):
            return directed[0]
        for _ in range(500):
            candidate = self._neighbour(best_cfg, rng)
            if candidate.model_dump_json() not in tried:
                return candidate
        if directed:
            return directed[0]
        for _ in range(500):
            candidate = self._random_config(rng)
            if candidate.model_dump_json() not in tried:
                return candidate
        return best_cfg  # the whole neighbourhood was tried: re-evaluating the best is harmless

    # --- moves -----------------------------------------------------------------------------

    def _apply_all(self, cfg: HeuristicConfig, moves: list[Move]) -> list[HeuristicConfig]:
        out: list[HeuristicConfig] = []
        seen = {cfg.model_dump_json()}
        for move in moves:
            candidate = self._apply(cfg, move)
            key = candidate.model_dump_json()
            if key not in seen:
                seen.add(key)
                out.append(candidate)
        return out

    def _apply(self, cfg: HeuristicConfig, move: Move) -> HeuristicConfig:
        values = cfg.model_dump()
        for name, value in move.items():
            values[name] = self._clip(self._knobs[name], value)
        return HeuristicConfig(**values)

    @staticmethod
    def _clip(knob: Knob, value: Any) -> Any:
        if knob.kind == "int":
            return int(min(knob.high, max(knob.low, round(value))))
        if knob.kind == "float":
            return round(min(knob.high, max(knob.low, float(value))), 4)
        return value

    def _neighbour(self, cfg: HeuristicConfig, rng: random.Random) -> HeuristicConfig:
        """``cfg`` with one or two random knobs moved (numeric: up to a quarter of the range)."""
        names = sorted(self._knobs)
        move: Move = {}
        for name in rng.sample(names, rng.choice((1, 2))):
            knob = self._knobs[name]
            current = getattr(cfg, name)
            if knob.kind in ("bool", "choice"):
                move[name] = rng.choice([c for c in knob.choices if c != current])
            else:
                span = (knob.high - knob.low) * 0.25
                move[name] = current + rng.uniform(-span, span)
        return self._apply(cfg, move)

    def _random_config(self, rng: random.Random) -> HeuristicConfig:
        values: Move = {}
        for name in sorted(self._knobs):
            knob = self._knobs[name]
            if knob.kind in ("bool", "choice"):
                values[name] = rng.choice(list(knob.choices))
            else:
                values[name] = self._clip(knob, rng.uniform(knob.low, knob.high))
        return HeuristicConfig(**values)


def best_of(history: History) -> tuple[HeuristicConfig, HeuristicFeedback]:
    """The best (config, feedback) so far; the earliest wins ties."""
    best = history[0]
    for entry in history[1:]:
        if entry[1].fitness() > best[1].fitness():
            best = entry
    return best


def directed_moves(cfg: HeuristicConfig, fb: HeuristicFeedback) -> list[Move]:
    """Knob changes the feedback points to, most urgent first, big steps before small ones.

    Concerns, most urgent first: a starved class (it fails the objective), OOM kills, a weak
    class, smaller slices (ahead of the weak class when capacity sat idle while ready work
    waited), then structural alternatives. The moves of the concerns are interleaved (the first
    move of each concern, then the second of each, ...) so one concern cannot use up the budget.
    """
    starved = {entry.rpartition(":")[2] for entry in fb.starved}
    done = fb.completion_by_priority
    batch = done.get("BATCH_PIPELINE")
    high = [done[k] for k in ("QUERY", "INTERACTIVE") if k in done]
    high_weak = batch is not None and bool(high) and min(high) < batch
    batch_weak = batch is not None and bool(high) and batch < 0.25 * max(high)
    oom = fb.oom_kill_rate > OOM_RATE_HIGH
    concerns: list[list[Move]] = []
    if starved & {"QUERY", "INTERACTIVE"}:
        concerns.append(_protect_high_priority(cfg))
    if "BATCH_PIPELINE" in starved:
        concerns.append(_lift_batch(cfg))
    if oom:
        concerns.append(_start_larger(cfg))
    elif fb.idle_cpu_fraction > IDLE_CPU_HIGH and not starved:
        concerns.append(_smaller_slices(cfg))
    if high_weak and not starved:
        concerns.append(_protect_high_priority(cfg))
    if batch_weak and not starved:
        concerns.append(_lift_batch(cfg))
    if not oom and not (fb.idle_cpu_fraction > IDLE_CPU_HIGH and not starved):
        concerns.append(_smaller_slices(cfg))
    concerns.append(_alternatives(cfg))
    moves: list[Move] = []
    for rank in range(max(len(c) for c in concerns)):
        moves += [c[rank] for c in concerns if rank < len(c)]
    return moves


def _protect_high_priority(cfg: HeuristicConfig) -> list[Move]:
    return [
        {"reserve_ram_frac": cfg.reserve_ram_frac + 0.1},
        {"reserve_cpu_frac": cfg.reserve_cpu_frac + 0.1},
        {"preempt": True},
        {"queue_order": "priority_fifo"},
        {"aging_weight": cfg.aging_weight - 0.25},
        {"partition_pools": True},
    ]


def _lift_batch(cfg: HeuristicConfig) -> list[Move]:
    return [
        {"queue_order": "shortest_first"},
        {"aging_weight": cfg.aging_weight + 0.5},
        {"reserve_ram_frac": cfg.reserve_ram_frac - 0.05},
        {"aging_weight": cfg.aging_weight + 1.0},
        {"partition_pools": False},
        {"queue_order": "priority_shortest", "aging_weight": cfg.aging_weight + 0.5},
    ]


def _start_larger(cfg: HeuristicConfig) -> list[Move]:
    moves: list[Move] = [
        {"initial_ram_frac": cfg.initial_ram_frac * 1.25},
        {"initial_ram_frac": cfg.initial_ram_frac * 1.1},
        {"ram_headroom": cfg.ram_headroom + 0.2},
        {"ram_growth": cfg.ram_growth + 0.5},
        {"initial_ram_frac": cfg.initial_ram_frac * 1.05},
    ]
    if not cfg.learn_class_ram:
        moves.append({"learn_class_ram": True})
    return moves


def _smaller_slices(cfg: HeuristicConfig) -> list[Move]:
    return [
        {"initial_ram_frac": cfg.initial_ram_frac * 0.9},
        {"reserve_ram_frac": cfg.reserve_ram_frac - 0.05},
        {"initial_ram_frac": cfg.initial_ram_frac * 0.95},
        {"reserve_cpu_frac": cfg.reserve_cpu_frac - 0.05},
        {"initial_ram_frac": cfg.initial_ram_frac * 0.98},
        {"ram_growth": cfg.ram_growth - 0.25},
        {"ram_headroom": cfg.ram_headroom - 0.1},
    ]


def _alternatives(cfg: HeuristicConfig) -> list[Move]:
    moves: list[Move] = [
        {"queue_order": order} for order in ("priority_shortest", "shortest_first", "priority_fifo")
    ]
    moves += [
        {"backfill": not cfg.backfill},
        {"batch_cpus": cfg.batch_cpus - 1},
        {"interactive_cpus": cfg.interactive_cpus - 1},
        {"query_cpus": cfg.query_cpus + 1},
        {"learn_class_ram": not cfg.learn_class_ram},
        {"aging_weight": cfg.aging_weight + 0.25},
        {"preempt": not cfg.preempt},
        {"pack_pipeline": not cfg.pack_pipeline},
    ]
    return moves
