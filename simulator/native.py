"""Which implementation of the simulator's hot modules runs: compiled or pure Python.

`simulator.native_build` compiles the modules in `COMPILED` ahead of time with Cython (their
Python source as it is: no annotations are turned into C types, so every figure is computed by
the same Python objects and operations) into extension modules beside the sources, and writes
a manifest with each source's SHA-256. One loop is the exception: the memory ledger's
(`simulator.executor.pool.ledger_row_sums`), typed into C doubles by the declarations in
``pool.pxd`` beside it; the compiled pool calls it where the pure Python one runs numpy's
``cumsum`` over the same additions in the same order (``COMPILED_HERE`` there says which
runs). Python's import system prefers an extension module to the source beside it; `select`,
run once when the ``simulator`` package is imported, lets that happen only when the manifest
matches the sources (and declarations) byte for byte and this interpreter's ABI.
Otherwise (not built, a source edited since the build, ``POLICYFORGE_PURE_PYTHON=1``) the
package's directories are read as source only, so the pure Python modules run: the fallback,
which passes every fidelity fixture bit for bit, as the compiled path does.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.machinery import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    FileFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST = PACKAGE_DIR / "native.json"
PURE_ENV = "POLICYFORGE_PURE_PYTHON"
# The hot modules (the engine, the model, the policy API, the decision log and trace reader);
# never a policy: a user's policy is Python, and a built-in must cost what the same code as a
# user's file costs.
COMPILED = (
    "simulator.clock",
    "simulator.identity",
    "simulator.workload",
    "simulator.scheduling",
    "simulator.state_compare",
    "simulator.policy_effects",
    "simulator.decision_log",
    "simulator.trace_io",
    "simulator.generator",
    "simulator.profile",
    "simulator.stats",
    "simulator.engine",
    "simulator.executor.assignment",
    "simulator.executor.container",
    "simulator.executor.pool",
    "simulator.executor.executor",
)

_status: dict[str, object] = {"compiled": False, "reason": "not selected yet"}


def source_of(module: str) -> Path:
    """The ``.py`` file of ``module`` (one of `COMPILED`)."""
    return PACKAGE_DIR.parent.joinpath(*module.split(".")).with_suffix(".py")


def relative_source(module: str) -> str:
    """``simulator/engine.py``: the name a compiled module's frames carry in tracebacks."""
    return "/".join(module.split(".")) + ".py"


def abi_tag() -> str:
    """This interpreter's extension-module suffix (``.cpython-311-x86_64-linux-gnu.so``)."""
    return EXTENSION_SUFFIXES[0]


def source_digests() -> dict[str, str]:
    """SHA-256 of every compiled module's source (with its Cython declarations, the ``.pxd``
    beside it, when it has one), by module name."""
    digests = {}
    for m in COMPILED:
        h = hashlib.sha256(source_of(m).read_bytes())
        declarations = source_of(m).with_suffix(".pxd")
        if declarations.is_file():
            h.update(b"\0pxd\0" + declarations.read_bytes())
        digests[m] = h.hexdigest()
    return digests


def _mismatch() -> str | None:
    """Why the built extension modules must not run here, or None when they may."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return f"{PURE_ENV} is set"
    return build_mismatch()


def build_mismatch() -> str | None:
    """Why the extension modules beside the sources are not a build of exactly these sources
    for this interpreter, or None when they are."""
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "not built (python -m simulator.native_build)"
    except (OSError, ValueError) as exc:
        return f"unreadable manifest {MANIFEST}: {exc}"
    if not isinstance(manifest, dict):
        return f"unreadable manifest {MANIFEST}: not a JSON object"
    if manifest.get("abi") != abi_tag():
        return f"built for {manifest.get('abi')}, this interpreter loads {abi_tag()}"
    built = manifest.get("sources") or {}
    for module, digest in source_digests().items():
        if built.get(module) != digest:
            return f"{relative_source(module)} changed since the build"
        if not source_of(module).with_suffix(abi_tag()).is_file():
            return f"{relative_source(module)} has no extension module"
    return None


def select() -> None:
    """Decide, before any hot module is imported, which implementation the package loads."""
    reason = _mismatch()
    if reason is None:
        _status.update(compiled=True, reason=f"compiled ({len(COMPILED)} modules)")
        return
    _status.update(compiled=False, reason=f"pure Python: {reason}")
    loaders = ((SourceFileLoader, SOURCE_SUFFIXES), (SourcelessFileLoader, BYTECODE_SUFFIXES))
    packages = [p for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").is_file()]
    for directory in (PACKAGE_DIR, *packages):
        sys.path_importer_cache[str(directory)] = FileFinder(str(directory), *loaders)


def built_files() -> list[Path]:
    """The build's files (extension modules, then the manifest) when they match the sources,
    else none: what the sandbox image carries besides the sources."""
    if build_mismatch() is not None:
        return []
    return [*(source_of(m).with_suffix(abi_tag()) for m in COMPILED), MANIFEST]


def status() -> dict[str, object]:
    """Whether the compiled modules were selected, why, and which are loaded compiled."""
    loaded = {m: sys.modules[m].__file__ or "" for m in COMPILED if m in sys.modules}
    return {
        **_status,
        "loaded_compiled": sorted(m for m, f in loaded.items() if not f.endswith(".py")),
        "loaded_pure": sorted(m for m, f in loaded.items() if f.endswith(".py")),
    }


def is_simulator_frame(filename: str) -> bool:
    """Whether a traceback frame's file is the simulator's own: an absolute path inside the
    package, or the relative name a compiled module's frames carry."""
    return filename.startswith(str(PACKAGE_DIR)) or filename in _RELATIVE


_RELATIVE = frozenset(relative_source(m) for m in COMPILED)
