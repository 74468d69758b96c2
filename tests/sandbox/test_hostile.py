"""The hostile corpus (tests/sandbox/hostile/): each policy attacks the sandbox, with static
checks bypassed so the sandbox itself is what stops it. Each file's first line names the
outcomes it may end with. Every run must end within its limit, leak no host secret (an
environment variable, a file in /tmp and a file in the home directory, all canaries), reach no
listener on the host (TCP, UDP, an abstract Unix socket), write nothing outside the sandbox's
temporary directories, leave no process or container behind, and never yield a score the host
did not verify. The local backend runs every policy except those the README says it cannot hold.
A sample also goes through the static checks, which must reject it before anything runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.backend import Limits
from sandbox.docker_backend import DockerBackend
from sandbox.evaluation import CaseInput, PolicyInput, evaluate_policy
from sandbox.local_backend import LocalBackend, masked_dirs, namespace_prefix
from tests.sandbox.helpers import HOSTILE, ROOT, own_sandbox_containers, small_case

POLICIES = sorted(HOSTILE.glob("*.py"))
LIMITS = Limits(timeout_seconds=4, memory_mb=512, cpus=2, pids=64,
                output_bytes=16 * 1024 * 1024)
CANARY_FILE = Path("/tmp/policyforge-canary.txt")
HOME_CANARY = Path.home() / ".policyforge-home-canary"
TCP_PORT, UDP_PORT = 47613, 47614  # what open_socket.py and import_socket.py try
ABSTRACT_SOCKET = "\0policyforge-hostile-canary"
# Where write_outside_tmp.py writes; none of these may appear on the host.
MARKERS = (Path("/etc/policyforge-hostile-marker"), Path("/policyforge-hostile-marker"),
           ROOT / "simulator" / "policyforge_hostile_marker.py",
           ROOT / "policyforge-hostile-marker")
DETACHED_MARKER = b"987654.321"  # the argument of the sleep import_subprocess.py leaves behind


def _local_skips() -> dict[str, str]:
    """What the local backend cannot hold, as the README says, and why."""
    skips = {
        "fork_bomb": "the process limit does not bind root",
        "read_home": "it reads what the invoking user can read",
        "runner_memory": "the policy is root in its user namespace and can reach the runner",
    }
    if "/tmp" not in masked_dirs() or "sh" not in namespace_prefix():
        skips["read_files"] = skips["numpy_file_readers"] = (
            "the host's /tmp (with the canary file) is visible")
    if "--pid" not in namespace_prefix():
        skips["send_signals"] = "without a PID namespace pid 1 would be the host's init"
    return skips


LOCAL_SKIP = _local_skips()


def expected(path: Path) -> set[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: STATUS ...'"
    return set(first.removeprefix("# expect: ").split())


@pytest.fixture
def canaries(monkeypatch):
    # The listeners use fixed ports (the policies must know where to knock): two test runs on
    # one machine take turns instead of failing to bind.
    lock = open("/tmp/policyforge-hostile-canaries.lock", "w")  # noqa: SIM115 - held to the end
    fcntl.flock(lock, fcntl.LOCK_EX)
    secret = f"pf-canary-{os.urandom(8).hex()}"
    monkeypatch.setenv("POLICYFORGE_CANARY", secret)
    CANARY_FILE.write_text(secret)
    HOME_CANARY.write_text(secret)
    listeners = []
    for family, kind, address in ((socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", TCP_PORT)),
                                  (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", UDP_PORT)),
                                  (socket.AF_UNIX, socket.SOCK_STREAM, ABSTRACT_SOCKET)):
        sock = socket.socket(family, kind)
        if family == socket.AF_INET:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen()
        sock.setblocking(False)
        listeners.append(sock)
    yield secret, listeners
    for sock in listeners:
        sock.close()
    CANARY_FILE.unlink(missing_ok=True)
    HOME_CANARY.unlink(missing_ok=True)
    lock.close()


def run_hostile(path: Path, backend, canaries) -> None:
    secret, listeners = canaries
    c = small_case()
    cases = [CaseInput(c["name"], c["params"], c["trace_csv_text"])]
    t0 = time.monotonic()
    report = evaluate_policy(PolicyInput(path.name, path.read_text(), path.name), cases, backend,
                             LIMITS, static_checks=False)
    elapsed = time.monotonic() - t0
    text = report.to_json()
    assert report.status in expected(path), f"{path.name}: {report.status}: {report.reason}"
    assert report.reason, f"{path.name}: {report.status} without a reason"
    assert elapsed < LIMITS.timeout_seconds + 5, f"{path.name} took {elapsed:.1f} s"
    assert secret not in text
    assert not any(t.stats for t in report.traces if not t.verified)
    if report.status != "ok":
        assert report.aggregate == {} or all(v is None for v in report.aggregate.values()) \
            or report.verification.verified > 0
    for sock in listeners:
        with pytest.raises(BlockingIOError):
            sock.accept() if sock.type == socket.SOCK_STREAM else sock.recv(1)  # nothing came
    written = [str(m) for m in MARKERS if m.exists()]
    for marker in MARKERS:
        marker.unlink(missing_ok=True)
    assert written == [], f"{path.name} wrote on the host: {written}"
    assert _processes_with(DETACHED_MARKER) == [], f"{path.name} left a process behind"
    json.loads(text)


def _processes_with(argument: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and argument in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.usefixtures("sandbox_image")
@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_docker_contains_hostile_policy(path, canaries):
    run_hostile(path, DockerBackend(), canaries)
    assert own_sandbox_containers() == []


@pytest.mark.parametrize("path", [p for p in POLICIES if p.stem not in LOCAL_SKIP],
                         ids=[p.stem for p in POLICIES if p.stem not in LOCAL_SKIP])
def test_local_backend_contains_hostile_policy(path, canaries):
    run_hostile(path, LocalBackend(warn=False), canaries)


def test_every_local_skip_is_a_corpus_policy():
    assert set(LOCAL_SKIP) <= {p.stem for p in POLICIES}


# Policies the static checks must reject, with a rule each must trip (the corpus bypasses them),
# and those they cannot see: the sandbox, the determinism repeat and the host's replay stop these.
REJECTED_BY = {
    "builtins_trick": "dunder",
    "clock_lie": "tamper",
    "dunder_import": "forbidden-builtin",
    "env_canary": "import",
    "forge_fd1": "import",
    "forge_killed_runner": "introspection",
    "forge_result": "import",
    "fork_bomb": "import",
    "huge_output": "forbidden-builtin",
    "import_ctypes": "import",
    "import_importlib": "import",
    "import_os": "import",
    "import_socket": "import",
    "import_subprocess": "import",
    "inflate_completions": "tamper",
    "numpy_ctypes": "numpy-api",
    "numpy_file_readers": "numpy-api",
    "open_socket": "import",
    "overallocate": "tamper",
    "read_files": "forbidden-builtin",
    "read_home": "import",
    "runner_memory": "import",
    "send_signals": "import",
    "sleep_forever": "import",
    "slowloris": "import",
    "subclasses_walk": "dunder",
    "tamper_numpy_stats": "tamper",
    "tamper_stats": "import",
    "thread_bomb": "import",
    "type_hints_eval": "string-annotation",
    "write_outside_tmp": "import",
}
PASS_STATIC_CHECKS = {"infinite_loop", "memory_bomb", "nondeterministic", "nondeterministic_hash",
                      "nondeterministic_set", "raise_error", "return_int", "return_strings"}


@pytest.mark.parametrize("name", sorted(REJECTED_BY))
def test_static_checks_reject_hostile_policy_before_anything_runs(name):
    path = HOSTILE / f"{name}.py"
    c = small_case()
    report = evaluate_policy(PolicyInput(path.name, path.read_text(), path.name),
                             [CaseInput(c["name"], c["params"], c["trace_csv_text"])],
                             LocalBackend(warn=False), LIMITS)
    assert report.status == "rejected", report.reason
    assert report.sandbox is None and report.traces == []  # nothing ran
    rules = {f["rule"] for f in report.findings if f["severity"] == "error"}
    assert REJECTED_BY[name] in rules, rules
    assert report.reason.startswith(f"static checks: {path.name}:")


def test_every_corpus_policy_is_either_rejected_by_static_checks_or_known_to_pass_them():
    from sandbox.static_checks import check_policy_source

    passing = {p.stem for p in POLICIES if check_policy_source(p.read_text(), p.name).ok}
    assert passing == PASS_STATIC_CHECKS
    assert {p.stem for p in POLICIES} == PASS_STATIC_CHECKS | set(REJECTED_BY)


def test_policyforge_evaluate_rejects_a_hostile_policy_with_its_finding():
    path = HOSTILE / "overallocate.py"
    proc = subprocess.run(
        [sys.executable, "-m", "policyforge", "evaluate", "--policy", str(path), "--suite",
         "small", "--sandbox", "local", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["status"] == "rejected", proc.stderr
    assert report["sandbox"] is None
    assert {f["rule"] for f in report["findings"] if f["severity"] == "error"} == {"tamper"}
    assert "avail_cpu_pool" in report["reason"]
