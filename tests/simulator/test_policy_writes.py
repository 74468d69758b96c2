"""A policy file's attribute stores are compiled through `ModelWrites`: same behaviour, and what
lands on a simulator object is recorded (the quiet-call check's part is in test_quiet_state)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from simulator.engine import run_simulation
from simulator.errors import SimulatorError
from simulator.params import load_params
from simulator.policy_writes import ModelWrites, namespace, watch_attribute_stores
from simulator.trace_io import TraceOperator, TracePipeline
from simulator.workload import Priority

PROGRAM = textwrap.dedent(
    """
    log = []

    def note(what, value):
        log.append(what)
        return value

    class Box:
        pass

    class _Hidden:
        def __init__(self):
            self.__secret = 1          # mangled: _Hidden__secret
            self.__dunder__ = 2        # not mangled

        def reveal(self):
            self.__secret += 1         # the name mangled on both sides
            return self.__secret

    b = Box()
    note("target", b).x = note("value", 1)          # the value is evaluated first
    b.y, (b.z, b.w) = 2, (3, 4)
    b.x += 10
    b.count = 0
    for b.i in range(3):
        b.count += b.i
    del b.w
    b.lst = alias = [1]
    b.lst += [2]                   # in place: the alias sees it
    b.same = alias is b.lst
    setattr(b, "via_setattr", 5)
    h = _Hidden()
    result = (vars(b), h.reveal(), sorted(vars(h)), log)
    """
)


def _run(tree: ast.Module, extra: dict[str, object]) -> object:
    scope: dict[str, object] = dict(extra)
    exec(compile(tree, "<policy>", "exec"), scope)  # noqa: S102 - the test's own program
    return scope["result"]


def test_the_rewrite_keeps_python_semantics() -> None:
    plain = _run(ast.parse(PROGRAM), {})
    writes = ModelWrites()
    watched = _run(watch_attribute_stores(ast.parse(PROGRAM)), namespace(writes))
    assert watched == plain
    assert plain[0] == {"x": 11, "y": 2, "z": 3, "count": 3, "i": 2, "lst": [1, 2],
                        "same": True, "via_setattr": 5}
    assert plain[1] == 2 and plain[2] == ["_Hidden__secret", "__dunder__"]
    assert plain[3] == ["value", "target"]
    assert writes.state() is None  # nothing of the simulator's was written


def test_only_stores_onto_simulator_objects_are_recorded() -> None:
    writes = ModelWrites()
    program = ast.parse("own.flag = 1\nprio.flag = 2\nprio.flag = 3\ndel prio.flag\n")

    class Own:
        pass

    own = Own()
    prio = Priority.QUERY  # an enum member of the simulator's accepts attributes too
    exec(compile(watch_attribute_stores(program), "<p>", "exec"),  # noqa: S102
         {**namespace(writes), "own": own, "prio": prio})
    state = writes.state()
    assert state is not None and [(o, n) for o, n, _ in state] == [(prio, "flag")]
    assert state[0][2] == ("no such attribute",)  # deleted since: a value of its own


def test_an_error_in_a_store_points_at_the_policy_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent(
        """
        @register_scheduler_init(key="broken")
        def init(s):
            s.seen = 0


        @register_scheduler(key="broken")
        def policy(s, results, pipelines):
            for p in pipelines:
                p.runtime_status().nothing.here = 1
            return [], []
        """))
    params = load_params({"duration": 2, "ticks_per_second": 10})
    trace = [TracePipeline("p1", 0.0, "QUERY", [TraceOperator("op1", [], 1.0, "const", None, 0.0)])]
    with pytest.raises(SimulatorError) as info:
        run_simulation(params, trace, str(path))
    assert info.value.to_dict().get("line") == 10


def test_deep_code_is_rewritten_or_refused_clearly(tmp_path: Path) -> None:
    from simulator.errors import PolicyLoadError
    from simulator.policy_loader import load_policy_file

    deep = tmp_path / "deep.py"
    # 400 levels: the rewrite walks without recursion (a recursive one gave up at about 500)
    program = ast.parse("b.total = " + " + ".join(["1"] * 400) + "\nb.n = 1\n")
    writes = ModelWrites()

    class Box:
        pass

    box = Box()
    exec(compile(watch_attribute_stores(program), "<deep>", "exec"),  # noqa: S102
         {**namespace(writes), "b": box})
    assert (box.total, box.n) == (400, 1)
    deep.write_text("x = " + " + ".join(["1"] * 3000) + "\n")
    with pytest.raises(PolicyLoadError, match="nested too deeply"):
        load_policy_file(deep)
