"""The compiled hot path (`simulator.native`) and its pure Python fallback.

This process runs one implementation: the compiled one (built by ``bash setup.sh``; a checkout
without a current build fails here, as CI must) unless ``POLICYFORGE_PURE_PYTHON=1``. The other
one then runs every other simulator test (fixtures, spec cases, the engine's property tests
against tick-by-tick mode, bad input) in a child process, so both pass them bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import simulator.engine  # noqa: F401  (loads the hot modules)
from simulator import native
from simulator.executor import pool

ROOT = Path(__file__).resolve().parents[2]
PURE = os.environ.get(native.PURE_ENV, "") not in ("", "0")


STATUS = "import json, simulator.engine, simulator.native as n; print(json.dumps(n.status()))"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    env.update(extra)
    return env


def test_this_process_runs_the_implementation_it_asked_for() -> None:
    st = native.status()
    if PURE:
        assert st["compiled"] is False and st["loaded_compiled"] == [], st
        assert "POLICYFORGE_PURE_PYTHON" in str(st["reason"])
    else:
        assert st["compiled"] is True, (
            f"the compiled simulator is not in use ({st['reason']}); bash setup.sh builds it")
        assert st["loaded_pure"] == [], st
        assert "simulator.engine" in st["loaded_compiled"]
    # the memory ledger's typed loop runs exactly where the module is compiled
    assert pool.COMPILED_HERE is not PURE


def test_the_other_implementation_passes_every_simulator_test() -> None:
    env = _env() if PURE else _env(**{native.PURE_ENV: "1"})
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/simulator",
         f"--ignore={Path(__file__).relative_to(ROOT)}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
    probe = subprocess.run(
        [sys.executable, "-c", STATUS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    other = json.loads(probe.stdout)
    assert other["compiled"] is PURE, other


def _copy_package(dest: Path) -> Path:
    shutil.copytree(ROOT / "simulator", dest / "simulator",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "simulator"


def _status_in(path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", STATUS],
        cwd=path, env=_env(PYTHONPATH=str(path)), capture_output=True, text=True, timeout=60,
        check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(PURE, reason="checks a compiled build; this process runs the fallback")
def test_an_edited_source_makes_the_whole_package_fall_back(tmp_path: Path) -> None:
    pkg = _copy_package(tmp_path)
    assert _status_in(tmp_path)["compiled"] is True
    engine = pkg / "engine.py"
    engine.write_text(engine.read_text() + "\n# edited after the build\n")
    st = _status_in(tmp_path)
    assert st["compiled"] is False
    assert "simulator/engine.py changed since the build" in str(st["reason"])
    assert st["loaded_compiled"] == [] and "simulator.workload" in st["loaded_pure"]


@pytest.mark.skipif(PURE, reason="checks a compiled build; this process runs the fallback")
def test_edited_cython_declarations_make_the_package_fall_back(tmp_path: Path) -> None:
    pkg = _copy_package(tmp_path)
    declarations = pkg / "executor" / "pool.pxd"
    declarations.write_text(declarations.read_text() + "\n# edited after the build\n")
    st = _status_in(tmp_path)
    assert st["compiled"] is False
    assert "simulator/executor/pool.py changed since the build" in str(st["reason"])
    declarations.unlink()  # declarations gone: not the build either
    assert _status_in(tmp_path)["compiled"] is False


@pytest.mark.skipif(PURE, reason="checks a compiled build; this process runs the fallback")
def test_a_missing_extension_module_or_a_bad_manifest_falls_back(tmp_path: Path) -> None:
    pkg = _copy_package(tmp_path)
    next(pkg.glob(f"workload{native.abi_tag()}")).unlink()
    assert "simulator/workload.py has no extension module" in str(_status_in(tmp_path)["reason"])
    (pkg / "native.json").write_text("[1, 2]")
    assert "not a JSON object" in str(_status_in(tmp_path)["reason"])
    (pkg / "native.json").unlink()
    assert "not built" in str(_status_in(tmp_path)["reason"])


@pytest.mark.skipif(PURE, reason="checks a compiled build; this process runs the fallback")
def test_the_build_is_reproducible_from_another_directory(tmp_path: Path) -> None:
    pkg = _copy_package(tmp_path)
    cleaned = subprocess.run(
        [sys.executable, "-m", "simulator.native_build", "--clean"], cwd=tmp_path,
        env=_env(PYTHONPATH=str(tmp_path)), capture_output=True, text=True, timeout=60,
        check=True)
    assert "compiled modules removed" in cleaned.stdout
    assert not list(pkg.rglob(f"*{native.abi_tag()}")) and not (pkg / "native.json").exists()
    assert "not built" in str(_status_in(tmp_path)["reason"])
    done = subprocess.run(
        [sys.executable, "-m", "simulator.native_build"], cwd=tmp_path,
        env=_env(PYTHONPATH=str(tmp_path)), capture_output=True, text=True, timeout=600,
        check=False)
    assert done.returncode == 0, done.stderr
    assert f"{len(native.COMPILED)} compiled modules built" in done.stdout
    for module in native.COMPILED:
        rel = native.source_of(module).with_suffix(native.abi_tag()).relative_to(ROOT)
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    assert json.loads((pkg / "native.json").read_text()) == json.loads(
        native.MANIFEST.read_text())


def test_a_compiled_modules_frames_are_the_simulators_and_a_policys_are_not() -> None:
    assert native.is_simulator_frame("simulator/engine.py")
    assert native.is_simulator_frame(str(native.PACKAGE_DIR / "engine.py"))
    assert not native.is_simulator_frame("/tmp/mine/simulator/engine.py")
    assert not native.is_simulator_frame("policy.py")
    assert not native.is_simulator_frame("simulator/policies/mine.py")
