"""The sandbox image: built offline, labelled with what it was built from, rebuilt only when
that changes, and carrying exactly the host's Python minor and numpy."""

from __future__ import annotations

import sys

import docker
import numpy

from sandbox.image import (
    HASH_LABEL,
    build_image,
    content_hash,
    host_apt_sources,
    image_files,
    image_status,
    image_tag,
)


def test_content_hash_covers_the_simulator_and_the_runner():
    names = [rel for rel, _ in image_files()]
    assert "simulator/engine.py" in names and "simulator/policies/priority.py" in names
    assert "sandbox/runner.py" in names
    # the Cython declarations too: the compiled build's digests cover them, so an image
    # without them would run the pure Python fallback (its build check refuses that)
    assert "simulator/executor/pool.pxd" in names
    assert "sandbox/docker_backend.py" not in names  # host-side code never enters the image
    assert content_hash() == content_hash()


def test_apt_sources_come_from_the_host_and_name_only_its_release():
    text = host_apt_sources()
    assert "deb" in text
    assert "nodesource" not in text and "cloud-sdk" not in text


def test_build_is_idempotent_and_the_label_matches_this_checkout(sandbox_image):
    again = build_image()
    assert not again.built_image and not again.built_base
    assert again.image_id == sandbox_image
    status = image_status()
    assert status.up_to_date
    assert docker.from_env().images.get(image_tag()).labels[HASH_LABEL] == status.expected_hash


PRINT_VERSIONS = "import sys, numpy; print('%d.%d' % sys.version_info[:2], numpy.__version__)"


def test_image_carries_the_hosts_python_minor_and_numpy(sandbox_image):
    client = docker.from_env()
    out = client.containers.run(
        sandbox_image,
        ["python3", "-c", PRINT_VERSIONS],
        network_mode="none", remove=True,
    )
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert out.decode().split() == [minor, numpy.__version__]
