"""Objectives, their metrics and constraints, and the critic's rules (agents.objective, .judge)."""

from __future__ import annotations

import pytest

from agents.judge import judge, strongest_baseline
from agents.objective import Constraint, Objective, ObjectiveError, load_objective, metric_value


def stats(done: int, query=(5, 5, 10.0), batch=(10, 4, 50.0), throughput=1.0, adjusted=20.0):
    def cls(arrived, completed, p99):
        return {"arrival_count": arrived, "completion_count": completed, "timeout_count": 0,
                "mean_latency_seconds": p99 / 2, "p99_latency_seconds": p99}

    return {"pipelines_all": {"arrival_count": 20, "completion_count": done, "timeout_count": 0,
                              "mean_latency_seconds": 1.0, "p99_latency_seconds": 2.0},
            "pipelines_query": cls(*query), "pipelines_interactive": cls(0, 0, 0.0),
            "pipelines_batch": cls(*batch), "throughput": throughput,
            "adjusted_latency": adjusted}


CASES = ["a", "b", "c"]
BASE = {"priority": {c: stats(10) for c in CASES}, "naive": {c: stats(4) for c in CASES}}


def test_metrics_read_the_statistics_by_class():
    s = stats(9, query=(5, 4, 12.0), batch=(10, 0, 0.0))
    assert metric_value("completed_pipelines", s) == 9
    assert metric_value("query_p99_latency_s", s) == 12.0
    assert metric_value("query_completion_rate", s) == 0.8
    assert metric_value("interactive_completion_rate", s) == 1.0  # no arrivals: nothing missed
    assert metric_value("starved_classes", s) == 1  # batch arrived, none completed


def test_direction_follows_the_metric_and_the_default_forbids_starvation():
    assert Objective().direction == "maximize"
    assert Objective(metric="adjusted_latency").direction == "minimize"
    assert Objective().constraints[0].metric == "starved_classes"
    assert "maximize the median completed_pipelines on small" in Objective().summary


def test_the_best_baseline_is_the_best_median():
    assert strongest_baseline(Objective(), BASE) == ("priority", 10.0)
    lat = {"x": {c: stats(1, adjusted=5.0) for c in CASES},
           "y": {c: stats(1, adjusted=9.0) for c in CASES}}
    assert strongest_baseline(Objective(metric="adjusted_latency"), lat) == ("x", 5.0)


def test_a_candidate_must_beat_the_margin_on_the_median_and_on_most_cases():
    objective = Objective(margin=0.1)
    good = {"a": stats(12), "b": stats(11), "c": stats(9)}
    j = judge(objective, good, BASE, CASES)
    assert j.passes and j.wins == 2 and j.needed == pytest.approx(11.0)
    assert j.gap == pytest.approx(0.1)  # over the baseline (10), as everywhere else
    median_only = {"a": stats(30), "b": stats(11), "c": stats(9)}
    assert judge(objective, median_only, BASE, CASES).passes  # 2 of 3 still most
    four = ["a", "b", "c", "d"]
    base4 = {"priority": {c: stats(10) for c in four}}
    two_big_wins = {"a": stats(90), "b": stats(30), "c": stats(10), "d": stats(9)}
    j = judge(objective, two_big_wins, base4, four)
    assert j.score == 20 and not j.passes and j.wins == 2  # a high median from half the cases
    assert any("2 of 4 cases (needs most)" in r for r in j.reasons)


def test_constraints_are_checked_with_numbers():
    starving = {c: stats(20, batch=(10, 0, 0.0)) for c in CASES}
    j = judge(Objective(), starving, BASE, CASES)
    assert not j.passes
    assert any(r.startswith("violates starved_classes") and "0 of 3" in r for r in j.reasons)
    p99 = Constraint(metric="query_p99_latency_s", op="<=", value=11.0)
    ok, text = p99.check([stats(1, query=(5, 5, 10.0)), stats(1, query=(5, 5, 12.0)),
                          stats(1, query=(5, 5, 11.0))])
    assert ok and "median 11" in text


def test_a_missing_case_fails_the_judgement():
    j = judge(Objective(), {"a": stats(50), "b": stats(50)}, BASE, CASES)
    assert not j.passes and "1 of 3" in j.reasons[0]


def test_objective_files_name_the_bad_field(tmp_path):
    good = tmp_path / "o.toml"
    good.write_text('metric = "throughput"\nmargin = 0.1\n[[constraints]]\n'
                    'metric = "query_p99_latency_s"\nop = "<="\nvalue = 30\n')
    o = load_objective(good)
    assert o.metric == "throughput" and o.constraints[0].value == 30
    bad = tmp_path / "bad.toml"
    bad.write_text('[[constraints]]\nmetric = "query_p98"\nop = "<="\nvalue = 1\n')
    with pytest.raises(ObjectiveError, match=r"bad.toml: field constraints.0.metric"):
        load_objective(bad)
    with pytest.raises(ObjectiveError, match="cannot read"):
        load_objective(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("metric = ")
    with pytest.raises(ObjectiveError, match="not valid TOML"):
        load_objective(broken)


def test_a_target_is_required_beside_the_margin_and_shown_in_the_summary():
    candidate = {c: stats(15) for c in CASES}  # beats priority's 10 by far
    plain = Objective(constraints=[])
    assert judge(plain, candidate, BASE, CASES, bound=20).passes
    high = Objective(constraints=[], target=16)
    j = judge(high, candidate, BASE, CASES, bound=20)
    assert not j.passes and "misses the target >= 16 (15)" in j.reasons
    assert "target >= 16" in high.summary
    share = Objective(constraints=[], target_bound_fraction=0.7)
    assert judge(share, candidate, BASE, CASES, bound=20).passes  # 15 >= 0.7 x 20
    assert not judge(share, candidate, BASE, CASES, bound=25).passes  # 15 < 17.5
    assert not judge(share, candidate, BASE, CASES, bound=None).passes  # no bound: not met
    latency = Objective(metric="adjusted_latency", constraints=[], target_bound_fraction=0.5)
    assert latency.target_checks(18.0, 10.0)[0][0] and not latency.target_checks(21.0, 10.0)[0][0]
    with pytest.raises(ValueError):
        Objective(target_bound_fraction=1.5)


def test_aggregates_combine_cases_and_their_bounds_the_same_way():
    import math

    from tools.metrics import bound_score

    values = [10.0, 40.0, 20.0]
    got = {agg: Objective(aggregate=agg, constraints=[]).combine(values)
           for agg in ("median", "mean", "geomean", "worst")}
    assert got["median"] == 20 and got["mean"] == pytest.approx(70 / 3)
    assert got["geomean"] == pytest.approx(20.0) and got["worst"] == 10  # maximized: the least
    latency = Objective(metric="adjusted_latency_penalised", aggregate="worst", constraints=[])
    assert latency.direction == "minimize" and latency.combine(values) == 40
    assert math.isnan(Objective(aggregate="geomean").combine([0.0, 4.0]))
    bounds = {"a": {"max_completed_pipelines": 10}, "b": {"max_completed_pipelines": 40}}
    assert bound_score(Objective(aggregate="mean"), bounds)["score"] == 25
    mean = Objective(aggregate="mean", constraints=[])
    j = judge(mean, {c: stats(15) for c in CASES}, BASE, CASES)
    assert j.score == 15 and j.reasons[0].startswith("mean completed_pipelines 15")
    assert "the mean completed_pipelines" in mean.summary


def test_a_latency_objective_on_a_deadline_suite_optimises_the_penalised_form():
    from agents.objective import has_deadlines

    latency = Objective(metric="adjusted_latency", suite="latency")
    assert has_deadlines("latency") and not has_deadlines("small")
    on = latency.on_suite(deadlines=True)
    assert on.metric == "adjusted_latency_penalised" and on.direction == "minimize"
    assert "adjusted_latency_penalised" in on.summary
    assert latency.on_suite(deadlines=False) == latency
    kept = Objective(metric="adjusted_latency", penalise_unfinished=False)
    assert kept.on_suite(deadlines=True).metric == "adjusted_latency"  # the objective says so
    forced = Objective(metric="adjusted_latency", penalise_unfinished=True)
    assert forced.on_suite(deadlines=False).metric == "adjusted_latency_penalised"
    assert Objective().on_suite(deadlines=True).metric == "completed_pipelines"


def test_a_fairness_constraint_bounds_the_spread_of_class_p99_latencies():
    even = stats(15, query=(5, 5, 10.0), batch=(10, 4, 20.0))  # interactive completed none
    assert metric_value("class_p99_spread", even) == 2.0
    assert metric_value("class_p99_spread", stats(15, batch=(10, 0, 0.0))) == 1.0
    fair = Constraint(metric="class_p99_spread", op="<=", value=3, over="every")
    assert fair.check([even])[0] and not fair.check([stats(15, batch=(10, 4, 50.0))])[0]


def test_a_penalty_per_unfinished_pipeline_worsens_each_case_in_the_objectives_direction():
    s = stats(15)  # 20 arrived, 15 completed: 5 failed or unfinished
    assert metric_value("unfinished_pipelines", s) == 5
    most = Objective(constraints=[], unfinished_penalty=2.0)
    assert most.case_value(s) == 15 - 2 * 5 and most.score([s, stats(20)]) == (5 + 20) / 2
    fast = Objective(metric="adjusted_latency", constraints=[], unfinished_penalty=10.0)
    assert fast.case_value(s) == 20.0 + 10 * 5
    assert "with 10 per unfinished pipeline" in fast.summary
    assert Objective(constraints=[]).case_value(s) == 15  # no penalty: the metric alone
    # the judge compares case by case with the penalty too
    j = judge(most, {c: stats(12) for c in CASES}, BASE, CASES)
    assert j.score == 12 - 2 * 8 and j.baseline_score == 10 - 2 * 10 and j.wins == 3


def test_a_penalty_bound_counts_the_pipelines_no_policy_can_complete():
    from tools.metrics import bound_score

    bounds = {"a": {"max_completed_pipelines": 10, "min_unfinished_pipelines": 4,
                    "min_adjusted_latency_penalised": 30.0},
              "b": {"max_completed_pipelines": 20, "min_unfinished_pipelines": 0,
                    "min_adjusted_latency_penalised": 50.0}}
    most = Objective(aggregate="mean", constraints=[], unfinished_penalty=1.5)
    assert bound_score(most, bounds) == {"score": ((10 - 6) + 20) / 2,
                                         "per_trace": {"a": 4.0, "b": 20.0}}
    fast = Objective(metric="adjusted_latency_penalised", aggregate="worst", constraints=[],
                     unfinished_penalty=2.0)
    assert bound_score(fast, bounds)["score"] == 50.0  # a: 30 + 8 = 38, b: 50
    # a metric without a bound, or a case without one, has no bound
    assert bound_score(Objective(metric="adjusted_latency"), bounds)["score"] is None
    assert bound_score(Objective(metric="throughput"), {})["score"] is None


def test_a_fairness_floor_is_the_least_completion_rate_of_a_class_with_arrivals():
    s = stats(9, query=(5, 4, 12.0), batch=(10, 2, 30.0))  # interactive: no arrivals
    assert metric_value("min_class_completion_rate", s) == 0.2
    fair = Constraint(metric="min_class_completion_rate", op=">=", value=0.25, over="every")
    assert not fair.check([s])[0]
    assert fair.check([stats(9, query=(5, 4, 12.0), batch=(10, 5, 30.0))])[0]
    assert metric_value("min_class_completion_rate", stats(0, query=(0, 0, 0.0),
                                                              batch=(0, 0, 0.0))) == 1.0


def test_each_scenario_is_scored_by_its_own_objective():
    from agents.objective import suite_objective

    assert suite_objective("small") == Objective(suite="small")
    latency = suite_objective("latency")  # a deadline suite: the penalised form
    assert (latency.metric, latency.aggregate) == ("adjusted_latency_penalised", "median")
    scales = suite_objective("scales")  # the follow-up work's score over five sizes
    assert (scales.metric, scales.aggregate, scales.direction) == (
        "adjusted_latency_penalised", "geomean", "minimize")
    # a size whose run fails counts 2 x max_job_seconds, read from the suite's own params
    from traces.suites import get_suite

    deadline = {float(c.params["max_job_seconds"]) for c in get_suite("scales").search_cases()}
    assert scales.failed_case_value == 2 * deadline.pop() == 720.0
    assert "a case whose run fails counts 720 s" in scales.summary
    assert latency.failed_case_value is None  # elsewhere a failed run fails the candidate


def latency_stats(value: float) -> dict:
    return {**stats(5), "adjusted_latency_penalised": value}


SCALES = Objective(metric="adjusted_latency_penalised", aggregate="geomean",
                   failed_case_value=720.0, constraints=[], suite="scales")


def test_a_failed_run_counts_the_objectives_value_in_the_geometric_mean():
    from agents.objective import FailedRun

    cases = [latency_stats(40.0), latency_stats(90.0), FailedRun("the policy raised")]
    assert SCALES.score(cases) == pytest.approx((40.0 * 90.0 * 720.0) ** (1 / 3))
    assert SCALES.case_value(FailedRun("x")) == 720.0
    assert SCALES.score([FailedRun("a"), FailedRun("b")]) == pytest.approx(720.0)
    assert SCALES.failed_run_text("x16-seed61", "the policy raised ValueError") == (
        "x16-seed61: run failed (the policy raised ValueError) - counts 720 s")
    median = Objective(failed_case_value=0.0)  # completions: a failed case completed nothing
    assert median.score([stats(10), stats(14), FailedRun("over-allocated")]) == 10.0
    assert median.failed_run_text("c", "why") == "c: run failed (why) - counts 0"


def test_without_a_failed_case_value_a_failed_run_cannot_be_scored():
    from agents.objective import FailedRun

    plain = Objective(metric="adjusted_latency_penalised", aggregate="geomean")
    with pytest.raises(ObjectiveError, match="counts no failed run .the policy raised."):
        plain.score([latency_stats(40.0), FailedRun("the policy raised")])


@pytest.mark.parametrize("fields, message", [
    ({"failed_case_value": float("nan")}, "finite"),
    ({"failed_case_value": float("inf")}, "finite"),
    ({"failed_case_value": 0.0, "aggregate": "geomean"}, "positive with the geomean"),
    ({"failed_case_value": "lots"}, "valid number"),
])
def test_failed_case_value_is_validated(fields, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        Objective(metric="adjusted_latency", **fields)


def test_the_judge_counts_a_failed_run_names_it_and_reads_constraints_on_the_cases_that_ran():
    from agents.objective import FailedRun

    objective = SCALES.model_copy(update={"constraints": [
        Constraint(metric="starved_classes", op="<=", value=0, over="every")]})
    names = ["x1", "x2", "x16"]
    base = {"priority": {"x1": latency_stats(80.0), "x2": latency_stats(300.0),
                         "x16": latency_stats(300.0)}}
    candidate = {"x1": latency_stats(30.0), "x2": latency_stats(40.0),
                 "x16": FailedRun("the policy raised ValueError (p.py:9) at tick 0")}
    j = judge(objective, candidate, base, names)
    assert j.score == pytest.approx((30.0 * 40.0 * 720.0) ** (1 / 3))
    assert j.passes and j.wins == 2  # 720 on x16 loses that size, the other two win
    assert "x16: run failed (the policy raised ValueError (p.py:9) at tick 0) - counts 720 s" \
        in j.reasons
    assert "meets starved_classes <= 0 (every): holds on 2 of 2 cases (worst 0)" in j.reasons
    everything_failed = {c: FailedRun("over-allocated") for c in names}
    j = judge(objective, everything_failed, base, names)
    assert not j.passes and j.score == pytest.approx(720.0)
    assert "violates starved_classes <= 0 (every): no verified case" in j.reasons


def test_a_builtin_that_fails_cases_is_a_baseline_only_where_failed_runs_count():
    from agents.baselines import scored_baselines
    from agents.objective import FailedRun

    part = {"policies": {"naive": {"x1": latency_stats(500.0), "x2": latency_stats(700.0)}},
            "failed": {"overbook": "x2: Overallocated RAM", "odd": "x1: workload error"},
            "partial": {"overbook": {"x1": latency_stats(100.0)}},
            "failed_runs": {"overbook": {"x2": "Overallocated RAM"}}}
    plain = Objective(metric="adjusted_latency_penalised", aggregate="geomean")
    assert set(scored_baselines(plain, part)) == {"naive"}
    scored = scored_baselines(SCALES, part)
    assert set(scored) == {"naive", "overbook"}  # odd failed otherwise: never a baseline
    assert scored["overbook"] == {"x1": latency_stats(100.0),
                                  "x2": FailedRun("Overallocated RAM")}
    assert strongest_baseline(SCALES, scored) == (
        "overbook", pytest.approx((100.0 * 720.0) ** 0.5))


def test_on_scales_the_builtins_that_cannot_run_a_size_count_720_s_there():
    from agents.baselines import builtin_baselines, scored_baselines
    from agents.judge import baseline_scores
    from agents.objective import suite_objective

    part = builtin_baselines("scales", "search")
    assert set(part["policies"]) == {"naive", "priority"}
    sizes = {c for c in part["bounds"]}
    # overbook over-allocates and priority-pool needs two pools, on every size
    assert {name: set(failed) for name, failed in part["failed_runs"].items()} == {
        "overbook": sizes, "priority-pool": sizes}
    assert "needs exactly 2 pools" in part["failed_runs"]["priority-pool"]["x16-seed61"]
    scores = baseline_scores(suite_objective("scales"), scored_baselines(
        suite_objective("scales"), part))
    assert scores["overbook"] == scores["priority-pool"] == pytest.approx(720.0)
    assert scores["priority"] < scores["naive"] < 720.0
