"""Benchmarks: `python tools/bench.py [suite ...] [--quick]`.

Each suite is a module in tools/benchmarks/ with a ``run(quick: bool) -> None`` function that
prints its own table. With no suite named, every suite runs. Timings are medians over repeats
with warm-up excluded, measured side by side in one process so ratios are meaningful on a noisy
shared machine.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def suites() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE / "benchmarks")])
                  if not m.name.startswith("_"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="*", help=f"suites to run (default all): {suites()}")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    for name in args.suite or suites():
        if name not in suites():
            parser.error(f"unknown suite {name!r}; known: {suites()}")
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name} ==")
        module.run(quick=args.quick)


if __name__ == "__main__":
    main()
