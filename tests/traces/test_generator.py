"""The seeded generator reproduces `eudoxia gentrace` (spec §6.2, §6.3.3)."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulator.errors import ParamsError
from simulator.generator import _choose, generate_trace
from simulator.params import default_params, load_params
from simulator.trace_io import TraceOperator, TracePipeline, trace_to_text, write_trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eudoxia"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "trace.csv").exists())


def make_params(**overrides: Any) -> dict[str, Any]:
    """Eudoxia defaults with a short duration, then the overrides."""
    params = default_params()
    params.update(duration=5, ticks_per_second=10, waiting_seconds_mean=1.0)
    params.update(overrides)
    return params


def batches(pipelines: list[TracePipeline]) -> list[list[TracePipeline]]:
    """Consecutive pipelines with equal arrival_seconds."""
    groups: list[list[TracePipeline]] = []
    for p in pipelines:
        if groups and groups[-1][0].arrival_seconds == p.arrival_seconds:
            groups[-1].append(p)
        else:
            groups.append([p])
    return groups


# --- fixtures and the paper setting -------------------------------------------------------


def test_case_list_covers_the_four_regression_fixtures() -> None:
    assert len(CASES) == 4


@pytest.mark.parametrize("case", CASES)
def test_committed_fixture_trace_is_reproduced_without_dag_shape_draw(case: str) -> None:
    params = load_params(FIXTURES / case / "params.toml")
    text = trace_to_text(generate_trace(params, dag_shape_draw=False))
    expected = (FIXTURES / case / "trace.csv").read_text(encoding="utf-8")
    assert text.replace("\r\n", "\n") == expected.replace("\r\n", "\n")


def test_current_generator_differs_from_committed_trace_by_the_dag_shape_draw() -> None:
    # §6.2.5: with the DAG-shape draw, p2 of naive_defaults_10m becomes INTERACTIVE.
    params = load_params(FIXTURES / "naive_defaults_10m" / "params.toml")
    old = generate_trace(params, dag_shape_draw=False)
    new = generate_trace(params)
    assert old[1].priority == "BATCH_PIPELINE"
    assert new[1].priority == "INTERACTIVE"


def test_paper_setting_gives_eudoxias_630_pipelines_and_priority_mix() -> None:
    params = make_params(
        duration=600,
        ticks_per_second=1000,
        num_pipelines=10,
        num_operators=10,
        waiting_seconds_mean=10,
        random_seed=10,
    )
    pipelines = generate_trace(params)
    assert len(pipelines) == 630
    assert Counter(p.priority for p in pipelines) == {
        "QUERY": 66,
        "INTERACTIVE": 189,
        "BATCH_PIPELINE": 375,
    }
    assert len(trace_to_text(pipelines).splitlines()) == 5373  # §14: a 5 373-line CSV


# --- output format ------------------------------------------------------------------------


def test_trace_text_uses_crlf_line_endings_only() -> None:
    text = trace_to_text(generate_trace(make_params()))
    assert text.endswith("\r\n")
    assert text.count("\n") == text.count("\r\n") > 1


def test_written_trace_file_has_crlf_bytes(tmp_path: Path) -> None:
    out = tmp_path / "trace.csv"
    write_trace(generate_trace(make_params()), out)
    data = out.read_bytes()
    assert data.startswith(b"pipeline_id,arrival_seconds,priority,operator_id,parents,")
    assert data.count(b"\n") == data.count(b"\r\n")


def test_numbers_are_written_as_eudoxias_ints_and_float_arrivals() -> None:
    text = trace_to_text(generate_trace(make_params(query_prob=0.5, batch_prob=0.2)))
    lines = text.splitlines()
    assert lines[1].startswith("p1,0.0,")
    assert all(line.endswith((",1,const,,55", ",15,linear3,,35")) for line in lines[1:])


def test_ids_are_numbered_from_one_in_output_order() -> None:
    pipelines = generate_trace(make_params())
    assert [p.pipeline_id for p in pipelines] == [f"p{i}" for i in range(1, len(pipelines) + 1)]
    for p in pipelines:
        assert [op.operator_id for op in p.operators] == [
            f"op{i}" for i in range(1, len(p.operators) + 1)
        ]


# --- arrivals -----------------------------------------------------------------------------


def test_batches_arrive_at_tick_zero_then_w_plus_one_ticks_apart() -> None:
    # Query-only pipelines draw nothing but their priority, so the RNG sequence per batch is
    # one uniform (priority) then one normal (W): replay it and expect gaps of W + 1.
    params = make_params(
        duration=60,
        ticks_per_second=10,
        waiting_seconds_mean=0.4,
        num_pipelines=1,
        interactive_prob=0.0,
        query_prob=1.0,
        batch_prob=0.0,
        random_seed=3,
    )
    pipelines = generate_trace(params, dag_shape_draw=False)
    rng = np.random.default_rng(3)
    expected_ticks, tick = [], 0
    while tick < 600:
        expected_ticks.append(tick)
        rng.random()
        w = int(rng.normal(4, 1.0))
        tick += (w if w > 0 else 4) + 1
    assert [p.arrival_seconds for p in pipelines] == [t * (1.0 / 10) for t in expected_ticks]
    gaps = {b - a for a, b in pairwise(expected_ticks)}
    assert 1 not in gaps and len(gaps) > 1


def test_zero_mean_wait_gives_a_batch_every_tick() -> None:
    params = make_params(duration=2, ticks_per_second=10, waiting_seconds_mean=0.0)
    pipelines = generate_trace(params)
    assert len(pipelines) == 20 * params["num_pipelines"]
    assert [b[0].arrival_seconds for b in batches(pipelines)] == [t * 0.1 for t in range(20)]


def test_each_batch_has_num_pipelines_pipelines() -> None:
    pipelines = generate_trace(make_params(num_pipelines=3, duration=30))
    assert all(len(b) == 3 for b in batches(pipelines))


def test_no_batch_arrives_at_or_after_duration() -> None:
    pipelines = generate_trace(make_params(duration=30, waiting_seconds_mean=0.05))
    assert max(p.arrival_seconds for p in pipelines) < 30
    assert generate_trace(make_params(duration=0.05)) == []  # int(0.05 * 10) == 0 ticks


def test_zero_drawn_wait_falls_back_to_the_mean() -> None:
    # Mean 1 tick, sd 0.25: int(normal) is 0 about half the time and must become 1 (gap 2).
    params = make_params(duration=30, ticks_per_second=10, waiting_seconds_mean=0.1)
    ticks = [round(b[0].arrival_seconds * 10) for b in batches(generate_trace(params))]
    assert {b - a for a, b in pairwise(ticks)} == {2}


class FixedUniform:
    """Stands in for the RNG in `_choose`: always returns the same uniform."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self) -> float:
        return self.u


@pytest.mark.parametrize("u", [0.0, 0.3, 0.30000000000000004, 0.4, 0.99])
def test_choice_picks_like_numpy_searchsorted_right(u: float) -> None:
    cdf = [0.3, 0.4, 1.0]
    expected = int(np.searchsorted(np.array(cdf), u, side="right"))
    assert _choose(FixedUniform(u), cdf) == expected  # type: ignore[arg-type]


# --- pipeline contents --------------------------------------------------------------------


def test_query_pipeline_has_one_op_and_draws_no_operator_count() -> None:
    query_only: dict[str, Any] = {"interactive_prob": 0.0, "query_prob": 1.0, "batch_prob": 0.0}
    few = generate_trace(make_params(duration=30, num_operators=1, **query_only))
    many = generate_trace(make_params(duration=30, num_operators=50, **query_only))
    assert few == many
    assert {p.priority for p in few} == {"QUERY"}
    assert all(p.operators == [TraceOperator("op1", [], 15, "linear3", None, 35)] for p in few)


def test_non_query_ops_are_one_second_const_55_gb() -> None:
    params = make_params(interactive_prob=0.5, query_prob=0.0, batch_prob=0.5, duration=30)
    ops = [op for p in generate_trace(params) for op in p.operators]
    assert {
        (op.baseline_cpu_seconds, op.cpu_scaling, op.memory_gb, op.storage_read_gb) for op in ops
    } == {(1, "const", None, 55)}
    assert all(type(op.baseline_cpu_seconds) is int for op in ops)


def test_zero_num_operators_floors_every_pipeline_at_one_op() -> None:
    params = make_params(num_operators=0, duration=30)
    assert {len(p.operators) for p in generate_trace(params)} == {1}


def shaped(shape: str) -> list[TracePipeline]:
    weights = {"linear": 0.0, "branch_in": 0.0, "branch_out": 0.0, shape: 2.0}
    params = make_params(
        duration=30,
        num_operators=6,
        dag_linear_prob=weights["linear"],
        dag_branch_in_prob=weights["branch_in"],
        dag_branch_out_prob=weights["branch_out"],
    )
    pipelines = [p for p in generate_trace(params) if p.priority != "QUERY"]
    assert any(len(p.operators) > 2 for p in pipelines)
    return pipelines


def test_linear_dag_chains_each_op_to_the_previous_one() -> None:
    for p in shaped("linear"):
        ids = [op.operator_id for op in p.operators]
        assert [op.parents for op in p.operators] == [[]] + [[i] for i in ids[:-1]]


def test_branch_in_dag_joins_all_earlier_ops_into_the_last() -> None:
    for p in shaped("branch_in"):
        ids = [op.operator_id for op in p.operators]
        assert all(op.parents == [] for op in p.operators[:-1])
        assert p.operators[-1].parents == ids[:-1]


def test_branch_out_dag_hangs_every_op_off_the_first() -> None:
    for p in shaped("branch_out"):
        assert p.operators[0].parents == []
        assert all(op.parents == ["op1"] for op in p.operators[1:])


def test_branch_in_parents_are_joined_with_semicolons_in_the_csv() -> None:
    p = next(p for p in shaped("branch_in") if len(p.operators) == 3)
    last_row = trace_to_text([p]).splitlines()[-1]
    assert last_row.startswith(f"{p.pipeline_id},,,op3,op1;op2,")


# --- validation ---------------------------------------------------------------------------


def test_priority_probabilities_must_sum_to_exactly_one_left_to_right() -> None:
    generate_trace(make_params(interactive_prob=0.3, query_prob=0.1, batch_prob=0.6))
    with pytest.raises(ParamsError, match="Probabilities must sum to 1") as info:
        generate_trace(make_params(interactive_prob=0.7, query_prob=0.2, batch_prob=0.1))
    assert info.value.field == "interactive_prob"


def test_negative_priority_probability_is_rejected() -> None:
    with pytest.raises(ParamsError, match="must not be negative") as info:
        generate_trace(make_params(interactive_prob=-0.5, query_prob=0.5, batch_prob=1.0))
    assert info.value.field == "interactive_prob"


def test_num_segs_other_than_one_is_rejected() -> None:
    with pytest.raises(ParamsError, match="num_segs must be 1") as info:
        generate_trace(make_params(num_segs=2))
    assert info.value.field == "num_segs"


@pytest.mark.parametrize(
    ("weights", "message"),
    [((1.0, -0.5, 0.0), "must not be negative"), ((0.0, 0.0, 0.0), "sum to more than 0")],
)
def test_dag_shape_probabilities_must_be_non_negative_with_positive_sum(
    weights: tuple[float, float, float], message: str
) -> None:
    keys = ("dag_linear_prob", "dag_branch_in_prob", "dag_branch_out_prob")
    params = make_params(**dict(zip(keys, weights, strict=True)))
    with pytest.raises(ParamsError, match=message):
        generate_trace(params)
    generate_trace(params, dag_shape_draw=False)  # the older generator never reads them


def test_unnormalised_dag_shape_weights_are_accepted() -> None:
    params = make_params(dag_linear_prob=3.0, dag_branch_in_prob=1.0, dag_branch_out_prob=1.0)
    assert generate_trace(params)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("waiting_seconds_mean", -1.0),
        ("num_operators", -2),
        ("ticks_per_second", 0),
        ("num_pipelines", 2.0),
        ("random_seed", -1),
        ("duration", "600"),
    ],
)
def test_values_that_would_crash_the_generator_raise_params_error(key: str, value: Any) -> None:
    with pytest.raises(ParamsError) as info:
        generate_trace(make_params(**{key: value}))
    assert info.value.field == key


def test_missing_key_names_the_key_and_how_to_fill_defaults() -> None:
    params = make_params()
    del params["num_operators"]
    with pytest.raises(ParamsError, match="load_params") as info:
        generate_trace(params)
    assert info.value.field == "num_operators"


# --- fast version == per-tick reference ---------------------------------------------------

PRIORITIES = ["INTERACTIVE", "QUERY", "BATCH_PIPELINE"]
SHAPES = ["linear", "branch_in", "branch_out"]


def reference_trace(params: dict[str, Any], dag_shape_draw: bool) -> list[TracePipeline]:
    """§6.2.2 literally: step the generator once per tick with rng.choice / rng.normal."""
    rng = np.random.default_rng(params["random_seed"])
    tps = params["ticks_per_second"]
    wait_mean = int(params["waiting_seconds_mean"] * tps)
    wait_sd = wait_mean / 4
    prio = np.array([params["interactive_prob"], params["query_prob"], params["batch_prob"]])
    prio = prio / sum(prio)
    dag = np.array(
        [params["dag_linear_prob"], params["dag_branch_in_prob"], params["dag_branch_out_prob"]]
    )
    dag = dag / sum(dag)
    since, waiting, counter = 0, 0, 0
    out: list[TracePipeline] = []
    for tick in range(int(params["duration"] * tps)):
        if since != waiting:
            since += 1
            continue
        for _ in range(params["num_pipelines"]):
            priority = PRIORITIES[int(rng.choice(3, p=prio))]
            shape = SHAPES[int(rng.choice(3, p=dag))] if dag_shape_draw else "linear"
            counter += 1
            out.append(
                reference_pipeline(rng, params, counter, tick * (1.0 / tps), priority, shape)
            )
        w = int(rng.normal(wait_mean, wait_sd))
        waiting, since = (w if w > 0 else wait_mean), 0
    return out


def reference_pipeline(
    rng: np.random.Generator,
    params: dict[str, Any],
    counter: int,
    arrival: float,
    priority: str,
    shape: str,
) -> TracePipeline:
    p = TracePipeline(f"p{counter}", arrival, priority, [])
    if priority == "QUERY":
        p.operators.append(TraceOperator("op1", [], 15, "linear3", None, 35))
        return p
    n = int(rng.normal(params["num_operators"], params["num_operators"] / 4))
    n = max(n, 1)
    for i in range(n):
        if shape == "linear":
            parents = [f"op{i}"] if i > 0 else []
        elif shape == "branch_in":
            parents = [f"op{j + 1}" for j in range(n - 1)] if i == n - 1 else []
        else:
            parents = ["op1"] if i > 0 else []
        p.operators.append(TraceOperator(f"op{i + 1}", parents, 1, "const", None, 55))
    return p


GRID = [0.0, 0.1, 0.2, 0.25, 0.3, 0.5, 0.6, 0.7, 1.0]


@st.composite
def small_params(draw: st.DrawFn) -> dict[str, Any]:
    interactive = draw(st.sampled_from(GRID))
    query = draw(st.sampled_from(GRID))
    batch = 1.0 - interactive - query
    assume(batch >= 0 and interactive + query + batch == 1)
    return make_params(
        duration=draw(st.sampled_from([0.5, 1, 2, 3.5, 8])),
        ticks_per_second=draw(st.sampled_from([1, 7, 10, 100])),
        waiting_seconds_mean=draw(st.sampled_from([0, 0.05, 0.1, 0.2, 0.3, 1, 2.5])),
        num_pipelines=draw(st.integers(1, 4)),
        num_operators=draw(st.sampled_from([0, 1, 3, 5, 7.5, 12])),
        interactive_prob=interactive,
        query_prob=query,
        batch_prob=batch,
        dag_linear_prob=draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])),
        dag_branch_in_prob=draw(st.sampled_from([0.0, 0.25, 1.0])),
        dag_branch_out_prob=draw(st.sampled_from([0.1, 1.0, 2.0])),
        random_seed=draw(st.integers(0, 2**32)),
    )


@settings(max_examples=30, deadline=None)
@given(params=small_params(), dag_shape_draw=st.booleans())
def test_batch_jumping_generator_matches_per_tick_reference(
    params: dict[str, Any], dag_shape_draw: bool
) -> None:
    fast = generate_trace(params, dag_shape_draw=dag_shape_draw)
    assert trace_to_text(fast) == trace_to_text(reference_trace(params, dag_shape_draw))
