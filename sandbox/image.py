"""The sandbox image, built offline from Debian and this checkout.

Two layers, each cached:

* the **base**: a minimal Debian with ``python3``, bootstrapped by ``mmdebstrap`` from the host's
  own apt sources (read at build time; no mirror is named here) and imported into the engine
  as ``policyforge-base:<recipe digest>``. It is rebuilt only when the recipe changes.
* the **sandbox image** ``policyforge-sandbox:<content hash>``: the base plus the host's numpy
  version (the cp3XX manylinux wheel fetched with the host's pip, unpacked, no pip inside) and this
  checkout's ``simulator`` package and sandbox runner, byte-compiled. Its label
  ``policyforge.content-hash`` digests those files, the numpy version and the Python minor; it
  is rebuilt only when that digest changes, because host-side verification needs the image to
  compute bit for bit what the host computes. The tag is the digest's first 12 hex digits, so
  checkouts with different simulator code (worktrees, nodes of a cluster) each find their own
  image; a rebuild keeps the newest `KEEP_IMAGES` and drops older ones.

No registry is needed at any point: the build context is sent from here and the build runs with
no network.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.daemon import apt_install, docker_client, state_dir
from sandbox.errors import EngineUnavailable, ImageError, ImageMissing
from simulator.native import built_files

ROOT = Path(__file__).resolve().parent.parent
IMAGE_REPO = "policyforge-sandbox"
# Tests point this at a tag that was never built; None means "this checkout's content hash".
IMAGE: str | None = None
KEEP_IMAGES = 8
BASE_REPO = "policyforge-base"
HASH_LABEL = "policyforge.content-hash"
BASE_LABEL = "policyforge.base-recipe"
PY_MINOR = f"{sys.version_info.major}.{sys.version_info.minor}"
SITE = f"/usr/local/lib/python{PY_MINOR}/dist-packages"
# mmdebstrap's recipe for the base; changing it changes the base tag.
BASE_PACKAGES = ("python3",)
BASE_VARIANT = "minbase"
BUILD_TIMEOUT = 900


def numpy_version() -> str:
    """The host's numpy version (the image must carry the same)."""
    import numpy

    return str(numpy.__version__)


def image_files() -> list[tuple[str, Path]]:
    """(path inside the site dir, host file) for every source file the image carries."""
    # with the Cython declarations (``.pxd``), which the build's digests cover
    files = [(str(p.relative_to(ROOT)), p) for p in sorted(
        [*(ROOT / "simulator").rglob("*.py"), *(ROOT / "simulator").rglob("*.pxd")])]
    # The compiled simulator, when this checkout has a current build (`simulator.native`): its
    # bytes are part of the content hash; the build is reproducible, so clones agree.
    files += [(str(p.relative_to(ROOT)), p) for p in built_files()]
    for name in ("__init__.py", "runner.py"):
        files.append((f"sandbox/{name}", ROOT / "sandbox" / name))
    return files


def _dockerfile(base_tag: str) -> str:
    check = (
        f"import sys, numpy, simulator.engine, sandbox.runner; "
        f"assert '%d.%d' % sys.version_info[:2] == '{PY_MINOR}', sys.version; "
        f"assert numpy.__version__ == '{numpy_version()}', numpy.__version__; "
        f"import simulator.native as n; "
        f"assert n.status()['compiled'] is {bool(built_files())}, n.status()"
    )
    return "\n".join([
        f"FROM {base_tag}",
        f"COPY site/ {SITE}/",
        f'RUN ["python3", "-c", {json.dumps(check)}]',
        f'RUN ["python3", "-m", "compileall", "-q", "{SITE}"]',
        "USER 65534:65534",
        "WORKDIR /tmp",
        'CMD ["python3", "-I", "-m", "sandbox.runner"]',
        "",
    ])


def base_recipe() -> str:
    """Digest of what the base is made of (distribution, variant, packages)."""
    text = json.dumps([_codename(), BASE_VARIANT, BASE_PACKAGES])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_tag() -> str:
    """The sandbox image this checkout needs: ``policyforge-sandbox:<content hash[:12]>``."""
    return IMAGE or f"{IMAGE_REPO}:{content_hash()[:12]}"


def content_hash() -> str:
    """Digest of everything the sandbox image is built from (besides the base)."""
    h = hashlib.sha256()
    h.update(f"python {PY_MINOR}\nnumpy {numpy_version()}\nbase {base_recipe()}\n".encode())
    h.update(_dockerfile("BASE").encode())
    for rel, path in image_files():
        h.update(f"{rel}\n{len(path.read_bytes())}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@dataclass
class ImageStatus:
    """What the engine has compared with what this checkout needs."""

    engine: bool
    image: str
    image_id: str | None
    built_hash: str | None
    expected_hash: str
    base: str | None

    @property
    def up_to_date(self) -> bool:
        """The image exists and was built from exactly this checkout's code and numpy."""
        return self.image_id is not None and self.built_hash == self.expected_hash

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``policyforge sandbox status``."""
        return {**self.__dict__, "up_to_date": self.up_to_date}


def image_status(client: Any | None = None) -> ImageStatus:
    """Whether the sandbox image exists and matches this checkout (no building)."""
    expected = content_hash()
    tag = image_tag()
    base_tag = f"{BASE_REPO}:{base_recipe()}"
    try:
        client = client or docker_client(timeout=10)
    except EngineUnavailable:
        return ImageStatus(False, tag, None, None, expected, None)
    image = _get_image(client, tag)
    base = _get_image(client, base_tag)
    return ImageStatus(
        True,
        tag,
        image.id if image else None,
        (image.labels or {}).get(HASH_LABEL) if image else None,
        expected,
        base_tag if base else None,
    )


def require_image(client: Any) -> str:
    """The up-to-date sandbox image's id; `ImageMissing` (never a build) otherwise."""
    status = image_status(client)
    if status.image_id is None:
        raise ImageMissing(
            f"the sandbox image {status.image} is not built; run `policyforge sandbox up`"
        )
    if not status.up_to_date:
        raise ImageMissing(
            f"the sandbox image {status.image} was built from other simulator code or numpy "
            f"(built {str(status.built_hash)[:12]}, this checkout {status.expected_hash[:12]}); "
            "run `policyforge sandbox up` to rebuild it"
        )
    return status.image_id


@dataclass
class BuildReport:
    """What `build_image` did, with timings."""

    image: str
    image_id: str
    content_hash: str
    built_base: bool
    built_image: bool
    seconds: float
    notes: list[str] = field(default_factory=list)


def build_image(force: bool = False, client: Any | None = None) -> BuildReport:
    """Build the base (if missing) and the sandbox image (if stale, or ``force``)."""
    t0 = time.monotonic()
    client = client or docker_client(timeout=600)
    status = image_status(client)
    if status.up_to_date and not force:
        return BuildReport(status.image, str(status.image_id), status.expected_hash, False, False,
                           time.monotonic() - t0)
    base_tag = f"{BASE_REPO}:{base_recipe()}"
    built_base = False
    if status.base is None or force:
        _build_base(client, base_tag)
        built_base = True
    image_id = _build_sandbox(client, status.image, base_tag, status.expected_hash)
    notes = _remove_superseded(client, image_id)
    return BuildReport(status.image, image_id, status.expected_hash, built_base, True,
                       time.monotonic() - t0, notes)


# --- base --------------------------------------------------------------------------------------


def _build_base(client: Any, tag: str) -> None:
    if not shutil.which("mmdebstrap"):
        if os.geteuid() != 0:
            raise ImageError("mmdebstrap is missing; install it (apt-get install mmdebstrap)")
        apt_install(["mmdebstrap"])
    sources = host_apt_sources()
    with tempfile.TemporaryDirectory(prefix="pf-base-", dir=state_dir()) as tmp:
        out = Path(tmp) / "base.tar"
        cmd = [
            "mmdebstrap", f"--variant={BASE_VARIANT}", f"--include={','.join(BASE_PACKAGES)}",
            "--format=tar", _codename(), str(out), "-",
        ]
        done = subprocess.run(cmd, input=sources, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise ImageError(f"mmdebstrap failed (status {done.returncode}):\n{tail}")
        repo, _, version = tag.partition(":")
        # From the file (a sized upload): docker-py's streamed import is chunked wrongly.
        client.api.import_image_from_file(
            str(out), repository=repo, tag=version, changes=[f"LABEL {BASE_LABEL}={version}"]
        )
    if _get_image(client, tag) is None:
        raise ImageError(f"importing the base image as {tag} did not produce an image")


def host_apt_sources() -> str:
    """The host's Debian apt sources for its own release, as mmdebstrap reads them on stdin.

    deb822 stanzas (``*.sources``) whose suites belong to the host's codename, or else the
    matching one-line ``deb`` entries; third-party repositories for other suites are left out.
    """
    codename = _codename()
    apt = Path("/etc/apt")
    stanzas: list[str] = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text(errors="replace").split("\n\n"):
            fields = _deb822_fields(stanza)
            suites = fields.get("suites", "").split()
            if "deb" in fields.get("types", "").split() and any(
                s.split("-")[0] == codename for s in suites
            ):
                stanzas.append(stanza.strip())
    if stanzas:
        return "\n\n".join(stanzas) + "\n"
    lines: list[str] = []
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                words = line.split("#", 1)[0].split()
                rest = [w for w in words[1:] if not w.startswith("[")]
                if words[:1] == ["deb"] and len(rest) >= 2 and rest[1].split("-")[0] == codename:
                    lines.append(" ".join(words))
    if not lines:
        raise ImageError(
            f"no apt sources for Debian {codename!r} in /etc/apt; the base image is "
            "bootstrapped from the host's own Debian sources"
        )
    return "\n".join(lines) + "\n"


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    return fields


def _codename() -> str:
    """The host's Debian codename (the base is the same release as the host's apt sources)."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "bookworm"


# --- sandbox image -----------------------------------------------------------------------------


def _build_sandbox(client: Any, tag: str, base_tag: str, digest: str) -> str:
    from docker.errors import BuildError

    context = _build_context(base_tag)
    try:
        image, _ = client.images.build(
            fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
            network_mode="none", labels={HASH_LABEL: digest, "policyforge.numpy": numpy_version()},
        )
    except BuildError as exc:
        log = "".join(str(part.get("stream") or part.get("error") or "") for part in exc.build_log)
        tail = "\n".join(log.splitlines()[-20:])
        raise ImageError(f"building {tag} failed: {exc.msg}\n{tail}") from None
    return str(image.id)


def _build_context(base_tag: str) -> io.BytesIO:
    """A tar with the Dockerfile, the unpacked numpy wheel and this checkout's sources."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", _dockerfile(base_tag).encode())
        for rel, path in image_files():
            _add_bytes(tar, f"site/{rel}", path.read_bytes())
        with zipfile.ZipFile(numpy_wheel()) as wheel:
            for info in wheel.infolist():
                if not info.is_dir():
                    _add_bytes(tar, f"site/{info.filename}", wheel.read(info))
    buf.seek(0)
    return buf


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644  # root-owned, world-readable: the sandbox user reads, never writes
    tar.addfile(info, io.BytesIO(data))


def numpy_wheel() -> Path:
    """The manylinux wheel of the host's numpy for this Python, downloaded once and cached."""
    version = numpy_version()
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    cache = state_dir() / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"numpy-{version}-{tag}-{tag}-manylinux*x86_64*.whl"))
    if found:
        return found[0]
    cmd = [
        sys.executable, "-m", "pip", "download", f"numpy=={version}", "--only-binary=:all:",
        "--no-deps", "--python-version", PY_MINOR, "--implementation", "cp", "--abi", tag,
        "--platform", "manylinux_2_28_x86_64", "-d", str(cache),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    found = sorted(cache.glob(f"numpy-{version}-{tag}-{tag}-manylinux*x86_64*.whl"))
    if done.returncode != 0 or not found:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-10:])
        raise ImageError(f"could not download the numpy {version} wheel for {tag}:\n{tail}")
    return found[0]


def _get_image(client: Any, name: str) -> Any:
    from docker.errors import ImageNotFound

    try:
        return client.images.get(name)
    except ImageNotFound:
        return None


def _remove_superseded(client: Any, image_id: str) -> list[str]:
    """Keep the newest `KEEP_IMAGES` sandbox images (other checkouts may use them), drop the rest.

    One still in use stays, and the note says why.
    """
    from docker.errors import APIError

    images = [im for im in client.images.list(name=IMAGE_REPO) if im.id != image_id]
    images.sort(key=lambda im: str(im.attrs.get("Created", "")), reverse=True)
    notes = []
    for image in images[KEEP_IMAGES - 1:]:
        try:
            client.images.remove(image.id, force=True, noprune=False)
        except APIError as exc:
            notes.append(f"kept the superseded image {image.id[:19]}: {exc.explanation or exc}")
    return notes
