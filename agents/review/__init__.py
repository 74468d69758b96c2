"""Reviewing runs: `policyforge runs list`, `policyforge review RUN` (terminal, JSON, HTML).

Everything here reads a run directory (docs/run-directory.md) and never writes to it except
``report.html`` when asked. Output is scrubbed of secret environment values.
"""
