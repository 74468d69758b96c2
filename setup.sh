#!/usr/bin/env bash
# Set up policyforge on a fresh machine: a .venv at the repo root with the project installed
# (editable) and its test tools, then the sandbox (`policyforge sandbox up`: as root it installs
# and starts a Docker engine if none answers, and builds the sandbox image offline).
# Idempotent; safe to run again.
#
# Without a usable Docker engine the local sandbox backend still works (weaker isolation), so a
# failed `sandbox up` is only a warning -- unless POLICYFORGE_REQUIRE_DOCKER=1 (as in CI), where
# it is an error.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,compiled]'
# The simulator's compiled hot path (Cython, ahead of time; see simulator/native.py). The pure
# Python modules are the fallback, but the speed figures and CI need the compiled ones.
headers='import os, sys, sysconfig; sys.exit(not os.path.isfile(sysconfig.get_paths()["include"] + "/Python.h"))'
if { ! command -v gcc >/dev/null 2>&1 || ! .venv/bin/python -c "$headers"; } \
    && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian's gcc and Python headers (build the compiled simulator)" >&2
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc libc6-dev python3-dev; } \
    >/dev/null 2>&1 || echo "setup: apt-get install gcc failed" >&2
fi
if ! .venv/bin/python -c 'import sys, simulator.native as n; sys.exit(n.build_mismatch() is not None)'; then
  .venv/bin/python -m simulator.native_build
fi
if ! .venv/bin/policyforge sandbox up; then
  if [ "${POLICYFORGE_REQUIRE_DOCKER:-0}" = "1" ]; then
    echo "setup: the Docker sandbox is required (POLICYFORGE_REQUIRE_DOCKER=1) but could not be set up" >&2
    exit 1
  fi
  echo "setup: WARNING: no Docker sandbox; evaluations fall back to the weaker local backend" >&2
fi
# Headless Chromium renders `policyforge review --html` reports in the browser test. Installed
# only when missing, as root, from Debian's own packages; required in CI like the Docker engine.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium (headless browser for the HTML report test)" >&2
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
      >/dev/null 2>&1 || echo "setup: apt-get install chromium failed" >&2
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "${POLICYFORGE_REQUIRE_BROWSER:-${POLICYFORGE_REQUIRE_DOCKER:-0}}" = "1" ]; then
      echo "setup: chromium is required (CI) but could not be installed; as root: apt-get install chromium" >&2
      exit 1
    fi
    echo "setup: WARNING: no chromium; the HTML report's browser test will be skipped" >&2
  fi
fi
echo "policyforge is set up: .venv/bin/policyforge"
