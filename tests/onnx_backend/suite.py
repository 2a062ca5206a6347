"""The ONNX backend test suite for graphdiff: which tests run, which are expected to fail.

The tests are onnx's own (``onnx.backend.test.BackendTest``): the node tests generated in memory
by the installed onnx package and the on-disk simple / pytorch-converted / pytorch-operator
model tests. The "real" model tests download models and never run here. Expected failures come
from ``xfail-onnx-<major>.<minor>.txt`` beside this file, one test per line with its reason;
``python -m tests.onnx_backend.update_xfail`` regenerates it for the installed onnx.
"""

from __future__ import annotations

import os
import re
import warnings

import onnx
from onnx.backend.test import BackendTest
from onnx.backend.test.loader import load_model_tests

from .backend import GraphdiffBackend

HERE = os.path.dirname(os.path.abspath(__file__))
ONNX_VERSION = ".".join(onnx.__version__.split(".")[:2])
XFAIL_PATH = os.path.join(HERE, f"xfail-onnx-{ONNX_VERSION}.txt")


def read_xfails(path: str = XFAIL_PATH) -> dict[str, str]:
    """Test name (without the ``_cpu`` suffix) -> reason, from an xfail file."""
    entries: dict[str, str] = {}
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, separator, reason = line.partition(" # ")
            if not separator or not reason.strip():
                raise ValueError(f"{path}:{number}: an entry needs 'name # reason'")
            entries[name.strip()] = reason.strip()
    return entries


def real_model_tests() -> set[str]:
    return {case.name for case in load_model_tests(kind="real")}


def make_backend_test(apply_xfails: bool = True) -> BackendTest:
    """The configured BackendTest: CPU only, real (downloaded) models excluded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # onnx's generators overflow casts on purpose
        backend_test = BackendTest(GraphdiffBackend, __name__)
    for name in sorted(real_model_tests()):
        backend_test.exclude(f"^{re.escape(name)}_")
    if apply_xfails:
        for name in read_xfails():
            backend_test.xfail(f"^{re.escape(name)}_cpu$")
    return backend_test


def op_of_test(name: str, node_ops: dict[str, list[str]]) -> str:
    """The op a test exercises: a node test's op (its ``_expanded`` form counts for the same
    op), else the kind of model test."""
    base = name.removesuffix("_cpu")
    for suffix in ("_expanded_ver18", "_expanded"):
        if base.endswith(suffix) and base.removesuffix(suffix) in node_ops:
            base = base.removesuffix(suffix)
    ops = node_ops.get(base)
    if not ops:
        return "(model test)"
    return ops[-1]


def node_test_ops() -> dict[str, list[str]]:
    """Each node test's op types (loaded once; onnx caches the generated cases)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    return {case.name: [node.op_type for node in case.model.graph.node] for case in cases}
