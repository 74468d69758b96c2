"""A clock-reading policy is named, with its line, as the reason it is called on every tick; the
claim is checked against the engine's own call counters."""

from __future__ import annotations

from pathlib import Path

from simulator.engine import run_simulation
from simulator.generator import generate_trace
from simulator.params import load_params
from tests.sandbox.candidate_policies import FIFO
from tools import run_simulation as run_tool
from tools.context import ToolContext
from tools.policy_cost import cost_text, first_time_varying_read

CLOCK = FIFO.replace("    s.queue.extend(pipelines)\n",
                     "    now = s.clock.now_seconds()\n    s.queue.extend(pipelines)\n")
GUARDED = FIFO.replace("    s.queue.extend(pipelines)\n",
                       "    if not results and not pipelines:\n        return [], []\n"
                       "    now = s.clock.now_seconds()\n    s.queue.extend(pipelines)\n")


def test_the_first_time_varying_read_and_its_guard_are_found() -> None:
    read = first_time_varying_read(CLOCK)
    assert read is not None and not read.guarded and read.what == "the clock"
    assert CLOCK.splitlines()[read.line - 1].strip() == "now = s.clock.now_seconds()"
    guarded = first_time_varying_read(GUARDED)
    assert guarded is not None and guarded.guarded
    assert first_time_varying_read(FIFO) is None
    assert first_time_varying_read("def broken(:\n") is None
    text = cost_text(CLOCK, {"a": 1.234, "b": None})
    assert text.splitlines()[0] == "simulation cost: a 1.23 s per case"
    assert f"cost warning: line {read.line} reads the clock (`now = s.clock.now_seconds()`)" in text
    assert "cost warning" not in cost_text(GUARDED, {"a": 0.1})


def test_the_warning_matches_the_engines_counters(tmp_path: Path) -> None:
    params = load_params({"duration": 30, "num_pipelines": 6, "random_seed": 4})
    trace = generate_trace(params)
    calls = {}
    for name, source in (("clock", CLOCK), ("guarded", GUARDED), ("plain", FIFO)):
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        calls[name] = run_simulation(params, trace, path).counters.policy_calls
    ticks = int(params["duration"] * params["ticks_per_second"])
    assert calls["clock"] >= 0.9 * ticks  # called on (nearly) every tick
    assert calls["guarded"] < 0.2 * ticks and calls["plain"] < 0.2 * ticks


def test_run_simulation_shows_the_cost_and_its_cause(ctx: ToolContext) -> None:
    import re

    answer = run_tool.make_tool(ctx).invoke({"code": CLOCK, "traces": ["seed1"]})
    assert "simulation cost: seed1 " in answer
    assert "reads the clock (`now = s.clock.now_seconds()`)" in answer
    # the count of ticks the policy was called on, as the sandbox's engine counted them
    calls, ticks = map(int, re.search(r"called on (\d+) of (\d+) ticks", answer).groups())
    assert ticks > 0 and calls >= 0.9 * ticks
    plain = run_tool.make_tool(ctx).invoke({"code": FIFO, "traces": ["seed1"]})
    assert "simulation cost: seed1 " in plain and "cost warning" not in plain
    calls, ticks = map(int, re.search(r"called on (\d+) of (\d+) ticks", plain).groups())
    assert calls < 0.2 * ticks
