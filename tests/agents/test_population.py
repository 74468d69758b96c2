"""A population per round (``--population K``): K candidates planned, written and evaluated at
once, with the same candidates and scores whatever order their evaluations finish in."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agents.budget import BudgetLimits
from agents.heuristic.proposer import HeuristicProposer
from agents.lifecycle import load_state, start_run
from agents.nodes.population import Direction, RoundPlan
from agents.run_config import RunConfig
from agents.scripted import scripted_configs, scripted_models, structured_response
from sandbox.executor import SerialExecutor
from tests.agents.scripted import (
    APPROVE,
    GOOD,
    PLAN,
    REJECT,
    answer,
    candidate_results,
    events,
)
from tests.agents.test_heuristic import _feedback


def test_propose_round_gives_k_distinct_configurations_the_first_being_propose() -> None:
    proposer = HeuristicProposer(seed=7)
    first = proposer.propose_round([], 4)
    assert first[0] == proposer.propose([]) == proposer.initial()
    history = [(cfg, _feedback(score=30.0 - i, mean_completed=30.0 - i))
               for i, cfg in enumerate(first)]
    second = proposer.propose_round(history, 4)
    assert second[0] == proposer.propose(history)
    tried = {c.model_dump_json() for c in first}
    for round_ in (first, second):
        assert len({c.model_dump_json() for c in round_}) == 4
    assert not tried & {c.model_dump_json() for c in second}  # nothing proposed twice
    assert second == HeuristicProposer(seed=7).propose_round(history, 4)  # deterministic


# --- completion order ----------------------------------------------------------------------


class ShuffledExecutor(SerialExecutor):
    """Evaluations in this process, each held back until those before it in a chosen order have
    finished, so a round's evaluations finish in exactly that order."""

    def __init__(self, order: list[int], backend: Any) -> None:
        super().__init__("local", backend=backend)
        self.rank = {n: i for i, n in enumerate(order)}
        self.finished: list[str] = []
        self._turn = threading.Condition()
        self._done = 0

    def evaluate(self, jobs):  # type: ignore[no-untyped-def]
        reports = super().evaluate(jobs)
        n = int(jobs[0].key.split("-")[0])
        rank = self.rank.get(n)
        with self._turn:
            if rank is not None and not self._turn.wait_for(lambda: self._done >= rank, 60):
                raise AssertionError(f"candidate {n} waited for its turn for 60 s")
            self.finished.append(jobs[0].key)
            if rank is not None:
                self._done += 1
            self._turn.notify_all()
        return reports


def _heuristic_run(tmp_path: Path, name: str, order: list[int], monkeypatch) -> dict[str, Any]:
    from sandbox.local_backend import LocalBackend

    backend = LocalBackend(warn=False)
    executor = ShuffledExecutor(order, backend)
    monkeypatch.setattr("agents.lifecycle._executor", lambda config, backend: executor)
    config = RunConfig(goal="most completed pipelines", suite="small", heuristic=True, seed=7,
                       population=4, workers=4, budget=BudgetLimits(max_iterations=2),
                       timeout_s=120)
    outcome = start_run(config, tmp_path / name, backend=backend)
    run_dir = Path(outcome.run_dir)
    evs = events(run_dir)
    search = [e for e in evs if e["type"] == "evaluation" and e.get("part", "search") == "search"]
    return {"outcome": outcome, "finished": [k for k in executor.finished if k.endswith("search")],
            "candidates": candidate_results(run_dir),
            "rounds": [e for e in evs if e["type"] == "round"],
            "search": search}


def test_completion_order_changes_neither_candidates_nor_scores(tmp_path, monkeypatch):
    ahead = _heuristic_run(tmp_path, "a", [1, 2, 3, 4], monkeypatch)
    behind = _heuristic_run(tmp_path, "b", [4, 3, 2, 1], monkeypatch)
    round_a = ahead["finished"][:4]
    assert round_a == ["1-search", "2-search", "3-search", "4-search"]
    assert behind["finished"][:4] == list(reversed(round_a))  # really finished the other way
    assert ahead["candidates"] == behind["candidates"]
    assert len(ahead["candidates"]) >= 4
    first = [r for r in ahead["rounds"] if r["round"] == 1][0]
    assert first["candidates"] == [1, 2, 3, 4]
    again = [r for r in behind["rounds"] if r["round"] == 1][0]
    for key in ("candidates", "scores", "passed_search", "held_out_gate", "best", "accepted"):
        assert first[key] == again[key], key
    assert ahead["outcome"].accepted_candidate == behind["outcome"].accepted_candidate
    # the four evaluations of the round were in flight at once, each on its own worker lane
    assert sorted(e["worker"] for e in ahead["search"][:4]) == [1, 2, 3, 4]


# --- concurrent coders ---------------------------------------------------------------------


def _slow(entry: Any, seconds: float = 2.0) -> Any:
    def answer_later(_messages: Any) -> Any:
        time.sleep(seconds)
        return entry
    return answer_later


def test_a_round_s_coders_write_at_once(tmp_path):
    from sandbox.local_backend import LocalBackend

    plan = structured_response(RoundPlan(directions=[
        Direction(change=f"direction {i}: protect queries by {i}", differs=f"variant {i}")
        for i in range(4)]))
    scripts = {"planner": [PLAN, plan], "coder": [_slow(answer(GOOD))] * 4,
               "critic": [REJECT] * 4, "reviewer": [APPROVE]}
    config = RunConfig(goal="most completed pipelines", suite="small", population=4,
                       models=scripted_configs(), budget=BudgetLimits(max_iterations=1),
                       timeout_s=120)
    outcome = start_run(config, tmp_path / "runs", chat_models=scripted_models(scripts),
                        backend=LocalBackend(warn=False))
    evs = events(Path(outcome.run_dir))
    sent = [e for e in evs if e["type"] == "model_call_sent" and e["role"] == "coder"]
    done = [e for e in evs if e["type"] == "model_call" and e["role"] == "coder"]
    assert len(sent) == len(done) == 4
    assert {e["call_id"] for e in sent} == {e["call_id"] for e in done}
    phase = max(e["elapsed_s"] for e in done) - min(e["elapsed_s"] for e in sent)
    assert 2.0 <= phase < 4.0, f"the coder phase took {phase:.2f} s for four 2 s calls"
    plans = [e for e in evs if e["type"] == "plan"]
    assert [e["candidate"] for e in plans] == [1, 2, 3, 4]
    assert len({e["direction"] for e in plans}) == 4
    assert sorted(e["candidate"] for e in evs if e["type"] == "candidate") == [1, 2, 3, 4]


@pytest.mark.parametrize("k", [0, 65])
def test_a_population_outside_1_to_64_is_refused(k):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="population"):
        RunConfig(goal="x", suite="small", heuristic=True, population=k)


# --- the CLI, with the Docker sandbox, serial and on an embedded Ray ------------------------


def _cli_run(runs: Path, workers: int) -> tuple[Path, int, str]:
    import os
    import subprocess
    import sys

    from tests.sandbox.helpers import ROOT

    proc = subprocess.Popen(
        [sys.executable, "-m", "policyforge", "run", "--model", "heuristic", "--suite", "small",
         "--population", "4", "--workers", str(workers), "--max-iterations", "2", "--seed", "7",
         "--sandbox", "docker", "--runs-dir", str(runs)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RAY_ADDRESS": ""})
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-2000:] + err[-3000:]
    (run_dir,) = list(runs.iterdir())
    return run_dir, proc.pid, out


def _policyforge(*args: str) -> Any:
    import subprocess
    import sys

    from tests.sandbox.helpers import ROOT

    proc = subprocess.run([sys.executable, "-m", "policyforge", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.usefixtures("sandbox_image")
def test_population_4_on_2_workers_matches_the_serial_run_and_leaves_no_container(tmp_path):
    import docker

    from sandbox.docker_backend import LABEL, OWNER_LABEL, RUN_LABEL

    serial, serial_pid, _ = _cli_run(tmp_path / "serial", 1)
    ray, _, out = _cli_run(tmp_path / "ray", 2)
    first = [e for e in events(ray) if e["type"] == "round" and e["round"] == 1][0]
    assert len(first["candidates"]) >= 4
    # same sources (sha256), same scores
    assert candidate_results(ray) == candidate_results(serial)
    assert len(candidate_results(ray)) >= 4
    assert "worker 2: candidate" in out  # progress shows each evaluation on its worker
    lanes = {e["worker"] for e in events(ray) if e["type"] == "evaluation"}
    assert lanes == {1, 2}
    assert {e["worker"] for e in events(serial) if e["type"] == "evaluation"} == {1}
    review = json.loads(_policyforge("review", str(ray), "--json").stdout)
    assert [r["candidates"] for r in review["rounds"]][:1] == [first["candidates"]]
    assert review["rounds"][0]["held_out_gate"] == first["held_out_gate"]
    assert {s["worker"] for s in review["evaluations"]} == {1, 2}
    verdicts = {c["candidate"]: c["verdict"] for c in review["candidates"]}
    gate = first["held_out_gate"]
    assert {verdicts[n] for n in first["passed_search"] if n != gate} <= {"passed search"}
    text = _policyforge("review", str(ray)).stdout
    assert "Rounds" in text and "worker 2: #" in text
    _policyforge("review", str(ray), "--html", str(tmp_path / "r.html"))
    assert 'data-chart="workers"' in (tmp_path / "r.html").read_text()
    client = docker.from_env()
    for label in (f"{RUN_LABEL}={ray.name}", f"{RUN_LABEL}={serial.name}",
                  f"{OWNER_LABEL}={serial_pid}"):
        assert client.containers.list(all=True, filters={"label": [f"{LABEL}=1", label]}) == []


# --- best-of-n and --until budget -----------------------------------------------------------


def _coder_tasks(run_dir: Path) -> list[str]:
    calls = [e for e in events(run_dir) if e["type"] == "model_call" and e["role"] == "coder"]
    return [c["messages_in"][1]["content"] for c in calls]


def _fifo_run(tmp_path: Path, iterations: int, **config: Any) -> Path:
    """A scripted run on `small` whose coder always writes FIFO (below every good built-in)."""
    from sandbox.local_backend import LocalBackend
    from tests.agents.scripted import WEAK, responders

    scripts = responders()
    scripts["coder"] = [answer(WEAK, "FIFO.")] * (2 * iterations)
    run = RunConfig(goal="most completed pipelines", suite="small", models=scripted_configs(),
                    budget=BudgetLimits(max_iterations=iterations), timeout_s=120, **config)
    outcome = start_run(run, tmp_path / "runs", chat_models=scripted_models(scripts),
                        backend=LocalBackend(warn=False))
    return Path(outcome.run_dir)


@pytest.mark.parametrize("strategy", ["feedback", "best-of-n"])
def test_best_of_n_writes_every_candidate_from_the_goal_alone(tmp_path, strategy):
    run_dir = _fifo_run(tmp_path, 2, strategy=strategy)
    first, second = _coder_tasks(run_dir)
    if strategy == "best-of-n":
        assert first == second  # nothing of candidate 1 (score, verdict, code) reaches the coder
    else:
        assert first != second and "#1" in second
    parents = [e["parent"] for e in events(run_dir) if e["type"] == "candidate"]
    assert parents[0] is None and (parents[1] is None) == (strategy == "best-of-n")


def test_best_of_n_heuristic_samples_without_feedback_and_a_population_changes_nothing(tmp_path):
    from agents.heuristic.config import HeuristicConfig
    from sandbox.local_backend import LocalBackend

    def configs(name: str, population: int) -> list[HeuristicConfig]:
        config = RunConfig(goal="x", suite="small", heuristic=True, seed=3, population=population,
                           strategy="best-of-n", until="budget",
                           budget=BudgetLimits(max_iterations=4 // population), timeout_s=120)
        outcome = start_run(config, tmp_path / name, backend=LocalBackend(warn=False))
        records = load_state(Path(outcome.run_dir))["candidates"]
        return [HeuristicConfig.model_validate(records[k]["config"])
                for k in sorted(records, key=int)]

    proposer, expected = HeuristicProposer(seed=3), []
    for n in range(1, 5):
        expected.append(proposer.sample(n, expected))
    assert len({c.model_dump_json() for c in expected}) == 4
    assert configs("one", 1) == expected == configs("two", 2)


def test_until_budget_searches_on_with_the_accepted_policy_as_the_floor(tmp_path):
    from sandbox.local_backend import LocalBackend

    config = RunConfig(goal="x", suite="small", heuristic=True, seed=7, until="budget",
                       budget=BudgetLimits(max_iterations=4), timeout_s=120)
    outcome = start_run(config, tmp_path / "runs", backend=LocalBackend(warn=False))
    assert outcome.status == "accepted" and outcome.stop_reason == "max_iterations"
    evs = events(Path(outcome.run_dir))
    assert sum(e["type"] == "candidate" for e in evs) == 4  # it did not stop at the first
    approved = [e["candidate"] for e in evs if e["type"] == "review" and e["approve"]]
    scores = {e["candidate"]: e["score"] for e in evs if e["type"] == "evaluation"}
    assert approved and approved[-1] == outcome.accepted_candidate
    # each approved candidate beat the one before it
    assert all(scores[b] > scores[a] for a, b in zip(approved, approved[1:], strict=False))
    floors = [e for e in evs if e["type"] == "verdict" and any(
        "not better than the accepted candidate" in r for r in e["reasons"])]
    assert all(not e["accept"] for e in floors)
    accepted_score = scores[outcome.accepted_candidate]
    assert all(s is None or s <= accepted_score for s in scores.values())


# --- the cascade ----------------------------------------------------------------------------


def test_the_cascade_reuses_its_first_case_and_scores_as_a_full_evaluation(tmp_path):
    from sandbox.local_backend import LocalBackend

    def results(name: str, cascade: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        config = RunConfig(goal="x", suite="small", heuristic=True, seed=7, cascade=cascade,
                           until="budget", budget=BudgetLimits(max_iterations=2), timeout_s=120)
        outcome = start_run(config, tmp_path / name, backend=LocalBackend(warn=False))
        run_dir = Path(outcome.run_dir)
        out = {}
        for d in sorted((run_dir / "candidates").iterdir()):
            r = json.loads((d / "result.json").read_text())
            out[d.name] = (r["source_sha256"], r["score"], r["per_trace_stats"],
                           [t["name"] for t in r["evaluation"]["traces"]])
        return out, [e for e in events(run_dir) if e["type"] == "cascade"]

    full, none = results("full", False)
    staged, decisions = results("staged", True)
    assert none == [] and len(decisions) == 2
    assert staged == full  # same candidates, scores, stats, and cases in the suite's order
    assert all(not d["stopped"] and d["case"] for d in decisions)
    kept = json.loads(next((tmp_path / "staged").glob("*/candidates/1/cascade.json")).read_text())
    assert [t["name"] for t in kept["report"]["traces"]] == [decisions[0]["case"]]


def test_the_cascade_stops_a_candidate_far_below_the_baseline_on_its_first_case(tmp_path):
    run_dir = _fifo_run(tmp_path, 1, cascade=True)
    evs = events(run_dir)
    (decision,) = [e for e in evs if e["type"] == "cascade"]
    assert decision["stopped"] and decision["score"] < decision["baseline_score"]
    assert "not run on the other 2 cases" in decision["reason"]
    result = json.loads((run_dir / "candidates" / "1" / "result.json").read_text())
    assert result["status"] == "screened" and result["score"] is None
    assert [t["name"] for t in result["evaluation"]["traces"]] == [decision["case"]]
    (verdict,) = [e for e in evs if e["type"] == "verdict"]
    assert not verdict["accept"] and verdict["reasons"] == [decision["reason"]]
    review = json.loads(_policyforge("review", str(run_dir), "--json").stdout)
    assert any(t["type"] == "cascade" and "cascade: candidate 1" in t["what"]
               for t in review["timeline"])


def test_each_coder_of_a_round_has_its_own_current_draft(tmp_path):
    from langchain_core.messages import AIMessage

    from sandbox.local_backend import LocalBackend
    from tests.agents.scripted import ACCEPT, WEAK, tool_call
    from tools.drafts import draft_id

    def coder(messages: Any) -> Any:
        code = GOOD if "direction 0" in str(messages[1].content) else WEAK
        turn = sum(isinstance(m, AIMessage) for m in messages)
        if turn == 0:
            return tool_call("validate_policy", {"code": code}, f"a{len(code)}")
        if turn == 1:  # the other coder has sent its own code by now, or will in this step
            return tool_call("validate_policy", {"draft": "current"}, f"b{len(code)}")
        return answer(code)

    plan = structured_response(RoundPlan(directions=[
        Direction(change=f"direction {i}", differs=f"variant {i}") for i in range(2)]))
    scripts = {"planner": [PLAN, plan], "coder": [coder] * 6, "critic": [ACCEPT] * 2,
               "reviewer": [APPROVE] * 2}
    config = RunConfig(goal="x", suite="small", population=2, models=scripted_configs(),
                       budget=BudgetLimits(max_iterations=1), timeout_s=120)
    outcome = start_run(config, tmp_path / "runs", chat_models=scripted_models(scripts),
                        backend=LocalBackend(warn=False))
    evs = events(Path(outcome.run_dir))
    by_current = [e for e in evs if e["type"] == "tool_call" and e["args"].get("draft")]
    assert len(by_current) == 2
    assert {e["result"].rsplit("(draft ", 1)[1].split(")")[0] for e in by_current} == {
        draft_id(GOOD), draft_id(WEAK)}
    sources = {json.loads((d / "result.json").read_text())["source_sha256"]
               for d in (Path(outcome.run_dir) / "candidates").iterdir()}
    assert len(sources) == 2


def test_evaluations_at_once_get_the_machine_s_share_of_its_cpus(monkeypatch):
    import os

    from agents.lifecycle import evaluation_limits

    monkeypatch.setattr(os, "cpu_count", lambda: 2)

    def cpus(**kw: Any) -> float:
        return evaluation_limits(RunConfig(goal="x", suite="small", heuristic=True, **kw)).cpus

    assert cpus() == 2 and cpus(population=4) == 2  # one at a time
    assert cpus(population=4, workers=2) == 1  # two at once on two cores
    assert cpus(population=1, workers=2) == 2  # a round of one: nothing runs beside it
    assert cpus(population=4, ray_address="10.0.0.1:6379") == 2  # a cluster: per node
