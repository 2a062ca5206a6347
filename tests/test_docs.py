"""The examples in the docs run and print what the docs say they print.

Each page's ```python blocks run in order in one namespace that starts with ``np`` and ``gd``:
a block of plain code is executed, a block of ``>>>`` examples is a doctest (whitespace
normalized, ``...`` matching anything). A block that is an excerpt rather than an example (a
signature, part of a file, output for illustration) carries ``<!-- not run -->`` on the line
before its fence.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir.node import OPS

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
SKIP = "<!-- not run -->"


def blocks(page: Path) -> list[tuple[int, str]]:
    """The runnable python blocks of a page: (line of the fence, code)."""
    text = page.read_text()
    found = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() != SKIP:
            found.append((line, match.group(1)))
    return found


@pytest.fixture(autouse=True)
def _registry_restored():
    """Ops an example declares (the op-authoring guide's ``arctan``) leave with the test, so
    the registry tests that walk every op do not see them."""
    declared = dict(OPS)
    yield
    OPS.clear()
    OPS.update(declared)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_examples_run(page: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    monkeypatch.syspath_prepend(str(ROOT))  # examples that use models/ or tools/
    namespace = {"np": np, "gd": gd, "__name__": "__docs__"}
    parser = doctest.DocTestParser()
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    for line, code in blocks(page):
        where = f"{page.relative_to(ROOT)}:{line}"
        if ">>>" in code:
            test = parser.get_doctest(code, {}, where, str(page), line)
            test.globs = namespace  # shared with the page's other blocks (DocTest copies)
            runner = doctest.DocTestRunner(optionflags=flags)
            output: list[str] = []
            runner.run(test, out=output.append, clear_globs=False)
            assert not runner.failures, f"{where}\n" + "".join(output)
        else:
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - re-raised with the page and line
                raise AssertionError(f"the example at {where} raised {exc!r}") from exc
