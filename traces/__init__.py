"""Traces: generator, suites, profiles and bounds."""
