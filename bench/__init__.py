"""Benchmarks: `make bench` (never part of the tests; figures go to docs/bench.md)."""
