"""The sandbox's inside: ``python3 -I -m sandbox.runner`` reads a request, prints one result.

It runs inside the container (or under the local backend) and depends on the standard library
and the simulator only, so the image needs nothing else; the host validates what it prints
(`sandbox.protocol`) and trusts none of it until `sandbox.verify` has replayed it.

Order matters: the whole request is read from stdin before any policy code exists, and the
policy is only ever loaded in case processes, never in this one. This process makes itself
non-dumpable first: its case processes run as the same user, and would otherwise be able to open
its stdout and its memory through /proc (or ptrace it) and print a result it never assembled.

Each case runs in a fresh process of its own, forked from a *zygote* (``--zygote``): an
interpreter that has imported the simulator and numpy once, made itself non-dumpable (so its
children, which inherit that, can neither ptrace it nor each other) and never loads a policy: it
only compiles the batch's policy source once when the runner asks (``prepare``; parsing and
compiling run none of the policy's code), so that its case processes need not each compile it.
The zygote never sees a case either: it gets two pipe ends per case, forks, and the child reads
the case from one and writes its result to the other, the only descriptor it keeps; its stdout
and stderr are /dev/null, so a policy's prints cannot reach the result. Every case therefore
starts from the same untouched state, in milliseconds instead of an interpreter's start
and imports. A policy may kill its zygote (same user): the case still reports what it wrote,
and the next case gets a new zygote. Traces are parsed from memory, so no trace file exists for
a policy to read.

Two zygotes are started before the request is read, so their imports overlap its transfer; they
have nothing of it until it is whole. Then they serve the batch's cases, one per worker thread.

With ``check_determinism`` the first case also runs a second time, forked from the other zygote:
another interpreter (its own hash seed, its own heap layout), perturbed further by a random
allocation, and the digest of its decision log comes back beside the first run's log, so a
policy whose decisions depend on ``id()``, string ``hash()`` or set order is caught.

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
import queue
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, NoReturn

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
# What a zygote imports before it forks: everything a case needs before the policy loads.
ZYGOTE_IMPORTS = ("numpy", "numpy.ma", "simulator.engine", "simulator.errors",
                  "simulator.trace_io", "simulator.policy_loader", "simulator.policies")
_PID = struct.Struct("<i")  # zygote -> runner: the case process's pid, once forked
_EXIT = struct.Struct("<ii")  # zygote -> runner: its pid and wait status, once it ended


def decisions_digest(decisions: list[dict[str, Any]] | None) -> str:
    """SHA-256 of a decision log in canonical JSON (the determinism check compares these)."""
    text = json.dumps(decisions or [], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the batch (this process never loads the policy) ------------------------------------------


def run_batch(request: dict[str, Any],
              stream: Callable[[int, dict[str, Any]], None] | None = None,
              started: Prestarted | None = None) -> dict[str, Any]:
    """Run every case of ``request`` in worker processes and assemble the result.

    With ``stream`` each finished case is handed to it (and left out of the result) at once.
    ``started``: the zygotes started before the request was read (`main`)."""
    started = started or Prestarted(start=False)
    t0 = time.monotonic()
    deadline = t0 + float(request.get("deadline_seconds") or 3600)
    cases = list(request.get("cases") or [])
    jobs: list[tuple[str, int]] = [("case", i) for i in range(len(cases))]
    if request.get("check_determinism") and cases:
        jobs.insert(1, ("repeat", 0))  # early, so it overlaps the other cases
    workers = max(1, int(request.get("workers") or 1))
    base = {k: request.get(k) for k in ("policy_source", "policy_filename", "policy_builtin")}
    base["record_decisions"] = bool(request.get("record_decisions", True))
    zygotes = started.zygotes
    # The first case and its repeat each in a zygote of its own (two interpreters: see the
    # module doc); both join the pool for the other cases once done.
    own = {("case", 0): started.take(), ("repeat", 0): started.take()}
    if base["policy_source"] and not base["policy_builtin"]:
        for zygote in own.values():
            zygote.prepare(_policy_name(base), str(base["policy_source"]))

    def one(job: tuple[str, int]) -> tuple[str, int, dict[str, Any]]:
        kind, i = job
        payload = {**base, "case": cases[i]}
        name = cases[i].get("name", f"case{i}")
        zygote = own.pop(job, None)
        if deadline - time.monotonic() <= 0:
            if zygote is not None:
                zygotes.give(zygote)
            return kind, i, {"name": name, "status": "skipped",
                             "error": {"message": "batch deadline passed"}}
        if kind == "repeat":
            payload.update(record_decisions=True, perturb_heap=True)
        raw = json.dumps(payload).encode("utf-8")
        return kind, i, zygotes.run_case(raw, name, deadline, zygote)

    results: list[dict[str, Any] | None] = [None for _ in cases]
    determinism: dict[str, Any] | None = None
    for job in [j for j in own if j not in jobs]:  # no cases, or no repeat asked for
        zygotes.give(own.pop(job))
    with zygotes, ThreadPoolExecutor(max_workers=workers) as pool:
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


def _case_outcome(out: bytes, code: int | None, err: bytes, name: str,
                  t0: float) -> dict[str, Any]:
    """What a case process that ended in time wrote, or why it is a crash."""
    seconds = time.monotonic() - t0
    try:
        res = json.loads(out)
        if not isinstance(res, dict):
            raise ValueError("not an object")
    except ValueError:
        res = {
            "status": "crashed",
            "error": {
                "message": _crash_message(code),
                "stderr_tail": err.decode("utf-8", "replace")[-STDERR_TAIL:],
            },
        }
    res["name"] = name
    res["seconds"] = seconds
    return res


def _timed_out(name: str, remaining: float, t0: float) -> dict[str, Any]:
    return {
        "name": name,
        "status": "timeout",
        "error": {"message": f"case did not finish within the {remaining:.1f} s left"},
        "seconds": time.monotonic() - t0,
    }


def _crash_message(code: int | None) -> str:
    if code is None:
        return "the case's process ended without a result, and its exit status is unknown"
    if code < 0:
        sig = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else -code
        hint = " (likely out of memory)" if code == -signal.SIGKILL else ""
        return f"the case's worker was killed by {sig}{hint}"
    return f"the case's worker exited with status {code} without a result"


# --- zygotes: a fresh process per case, forked from a pre-imported interpreter ----------------


class Zygote:
    """The runner's end of one zygote (``--zygote``; see the module doc), one case at a time."""

    def __init__(self) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "sandbox.runner", "--zygote"],
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=tempfile.mkdtemp(prefix="pf-zygote-"),
                env=WORKER_ENV,
            )  # same process group as the runner: whoever kills the group kills it too
        self.alive = True

    def run_case(self, payload: bytes, name: str, deadline: float) -> dict[str, Any]:
        """Run one case in a process forked for it; the result as `_case_outcome` makes it."""
        t0 = time.monotonic()
        remaining = deadline - t0
        case_in, to_case = os.pipe()
        from_case, case_out = os.pipe()
        try:
            socket.send_fds(self.sock, [b"c"], [case_in, case_out])
            forked = self._receive(_PID, deadline)
        except OSError:
            forked = None
        finally:
            os.close(case_in)
            os.close(case_out)  # the case process holds the only write end of its result
        if forked is None:
            os.close(to_case)
            os.close(from_case)
            self.alive = False
            if time.monotonic() >= deadline:  # a stopped zygote, say
                return _timed_out(name, remaining, t0)
            return {"name": name, "status": "crashed", "seconds": time.monotonic() - t0,
                    "error": {"message": "the case's process could not be started: its zygote "
                              "ended (a policy may have killed it)"}}
        out = _exchange(to_case, payload, from_case, deadline)
        ended = self._receive(_EXIT, deadline) if out is not None else None
        if out is None or (ended is None and time.monotonic() >= deadline):
            _kill(forked[0])
            self.alive = False  # it may still report the kill: not worth waiting for
            return _timed_out(name, remaining, t0)
        code = os.waitstatus_to_exitcode(ended[1]) if ended is not None else None
        return _case_outcome(out, code, b"", name, t0)

    def prepare(self, name: str, source: str) -> None:
        """Have the zygote compile the policy's source (running none of it), so each case it
        forks finds it compiled (`simulator.policy_loader.compile_policy`). No answer: the
        zygote takes its messages in order, so it has done so before it forks the next case."""
        read_end, write_end = os.pipe()
        try:
            socket.send_fds(self.sock, [b"p"], [read_end])
            os.close(read_end)
            read_end = -1
            with os.fdopen(write_end, "wb") as fh:
                write_end = -1
                fh.write(json.dumps({"name": name, "source": source}).encode("utf-8"))
        except OSError:
            self.alive = False  # the next case finds out how it ended
        finally:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)

    def _receive(self, message: struct.Struct, deadline: float) -> tuple[int, ...] | None:
        """One message from the zygote; None (and this zygote done with) if it ended or the
        deadline passed first."""
        data = b""
        while len(data) < message.size:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                self.sock.settimeout(remaining)
                chunk = self.sock.recv(message.size - len(data))
            except OSError:  # TimeoutError included
                chunk = b""
            if not chunk:
                self.alive = False
                return None
            data += chunk
        return message.unpack(data)

    def close(self) -> None:
        """End the zygote (it holds nothing of a case's)."""
        self.sock.close()
        self.proc.kill()
        self.proc.wait()


class ZygotePool:
    """The batch's zygotes: a case takes an idle one, or starts one; one that ended is replaced."""

    def __init__(self, start: int = 0) -> None:
        self.idle: queue.SimpleQueue[Zygote] = queue.SimpleQueue()
        for _ in range(start):
            self.idle.put(Zygote())

    def take(self) -> Zygote:
        """An idle zygote, or a new one."""
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            return Zygote()

    def give(self, zygote: Zygote) -> None:
        """Back to the pool, if it still lives."""
        if zygote.alive:
            self.idle.put(zygote)
        else:
            zygote.close()

    def run_case(self, payload: bytes, name: str, deadline: float,
                 zygote: Zygote | None = None) -> dict[str, Any]:
        """Run one case in a process forked for it (see `Zygote.run_case`), from ``zygote``
        or an idle one; the zygote goes back to the pool."""
        zygote = zygote or self.take()
        try:
            return zygote.run_case(payload, name, deadline)
        finally:
            self.give(zygote)

    def __enter__(self) -> ZygotePool:
        return self

    def __exit__(self, *exc: object) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().close()


class Prestarted:
    """Two zygotes started before the request is read, so their imports overlap its transfer;
    neither has seen anything of the request yet (see the module doc)."""

    def __init__(self, start: bool = True) -> None:
        self.zygotes = ZygotePool(2 if start else 0)

    def take(self) -> Zygote:
        """A started zygote (or a new one), out of the pool until given back."""
        return self.zygotes.take()

    def close(self) -> None:
        """End whatever was not used."""
        self.zygotes.__exit__()


def _exchange(to_case: int, payload: bytes, from_case: int, deadline: float) -> bytes | None:
    """Write the case to its process, then read its result until it closes the pipe; closes
    both ends. None if the deadline passed first."""
    os.set_blocking(to_case, False)
    pending = memoryview(payload)
    chunks: list[bytes] = []
    with selectors.DefaultSelector() as sel:
        sel.register(to_case, selectors.EVENT_WRITE)
        sel.register(from_case, selectors.EVENT_READ)
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                for key, _ in sel.select(remaining):
                    if key.fd == from_case:
                        if not (data := os.read(from_case, 1 << 16)):
                            return b"".join(chunks)
                        chunks.append(data)
                        continue
                    try:
                        pending = pending[os.write(to_case, pending[: 1 << 16]):]
                    except BrokenPipeError:  # it ended before reading it all; its status says why
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(to_case)
                        os.close(to_case)
                        to_case = -1
            return None
        finally:
            for fd in (to_case, from_case):
                if fd >= 0:
                    os.close(fd)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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


def _policy_name(payload: dict[str, Any]) -> str:
    """The policy file's name in a case's directory (what errors and tracebacks show)."""
    name = os.path.basename(str(payload.get("policy_filename") or "policy.py"))
    if not name.endswith(".py") or name.startswith("."):
        name = "policy.py"
    return name


def _write_policy(payload: dict[str, Any]) -> str:
    """The policy source as a file in this worker's private directory (errors name it)."""
    name = _policy_name(payload)
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


def serve_case(raw: bytes, result_fd: int) -> int:
    """Run the case ``raw`` holds with stdin, stdout and stderr on /dev/null and every other
    descriptor but ``result_fd`` closed, and write its result there (where prints cannot go)."""
    import gc

    # This process ends with its case: what the run leaves is freed with the process, so the
    # collector's scans of it are pure cost (the engine still collects the young generation
    # every few thousand full ticks, for policies that make cyclic garbage as they go).
    gc.disable()
    payload = json.loads(raw)
    ballast = _perturb_heap() if payload.get("perturb_heap") else []
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, result_fd)  # a zygote's child closes its control socket and pipes here
    os.closerange(result_fd + 1, os.sysconf("SC_OPEN_MAX"))
    result = run_case(payload)
    del ballast
    data = json.dumps(result).encode("utf-8")
    with os.fdopen(result_fd, "wb") as out:
        out.write(data)
    return 0


def zygote_main() -> int:
    """``--zygote``: import what every case needs once, then fork one process per case sent on
    the control socket (stdin) and report its pid, then how it ended (see the module doc)."""
    import gc
    import importlib

    protect_from_workers()  # inherited by every case process it forks
    for name in ZYGOTE_IMPORTS:
        importlib.import_module(name)
    gc.freeze()  # the children's collections then leave the shared pages alone
    control = socket.socket(fileno=0)
    try:
        while True:
            kind, fds, _, _ = socket.recv_fds(control, 1, 2)
            if kind == b"p" and len(fds) == 1:
                _compile_policy(fds[0])
                continue
            if len(fds) != 2:  # the runner is done (or sent nothing we know)
                return 0
            pid = os.fork()
            if pid == 0:
                _case_process(*fds)
            for fd in fds:
                os.close(fd)
            control.sendall(_PID.pack(pid))
            _, status = os.waitpid(pid, 0)
            control.sendall(_EXIT.pack(pid, status))
    except OSError:  # the runner went away
        return 0


def _compile_policy(source_fd: int) -> None:
    """A zygote's ``prepare``: compile the policy source it is sent (its case processes then
    find it compiled); runs none of it. A source that does not compile is left to the case,
    which reports the error."""
    from simulator.policy_loader import compile_policy

    try:
        with os.fdopen(source_fd, "rb") as fh:
            sent = json.loads(fh.read())
        compile_policy(str(sent["source"]), str(sent["name"]))
    except Exception:  # noqa: BLE001, S110 - the case process compiles it again and reports
        pass


def _case_process(case_in: int, case_out: int) -> NoReturn:
    """A zygote's child: read the case, run it in a directory of its own, never return."""
    code = 1
    try:
        with os.fdopen(case_in, "rb") as fh:
            raw = fh.read()
        # under the zygote's directory, itself under the batch's (the zygote's own temp dir is
        # the default one: its environment is the case's, and carries no TMPDIR)
        os.chdir(tempfile.mkdtemp(prefix="pf-case-", dir=os.getcwd()))
        code = serve_case(raw, case_out)
    finally:
        os._exit(code)


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
    """Entry point: the batch by default, a zygote with ``--zygote``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--zygote"]:
        return zygote_main()
    # Every directory a zygote or case makes is under one of the batch's own, removed
    # at the end (a container's /tmp goes with it anyway; a runner started on a host would
    # leave one directory per case behind).
    tempfile.tempdir = tempfile.mkdtemp(prefix="pf-batch-")
    # Two zygotes start importing while the request arrives; they get nothing of it before it
    # is whole, and the policy only ever loads in case processes.
    started = Prestarted()
    raw = sys.stdin.buffer.read()  # all of it, before anything else happens
    try:
        protect_from_workers()
        request = json.loads(raw)
        if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
            raise ValueError(f"expected a JSON object with protocol {PROTOCOL!r}")
        result = run_batch(request, stream=write_case_line, started=started)
    except Exception as exc:  # noqa: BLE001 - becomes the result's error
        result = {"protocol": PROTOCOL, "cases": [], "determinism": None,
                  "error": {"kind": "runner_error", "message": f"{type(exc).__name__}: {exc}"}}
    finally:
        started.close()
        shutil.rmtree(tempfile.tempdir, ignore_errors=True)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
