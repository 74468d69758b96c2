"""What a policy's author must know and cannot guess, said once: the allowed imports (from the
static checks' own tables), the CPU-scaling formulas (checked against the simulator's
functions by the tests), OOM semantics, ``starved_classes`` and the quiet-tick rule.

The coder's prompt (`agents.prompts`) and ``api_reference`` both use these texts, so they never
disagree.
"""

from __future__ import annotations

from functools import lru_cache

# name -> the runtime in seconds of an operator segment with baseline b CPU-seconds on n CPUs
# (a Python expression in n and b; tests/tools/test_policy_facts.py evaluates it against
# simulator.workload.SCALING_FUNCS).
SCALING_FORMULAS: dict[str, str] = {
    "const": "b",
    "log": "b / (log(n) + 1)",
    "sqrt": "b / sqrt(n)",
    "linear3": "b / min(n, 3)",
    "linear7": "b / min(n, 7)",
    "squared": "b / n**2",
    "exp": "b / 2**min(n, 4)",
}

STARVED_CLASSES = (
    "`starved_classes` (per case) = how many of the three priority classes (QUERY, "
    "INTERACTIVE, BATCH_PIPELINE) had at least one pipeline arrive and none complete. The "
    "default constraint is starved_classes <= 0 on every case: a policy that never finishes one "
    "batch pipeline fails even with a high score.")

OOM = (
    "OOM: a container whose operator's memory exceeds the RAM you assigned is killed (error "
    "'OOM' in its ExecutionResult, r.failed() true) and its operators from the one running go to "
    "FAILED. Nothing is retried for you: FAILED is an assignable state, so the operator waits "
    "until your policy assigns it again (usually with more RAM: the true peak is unknown, "
    "op.estimate.mem_peak_gb is only an estimate and r.ram is what failed). The cost: all the "
    "CPU-seconds and time the container spent are lost, the pipeline's latency grows, and a "
    "pipeline never reassigned never completes.")

QUIET_TICKS = (
    "Cost of a policy (the quiet-tick rule): the simulator calls your scheduler on every event "
    "(arrival, container finish or failure, deadline, each simulated second) and once more on "
    "the next tick; if that extra call returns nothing, reads nothing time-varying (the clock "
    "s.clock.*, a container's memory or elapsed ticks, a pool's consumed RAM) and leaves `s` "
    "unchanged, the simulator skips ahead to the next event. A policy that reads the clock (or "
    "changes `s`) on every call is called on EVERY tick instead: 100x-1000x slower, and the "
    "evaluation may hit its time limit. The event-driven idiom: at the top of schedule, "
    "`if not results and not pipelines: return [], []` before reading anything (nothing "
    "finished and nothing arrived, so no capacity was freed and nothing new can start), and "
    "read the clock only when you act on what it says (e.g. to age waiting work when "
    "something new happened). Proving the extra call changed nothing is cheapest when it only "
    "reads (loops, len, sorted, .get, comprehensions, new local lists); a file that uses "
    "collections.defaultdict is always checked the slow way (a read can insert), so prefer "
    "dict.get or setdefault.")


def scaling_text() -> str:
    """The scaling functions as one line of formulas."""
    formulas = "; ".join(f"{k}: {v}" for k, v in SCALING_FORMULAS.items())
    return ("CPU scaling (an operator's CPU phase with baseline b CPU-seconds on n assigned "
            f"CPUs takes): {formulas} seconds. Memory does not shrink with CPUs; past the "
            "plateau (linear3 at 3 CPUs, linear7 at 7, exp at 4) more CPUs are wasted.")


@lru_cache(maxsize=1)
def allowed_imports() -> tuple[str, ...]:
    """Every module a policy may import: the static checks' standard-library list and numpy."""
    from sandbox.static_checks import ALLOWED_STDLIB

    return (*ALLOWED_STDLIB, "numpy")


def imports_text() -> str:
    """The one sentence on imports the coder's prompt and ``api_reference`` both show."""
    return (f"Allowed imports: {', '.join(allowed_imports())} (numpy: a listed subset of "
            "functions) and the eudoxia names (see api_reference). No file, network, clock "
            "(time/datetime), randomness or introspection.")


def facts_text() -> str:
    """Every fact above, one paragraph each."""
    return "\n".join([imports_text(), scaling_text(), OOM, STARVED_CLASSES, QUIET_TICKS])
