"""The sandbox's inside: ``python3 -I -m sandbox.runner`` reads a request, prints one result.

It runs inside the container (or under the local backend) and depends on the standard library
and the simulator only, so the image needs nothing else; the host validates what it prints
(`sandbox.protocol`) and trusts none of it until `sandbox.verify` has replayed it.

Order matters: the whole request is read from stdin before any policy code exists, and the
policy is only ever loaded in worker processes (``--worker``), never in this one. This process
makes itself non-dumpable first: its workers run as the same user, and would otherwise be able
to open its stdout and its memory through /proc (or ptrace it) and print a result it never
assembled. Each case runs in a fresh interpreter whose stdout and stderr are /dev/null, so a
policy's prints cannot reach the result; traces are parsed from memory, so no trace file exists
for a policy to read. With ``check_determinism`` the first case also runs a second time in its
own process and the digest of its decision log comes back beside the first run's log.

Request (JSON object on stdin)::

    {"protocol": "policyforge-sandbox/1", "policy_source": "...", "policy_filename": "p.py",
     "policy_builtin": null, "cases": [{"name": ..., "params": {...}, "trace_csv_text": ...}],
     "record_decisions": true, "check_determinism": true, "workers": 2,
     "deadline_seconds": 60}

Result (JSON lines on stdout): one line per case as soon as it is done, in the order they finish,
so the host can replay case *i* while case *i+1* still runs, then one line with the rest::

    {"stream_case": {"name", "status": "ok"|"error"|"timeout"|"crashed"|"skipped", "stats",
     "decisions", "error", "seconds"}, "index": i}
    ...
    {"protocol": ..., "cases": [], "determinism": {...} | null, "error": null, "seconds": ...}

The host believes none of it before the runner has exited cleanly (a policy could have written
lines of its own before killing it), and then only what it has replayed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

PROTOCOL = "policyforge-sandbox/1"
# Workers get a constant environment: nothing from whoever started the runner. One BLAS thread
# keeps the process count inside the container's pids limit.
WORKER_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
STDERR_TAIL = 2000
PR_SET_DUMPABLE = 4


def decisions_digest(decisions: list[dict[str, Any]] | None) -> str:
    """SHA-256 of a decision log in canonical JSON (the determinism check compares these)."""
    text = json.dumps(decisions or [], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the batch (this process never loads the policy) ------------------------------------------


def run_batch(request: dict[str, Any],
              stream: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run every case of ``request`` in worker processes and assemble the result.

    With ``stream`` each finished case is handed to it (and left out of the result) at once."""
    t0 = time.monotonic()
    deadline = t0 + float(request.get("deadline_seconds") or 3600)
    cases = list(request.get("cases") or [])
    jobs: list[tuple[str, int]] = [("case", i) for i in range(len(cases))]
    if request.get("check_determinism") and cases:
        jobs.insert(1, ("repeat", 0))  # early, so it overlaps the other cases
    workers = max(1, int(request.get("workers") or 1))
    base = {k: request.get(k) for k in ("policy_source", "policy_filename", "policy_builtin")}
    base["record_decisions"] = bool(request.get("record_decisions", True))

    def one(job: tuple[str, int]) -> tuple[str, int, dict[str, Any]]:
        kind, i = job
        payload = {**base, "case": cases[i]}
        if kind == "repeat":
            payload.update(record_decisions=True, perturb_heap=True)
        return kind, i, _run_worker(payload, cases[i].get("name", f"case{i}"), deadline)

    results: list[dict[str, Any] | None] = [None for _ in cases]
    determinism: dict[str, Any] | None = None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(one, job) for job in jobs]):
            kind, i, res = future.result()
            if kind == "case":
                if stream is not None:  # each case as soon as it is done (see the module doc)
                    stream(i, res)
                else:
                    results[i] = res
            else:
                determinism = {
                    "case": res["name"],
                    "status": res["status"],
                    "decisions_sha256": decisions_digest(res.get("decisions"))
                    if res["status"] == "ok" else None,
                }
    return {
        "protocol": PROTOCOL,
        "cases": [r for r in results if r is not None],
        "determinism": determinism,
        "error": None,
        "seconds": time.monotonic() - t0,
    }


def write_case_line(index: int, result: dict[str, Any]) -> None:
    """Print one finished case as its own line (``{"stream_case": ...}``) and flush it."""
    sys.stdout.write(json.dumps({"stream_case": result, "index": index}) + "\n")
    sys.stdout.flush()


def _run_worker(payload: dict[str, Any], name: str, deadline: float) -> dict[str, Any]:
    t0 = time.monotonic()
    remaining = deadline - t0
    if remaining <= 0:
        return {"name": name, "status": "skipped", "error": {"message": "batch deadline passed"}}
    workdir = tempfile.mkdtemp(prefix="pf-case-")
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "sandbox.runner", "--worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=WORKER_ENV,
    )  # same process group: whoever kills the runner's group kills every worker too
    try:
        out, err = proc.communicate(json.dumps(payload).encode("utf-8"), timeout=remaining)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.communicate(timeout=1)  # a child of the policy may still hold the pipes
        except subprocess.TimeoutExpired:
            pass
        return {
            "name": name,
            "status": "timeout",
            "error": {"message": f"case did not finish within the {remaining:.1f} s left"},
            "seconds": time.monotonic() - t0,
        }
    seconds = time.monotonic() - t0
    try:
        res = json.loads(out)
        if not isinstance(res, dict):
            raise ValueError("not an object")
    except ValueError:
        res = {
            "status": "crashed",
            "error": {
                "message": _crash_message(proc.returncode),
                "stderr_tail": err.decode("utf-8", "replace")[-STDERR_TAIL:],
            },
        }
    res["name"] = name
    res["seconds"] = seconds
    return res


def _crash_message(code: int | None) -> str:
    if code is not None and code < 0:
        sig = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else -code
        hint = " (likely out of memory)" if code == -signal.SIGKILL else ""
        return f"the case's worker was killed by {sig}{hint}"
    return f"the case's worker exited with status {code} without a result"


# --- one case (this process loads the policy) --------------------------------------------------


def run_case(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one case; the result carries statistics and decisions, or the structured error."""
    import io

    from simulator.engine import run_simulation
    from simulator.errors import SimulatorError
    from simulator.trace_io import read_trace

    case = payload["case"]
    try:
        trace = read_trace(io.StringIO(case["trace_csv_text"]), name=f"{case['name']}.csv")
        policy = payload.get("policy_builtin") or _write_policy(payload)
        result = run_simulation(
            case["params"], trace, policy, record_decisions=bool(payload["record_decisions"])
        )
    except SimulatorError as exc:
        return {"status": "error", "error": exc.to_dict()}
    except Exception as exc:  # noqa: BLE001 - reported, never swallowed
        return {"status": "error", "error": {"kind": "runner_error",
                                             "message": f"{type(exc).__name__}: {exc}"[:2000]}}
    return {
        "status": "ok",
        "stats": result.stats_json(),
        "decisions": result.decisions if payload["record_decisions"] else None,
        # how often the engine had to call the policy (information for the coder, not a score)
        "policy_calls": result.counters.policy_calls,
        "ticks": int(result.params["duration"] * result.params["ticks_per_second"]),
    }


def _write_policy(payload: dict[str, Any]) -> str:
    """The policy source as a file in this worker's private directory (errors name it)."""
    name = os.path.basename(str(payload.get("policy_filename") or "policy.py"))
    if not name.endswith(".py") or name.startswith("."):
        name = "policy.py"
    with open(name, "w", encoding="utf-8") as fh:
        fh.write(str(payload.get("policy_source") or ""))
    return name


def _perturb_heap() -> list[object]:
    """Allocate a random amount first, so object addresses (``id()``) differ from another run's.

    Hash randomisation already differs between processes; this makes address-dependent
    orderings differ too, for the determinism repeat.
    """
    n = int.from_bytes(os.urandom(2), "little")
    return [bytes(1 + i % 97) for i in range(n)] + [object() for _ in range(n % 499)]


def worker_main() -> int:
    """``--worker``: read one case, hide stdout/stderr from the policy, write the result."""
    payload = json.loads(sys.stdin.buffer.read())
    ballast = _perturb_heap() if payload.get("perturb_heap") else []
    result_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    result = run_case(payload)
    del ballast
    data = json.dumps(result).encode("utf-8")
    with os.fdopen(result_fd, "wb") as out:
        out.write(data)
    return 0


def protect_from_workers() -> None:
    """Make this process non-dumpable (Linux), so processes of its own user cannot ptrace it or
    open its /proc entries; its children become dumpable again when they exec. Raises OSError
    if the kernel refuses."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_DUMPABLE, 0) failed: {os.strerror(errno)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: the batch by default, one case with ``--worker``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker_main()
    raw = sys.stdin.buffer.read()  # all of it, before anything else happens
    try:
        protect_from_workers()
        request = json.loads(raw)
        if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
            raise ValueError(f"expected a JSON object with protocol {PROTOCOL!r}")
        result = run_batch(request, stream=write_case_line)
    except Exception as exc:  # noqa: BLE001 - becomes the result's error
        result = {"protocol": PROTOCOL, "cases": [], "determinism": None,
                  "error": {"kind": "runner_error", "message": f"{type(exc).__name__}: {exc}"}}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
