"""A tracked policy file's flag (`simulator.policy_effects`) must go up on every quiet change.

A quiet call of a tracked file that leaves `ModelWrites.dirty` down is taken as clean with no
snapshot, and the event-driven engine skips the quiet ticks after it. Each policy of the soundness
corpus changes its state on a quiet call in exactly one way and acts on a later call only if that
change happened; if the rewrite lets the change through unflagged, the engine skips the tick the
policy would have acted on and its decisions differ from tick-by-tick stepping. Every harness read
is flag-free (`test_the_harness_alone_takes_the_fast_path`), so each case turns on the rewrite's
handling of its one construct; the same policy untracked is the control (checked by snapshots).
The fast-path corpus pins the other side: quiet calls that only read
are skipped with no snapshot at all. Files the rewrite cannot follow are not tracked and fall back
to snapshots.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path
from string import Template
from typing import NamedTuple

import pytest

from simulator.engine import SimulationResult, run_simulation
from simulator.params import load_params
from simulator.policy_effects import track_effects
from simulator.policy_loader import load_policy_file
from simulator.policy_writes import WRITES_NAME
from tests.simulator.test_quiet_state import GO, PARAMS, TRACE

# test_quiet_state's cluster, trace and acting step (GO): p1 arrives at tick 0 and waits; the
# quiet calls from tick 1 are the ones under test; p2 arrives at tick 40

ARMS_WHEN_QUIET = Template(textwrap.dedent(
    """
    import collections
    import dataclasses
    import functools
    import heapq
    import itertools
    import math
    import statistics

    import numpy as np

    ARMED = []
    MARKS = []
    FLAG = False
    COUNTER = itertools.count()


    def _numbers(n=3):
        yield from range(1, n + 1)


    def _words():
        yield "a"
        yield "b"


    def _started(g):
        # whether generator g has run, read without running it
        return g.gi_frame is None or g.gi_suspended


    class Box:
        def __init__(self, it=None):
            self.items = []
            self.it = it

        def add(self):
            self.items.append(1)


    $defs


    $go


    def armed(s):
        return $armed


    def act(s):
    $act


    def arm(s):
    $arm
        return [], []


    @register_scheduler_init(key="arms-when-quiet")
    def init(s):
        s.queue = []
        s.items = []
    $init


    @register_scheduler(key="arms-when-quiet")
    def policy(s, results, pipelines):
        if pipelines:
            s.queue.extend(pipelines)
        if armed(s):
            return act(s)
        if s.queue and not pipelines and not results:
            return arm(s)  # the quiet call's only change of state
        return [], []
    """
))


class QuietChange(NamedTuple):
    """One way a quiet call can change a policy's state, and how the policy sees it later."""

    arm: str  # statements: the change (in ``arm(s)``)
    armed: str  # an expression: whether it happened (read without raising the flag)
    init: str = ""  # statements in ``init(s)``
    defs: str = ""  # module-level definitions
    act: str = "return _go(s)"  # statements: what the policy does once armed
    ticks: tuple[int, ...] = (2, 40)  # the decision ticks of tick-by-tick stepping


def _numbers(arm: str, n: int = 3) -> QuietChange:
    """A change that consumes (part of) a stored generator ``s.it``."""
    return QuietChange(arm, "_started(s.it)", f"s.it = _numbers({n})")


def _class(defs: str, init: str, arm: str, armed: str) -> QuietChange:
    return QuietChange(arm, armed, init, textwrap.dedent(defs))


QUIET_CHANGES: dict[str, QuietChange] = {
    # subscript stores into s
    "dict-store": QuietChange('s.d["k"] = 1', '"k" in s.d', "s.d = {}"),
    "dict-delete": QuietChange('del s.d["k"]', '"k" not in s.d', 's.d = {"k": 1}'),
    "dict-augment": QuietChange('s.d["k"] += 1', 's.d["k"] > 0', 's.d = {"k": 0}'),
    "list-store": QuietChange("s.nums[0] = 1", "s.nums[0] == 1", "s.nums = [0]"),
    "list-delete": QuietChange("del s.nums[0]", "not s.nums", "s.nums = [0]"),
    "list-augment": QuietChange("s.nums[0] += 1", "s.nums[0] == 1", "s.nums = [0]"),
    "list-slice-store": QuietChange("s.nums[:] = [1]", "s.nums[0] == 1", "s.nums = [0]"),
    "alias-store": QuietChange('d = s.d\nd["k"] = 1', '"k" in s.d', "s.d = {}"),
    # list methods
    "list-append": QuietChange("s.nums.append(3)", "len(s.nums) == 3", "s.nums = [2, 1]"),
    "list-extend": QuietChange("s.nums.extend([3])", "len(s.nums) == 3", "s.nums = [2, 1]"),
    "list-insert": QuietChange("s.nums.insert(0, 3)", "len(s.nums) == 3", "s.nums = [2, 1]"),
    "list-pop": QuietChange("s.nums.pop()", "len(s.nums) == 1", "s.nums = [2, 1]"),
    "list-remove": QuietChange("s.nums.remove(2)", "len(s.nums) == 1", "s.nums = [2, 1]"),
    "list-clear": QuietChange("s.nums.clear()", "not s.nums", "s.nums = [2, 1]"),
    "list-sort": QuietChange("s.nums.sort()", "s.nums[0] == 1", "s.nums = [2, 1]"),
    "list-reverse": QuietChange("s.nums.reverse()", "s.nums[0] == 1", "s.nums = [2, 1]"),
    "list-method-by-type": QuietChange("list.append(s.nums, 3)", "len(s.nums) == 3",
                                       "s.nums = [2, 1]"),
    "list-dunder-iadd": QuietChange("s.nums.__iadd__([3])", "len(s.nums) == 3",
                                    "s.nums = [2, 1]"),
    # dict methods
    "dict-update": QuietChange("s.d.update(b=2)", "len(s.d) == 2", 's.d = {"a": 1}'),
    "dict-setdefault": QuietChange('s.d.setdefault("b", 2)', "len(s.d) == 2", 's.d = {"a": 1}'),
    "dict-pop": QuietChange('s.d.pop("a")', "not s.d", 's.d = {"a": 1}'),
    "dict-popitem": QuietChange("s.d.popitem()", "not s.d", 's.d = {"a": 1}'),
    "dict-clear": QuietChange("s.d.clear()", "not s.d", 's.d = {"a": 1}'),
    # set methods
    "set-add": QuietChange("s.tags.add(2)", "len(s.tags) == 2", "s.tags = {1}"),
    "set-discard": QuietChange("s.tags.discard(1)", "not s.tags", "s.tags = {1}"),
    "set-update": QuietChange("s.tags.update([2])", "len(s.tags) == 2", "s.tags = {1}"),
    "set-difference-update": QuietChange("s.tags.difference_update([1])", "not s.tags",
                                         "s.tags = {1}"),
    # deques and heaps
    "deque-append": QuietChange("s.dq.append(3)", "len(s.dq) == 3",
                                "s.dq = collections.deque([1, 2])"),
    "deque-appendleft": QuietChange("s.dq.appendleft(3)", "len(s.dq) == 3",
                                    "s.dq = collections.deque([1, 2])"),
    "deque-rotate": QuietChange("s.dq.rotate()", "s.dq[0] == 2",
                                "s.dq = collections.deque([1, 2])"),
    "deque-popleft": QuietChange("s.dq.popleft()", "len(s.dq) == 1",
                                 "s.dq = collections.deque([1, 2])"),
    "heappush": QuietChange("heapq.heappush(s.heap, 0)", "len(s.heap) == 3", "s.heap = [1, 2]"),
    "heappop": QuietChange("heapq.heappop(s.heap)", "len(s.heap) == 1", "s.heap = [1, 2]"),
    "heapify": QuietChange("heapq.heapify(s.heap)", "s.heap[0] == 1", "s.heap = [2, 1]"),
    # augmented assignment through a local alias; numpy arrays
    "alias-augment": QuietChange("q = s.items\nq += [1]", "bool(s.items)"),
    "numpy-store": QuietChange("s.arr[0] = 1", "bool(s.arr[0])", "s.arr = np.zeros(2)"),
    "numpy-alias-augment": QuietChange("a = s.arr\na += 1", "bool(s.arr[0])",
                                       "s.arr = np.zeros(2)"),
    # consuming a stored generator
    "for": _numbers("for _x in s.it:\n    break"),
    "next": _numbers("next(s.it)"),
    "next-default": _numbers("next(s.it, None)"),
    "list": _numbers("list(s.it)"),
    "tuple": _numbers("tuple(s.it)"),
    "set": _numbers("set(s.it)"),
    "dict-fromkeys": _numbers("dict.fromkeys(s.it)"),
    "sorted": _numbers("sorted(s.it)"),
    "sorted-key": _numbers("sorted(s.it, key=abs)"),
    "min": _numbers("min(s.it)"),
    "max": _numbers("max(s.it)"),
    "sum": _numbers("sum(s.it)"),
    "any": _numbers("any(s.it)"),
    "all": _numbers("all(s.it)"),
    "map-list": _numbers("list(map(str, s.it))"),
    "filter-list": _numbers("list(filter(None, s.it))"),
    "in": _numbers("0 in s.it"),
    "not-in": _numbers("0 not in s.it"),
    "unpack-one": _numbers("_a, = s.it", n=1),
    "unpack-starred": _numbers("_a, *_b = s.it"),
    "unpack-list-target": _numbers("[_a, *_b] = s.it"),
    "starred-display": _numbers("[*s.it]"),
    "starred-set-display": _numbers("{*s.it}"),
    "starred-call": _numbers("abs(*s.it)", n=1),
    "zip-for": _numbers("for _a, _b in zip(s.it, [1]):\n    break"),
    "enumerate-for": _numbers("for _i, _x in enumerate(s.it):\n    break"),
    "dict-zip": _numbers("dict(zip(s.it, [1, 2]))"),
    "list-comprehension": _numbers("[x for x in s.it]"),
    "set-comprehension": _numbers("{x for x in s.it}"),
    "dict-comprehension": _numbers("{x: 1 for x in s.it}"),
    "second-generator": _numbers("[y for x in [1] for y in s.it]"),
    "generator-expression-sum": _numbers("sum(x for x in s.it)"),
    "next-generator-expression": _numbers("next((x for x in s.it), None)"),
    "unpack-in-for": _numbers("for (_a, *_r) in [s.it]:\n    pass"),
    "unpack-in-comprehension": _numbers("[_a for _a, *_r in [s.it]]"),
    "fresh-extend": _numbers("x = []\nx.extend(s.it)"),
    "fresh-augment": _numbers("x = []\nx += s.it"),
    "fresh-set-update": _numbers("x = set()\nx.update(s.it)"),
    "augment-immutable": _numbers("n = 0\nn += sum(s.it)"),
    "yield-from-helper": QuietChange("for _x in _relay(s.it):\n    break", "_started(s.it)",
                                     "s.it = _numbers()",
                                     "def _relay(it):\n    yield from it"),
    "str-join": QuietChange('", ".join(s.it)', "_started(s.it)", "s.it = _words()"),
    "str-join-by-type": QuietChange('str.join(", ", s.it)', "_started(s.it)", "s.it = _words()"),
    "set-union": _numbers("set().union(s.it)"),
    "islice-list": _numbers("list(itertools.islice(s.it, 1))"),
    "statistics-mean": _numbers("statistics.mean(s.it)"),
    "math-fsum": _numbers("math.fsum(s.it)"),
    "numpy-fromiter": _numbers("np.fromiter(s.it, dtype=float)"),
    "print": _numbers('print("quiet:", *s.it)'),
    "generator-send": _numbers("s.it.send(None)"),
    "wrapped-zip-for": QuietChange("for _k, _v in s.pairs:\n    break", "_started(s.src)",
                                   "s.src = _numbers()\ns.pairs = zip(s.src, [1, 2, 3])"),
    "simulator-read-positional": QuietChange(
        "s.queue[0].runtime_status().get_ops(s.states)", "_started(s.states)",
        "s.states = _states()", "def _states():\n    yield OperatorState.PENDING"),
    # calls that change state through a callable
    "stored-bound-method": QuietChange("s.f(1)", "bool(s.items)", "s.f = s.items.append"),
    "partial": QuietChange("functools.partial(s.items.append, 1)()", "bool(s.items)"),
    "map-callable": QuietChange("list(map(s.items.append, [1]))", "bool(s.items)"),
    "filter-callable": QuietChange("list(filter(s.items.append, [1]))", "bool(s.items)"),
    "sorted-key-callable": QuietChange("sorted([1], key=s.items.append)", "bool(s.items)"),
    "max-key-callable": QuietChange("max([1], key=s.items.append)", "bool(s.items)"),
    "stored-lambda": QuietChange("s.f()", "bool(ARMED)", "s.f = lambda: ARMED.append(1)"),
    "called-lambda": QuietChange("(lambda: s.items.append(1))()", "bool(s.items)"),
    "exec": QuietChange('exec("ARMED.append(1)")', "bool(ARMED)"),
    "walrus": QuietChange("(_n := s.nums.pop())", "not s.nums", "s.nums = [1]"),
    "comprehension-side-effect": QuietChange("[s.items.append(i) for i in range(1)]",
                                             "bool(s.items)"),
    "setattr": QuietChange('setattr(s.box, "flag", True)', 's.box.__dict__.get("flag", False)',
                           "s.box = Box()"),
    "instance-dict-store": QuietChange('s.box.__dict__["flag"] = True',
                                       's.box.__dict__.get("flag", False)', "s.box = Box()"),
    "vars-update": QuietChange("vars(s.box).update(flag=True)",
                               's.box.__dict__.get("flag", False)', "s.box = Box()"),
    "class-attribute": QuietChange("Box.armed = True", 'Box.__dict__.get("armed", False)'),
    "function-attribute": QuietChange("arm.done = True", 'arm.__dict__.get("done", False)'),
    "mutable-default": QuietChange("_remember(1)", "bool(_remember.__defaults__[0])", "",
                                   "def _remember(item, _seen=[]):\n    _seen.append(item)"),
    "match-capture": QuietChange(
        "match s.nested:\n    case [inner, *_]:\n        inner.append(1)",
        "bool(s.nested[0])", "s.nested = [[]]"),
    # policy helper classes
    "method-mutates": QuietChange("s.box.add()", "bool(s.box.items)", "s.box = Box()"),
    "iter-returns-stored": _class(
        """
        class Feed:
            def __init__(self, it):
                self.it = it

            def __iter__(self):
                return self.it
        """,
        "s.feed = Feed(_numbers())", "for _x in s.feed:\n    break", "_started(s.feed.it)"),
    "next-method": _class(
        """
        class Ticker:
            def __init__(self, it):
                self.it = it

            def __iter__(self):
                return self

            def __next__(self):
                return next(self.it)
        """,
        "s.ticker = Ticker(_numbers())", "for _x in s.ticker:\n    break",
        "_started(s.ticker.it)"),
    "lt-mutates-when-sorted": _class(
        """
        class Ranked:
            def __init__(self, n, log):
                self.n = n
                self.log = log

            def __lt__(self, other):
                self.log.append(1)
                return self.n < other.n
        """,
        "s.ranked = [Ranked(2, s.items), Ranked(1, s.items)]", "sorted(s.ranked)",
        "bool(s.items)"),
    "eq-mutates-on-in": _class(
        """
        class Noted:
            def __init__(self, log):
                self.log = log

            def __eq__(self, other):
                self.log.append(1)
                return False

            __hash__ = object.__hash__
        """,
        "s.a = Noted(s.items)\ns.b = Noted(s.items)", "s.a in [s.b]", "bool(s.items)"),
    "dataclass-factory": _class(
        """
        @dataclasses.dataclass
        class Stamp:
            mark: object = dataclasses.field(default_factory=functools.partial(ARMED.append, 1))
        """,
        "", "Stamp()", "bool(ARMED)"),
    "dataclass-file-factory": _class(
        """
        def _mark():
            ARMED.append(1)


        @dataclasses.dataclass
        class Stamp:
            mark: object = dataclasses.field(default_factory=_mark)
        """,
        "", "Stamp()", "bool(ARMED)"),
    # names rebound
    "global": QuietChange("global FLAG\nFLAG = True", "FLAG"),
    "nonlocal": QuietChange(
        "_set_latch()", "_read_latch()", "",
        textwrap.dedent(
            """
            def _make_latch():
                on = False

                def read():
                    return on

                def set_on():
                    nonlocal on
                    on = True

                return read, set_on


            _read_latch, _set_latch = _make_latch()
            """
        )),
    "fresh-local-kept-then-mutated": QuietChange("x = []\ns.items.append(x)\nx.append(1)",
                                                 "any(s.items)"),
    "fresh-local-rebound-in-for": QuietChange("x = []\nfor x in [s.items]:\n    pass\n"
                                              "x.append(1)", "bool(s.items)"),
    "fresh-local-rebound-by-walrus": QuietChange("x = []\n(x := s.items)\nx.append(1)",
                                                 "bool(s.items)"),
    "fresh-local-rebound-by-closure": QuietChange(
        "x = []\n\ndef rebind():\n    nonlocal x\n    x = s.items\n\nrebind()\nx.append(1)",
        "bool(s.items)"),
    # adversarial: constructs that change state in less obvious ways
    # ``x[k] op= v`` on a fresh local runs the in-place operator of the element, which is s's
    "fresh-list-element-augment": QuietChange("x = [s.items]\nx[0] += [1]", "bool(s.items)"),
    "fresh-dict-element-augment": QuietChange(
        'by_name = {k: v for k, v in s.lists.items()}\nby_name["a"] += [1]',
        'bool(s.lists["a"])', 's.lists = {"a": []}'),
    "fresh-numpy-element-augment": QuietChange("x = [s.arr]\nx[0] += 1", "bool(s.arr[0])",
                                               "s.arr = np.zeros(2)"),
    # a slice store into a fresh local consumes its value
    "fresh-slice-store-consumes": _numbers("x = []\nx[:] = s.it"),
    # bytes() is a computing builtin that also consumes an iterable
    "bytes-consumes": _numbers("bytes(s.it)"),
    # a starred argument of a consuming builtin: only the outer list is checked
    "starred-into-zip": _numbers("for _a, in zip(*[s.it]):\n    break"),
    "starred-into-sum": _numbers("sum(*[s.it])"),
    "starred-into-map": QuietChange("list(map(*[s.items.append, [1]]))", "bool(s.items)"),
    # an iterable or a key passed by a keyword other than ``key=``, or through ``**``
    "key-by-double-star": QuietChange('sorted([1], **{"key": s.items.append})',
                                      "bool(s.items)"),
    "enumerate-iterable-keyword": _numbers("for _i, _x in enumerate(iterable=s.it):\n    break"),
    "simulator-read-keyword": QuietChange(
        "s.queue[0].runtime_status().get_ops(states=s.states)", "_started(s.states)",
        "s.states = _states()", "def _states():\n    yield OperatorState.PENDING"),
    # an iterator unpacked two levels down (a display's element, a tuple's element)
    "nested-unpack-from-display": _numbers("(_a, *_r), _c = s.it, 0"),
    "nested-unpack-in-for": QuietChange("for _k, (_a, *_r) in s.named.items():\n    pass",
                                        "_started(s.it)",
                                        's.it = _numbers()\ns.named = {"k": s.it}'),
    "nested-unpack-in-comprehension": QuietChange("[_a for _k, (_a, *_r) in s.named.items()]",
                                                  "_started(s.it)",
                                                  's.it = _numbers()\ns.named = {"k": s.it}'),
    # a policy class's dunder that hands out a stored iterator from outside a def __iter__
    "reversed-returns-stored": _class(
        """
        class Back:
            def __init__(self, it):
                self.it = it

            def __reversed__(self):
                return self.it
        """,
        "s.back = Back(_numbers())", "for _x in reversed(s.back):\n    break",
        "_started(s.back.it)"),
    "iter-is-lambda": _class(
        """
        class Feed:
            def __init__(self, it):
                self.it = it

            __iter__ = lambda self: self.it  # noqa: E731
        """,
        "s.feed = Feed(_numbers())", "for _x in s.feed:\n    break", "_started(s.feed.it)"),
    "iter-is-module-function": _class(
        """
        def _feed_iter(self):
            return self.it


        class Feed:
            def __init__(self, it):
                self.it = it

            __iter__ = _feed_iter
        """,
        "s.feed = Feed(_numbers())", "for _x in s.feed:\n    break", "_started(s.feed.it)"),
    # code that is not the file's, run by an attribute read, a slot or a construction
    "property-with-builtin-getter": _class(
        """
        class Grab:
            grab = property(ARMED.append)
        """,
        "s.grab = Grab()", "s.grab.grab", "bool(ARMED)"),
    "cached-property": _class(
        """
        class Lazy:
            @functools.cached_property
            def value(self):
                return 1
        """,
        "s.lazy = Lazy()", "s.lazy.value", '"value" in s.lazy.__dict__'),
    "len-slot-is-builtin": _class(
        """
        class Sized:
            __len__ = COUNTER.__next__
        """,
        "s.sized = Sized()", "len(s.sized)", 'repr(COUNTER) != "count(0)"'),
    "new-is-builtin": _class(
        """
        class Grabbed:
            __new__ = ARMED.append
        """,
        "", "Grabbed()", "bool(ARMED)"),
    "dataclasses-replace": _class(
        """
        @dataclasses.dataclass
        class Stamped:
            n: int = 0
            mark: object = dataclasses.field(default_factory=functools.partial(MARKS.append, 1),
                                             init=False)
        """,
        "s.stamped = Stamped()", "dataclasses.replace(s.stamped)", "len(MARKS) > 1"),
    # a mutating callable reached by a method name that is taken for a pure reader
    "pure-named-stored-callable": QuietChange("s.get(1)", "bool(s.items)",
                                              "s.get = s.items.append"),
    "pure-named-class-attribute": _class(
        """
        class Memo(dict):
            get = dict.setdefault
        """,
        "s.memo = Memo()", 's.memo.get("k", 1)', '"k" in s.memo'),
    # a class made by type() while the policy runs, whose special method is a foreign callable
    "type-made-class": QuietChange(
        "len(s.made)", "len(MARKS) < 3",
        "MARKS.extend([1, 1, 1])\n"
        's.made = type("Made", (), {"__len__": staticmethod(MARKS.pop)})()'),
    # an implicit call: a decorator without arguments
    "bare-decorator": QuietChange("@s.items.append\ndef _handler():\n    pass", "bool(s.items)"),
    # global / nonlocal declared in a class body inside the call
    "class-body-global": QuietChange("class _Arm:\n    global FLAG\n    FLAG = True", "FLAG"),
    "class-body-nonlocal-alias": QuietChange(
        "x = []\n\nclass _Alias:\n    nonlocal x\n    x = s.items\n\nx.append(1)",
        "bool(s.items)"),
    # a top-level function's name rebound at load time without a binding the AST shows
    "top-function-rebound-by-globals": QuietChange(
        "_note(1)", "bool(ARMED)", "",
        'def _note(_x):\n    return None\n\n\nglobals()["_note"] = ARMED.append'),
    # the engine consumes what the policy returns, after the call
    "returned-stored-iterator": QuietChange("return s.it, []", "s.it.gi_frame is None",
                                            "s.it = _empty()",
                                            "def _empty():\n    return\n    yield"),
    # a subscript read that inserts: the file is tracked as long as it never spells the name
    "defaultdict-not-named": QuietChange('s.dd["k"]', '"k" in s.dd',
                                         's.dd = getattr(collections, "default" + "dict")(int)'),
    # Assignment() moves its ops to ASSIGNED even when discarded: simulator state, which
    # snapshots compare by identity, so an untracked file is stepped wrongly too
    "discarded-assignment": QuietChange(
        "p = s.queue[0]\n"
        "ops = p.runtime_status().get_ops(ASSIGNABLE_STATES, require_parents_complete=False)\n"
        "Assignment(ops, cpu=1, ram=1, priority=p.priority, pool_id=0,\n"
        "           pipeline_id=p.pipeline_id)",
        "bool(s.queue) and bool(s.queue[0].runtime_status().get_ops([OperatorState.ASSIGNED]))",
        act="for op in s.queue[0].runtime_status().get_ops([OperatorState.ASSIGNED]):\n"
            "    op.transition(OperatorState.FAILED)\n"
            "return _go(s)",
        ticks=(2, 42)),
}


def _block(code: str) -> str:
    return textwrap.indent(code, "    ") if code else "    pass"


def _policy(change: QuietChange) -> str:
    return ARMS_WHEN_QUIET.substitute(
        go=GO,
        defs=change.defs, armed=change.armed, act=_block(change.act), arm=_block(change.arm),
        init=_block(change.init))


def _both(path: Path) -> tuple[SimulationResult, SimulationResult]:
    """The run event-driven, and stepped tick by tick."""
    params = load_params(PARAMS)
    event = run_simulation(params, TRACE, str(path), record_decisions=True)
    ticks = run_simulation(params, TRACE, str(path), record_decisions=True, event_driven=False)
    return event, ticks


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "policy.py"
    path.write_text(source)
    return path


# Files whose change goes through what the rewrite does not follow: they are not tracked at all
# (every quiet call checked by snapshots). Statically: introspection or code-running builtins
# (``setattr``, ``vars``, ``exec``, ``globals``, ``getattr``), dunder attributes (``__dict__``,
# ``__defaults__``, ``__iadd__``), special methods bound other than by ``def``, a class made
# while the policy runs; when the file has run: a class whose attributes run code the file did
# not write (a property of a builtin, a cached property, a dataclass factory that is no plain
# constructor).
UNTRACKED_BY_DESIGN = frozenset({
    "list-dunder-iadd", "exec", "setattr", "instance-dict-store", "vars-update",
    "class-attribute", "function-attribute", "mutable-default", "eq-mutates-on-in",
    "iter-is-lambda", "iter-is-module-function", "cached-property", "len-slot-is-builtin",
    "new-is-builtin", "class-body-global", "class-body-nonlocal-alias",
    "top-function-rebound-by-globals", "defaultdict-not-named", "dataclass-factory",
    "dataclasses-replace", "property-with-builtin-getter", "pure-named-class-attribute",
    "type-made-class",
})
# Kinds whose *read* of the change changes state itself (it advances a stored iterator, or fills
# a cache): no quiet call of theirs is clean, so there is no harness alone to speak of.
READ_CHANGES_STATE = frozenset({"iter-is-lambda", "iter-is-module-function", "cached-property"})


def _tracked(path: Path) -> bool:
    """Whether the loaded file is tracked (its rewrite and its classes both followed)."""
    module = load_policy_file(path).module
    assert module is not None
    return bool(vars(module)[WRITES_NAME].tracked)


@pytest.mark.parametrize("kind", QUIET_CHANGES)
def test_a_quiet_change_raises_the_flag(tmp_path: Path, kind: str) -> None:
    change = QUIET_CHANGES[kind]
    path = _write(tmp_path, _policy(change))
    # the fast path is in play, except for the files the rewrite refuses to follow
    assert _tracked(path) is (kind not in UNTRACKED_BY_DESIGN)
    event, ticks = _both(path)
    # armed on the quiet tick after p1 arrives, it acts on the next one, and at once on p2
    assert [d["tick"] for d in ticks.decisions] == list(change.ticks)
    assert event.decisions == ticks.decisions
    assert str(event.stats) == str(ticks.stats)


@pytest.mark.parametrize("kind", QUIET_CHANGES)
def test_a_quiet_change_is_seen_by_snapshots_when_untracked(tmp_path: Path, kind: str) -> None:
    # the control: the same policy in a file the rewrite does not track (an unknown import), so
    # a failure above and a pass here put the hole in the rewrite
    change = QUIET_CHANGES[kind]
    event, ticks = _both(_write(tmp_path, "import random\n" + _policy(change)))
    assert [d["tick"] for d in ticks.decisions] == list(change.ticks)
    assert event.decisions == ticks.decisions
    assert str(event.stats) == str(ticks.stats)


@pytest.mark.parametrize("kind", sorted(set(QUIET_CHANGES) - READ_CHANGES_STATE))
def test_the_harness_alone_takes_the_fast_path(tmp_path: Path, kind: str) -> None:
    # the same policy with its change left out (acting when p2 arrives instead): every quiet
    # call is skipped, without a snapshot when the file is tracked, so the case above turns on
    # its one construct alone
    change = QUIET_CHANGES[kind]
    alone = change._replace(arm="pass", armed=f"({change.armed}) or len(s.queue) >= 2")
    path = _write(tmp_path, _policy(alone))
    event = run_simulation(load_params(PARAMS), TRACE, str(path), record_decisions=True)
    assert [d["tick"] for d in event.decisions] == [40]
    # (without its change, a file refused for the change alone is tracked again)
    assert (event.counters.snapshots > 0) is not _tracked(path)
    assert event.counters.policy_calls < 10


READS_WHEN_QUIET = Template(textwrap.dedent(
    """
    import math


    class View:
        def __init__(self):
            self.limit = 2

        def waiting(self, s):
            return [p for p in s.queue if p.priority is not None]

        def size(self, s):
            return len(self.waiting(s))


    class Probe:
        def count(self, q):
            return len(q)


    def _ids(s):
        return sorted(p.pipeline_id for p in s.queue)


    $go


    def read(s):
    $read


    @register_scheduler_init(key="reads-when-quiet")
    def init(s):
        s.queue = []
        s.d = {"a": 1, "b": 2}
        s.view = View()


    @register_scheduler(key="reads-when-quiet")
    def policy(s, results, pipelines):
        read(s)  # on every call: the quiet ones only read
        if pipelines:
            s.queue.extend(pipelines)
            if len(s.queue) >= 2:
                return _go(s)
        return [], []
    """
))

QUIET_READS: dict[str, str] = {
    "iterate-list": "for p in s.queue:\n    p.pipeline_id",
    "iterate-dict": "for k, v in s.d.items():\n    (k, v)\nfor k in s.d:\n    s.d[k]",
    "len": "len(s.queue) + len(s.d)",
    "min-max-key": "min(s.queue, key=lambda p: p.pipeline_id, default=None)\n"
                   "max(s.queue, key=lambda p: p.pipeline_id, default=None)",
    "sorted": "sorted(s.queue, key=lambda p: p.pipeline_id)\nsorted(s.d)\nsorted(s.d.values())",
    "dict-get-items": 's.d.get("a")\nlist(s.d.items())\ns.d.keys()\ns.d.copy()',
    "comprehensions": "[p.pipeline_id for p in s.queue]\n{k: v for k, v in s.d.items()}\n"
                      "{v for v in s.d.values()}\nsum(v for v in s.d.values())",
    "fresh-list": "x = []\nfor p in s.queue:\n    x.append(p)\n"
                  "x.sort(key=lambda p: p.pipeline_id)\nx[0:0] = []\nx.extend(s.queue)",
    "fresh-dict": 'y = {}\ny.setdefault("n", 0)\ny["n"] += len(s.queue)\ny["m"] = 1\n'
                  'del y["m"]\ny.update(s.d)',
    "fresh-set": "z = set()\nz.add(1)\nz.update(s.d)\nz.discard(1)",
    "next-generator-expression": 'next((p for p in s.queue if p.pipeline_id == "p1"), None)',
    "helper-function": "_ids(s)",
    "helper-class-method": "s.view.size(s)",
    "fresh-plain-object": "Probe().count(s.queue)",
    "simulator-reads": "for p in s.queue:\n"
                       "    status = p.runtime_status()\n"
                       "    status.get_ops(ASSIGNABLE_STATES, require_parents_complete=False)\n"
                       "    status.has_timed_out()\n"
                       "    p.priority\n"
                       "math.floor(2.5)",
    "enumerate-zip": "for i, p in enumerate(s.queue):\n    i\n"
                     "for a, b in zip(s.queue, s.queue):\n    a is b",
    "any-all": "any(p.pipeline_id for p in s.queue)\nall(v > 0 for v in s.d.values())",
    "membership": '"a" in s.d\n"p1" in [p.pipeline_id for p in s.queue]',
    "augment-locals": 'n = 0\nn += len(s.queue)\nt = ()\nt += (1,)\nw = "x"\nw += "y"',
    "strings": 'f"{len(s.queue)}"\n", ".join(p.pipeline_id for p in s.queue)\nstr(s.d)',
    "unpacking": "first, *rest = sorted(s.d)\na, b = 1, 2",
    "starred-iterating-method": "set().union(*[[1], [2]])\nz = set()\nz.update(*[[1], [2]])",
}


@pytest.mark.parametrize("kind", QUIET_READS)
def test_a_quiet_call_that_only_reads_is_skipped_without_snapshots(
    tmp_path: Path, kind: str
) -> None:
    source = READS_WHEN_QUIET.substitute(go=GO, read=_block(QUIET_READS[kind]))
    assert track_effects(source, "policy.py")[1]
    event, ticks = _both(_write(tmp_path, source))
    assert [d["tick"] for d in ticks.decisions] == [40]
    assert event.decisions == ticks.decisions
    assert str(event.stats) == str(ticks.stats)
    assert event.counters.snapshots == 0
    assert event.counters.policy_calls < ticks.counters.policy_calls


# Each of these makes a file the rewrite cannot follow (a subscript read of a defaultdict inserts;
# an unknown module's functions are not known to be pure).
UNTRACKED = {
    "defaultdict": "from collections import defaultdict\n",
    "star-import": "from math import *  # noqa: F403\n",
    "random": "import random\n",
    "sibling-module": "import policy_helpers\n",
    "relative-import": "from . import policy_helpers\n",
}


@pytest.mark.parametrize("kind", UNTRACKED)
def test_a_file_the_rewrite_cannot_follow_is_not_tracked(kind: str) -> None:
    source = UNTRACKED[kind] + _policy(QUIET_CHANGES["list-append"])
    assert not track_effects(source, "policy.py")[1]
    assert track_effects(_policy(QUIET_CHANGES["list-append"]), "policy.py")[1]


def test_naming_defaultdict_anywhere_turns_tracking_off() -> None:
    assert not track_effects("# a defaultdict would insert on read\nx = 1\n", "p.py")[1]
    assert track_effects("import numpy as np\nfrom collections import deque\n", "p.py")[1]


@pytest.mark.parametrize("kind", ["defaultdict", "star-import", "random"])
def test_an_untracked_file_is_checked_by_snapshots(tmp_path: Path, kind: str) -> None:
    change = _write(tmp_path, UNTRACKED[kind] + _policy(QUIET_CHANGES["list-append"]))
    event, ticks = _both(change)
    assert [d["tick"] for d in ticks.decisions] == [2, 40]
    assert event.decisions == ticks.decisions
    assert str(event.stats) == str(ticks.stats)
    assert event.counters.snapshots > 0
    # a file that only reads is still skipped over, but proven clean by snapshots
    reads = UNTRACKED[kind] + READS_WHEN_QUIET.substitute(go=GO, read=_block(QUIET_READS["sorted"]))
    event, ticks = _both(_write(tmp_path, reads))
    assert event.decisions == ticks.decisions
    assert event.counters.snapshots > 0
    assert event.counters.policy_calls < ticks.counters.policy_calls


SEMANTICS = textwrap.dedent(
    """
    import functools

    LOG = []


    def note(tag, value):
        LOG.append(tag)
        return value


    class Bag:
        def __init__(self, items):
            self.items = items

        def __iter__(self):
            return iter(self.items)

        def __reversed__(self):
            return reversed(self.items)


    def deco(f):
        LOG.append("deco")
        return f


    @deco
    def twice(x):
        return 2 * x


    def run():
        d = {"k": [1]}
        d[note("key", "k")] += note("value", [2])  # key, then the element, then the value
        counts = {}
        counts["n"] = 0
        for i, (a, b) in enumerate([(1, 2), (3, 4)]):
            counts["n"] += a * b + i
        (p, *q), r = [5, 6, 7], 8
        x = []
        x[:] = (v for v in range(3))
        groups = set().union(*[[1], [2, 3]])
        z = set()
        z.update(*[[4], [5]])
        e = list(enumerate(iterable="ab", start=1))
        m = list(map(*[twice, [1, 2]]))
        srt = sorted([3, 1, 2], **{"key": lambda v: -v})
        bag = Bag([1, 2, 3])
        n = 0
        n += sum(bag)
        t = ()
        t += tuple(reversed(bag))
        total = functools.reduce(lambda a, v: a + v, [1, 2, 3])
        return (d, counts, p, q, r, x, groups, z, e, m, srt, n, t, total, bytes(range(3)),
                list(LOG))
    """
)


def test_the_rewrite_keeps_what_the_code_computes() -> None:
    from simulator.policy_effects import effect_namespace
    from simulator.policy_loader import compile_policy
    from simulator.policy_writes import ModelWrites, namespace

    tracked_code, tracked, _ = compile_policy(SEMANTICS, "semantics.py")
    assert tracked
    writes = ModelWrites()
    rewritten = {**namespace(writes), **effect_namespace(writes)}
    exec(tracked_code, rewritten)  # noqa: S102
    plain: dict[str, object] = {}
    exec(compile(SEMANTICS, "semantics.py", "exec"), plain)  # noqa: S102
    assert rewritten["run"]() == plain["run"]()  # type: ignore[operator]


LEAVES_BEHIND = textwrap.dedent(
    """
    def make_marker(s):
        def mark():
            s.items.append(1)  # a closure's change: made by plain code, it must still be tracked
        return mark


    def make_stepper(s):
        yield
        s.items.append(1)
        yield


    @register_scheduler_init(key="leaves-behind")
    def init(s):
        s.queue = []
        s.items = []
        s.later = None


    @register_scheduler(key="leaves-behind")
    def policy(s, results, pipelines):
        if pipelines:  # an event call: nothing checks it, so the file's functions run plain
            s.queue.extend(pipelines)
            if s.later is None:
                s.later = make_marker(s) if KIND == "closure" else make_stepper(s)
                if KIND == "generator":
                    next(s.later)
            return [], []
        if s.items:
            return _go(s)
        if s.queue and not results:
            if KIND == "closure":
                s.later()
            else:
                next(s.later, None)
        return [], []
    """
)


@pytest.mark.parametrize("kind", ["closure", "generator"])
def test_what_a_plain_call_leaves_behind_is_tracked(tmp_path: Path, kind: str) -> None:
    # an event call runs the file's plain code; the closure or generator it makes and keeps
    # runs on a later quiet call, which is checked: its change must raise the flag
    path = _write(tmp_path, f"KIND = {kind!r}\n" + GO + LEAVES_BEHIND)
    assert _tracked(path)
    event, ticks = _both(path)
    assert [d["tick"] for d in ticks.decisions] == [2, 41]  # (p2's arrival call only queues)
    assert event.decisions == ticks.decisions
    assert str(event.stats) == str(ticks.stats)


def test_the_file_runs_plain_only_where_nothing_checks_and_alone() -> None:
    from simulator.policy_writes import ModelWrites

    source = ARMS_WHEN_QUIET.substitute(go=GO, defs="", armed="False", act="    pass",
                                        arm="    pass", init="    pass")
    path = Path(tempfile.mkdtemp()) / "policy.py"
    path.write_text(source)
    module = load_policy_file(path).module
    assert module is not None
    writes: ModelWrites = vars(module)[WRITES_NAME]
    policy = vars(module)["policy"]
    swapped = {f: (tracked, plain) for f, tracked, plain in writes.swaps}
    assert policy in swapped and len(swapped) >= 4  # _go, armed, act, arm, init, policy...
    tracked_code, plain_code = swapped[policy]
    assert policy.__code__ is tracked_code
    writes.enter()
    writes.run_tracked(False)
    assert policy.__code__ is plain_code
    writes.run_tracked(True)
    assert policy.__code__ is tracked_code
    writes.enter()  # a second run at the same time: no plain code while it runs
    writes.run_tracked(False)
    assert policy.__code__ is tracked_code
    writes.leave()
    writes.run_tracked(False)
    assert policy.__code__ is plain_code
    writes.leave()  # the last run done: tracked again
    assert policy.__code__ is tracked_code
