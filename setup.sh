#!/usr/bin/env bash
# Set up policyforge on a fresh machine: a .venv at the repo root with the project installed
# (editable) and its test tools. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "policyforge is set up: $(.venv/bin/policyforge --help >/dev/null && echo .venv/bin/policyforge)"
