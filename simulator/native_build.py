"""Build the compiled hot path (`simulator.native`): ``python -m simulator.native_build``.

Cython (the ``compiled`` extra, from the package registry) translates each module of
`simulator.native.COMPILED` from its unchanged Python source, with Python's semantics kept
(``annotation_typing=False``: a ``float`` annotation stays a Python object, so no value is
converted or printed differently); the C compiler builds an extension module beside the
source. The build is reproducible (no debug info, no build id, no build path in the output), so
two clones on one kind of machine make the same bytes and the same sandbox image. Last, the
manifest records each source's SHA-256 and the interpreter's ABI; `simulator.native.select`
loads the extension modules only while both still match. Takes about a minute on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from simulator.errors import SimulatorError
from simulator.native import (
    COMPILED,
    MANIFEST,
    PACKAGE_DIR,
    abi_tag,
    relative_source,
    source_digests,
    source_of,
)

ROOT = PACKAGE_DIR.parent
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True}


class NativeBuildError(SimulatorError):
    """The compiled modules could not be built; the message says which step failed."""


def build(jobs: int | None = None) -> list[Path]:
    """Compile every module of `COMPILED` in place, then write the manifest. Returns the
    extension modules built."""
    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension  # type: ignore[import-untyped]
    except ImportError as exc:
        raise NativeBuildError(
            f"cannot build the compiled simulator: {exc.name} is missing (pip install "
            "'policyforge[compiled]', or bash setup.sh)") from None
    MANIFEST.unlink(missing_ok=True)  # a half-done build must never be selected
    for module in COMPILED:
        source_of(module).with_suffix(abi_tag()).unlink(missing_ok=True)
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="pf-native-") as tmp:
        # Relative names (``simulator/engine.py``) keep the build directory out of the output.
        saved = {k: os.environ.get(k) for k in ("CFLAGS", "LDFLAGS")}
        os.environ["CFLAGS"] = f"{saved['CFLAGS'] or ''} -g0 -ffile-prefix-map={ROOT}=."
        os.environ["LDFLAGS"] = f"{saved['LDFLAGS'] or ''} -Wl,--build-id=none -s"
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            extensions = cythonize(
                [Extension(m, [relative_source(m)]) for m in COMPILED],
                build_dir=str(Path(tmp) / "c"), compiler_directives=DIRECTIVES, quiet=True,
                nthreads=jobs, force=True)
            dist = Distribution({"name": "policyforge-native", "ext_modules": extensions})
            cmd = dist.get_command_obj("build_ext")
            cmd.inplace = True
            cmd.build_temp = str(Path(tmp) / "o")
            cmd.parallel = jobs
            dist.run_command("build_ext")
        except Exception as exc:  # noqa: BLE001 - Cython's and the compiler's errors vary
            raise NativeBuildError(
                f"building the compiled simulator failed ({type(exc).__name__}: {exc}); a C "
                "compiler (gcc) and Python's headers are needed") from None
        finally:
            os.chdir(cwd)
            for key, value in saved.items():  # the caller's environment as it was
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    built = [source_of(m).with_suffix(abi_tag()) for m in COMPILED]
    missing = [str(p) for p in built if not p.is_file()]
    if missing:
        raise NativeBuildError(f"the build left no extension module at {', '.join(missing)}")
    from Cython import __version__ as cython_version

    manifest = {"abi": abi_tag(), "cython": cython_version, "sources": source_digests()}
    tmp_manifest = MANIFEST.with_suffix(".json.tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp_manifest.replace(MANIFEST)
    return built


def clean() -> None:
    """Remove the extension modules and the manifest: the pure Python modules run."""
    MANIFEST.unlink(missing_ok=True)
    for module in COMPILED:
        source_of(module).with_suffix(abi_tag()).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.native_build",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--jobs", type=int, default=None, help="parallel compiler jobs")
    args = parser.parse_args(argv)
    if args.clean:
        clean()
        print("simulator: compiled modules removed; the pure Python modules run")
        return 0
    try:
        built = build(args.jobs)
    except NativeBuildError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    print(f"simulator: {len(built)} compiled modules built ({abi_tag()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
