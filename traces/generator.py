"""The seeded trace generator. It lives in the simulator (``simulate(params)`` without a trace
generates on the fly); this module is its home for trace tooling."""

from simulator.generator import generate_arrivals, generate_trace

__all__ = ["generate_arrivals", "generate_trace"]
