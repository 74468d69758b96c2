"""The executor's choice of engine and the serial path (no Ray here: see test_ray.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from sandbox.errors import ExecutorError
from sandbox.executor import SerialExecutor, make_executor
from tests.sandbox.helpers import ROOT

NO_RAY = """
import sys
from policyforge.commands.sandbox import evaluate_main
code = evaluate_main(["--policy", "naive", "--policy", "priority", "--suite", "small",
                      "--sandbox", "local", "--workers", "1", "--json"])
assert code == 0, code
assert not any(m == "ray" or m.startswith("ray.") for m in sys.modules), "ray was imported"
print("no ray")
"""


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_workers_1_evaluates_serially_and_never_imports_ray():
    proc = subprocess.run([sys.executable, "-c", NO_RAY], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "RAY_ADDRESS": "127.0.0.1:1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("no ray")
    reports = json.loads(proc.stdout.splitlines()[0])
    assert [(r["policy"], r["status"]) for r in reports] == [("naive", "ok"), ("priority", "ok")]


def test_the_engine_is_chosen_from_the_flags_then_ray_address():
    assert isinstance(make_executor("local", environ={}), SerialExecutor)
    assert isinstance(make_executor("local", workers=1, environ={"RAY_ADDRESS": "x:1"}),
                      SerialExecutor)  # an explicit --workers 1 wins over the environment
    with pytest.raises(ExecutorError, match="at least 1"):
        make_executor("local", workers=0, environ={})
    with pytest.raises(ExecutorError, match="not both"):
        make_executor("local", workers=2, ray_address="127.0.0.1:6379", environ={})
    with pytest.raises(ExecutorError, match="expected HOST:PORT"):
        make_executor("local", ray_address="nowhere", environ={})


def test_an_unreachable_ray_address_fails_fast_and_clearly():
    port = _refused_port()
    t0 = time.monotonic()
    with pytest.raises(ExecutorError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        make_executor("local", environ={"RAY_ADDRESS": f"127.0.0.1:{port}"})
    assert time.monotonic() - t0 < 5


def test_evaluate_with_an_unreachable_ray_address_exits_1_naming_it():
    port = _refused_port()
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "policyforge", "evaluate", "--policy", "naive",
                           "--suite", "small", "--ray-address", f"127.0.0.1:{port}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert time.monotonic() - t0 < 10  # interpreter start included; the connect gives up in 5 s
    assert proc.returncode == 1
    assert f"error: cannot reach the Ray cluster at 127.0.0.1:{port}" in proc.stderr
    assert "ray start --head" in proc.stderr


def test_evaluate_rejects_workers_with_an_address():
    proc = subprocess.run([sys.executable, "-m", "policyforge", "evaluate", "--policy", "naive",
                           "--suite", "small", "--workers", "2", "--ray-address", "h:1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "not both" in proc.stderr

