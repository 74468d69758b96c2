"""Static checks on untrusted policy files: each rule, bypass attempts, good policies, fuzzing."""

from __future__ import annotations

import json
import string
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.static_checks import (
    FORBIDDEN_BUILTINS,
    MAX_SOURCE_BYTES,
    NUMPY_REJECTED,
    CheckReport,
    Finding,
    check_policy_source,
)
from tests.sandbox.candidate_policies import GOOD_POLICIES, NO_IMPORTS

REGISTRATION = textwrap.dedent(
    """

    @register_scheduler_init(key="k")
    def init(s):
        s.queue = []


    @register_scheduler(key="k")
    def scheduler(s, results, pipelines):
        return [], []
    """
)


def check(snippet: str) -> CheckReport:
    """Check ``snippet`` (starting on line 1) followed by a valid registration."""
    return check_policy_source(textwrap.dedent(snippet).lstrip("\n") + REGISTRATION)


def errors(report: CheckReport) -> set[tuple[str, int]]:
    return {(f.rule, f.line) for f in report.errors}


def warnings_of(report: CheckReport) -> set[tuple[str, int]]:
    return {(f.rule, f.line) for f in report.warnings}


def only(report: CheckReport) -> Finding:
    assert len(report.findings) == 1, report.to_text()
    return report.findings[0]


# -- syntax and size ------------------------------------------------------------------------------


def test_syntax_error_names_line_and_column() -> None:
    finding = only(check_policy_source("x = 1\nif x\n    pass\n"))
    position = (finding.rule, finding.severity, finding.line, finding.column)
    assert position == ("syntax", "error", 2, 5)
    assert "expected ':'" in finding.message and "`if x`" in finding.message


def test_compiler_errors_such_as_return_outside_a_function_are_syntax_findings() -> None:
    finding = only(check_policy_source("x = 1\nreturn x\n"))
    assert (finding.rule, finding.line) == ("syntax", 2)


def test_null_bytes_and_lone_surrogates_are_findings_not_exceptions() -> None:
    assert only(check_policy_source("x = 1\x00")).rule == "syntax"
    assert only(check_policy_source("x = '\ud800'")).rule == "syntax"


def test_source_over_200_kb_is_rejected_without_parsing() -> None:
    finding = only(check_policy_source("#" * (MAX_SOURCE_BYTES + 1)))
    assert (finding.rule, finding.line, finding.column) == ("source-too-large", 1, 1)


def test_source_of_exactly_the_limit_is_parsed() -> None:
    source = REGISTRATION + "#" * (MAX_SOURCE_BYTES - len(REGISTRATION))
    assert check_policy_source(source).findings == []


def test_deeply_nested_expression_is_a_finding() -> None:
    report = check_policy_source("x = " + "+".join(["1"] * 60_000) + REGISTRATION)
    assert not report.ok
    assert report.findings[0].rule in ("too-complex", "syntax")


# -- registration ---------------------------------------------------------------------------------


def test_a_valid_registration_reports_its_key() -> None:
    report = check_policy_source(REGISTRATION)
    assert report.findings == [] and report.ok and report.registered_key == "k"


def test_positional_key_and_module_constant_key_are_accepted() -> None:
    source = textwrap.dedent(
        """
        KEY = "mine"

        @register_scheduler_init("mine")
        def init(s):
            pass

        @register_scheduler(key=KEY)
        def scheduler(s, results, pipelines):
            return [], []
        """
    )
    report = check_policy_source(source)
    assert report.findings == [] and report.registered_key == "mine"


def test_missing_init_registration_is_an_error_at_the_scheduler() -> None:
    source = "@register_scheduler(key='k')\ndef f(s, results, pipelines):\n    return [], []\n"
    report = check_policy_source(source)
    assert errors(report) == {("registration", 1)}
    assert "@register_scheduler_init" in report.errors[0].message
    assert report.registered_key is None


def test_missing_scheduler_registration_is_an_error() -> None:
    report = check_policy_source("@register_scheduler_init(key='k')\ndef init(s):\n    pass\n")
    assert errors(report) == {("registration", 1)}
    assert "no @register_scheduler found" in report.errors[0].message


def test_no_registration_at_all_is_two_errors_on_line_1() -> None:
    report = check_policy_source("x = 1\n")
    assert [(f.rule, f.line) for f in report.errors] == [("registration", 1)] * 2


def test_different_keys_are_an_error_at_the_scheduler_registration() -> None:
    source = REGISTRATION.replace('register_scheduler(key="k")', 'register_scheduler(key="j")')
    report = check_policy_source(source)
    line = source.splitlines().index('@register_scheduler(key="j")') + 1
    assert errors(report) == {("registration", line)}
    assert "'k'" in report.errors[0].message and "'j'" in report.errors[0].message
    assert report.registered_key is None


def test_a_second_key_is_an_error_at_its_registration() -> None:
    source = REGISTRATION + REGISTRATION.replace('"k"', '"k2"').replace("def ", "def other_")
    report = check_policy_source(source)
    assert {rule for rule, _ in errors(report)} == {"registration"}
    first_extra = len(REGISTRATION.splitlines()) + 3
    assert ("registration", first_extra) in errors(report)
    assert report.registered_key is None


def test_non_literal_key_is_an_error() -> None:
    source = REGISTRATION.replace('register_scheduler_init(key="k")',
                                  'register_scheduler_init(key="k".upper())')
    report = check_policy_source(source)
    assert errors(report) == {("registration", 3)}
    assert "string literal" in report.errors[0].message


def test_registration_inside_a_function_is_an_error() -> None:
    source = textwrap.dedent(
        """
        def setup():
            @register_scheduler_init(key="k")
            def init(s):
                pass

        @register_scheduler(key="k")
        def scheduler(s, results, pipelines):
            return [], []
        """
    )
    report = check_policy_source(source)
    assert ("registration", 3) in errors(report)
    assert report.registered_key == "k"


def test_wrong_arity_of_the_scheduler_is_an_error_at_its_def() -> None:
    source = REGISTRATION.replace("def scheduler(s, results, pipelines)", "def scheduler(s)")
    report = check_policy_source(source)
    line = source.splitlines().index("def scheduler(s):") + 1
    assert errors(report) == {("registration", line)}
    assert "def scheduler(s, results, pipelines):" in report.errors[0].message


# -- imports --------------------------------------------------------------------------------------

ALLOWED_IMPORTS = [
    "import math", "import heapq", "from collections import deque, defaultdict, Counter",
    "import collections.abc", "from itertools import count", "import functools",
    "from statistics import median", "from typing import List, Optional",
    "from dataclasses import dataclass, field", "from enum import Enum",
    "import numpy as np", "from numpy import mean, percentile as pct",
    "from eudoxia.workload import Pipeline, OperatorState",
    "from eudoxia.executor.assignment import Assignment, ExecutionResult, Suspend",
    "from eudoxia.scheduler.decorators import register_scheduler, register_scheduler_init",
    "import eudoxia.utils", "from eudoxia.utils import Priority", "from eudoxia import workload",
    "from eudoxia.scheduler.waiting_queue import WaitingQueueJob, RetryStats",
]


@pytest.mark.parametrize("line", ALLOWED_IMPORTS)
def test_allowed_imports_pass(line: str) -> None:
    assert check(line).findings == []


DISALLOWED_MODULES = [
    "os", "sys", "subprocess", "socket", "ctypes", "importlib", "builtins", "pickle", "marshal",
    "threading", "multiprocessing", "signal", "io", "pathlib", "shutil", "time", "random",
    "inspect", "gc", "types", "code", "json", "operator", "copy", "logging", "simulator.executor",
]


@pytest.mark.parametrize("module", DISALLOWED_MODULES)
def test_disallowed_import_is_an_error(module: str) -> None:
    for line in (f"import {module}", f"import {module} as m", f"from {module} import x"):
        finding = only(check(line))
        assert (finding.rule, finding.line, finding.severity) == ("import", 1, "error")
        assert "Allowed: math, heapq" in finding.message


def test_import_advice_is_specific() -> None:
    assert "s.clock" in only(check("import time")).message
    assert "deterministic" in only(check("import random")).message
    assert "eudoxia.executor.assignment" in only(check("from simulator.executor import X")).message


def test_eudoxia_module_not_in_the_compatibility_layer_is_an_error() -> None:
    finding = only(check("from eudoxia.simulator import run_simulator"))
    assert (finding.rule, finding.line) == ("import", 1)
    assert "eudoxia.workload" in finding.message


def test_eudoxia_name_the_layer_lacks_is_an_error_listing_what_it_has() -> None:
    finding = only(check("from eudoxia.workload import Workload"))
    assert (finding.rule, finding.line) == ("import", 1)
    assert "Pipeline" in finding.message


def test_relative_and_star_imports_are_errors() -> None:
    assert errors(check("from . import helpers")) == {("import", 1)}
    assert errors(check("from collections import *")) == {("import", 1)}
    assert check("from math import *").findings == []
    assert check("from eudoxia.workload import *").findings == []


def test_private_or_module_attributes_of_allowed_modules_are_errors() -> None:
    assert errors(check("import typing\ntyping.sys.modules")) == {("import", 2)}
    assert errors(check("import dataclasses\ndataclasses.builtins.eval")) == {("import", 2)}
    assert errors(check("import statistics\nstatistics.random.random()")) == {("import", 2)}
    assert errors(check("import collections\ncollections._sys")) == {("import", 2)}
    assert errors(check("from typing import sys")) == {("import", 1)}


def test_module_object_may_not_be_stored_or_passed() -> None:
    assert errors(check("import math\nm = math")) == {("import", 2)}
    assert errors(check("import collections.abc\nabc = collections.abc")) == {("import", 2)}


def test_unimported_dangerous_module_name_is_an_error() -> None:
    finding = only(check("sys.modules['os']"))
    assert (finding.rule, finding.line) == ("import", 1)
    assert "not available" in finding.message


def test_own_variable_with_a_module_name_is_fine() -> None:
    assert check("time = 3\ny = time + 1").findings == []


# -- numpy ----------------------------------------------------------------------------------------


def test_allowlisted_numpy_use_passes() -> None:
    source = "import numpy as np\nx = np.percentile(np.asarray([1.0, 2.0]), 90) + np.inf\n"
    assert check(source).findings == []


@pytest.mark.parametrize("name", sorted(NUMPY_REJECTED))
def test_rejected_numpy_names_are_errors_whichever_way_they_are_reached(name: str) -> None:
    assert errors(check(f"import numpy as np\nnp.{name}")) == {("numpy-api", 2)}
    assert errors(check(f"import numpy\nnumpy.{name}")) == {("numpy-api", 2)}
    assert errors(check(f"from numpy import {name}")) == {("numpy-api", 1)}
    assert errors(check(f"import numpy.{name}")) == {("numpy-api", 1)}


def test_numpy_name_outside_the_allowlist_is_an_error_listing_the_allowlist() -> None:
    finding = only(check("import numpy as np\nnp.linalg.norm([1])"))
    assert (finding.rule, finding.line) == ("numpy-api", 2)
    assert "np.{abs, all" in finding.message


def test_numpy_random_gets_the_determinism_reason() -> None:
    finding = only(check("import numpy as np\nnp.random.seed(0)"))
    assert "non-deterministic" in finding.message


# -- dunder ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("snippet", [
    "x = (1).__class__", "x = __builtins__", "x = s.__dict__", "f = (lambda: 0).__globals__",
    "x = '{0.__class__}'.format(1)", "x = ['__subclasses__']", "def __getattr__(n):\n    pass",
    "def f(__x__):\n    pass", "import math as __m__", "class __X__:\n    pass",
    "d = dict(__class__=1)",
])
def test_dunder_use_is_an_error_on_line_1(snippet: str) -> None:
    assert ("dunder", 1) in errors(check(snippet))


def test_dunder_reached_through_match_class_patterns_is_an_error() -> None:
    snippet = "match 1:\n    case object(__class__=c):\n        pass"
    assert errors(check(snippet)) == {("dunder", 2)}


def test_unicode_lookalike_dunder_is_normalised_and_caught() -> None:
    assert errors(check("x = s.__\uff43lass__")) == {("dunder", 1)}


def test_helper_classes_may_define_ordering_and_init_and_call_super() -> None:
    snippet = """
    class Job(WaitingQueueJob):
        __slots__ = ("rank",)

        def __init__(self, priority, rank):
            super().__init__(priority)
            self.rank = rank

        def __lt__(self, other):
            return self.rank < other.rank
    """
    assert check(snippet).findings == []


def test_disallowed_dunder_method_in_a_class_is_an_error() -> None:
    assert errors(check("class A:\n    def __reduce__(self):\n        return 1")) == {("dunder", 2)}


def test_main_idiom_is_allowed_but_name_alone_is_not() -> None:
    assert check('if __name__ == "__main__":\n    pass').findings == []
    assert errors(check("x = __name__")) == {("dunder", 1)}


def test_docstrings_may_mention_dunder_methods() -> None:
    assert check('"""Orders jobs with __lt__."""\nx = 1').findings == []


# -- forbidden builtins ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORBIDDEN_BUILTINS))
def test_forbidden_builtin_call_is_an_error(name: str) -> None:
    finding = only(check(f"x = 1\n{name}('x')"))
    assert (finding.rule, finding.line, finding.column) == ("forbidden-builtin", 2, 1)
    assert FORBIDDEN_BUILTINS[name] in finding.message


@pytest.mark.parametrize("name", ["eval", "getattr", "open"])
def test_forbidden_builtin_aliased_or_passed_is_an_error(name: str) -> None:
    assert errors(check(f"f = {name}")) == {("forbidden-builtin", 1)}
    assert errors(check(f"def g(f={name}):\n    pass")) == {("forbidden-builtin", 1)}


def test_type_with_one_argument_is_fine_but_class_creation_is_not() -> None:
    assert check("t = type(1) is int").findings == []
    finding = only(check("X = type('X', (), {})"))
    assert (finding.rule, finding.line) == ("forbidden-builtin", 1)
    assert "class X" in finding.message or "class Name" in finding.message
    assert errors(check("t = type")) == {("forbidden-builtin", 1)}


def test_metaclasses_are_errors() -> None:
    assert errors(check("class A(metaclass=Meta):\n    pass")) == {("forbidden-builtin", 1)}


def test_print_is_a_warning() -> None:
    report = check("x = 1\nprint(x)")
    assert report.ok and warnings_of(report) == {("print", 2)}


# -- string annotations ---------------------------------------------------------------------------


@pytest.mark.parametrize("snippet", [
    "x: 'int' = 1", "def f(a: 'Pipeline'):\n    pass", "def f() -> 'int':\n    pass",
    "q: List['Pipeline'] = []",
])
def test_string_annotation_is_an_error(snippet: str) -> None:
    assert errors(check(snippet)) == {("string-annotation", 1)}


def test_literal_values_in_annotations_are_not_string_annotations() -> None:
    source = "from typing import Literal\nmode: Literal['fast', 'slow'] = 'fast'"
    assert check(source).findings == []


def test_future_annotations_and_type_hint_evaluators_are_errors() -> None:
    assert errors(check("from __future__ import annotations")) == {("string-annotation", 1)}
    assert errors(check("from typing import get_type_hints")) == {("string-annotation", 1)}
    assert errors(check("import typing\ntyping.ForwardRef('x')")) == {("string-annotation", 2)}
    assert errors(check("from __future__ import division")) == {("import", 1)}


# -- global, introspection, tampering, information ------------------------------------------------


def test_global_statement_is_a_warning() -> None:
    report = check("COUNT = 0\ndef bump():\n    global COUNT\n    COUNT += 1")
    assert report.ok and warnings_of(report) == {("global", 3)}


@pytest.mark.parametrize("attr", ["gi_frame", "f_globals", "f_back", "tb_frame", "ctypes",
                                  "tofile", "co_code"])
def test_frame_code_and_memory_attributes_are_errors(attr: str) -> None:
    assert errors(check(f"x = 1\ny = x.{attr}")) == {("introspection", 2)}


@pytest.mark.parametrize("snippet", [
    "Priority.QUERY = 3", "ASSIGNABLE_STATES.append(1)", "INIT_ALGOS['x'] = print",
    "import math\nmath.inf = 0", "s.executor.pools[0].avail_cpu_pool = 1e9",
    "s.params['duration'] = 1", "del s.clock", "s.executor.pools.pop()",
])
def test_writes_into_shared_or_simulator_objects_are_errors(snippet: str) -> None:
    line = snippet.count("\n") + 1
    assert ("tamper", line) in errors(check(snippet))


@pytest.mark.parametrize("snippet", [
    "for pool in s.executor.pools:\n    pool.avail_cpu_pool = 1e9",
    "pool = s.executor.pools[0]\npool.num_completed += 50",
    "for p in s.executor.pools:\n    p.container_tick_times.extend([1] * 50)",
    "def f(pool):\n    del pool.active_containers",
])
def test_writes_into_resource_accounting_through_any_name_are_errors(snippet: str) -> None:
    line = snippet.count("\n") + 1
    assert ("tamper", line) in errors(check(snippet))


def test_policy_state_on_s_is_not_tampering() -> None:
    snippet = ("s.queue = []\ns.queue.append(1)\ns.seen = {}\ns.seen['a'] = 1\nx = s.clock.now\n"
               "s.avail_cpu_pool = 4\ns.num_completed = 0")
    assert check(snippet).findings == []


@pytest.mark.parametrize("expr", [
    "op.get_segments()", "seg.baseline_cpu_seconds", "seg.storage_read_gb", "seg.memory_gb",
    "seg.scaling_func", "seg.get_cpu_time(4)", "seg.get_peak_memory_gb()", "seg.get_io_seconds()",
    "op.values", "ops[0].values", "c.operators[0].values",
])
def test_true_resource_profile_is_an_oracle_warning(expr: str) -> None:
    report = check(f"x = 1\ny = {expr}")
    assert report.ok and warnings_of(report) == {("oracle-info", 2)}
    assert "op.estimate.mem_peak_gb" in report.warnings[0].message


def test_operator_values_warning_follows_loop_variables() -> None:
    snippet = """
    def f(p):
        for node in p.values:
            segs = node.values
        for job in p.runtime_status().get_ops(ASSIGNABLE_STATES):
            segs = job.values
    """
    assert warnings_of(check(snippet)) == {("oracle-info", 3), ("oracle-info", 5)}


def test_estimates_pipeline_values_dict_values_and_the_clock_are_fine() -> None:
    snippet = """
    def f(s, p, op, d):
        a = op.estimate.mem_peak_gb
        b = [o for o in p.values]
        c = list(d.values())
        t = s.clock.now()
        return a, b, c, t
    """
    assert check(snippet).findings == []


def test_own_attribute_named_like_a_segment_field_is_not_an_oracle() -> None:
    assert check("def f(job):\n    job.memory_gb = 3\n    return job.memory_gb").findings == []


def test_private_simulator_attribute_is_a_warning() -> None:
    report = check("def f(c):\n    return c._phases")
    assert report.ok and warnings_of(report) == {("private-attribute", 2)}
    assert check("class A:\n    def f(self):\n        return self._x").findings == []


# -- bypass attempts: every one must be an error on the expected line -----------------------------

BYPASSES = [
    ("getattr(__builtins__, 'open')", "forbidden-builtin", 1),
    ("().__class__.__bases__[0].__subclasses__()", "dunder", 1),
    ("import os as o", "import", 1),
    ("from os import path", "import", 1),
    ("__import__('os')", "forbidden-builtin", 1),
    ("import numpy as np\nnp.ctypeslib.as_array(0)", "numpy-api", 2),
    ("import numpy\nnumpy.load('x.npy', allow_pickle=True)", "numpy-api", 2),
    ("from numpy import load", "numpy-api", 1),
    ("import numpy.ctypeslib", "numpy-api", 1),
    ("x: \"os.system('ls')\" = 1", "string-annotation", 1),
    ("eval('1 + 1')", "forbidden-builtin", 1),
    ("exec('import os')", "forbidden-builtin", 1),
    ("code = compile('1', 'f', 'eval')", "forbidden-builtin", 1),
    ("open('/etc/passwd').read()", "forbidden-builtin", 1),
    ("import importlib\nimportlib.import_module('os')", "import", 1),
    ("importlib.import_module('os')", "import", 1),
    ("import sys\nsys.modules['os']", "import", 1),
    ("sys.modules['os']", "import", 1),
    ("vars()", "forbidden-builtin", 1),
    ("globals()['__builtins__']", "forbidden-builtin", 1),
    ("globals()['__builtins__']", "dunder", 1),
    ("type('X', (), {})", "forbidden-builtin", 1),
    ("f = lambda: __import__('os')", "forbidden-builtin", 1),
    ("e = eval\ne('1')", "forbidden-builtin", 1),
    ("g = (x for x in ())\nb = g.gi_frame.f_globals", "introspection", 2),
    ("'{0.__init__.__globals__}'.format(s)", "dunder", 1),
    ("import typing\ntyping.sys.modules['os']", "import", 2),
    ("import dataclasses\ndataclasses.builtins.open", "import", 2),
    ("import numpy as np\nn = np\nn.load('x')", "import", 2),
    ("from functools import reduce as __import__", "dunder", 1),
    ("SCHEDULING_ALGOS['other'] = print", "tamper", 1),
    ("class Meta(type):\n    pass", "forbidden-builtin", 1),
    ("import numpy as np\nnp.random.default_rng()", "numpy-api", 2),
    ("def f(): return f.__code__", "dunder", 1),
    ("try:\n    1 / 0\nexcept Exception as e:\n    t = e.__traceback__", "dunder", 4),
    ("from typing import get_type_hints", "string-annotation", 1),
    ("hasattr(s, 'queue')", "forbidden-builtin", 1),
]


@pytest.mark.parametrize(("snippet", "rule", "line"), BYPASSES)
def test_bypass_attempt_is_caught(snippet: str, rule: str, line: int) -> None:
    report = check(snippet)
    assert not report.ok
    assert (rule, line) in errors(report), report.to_text()


def test_every_bypass_finding_says_what_to_do_instead() -> None:
    for snippet, _, _ in BYPASSES:
        for finding in check(snippet).errors:
            assert len(finding.message) > 40
            assert any(word in finding.message for word in
                       ("use", "Use", "remove", "write", "keep", "import", "only", "instead",
                        "create", "return", "define", "name", "match", "Policies may")), \
                finding.message


# -- good policies --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(GOOD_POLICIES))
def test_realistic_candidate_policy_passes_with_no_finding(key: str) -> None:
    report = check_policy_source(GOOD_POLICIES[key], f"{key}.py")
    assert report.findings == [], report.to_text()
    assert report.ok and report.registered_key == key


def test_no_import_policy_really_imports_nothing() -> None:
    assert "import" not in NO_IMPORTS


@pytest.mark.parametrize("key", sorted(GOOD_POLICIES))
def test_realistic_candidate_policy_runs_in_the_simulator(key: str, tmp_path: Path) -> None:
    from simulator import simulate

    path = tmp_path / f"{key}.py"
    path.write_text(GOOD_POLICIES[key])
    params = {"duration": 30, "ticks_per_second": 10, "num_pools": 1, "cpus_per_pool": 16,
              "ram_gb_per_pool": 128, "num_pipelines": 2, "num_operators": 3, "random_seed": 3}
    stats = simulate(params, None, path).to_dict()
    assert stats["pipelines_created"] > 0 and stats["containers_completed"] > 0


# -- report shape ---------------------------------------------------------------------------------


def test_findings_are_sorted_by_line_and_the_report_serialises() -> None:
    report = check("print(1)\nimport os\nx = (1).__class__")
    assert [f.line for f in report.findings] == sorted(f.line for f in report.findings)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["registered_key"] == "k"
    assert data["filename"] == "policy.py" and len(data["findings"]) == 3
    assert (len(report.errors), len(report.warnings)) == (2, 1)
    assert CheckReport.model_validate({k: v for k, v in data.items() if k != "ok"}) == report
    assert data["findings"][0] == {"line": 1, "column": 1, "rule": "print",
                                   "severity": "warning", "message": report.findings[0].message}
    assert report.to_text().splitlines()[1].startswith("policy.py:2:1: error [import] ")


def test_columns_are_1_based_characters_and_point_at_the_attribute() -> None:
    finding = only(check("x = 'é'; y = s.__dict__"))
    assert (finding.line, finding.column) == (1, 16)


def test_clean_report_text() -> None:
    assert check_policy_source(REGISTRATION, "p.py").to_text() == "p.py: no findings"


# -- robustness -----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=string.printable, max_size=300))
def test_random_printable_text_gives_findings_never_an_exception(text: str) -> None:
    report = check_policy_source(text)
    assert isinstance(report, CheckReport)
    assert all(f.line >= 1 and f.column >= 1 for f in report.findings)


TOKENS = ["import", "from", "numpy", "np", "os", ".", "(", ")", "[", "]", ":", "=", "\n",
          "    ", "def", "f", "s", "lambda", "__class__", "'__x__'", "eval", "type", ",",
          "class", "x", "return", "@register_scheduler", "key=", "'k'", "match", "case", "1",
          "global", "->", "'int'", "print", "op", ".values", "for", "in", "yield", "async"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_random_token_soup_gives_findings_never_an_exception(tokens: list[str]) -> None:
    report = check_policy_source(" ".join(tokens))
    assert isinstance(report, CheckReport)
