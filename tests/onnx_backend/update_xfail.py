"""Regenerate the xfail list for the installed onnx: run every backend test once, write one
line per failing test with the reason (the first line of the error).

    python -m tests.onnx_backend.update_xfail
"""

from __future__ import annotations

import re
import unittest

from .suite import ONNX_VERSION, XFAIL_PATH, make_backend_test


def _reason(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    position = next((i for i in range(len(lines) - 1, -1, -1)
                     if re.match(r"^[\w.]+(Error|Exception)", lines[i])), len(lines) - 1)
    last = lines[position] if lines else "failed"
    if last.startswith("AssertionError"):  # the mismatch is on the lines after it
        last = "wrong values: " + "; ".join(lines[position + 1:position + 3])
    last = last.split(" (operands:")[0].split("; at ")[0]
    last = last.replace("graphdiff.errors.OnnxError: ", "").replace("ONNX node (unnamed) ", "")
    return re.sub(r"\s+", " ", last)[:200]


def main() -> None:
    backend_test = make_backend_test(apply_xfails=False)
    failures: dict[str, str] = {}
    passed = 0
    for case in backend_test.test_cases.values():
        for name in unittest.TestLoader().getTestCaseNames(case):
            if not name.endswith("_cpu"):
                continue
            result = unittest.TestResult()
            case(name).run(result)
            problems = result.failures + result.errors
            if problems:
                failures[name.removesuffix("_cpu")] = _reason(problems[0][1])
            elif not result.skipped:
                passed += 1
    with open(XFAIL_PATH, "w", encoding="utf-8") as file:
        file.write(f"# Expected failures of graphdiff on the onnx {ONNX_VERSION} backend tests.\n"
                   "# One test per line: 'name # reason'. Regenerate with\n"
                   "# python -m tests.onnx_backend.update_xfail, then review the diff.\n")
        for name, reason in sorted(failures.items()):
            file.write(f"{name} # {reason}\n")
    print(f"{passed} passed, {len(failures)} expected failures written to {XFAIL_PATH}")


if __name__ == "__main__":
    main()
