"""The op library. Each family module declares its ops; importing this package registers all.

Families: ``source`` (placeholder, variable, constant, fill, iota), ``elementwise``,
``reduce``, ``scan`` (cumsum, cumprod), ``shape``, ``index`` (slicing, take), ``scatter``
(scatters combining by max, min, product), ``join`` (concatenate, pad), ``linalg``
(matmul), ``linalg_solve`` (solves, determinants), ``linalg_factor`` (decompositions),
``random``, ``conv``, ``pool``, ``einsum``, ``softmax``, ``sort`` (orders, searches,
selections); numpy's other elementwise functions in ``trig`` (trigonometric, hyperbolic,
arctan2, hypot), ``explog`` (log2, exp2, logaddexp, ...), ``rounding`` (rint, trunc,
floor_divide, remainder, fmod), ``ieee`` (fmax, copysign, signbit, isinf) and ``integer``
(bitwise ops and shifts); ``special`` holds kernels numpy lacks (erf);
``custom`` holds the ops that carry user derivative rules (custom_vjp, custom_jvp, checkpoint);
``control`` holds the ops that own regions (switch, while_loop, scan); ``fused`` holds fused
groups (made by the fusion pass) and ``fused_codegen`` their generated kernels.
"""

from ..ir.node import OPS
from . import (
    control,
    conv,
    custom,
    einsum,
    elementwise,
    explog,
    fused,
    ieee,
    index,
    integer,
    join,
    linalg,
    linalg_factor,
    linalg_solve,
    pool,
    random,
    reduce,
    rounding,
    scan,
    scatter,
    shape,
    softmax,
    sort,
    source,
    special,
    trig,
)

__all__ = [
    "OPS", "control", "conv", "custom", "einsum", "elementwise", "explog", "fused", "ieee",
    "index", "integer", "join", "linalg", "linalg_factor", "linalg_solve", "pool", "random",
    "reduce", "rounding", "scan", "scatter", "shape", "softmax", "sort", "source", "special",
    "trig",
]
