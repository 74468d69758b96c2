"""Limits sized to the machine and to how many evaluations share it; pinning to CPUs."""

from __future__ import annotations

import os

import pytest

from sandbox.backend import Limits, cpu_set, default_limits, on_lane


def test_cpusets_are_parsed_and_bad_ones_refused():
    assert cpu_set("0") == {0} and cpu_set("0-2,5") == {0, 1, 2, 5}
    for bad in ("", "a", "3-1", "-1"):
        with pytest.raises(ValueError):
            cpu_set(bad)


def test_evaluations_at_once_share_the_machine_and_each_lane_gets_its_own_cpus(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert default_limits(60).cpus == 2 and default_limits(60, at_once=2).cpus == 1
    assert default_limits(60, at_once=8).cpus == 1
    one = default_limits(60, at_once=2)
    assert [on_lane(one, lane, 2).cpuset for lane in (1, 2, 3, 4)] == ["0", "1", "0", "1"]
    assert on_lane(default_limits(60), 1, 1).cpuset is None  # one at a time: not pinned
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    four = default_limits(60, at_once=4)
    assert four.cpus == 2 and [on_lane(four, lane, 4).cpuset for lane in (1, 2, 4)] == [
        "0,1", "2,3", "6,7"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux CPU affinity")
def test_a_pinned_evaluation_runs_on_its_cpu_and_gives_the_thread_back(monkeypatch):
    from sandbox.evaluation import PolicyInput, evaluate_policy, suite_inputs
    from sandbox.local_backend import LocalBackend

    set_to: list[set[int]] = []
    real = os.sched_setaffinity

    def recording(pid: int, mask: set[int]) -> None:
        set_to.append(set(mask))
        real(pid, mask)

    monkeypatch.setattr(os, "sched_setaffinity", recording)
    before = os.sched_getaffinity(0)
    cases = suite_inputs("small", "search")[:1]
    report = evaluate_policy(PolicyInput("naive", builtin="naive"), cases,
                             LocalBackend(warn=False), Limits(cpus=1.0, cpuset="0"))
    assert report.status == "ok", report.reason
    assert set_to == [{0}, before]  # pinned for the evaluation (the local runner inherits it)
    assert os.sched_getaffinity(0) == before
