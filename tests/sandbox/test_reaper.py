"""No orphaned sandbox keeps running: owners named so a reused pid is not mistaken for one, the
reaper removes what a killed process left (Docker containers, local runner groups), spares what
a live one runs, and two reapers racing over the same orphans both succeed. The kill -9 tests
start the real ``policyforge`` and kill it mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import reaper
from sandbox.reaper import (
    ALIVE,
    GONE,
    LABEL,
    OWNER_LABEL,
    REAP_GRACE_SECONDS,
    REUSED,
    UNKNOWN,
    Owner,
    orphaned,
    owner_labels,
    reap_local_runners,
    register_local_runner,
    remove_container,
)
from tests.sandbox.helpers import HOSTILE, ROOT

POLICYFORGE = Path(sys.executable).parent / "policyforge"
LOOP_POLICY = HOSTILE / "infinite_loop.py"  # passes the static checks, spins forever
BATCH_TIMEOUT = "300"  # the batch deadline is far away: only the dead parent gets it reaped


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state directory, for this process and the policyforge processes it starts."""
    path = tmp_path / "state"
    monkeypatch.setenv("POLICYFORGE_STATE", str(path))
    return path


def dead_owner() -> Owner:
    """The owner record of a process that has exited (and been waited for)."""
    proc = subprocess.Popen(["sleep", "30"])
    owner = Owner.of(proc.pid)
    proc.kill()
    proc.wait()
    return owner


def case_processes(pgid: int) -> list[int]:
    """Live processes of group ``pgid`` started as the runner's ``--zygote`` (and the case
    processes they forked, which keep its command line)."""
    out = []
    for pid in live_members(pgid):
        try:
            role = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2]
        except (OSError, IndexError):
            continue
        if role == b"--zygote":
            out.append(pid)
    return out


def live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            out.append(int(entry.name))
    return out


def wait_for(predicate, seconds: float, step: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it is truthy or ``seconds`` pass; its last value."""
    end = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


def start_policyforge(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(POLICYFORGE), *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def next_start() -> subprocess.Popen[str]:
    """The next policyforge start after a crash (a quick, honest evaluation)."""
    return start_policyforge("evaluate", "--policy", "naive", "--suite", "small", "--sandbox",
                             "local", "--json")


# --- owners -------------------------------------------------------------------------------------


def test_an_owner_is_alive_only_while_the_same_process_runs():
    assert Owner.of().status() == ALIVE
    assert dead_owner().status() == GONE
    me = Owner.of()
    assert Owner(me.pid, (me.start or 0) + 1, me.host).status() == REUSED  # same pid, later start
    assert Owner(me.pid, me.start, "another-boot/pid:[1]").status() == UNKNOWN


def test_a_zombie_owner_is_gone():
    proc = subprocess.Popen(["true"])
    owner = Owner.of(proc.pid)
    try:
        assert wait_for(lambda: owner.status() == GONE, 5)  # exited, not yet waited for
    finally:
        proc.wait()


def test_a_live_owner_keeps_its_sandbox_until_the_deadline_is_long_past():
    me, now = Owner.of(), time.time()
    assert not orphaned(me, now + 60, now)
    assert not orphaned(me, now - REAP_GRACE_SECONDS + 5, now)
    assert orphaned(me, now - REAP_GRACE_SECONDS - 5, now)  # a hung owner
    assert orphaned(dead_owner(), now + 600, now)
    assert orphaned(None, now + 600, now) and orphaned(me, None, now)
    foreign = Owner(1, 1, "another-boot/pid:[1]")  # its pid means nothing here
    assert not orphaned(foreign, now + 60, now)
    assert orphaned(foreign, now - REAP_GRACE_SECONDS - 5, now)


# --- local runner records -----------------------------------------------------------------------


def test_a_dead_parents_runner_group_is_killed_and_a_live_parents_spared(state: Path):
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    kept = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        orphan_record = register_local_runner(orphan.pid, time.time() + 300, parent=dead_owner())
        kept_record = register_local_runner(kept.pid, time.time() + 300)  # this process: alive
        report = reap_local_runners()
        assert report.local_runners == [orphan.pid] and report.errors == []
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert not orphan_record.exists()
        assert kept.poll() is None and kept_record.exists()
    finally:
        for proc in (orphan, kept):
            proc.kill()
            proc.wait()


def test_a_runner_pid_now_naming_another_process_is_not_signalled(state: Path):
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        record = register_local_runner(other.pid, time.time() + 300, parent=dead_owner())
        data = json.loads(record.read_text())
        data["runner"]["start"] -= 1  # the recorded runner started earlier: a reused pid
        record.write_text(json.dumps(data))
        report = reap_local_runners()
        assert report.local_runners == [other.pid] and not record.exists()
        time.sleep(0.2)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_an_unreadable_record_is_removed_and_named(state: Path):
    bad = reaper.runners_dir() / "1-2.json"
    bad.write_text("{not json")
    report = reap_local_runners()
    assert not bad.exists()
    assert len(report.errors) == 1 and "1-2.json" in report.errors[0]


def test_with_no_engine_and_no_state_dir_reaping_is_a_warning_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("POLICYFORGE_STATE", str(blocker / "state"))  # cannot be created
    report = reaper.reap_orphans()
    assert report.containers == [] and report.local_runners == []
    assert len(report.errors) == 1 and "local-runner records" in report.errors[0]
    monkeypatch.setenv("POLICYFORGE_STATE", str(tmp_path / "state"))
    assert not reaper.reap_orphans()  # nothing to do, nothing to say


# --- Docker -------------------------------------------------------------------------------------


def sandbox_containers(client, **labels: str) -> list[dict]:  # type: ignore[no-untyped-def]
    wanted = [f"{LABEL}=1", *(f"{k}={v}" for k, v in labels.items())]
    return client.api.containers(all=True, filters={"label": wanted})


@pytest.fixture
def client(sandbox_image: str):  # type: ignore[no-untyped-def]
    import docker

    return docker.from_env()


def test_containers_of_dead_or_hung_owners_go_and_live_ones_stay(client, sandbox_image, state):
    future, past = time.time() + 600, time.time() - REAP_GRACE_SECONDS - 5
    foreign = Owner(1, 1, "another-boot/pid:[1]")
    made = {
        "dead": owner_labels(future, dead_owner()),
        "hung": owner_labels(past),
        "live": owner_labels(future),
        "foreign_live": owner_labels(future, foreign),
        "foreign_late": owner_labels(past, foreign),
        "old_version": {LABEL: "1", OWNER_LABEL: str(dead_owner().pid),
                        "policyforge.deadline": f"{future:.0f}"},
    }
    ids = {name: client.api.create_container(sandbox_image, ["true"], labels=labels)["Id"]
           for name, labels in made.items()}
    try:
        report = reaper.reap_orphans(client)
        orphans = {"dead", "hung", "foreign_late", "old_version"}
        removed = {name for name, cid in ids.items() if cid[:12] in report.containers}
        assert removed <= orphans and report.errors == [], report
        left = {name for name, cid in ids.items() if cid in {
            c["Id"] for c in sandbox_containers(client)}}
        # (another process on this engine may have reaped an orphan first: gone either way)
        assert left == {"live", "foreign_live"}
    finally:
        for cid in ids.values():
            remove_container(client, cid)


def test_removing_a_container_that_is_already_gone_is_success(client, sandbox_image):
    cid = client.api.create_container(sandbox_image, ["true"])["Id"]
    client.api.remove_container(cid, force=True)
    remove_container(client, cid)  # the 404 of a race: no error


# --- must show: kill -9, then the next start ------------------------------------------------


def test_kill_9_of_evaluate_in_docker_leaves_a_container_the_next_start_removes(client, state):
    proc = start_policyforge("evaluate", "--policy", str(LOOP_POLICY), "--suite", "small",
                             "--sandbox", "docker", "--timeout", BATCH_TIMEOUT)
    try:
        running = wait_for(lambda: [c for c in sandbox_containers(client, **{
            OWNER_LABEL: str(proc.pid)}) if c["State"] == "running"], 60)
        assert running, "the evaluation never started its container"
    finally:
        proc.kill()
        proc.communicate()
    cid = running[0]["Id"]
    time.sleep(1)
    assert client.api.inspect_container(cid)["State"]["Running"]  # the orphan, still spinning
    t0 = time.monotonic()
    nxt = next_start()
    gone = wait_for(lambda: not sandbox_containers(client, **{OWNER_LABEL: str(proc.pid)}), 10)
    seconds = time.monotonic() - t0
    out, err = nxt.communicate(timeout=120)
    assert gone, f"container {cid[:12]} still there {seconds:.1f} s after the next start"
    assert nxt.returncode == 0, out + err
    assert cid[:12] in err and "orphaned sandbox container" in err and "Traceback" not in err


def test_kill_9_of_evaluate_locally_leaves_no_runner_or_worker(state: Path):
    proc = start_policyforge("evaluate", "--policy", str(LOOP_POLICY), "--suite", "small",
                             "--sandbox", "local", "--timeout", BATCH_TIMEOUT)
    records = state / "local-runners"
    try:
        record = wait_for(lambda: sorted(records.glob(f"{proc.pid}-*.json")), 60)
        assert record, "the evaluation never recorded its runner"
        runner = json.loads(record[0].read_text())["runner"]["pid"]
        # The two zygotes, the case process and the determinism repeat's, each forked from one.
        assert wait_for(lambda: len(case_processes(runner)) >= 3, 60), case_processes(runner)
    finally:
        proc.kill()
        proc.communicate()
    t0 = time.monotonic()
    nxt = next_start()
    gone = wait_for(lambda: not live_members(runner) and not record[0].exists(), 10)
    seconds = time.monotonic() - t0
    out, err = nxt.communicate(timeout=120)
    assert gone, (f"{live_members(runner)} of runner group {runner} still alive "
                  f"{seconds:.1f} s after the next start")
    assert nxt.returncode == 0, out + err


REAP_ONCE = ("import json; from sandbox.reaper import reap_orphans; "
             "print(json.dumps(reap_orphans().to_dict()))")
CHILD_WITHOUT_NAMESPACES = """
import sys
from sandbox.backend import Limits
from sandbox.evaluation import CaseInput, PolicyInput, evaluate_policy, suite_inputs
from sandbox.local_backend import LocalBackend

backend = LocalBackend(warn=False)
backend.prefix, backend.masks = (), ()  # a machine where unshare does not work
source = open(sys.argv[1]).read()
evaluate_policy(PolicyInput("loop.py", source, "loop.py"), suite_inputs("small", "search"),
                backend, Limits(timeout_seconds=300), static_checks=False)
"""


def test_without_namespaces_the_runner_dies_with_its_parent_and_workers_are_reaped(state: Path):
    proc = subprocess.Popen([sys.executable, "-c", CHILD_WITHOUT_NAMESPACES, str(LOOP_POLICY)],
                            cwd=ROOT, env=dict(os.environ))
    records = state / "local-runners"
    try:
        record = wait_for(lambda: sorted(records.glob(f"{proc.pid}-*.json")), 60)
        assert record, "no runner recorded"
        runner = json.loads(record[0].read_text())["runner"]["pid"]
        assert wait_for(lambda: len(live_members(runner)) >= 2, 60), "no worker started"
    finally:
        proc.kill()
        proc.wait()
    # PR_SET_PDEATHSIG: the runner itself goes with its parent, at once.
    assert wait_for(lambda: runner not in live_members(runner), 5)
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", REAP_ONCE], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    assert runner in json.loads(done.stdout)["local_runners"]
    assert wait_for(lambda: not live_members(runner), 10 - (time.monotonic() - t0))
    assert not record[0].exists()


# --- must show: two reapers at once -------------------------------------------------------


RACING_REAPER = """
import json, sys, time
from pathlib import Path
from sandbox.reaper import reap_orphans

go, delay = Path(sys.argv[1]), float(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
time.sleep(delay)
print(json.dumps(reap_orphans().to_dict()))
"""


def test_two_processes_reaping_the_same_orphans_at_once_both_succeed(client, sandbox_image,
                                                                      state, tmp_path):
    # Staggered starts, so one reaper lists while another removes: the old reaper died there
    # (the SDK's list inspects each container it found: NotFound, a traceback and exit 1).
    labels = owner_labels(time.time() + 600, dead_owner())
    ids = [client.api.create_container(sandbox_image, ["sleep", "300"], labels=labels)["Id"]
           for _ in range(16)]
    for cid in ids[::2]:
        client.api.start(cid)  # running ones take longer to remove: more overlap
    groups = [subprocess.Popen(["sleep", "300"], start_new_session=True) for _ in range(4)]
    for g in groups:
        register_local_runner(g.pid, time.time() + 600, parent=dead_owner())
    go = tmp_path / "go"
    reapers = [subprocess.Popen([sys.executable, "-c", RACING_REAPER, str(go), str(0.08 * i)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
               for i in range(4)]
    try:
        time.sleep(2.0)  # every reaper has imported everything and waits
        go.touch()
        results = [r.communicate(timeout=120) for r in reapers]
        for r, (out, err) in zip(reapers, results, strict=True):
            assert r.returncode == 0 and "Traceback" not in err, err
            assert json.loads(out)["errors"] == [], out
        reports = [json.loads(out) for out, _ in results]
        assert {p for rep in reports for p in rep["local_runners"]} == {g.pid for g in groups}
        assert not [c for c in sandbox_containers(client) if c["Id"] in ids]
        assert [g.wait(timeout=10) for g in groups] == [-signal.SIGKILL] * len(groups)
        assert not list((state / "local-runners").glob("*.json"))
    finally:
        for cid in ids:
            remove_container(client, cid)
        for g in groups:
            g.kill()
            g.wait()
