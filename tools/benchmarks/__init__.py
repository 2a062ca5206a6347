"""Benchmark suites for tools/bench.py; each module defines ``run(quick: bool) -> None``."""
