"""How long `import graphdiff` takes in a fresh interpreter (target: under 0.5 s)."""

from __future__ import annotations

import statistics
import subprocess
import sys


def run(quick: bool) -> None:
    code = "import time; t = time.perf_counter(); import graphdiff; print(time.perf_counter() - t)"
    samples = [float(subprocess.check_output([sys.executable, "-c", code]))
               for _ in range(3 if quick else 7)]
    print(f"import graphdiff: median {statistics.median(samples) * 1e3:.0f} ms "
          f"over {len(samples)} fresh interpreters (target < 500 ms)")
