"""``check_finite``: the NaN hunter (``gd.function(..., check_finite=True)`` or
``GRAPHDIFF_CHECK_FINITE=1`` for the whole process).

A backend compiled with ``spec.check_finite`` keeps one flag per value, "holds only finite
numbers", and after each step calls :func:`checked` with the result and its operands' flags: the
first node that makes NaN or Inf out of finite operands raises a :class:`NonFiniteError` naming
the op and where the user built it. A NaN fed in, or propagated from an earlier node that was
allowed to make it, only clears the flag. When the option is off nothing of this is generated.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import NonFiniteError
from ..ir.node import Node


def enabled_by_environment() -> bool:
    """Whether ``GRAPHDIFF_CHECK_FINITE`` asks for the check in every function."""
    return os.environ.get("GRAPHDIFF_CHECK_FINITE", "").strip().lower() not in ("", "0", "false",
                                                                               "no", "off")


def all_finite(value: Any) -> bool:
    """Whether ``value`` (an array, a scalar or a tuple of them) holds no NaN and no Inf."""
    if isinstance(value, tuple | list):
        return all(all_finite(v) for v in value)
    array = np.asarray(value)
    return array.dtype.kind not in "fc" or bool(np.isfinite(array).all())


def checked(value: Any, node: Node, *operands_finite: bool) -> bool:
    """The flag of ``node``'s result ``value``; raises if it is the first to be non-finite."""
    if all_finite(value):
        return True
    if all(operands_finite):
        raise NonFiniteError(f"check_finite: {node.op.name} (created at {node.location}) "
                             f"produced {_what(value)} from finite operands")
    return False


def _what(value: Any) -> str:
    arrays = value if isinstance(value, tuple | list) else (value,)
    nan = inf = size = 0
    for v in arrays:
        a = np.asarray(v)
        if a.dtype.kind in "fc":
            nan += int(np.isnan(a).sum())
            inf += int(np.isinf(a).sum())
        size += a.size
    parts = [f"{nan} NaN"] * bool(nan) + [f"{inf} Inf"] * bool(inf)
    return f"{' and '.join(parts)} in {size} element{'s' * (size != 1)}"
