"""Prints how many ONNX backend tests pass per op at the end of a run that included them."""

from __future__ import annotations

from collections import Counter

import pytest

_OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "OnnxBackend" not in report.nodeid or not report.nodeid.endswith("_cpu"):
        return
    name = report.nodeid.rsplit("::", 1)[-1]
    if report.when == "call" or (report.when == "setup" and report.skipped):
        if hasattr(report, "wasxfail"):
            _OUTCOMES[name] = "xfail"
        else:
            _OUTCOMES[name] = report.outcome


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _OUTCOMES:
        return
    from .suite import node_test_ops, op_of_test

    ops = node_test_ops()
    passed, total = Counter(), Counter()
    for name, outcome in _OUTCOMES.items():
        if outcome == "skipped":
            continue
        op = op_of_test(name, ops)
        total[op] += 1
        passed[op] += outcome == "passed"
    write = terminalreporter.write_line
    write(f"ONNX backend tests: {sum(passed.values())} passed of {sum(total.values())} run "
          f"(the rest are listed, with reasons, in the xfail file)")
    rows = sorted(total, key=lambda op: (-passed[op], op))
    cells = [f"{op} {passed[op]}/{total[op]}" for op in rows if passed[op]]
    for start in range(0, len(cells), 6):
        write("  " + ", ".join(cells[start:start + 6]))
    missing = [op for op in rows if not passed[op]]
    write(f"  no passing test: {', '.join(missing)}")
