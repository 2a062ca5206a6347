"""Errors raised by graphdiff, and the helper that finds the user's line of code.

Every error derives from :class:`GraphdiffError`, so ``except gd.GraphdiffError`` catches
anything graphdiff raises on purpose. Build-time errors name the op, the operand types and the
file and line in the user's code that created the node.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from types import TracebackType

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class GraphdiffError(Exception):
    """Base class of every error graphdiff raises."""


class ShapeError(GraphdiffError, ValueError):
    """Operand shapes do not fit an op (broadcasting, matmul, reshape, ...)."""


class DTypeError(GraphdiffError, TypeError):
    """Operand dtypes do not fit an op, or a value cannot be cast safely."""


class AttributeError_(GraphdiffError, ValueError):
    """An op attribute (axis, stride, ...) is invalid."""


class InputError(GraphdiffError, ValueError):
    """A compiled function was called with missing or ill-typed inputs."""


class GradientError(GraphdiffError, ValueError):
    """A derivative was requested that cannot be formed."""


class ImmutableError(GraphdiffError, AttributeError):
    """Something tried to change a node; nodes are immutable and shared between graphs."""


class GraphError(GraphdiffError, ValueError):
    """A graph is malformed (found by the verifier) or a pass produced an invalid graph."""


class OnnxError(GraphdiffError, ValueError):
    """An ONNX model cannot be exported or imported."""


class BackendError(GraphdiffError, ValueError):
    """A backend is unknown, or needs a package that is not installed."""


class NonFiniteError(GraphdiffError, FloatingPointError):
    """``check_finite``: a node's result holds NaN or Inf where its inputs did not."""


class AllocationError(GraphdiffError, MemoryError):
    """A call needs more memory than it can get (names the node, its shape and the bytes)."""


class CheckpointError(GraphdiffError, ValueError):
    """A checkpoint cannot be written, read, or does not fit the variables it is loaded into."""


def user_location() -> str:
    """Return ``"file:line"`` of the innermost stack frame outside the graphdiff package.

    Nodes record this so errors can point at the user's code, not at ours.
    """
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside = _INSIDE_PACKAGE.get(filename)  # inlined: nodes record this as they are built
        if inside is None:
            inside = _is_ours(filename)
        if not inside:
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


def raised_at(traceback: TracebackType | None) -> str:
    """``"file:line"`` of the innermost frame of ``traceback`` outside the graphdiff package:
    where the user's code raised (or called the code that raised)."""
    location = "<unknown>"
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if not _is_ours(code.co_filename):
            location = f"{code.co_filename}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return location


def _is_ours(filename: str) -> bool:
    inside = _INSIDE_PACKAGE.get(filename)
    if inside is None:  # abspath is slow; each file is classified once
        path = os.path.abspath(filename)
        # decorators from the standard library (contextlib, functools) wrap our functions:
        # their frames are ours too
        inside = path.startswith(_PACKAGE_DIR) or path in _STDLIB_WRAPPERS
        _INSIDE_PACKAGE[filename] = inside
    return inside


_INSIDE_PACKAGE: dict[str, bool] = {}
_STDLIB_WRAPPERS = {os.path.abspath(contextlib.__file__), os.path.abspath(functools.__file__)}

