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

    from agents.baselines import bound_score

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
    from agents.baselines import bound_score

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
