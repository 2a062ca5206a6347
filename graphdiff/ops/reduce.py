"""Reductions: sum, max, min, prod, argmax, argmin over normalized axes, and the size of
symbolic dims.

Attributes: ``axes`` (a sorted tuple of non-negative axes) and ``keepdims``. ``mean`` and
``logsumexp`` are composites in the API; they need no rules here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ShapeError
from ..ir.node import Node, OpDef
from ..ir.types import Shape, TensorType
from . import elementwise as E
from .batching import batch_along_axis
from .core import defop, jnp, scalar
from .scan import exclusive_cumprod
from .shape import broadcast_to, inverse_perm, reshape, transpose


def reduced_shape(shape: Shape, axes: tuple[int, ...], keepdims: bool) -> Shape:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_type(types: Sequence[TensorType], *, axes: tuple[int, ...],
                 keepdims: bool) -> TensorType:
    (x,) = types
    if any(not 0 <= a < x.ndim for a in axes) or list(axes) != sorted(set(axes)):
        raise ShapeError(f"axes {axes} are not sorted distinct axes of a rank-{x.ndim} tensor")
    return x.with_shape(reduced_shape(x.shape, axes, keepdims))


def _accumulator_type(types: Sequence[TensorType], **attrs) -> TensorType:
    out = _reduce_type(types, **attrs)
    # numpy sums and multiplies bool and small ints in the platform integer
    if out.dtype == np.bool_ or (out.dtype.kind in "iu" and out.dtype.itemsize < 8):
        return out.with_dtype(np.dtype(np.int64 if out.dtype.kind != "u" else np.uint64))
    return out


def expand_reduced(g: Node, x: Node, axes: tuple[int, ...], keepdims: bool) -> Node:
    """Broadcast a reduction's cotangent (or result) back to the operand's shape."""
    if not keepdims:
        g = reshape(g, shape=reduced_shape(x.shape, axes, True))
    return broadcast_to(g, shape=x.shape)


def _reduce_kernel(reducer):
    """The kernel of a reduction: ``reducer`` is a ufunc's reduce (``np.add.reduce`` is what
    ``np.sum`` runs, without np.sum's Python-level wrapper, about 3 us a call)."""

    def kernel(x: np.ndarray, *, axes: tuple[int, ...], keepdims: bool,
               out: np.ndarray | None = None) -> np.ndarray:
        return reducer(x, axis=axes, keepdims=keepdims, out=out)

    return kernel


def _bind_reduce(reducer):
    """The runtime's binding of a reduction: the C-level reduce itself, attributes inside; a
    copy when every reduced axis has length 1 for these shapes (a bias gradient at batch 1),
    at half the call cost. Reducing one element gives that element (as the simplify rule for
    static length-1 axes does; numpy's add.reduce alone would turn -0.0 into 0.0)."""

    def bind(attrs: dict, types: Sequence[TensorType]) -> Callable:
        (x,) = types
        axes = attrs["axes"]
        if x.dtype.kind == "f" and all(int(x.shape[a]) == 1 for a in axes):
            shape = reduced_shape(tuple(int(d) for d in x.shape), axes, attrs["keepdims"])
            return functools.partial(_reshaped_copy, shape=shape)
        return functools.partial(reducer, axis=axes, keepdims=attrs["keepdims"])

    return bind


def _reshaped_copy(x: np.ndarray, *, shape: tuple[int, ...],
                   out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        return x.reshape(shape).copy()
    np.copyto(out, x.reshape(shape))
    return out


sum_ = defop(
    "sum", _accumulator_type, _reduce_kernel(np.add.reduce), out_arg=True,
    jax=lambda x, *, axes, keepdims: jnp().sum(x, axis=axes, keepdims=keepdims),
    fast_kernel=_bind_reduce(np.add.reduce), combine=np.add,
    onnx=lambda ctx, n, i: ctx.reduce("ReduceSum", n, i),
    doc="Sum over axes.",
    vjp=lambda node, g: [expand_reduced(g, node.inputs[0], **node.attrs)],
    jvp=lambda node, t: sum_(t[0], **node.attrs), batch=batch_along_axis("axes"))


# --- max / min: the derivative flows to the extremal elements, split evenly on ties ------------

def _extremum_share(node: Node) -> Node:
    """1/k at each of the k positions that attain the extremum of their slice, else 0."""
    x = node.inputs[0]
    hit = E.cast(E.equal(x, expand_reduced(node, x, **node.attrs)), dtype=x.dtype)
    count = sum_(hit, axes=node.attrs["axes"], keepdims=True)
    return E.div(hit, broadcast_to(count, shape=x.shape))


def _extremum_vjp(node: Node, g: Node) -> list[Node]:
    x = node.inputs[0]
    return [E.mul(expand_reduced(g, x, **node.attrs), _extremum_share(node))]


def _extremum_jvp(node: Node, tangents: Sequence[Node | None]) -> Node:
    return sum_(E.mul(tangents[0], _extremum_share(node)), **node.attrs)


def _nonempty_reduce_type(types: Sequence[TensorType], **attrs) -> TensorType:
    x = types[0]
    if any(x.shape[a] == 0 for a in attrs["axes"]):
        raise ShapeError("max/min of an empty axis has no identity")
    return _reduce_type(types, **attrs)


max_ = defop("max", _nonempty_reduce_type, _reduce_kernel(np.maximum.reduce), out_arg=True,
             jax=lambda x, *, axes, keepdims: jnp().max(x, axis=axes, keepdims=keepdims),
             fast_kernel=_bind_reduce(np.maximum.reduce), combine=np.maximum,
             onnx=lambda ctx, n, i: ctx.reduce("ReduceMax", n, i),
             vjp=_extremum_vjp, jvp=_extremum_jvp, batch=batch_along_axis("axes"),
             doc="Maximum over axes; NaN propagates as in numpy.")
min_ = defop("min", _nonempty_reduce_type, _reduce_kernel(np.minimum.reduce), out_arg=True,
             jax=lambda x, *, axes, keepdims: jnp().min(x, axis=axes, keepdims=keepdims),
             fast_kernel=_bind_reduce(np.minimum.reduce), combine=np.minimum,
             onnx=lambda ctx, n, i: ctx.reduce("ReduceMin", n, i),
             vjp=_extremum_vjp, jvp=_extremum_jvp, batch=batch_along_axis("axes"),
             doc="Minimum over axes; NaN propagates as in numpy.")


# --- prod ----------------------------------------------------------------------------------------

def _prod_partial(node: Node) -> Node:
    """d prod / d x_i = the product of the other elements of x_i's slice."""
    x, axes = node.inputs[0], node.attrs["axes"]
    sizes = [x.shape[a] for a in axes]
    if all(isinstance(d, int) for d in sizes) and 0 not in sizes:
        return _product_of_the_others(x, axes)
    return _partial_by_counting_zeros(x, axes)


def _product_of_the_others(x: Node, axes: tuple[int, ...]) -> Node:
    """The product of the elements before x_i times that of those after it, the reduced axes
    moved last and flattened into one: running products, exact with any number of zeros and,
    since cumprod's derivatives are exact, to every order (JAX's rule for prod)."""
    kept = [i for i in range(x.ndim) if i not in axes]
    perm = (*kept, *axes)
    moved = x if perm == tuple(range(x.ndim)) else transpose(x, perm=perm)
    length = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    flat = reshape(moved, shape=(*moved.shape[:len(kept)], length))
    last = len(kept)
    others = E.mul(exclusive_cumprod(flat, last), exclusive_cumprod(flat, last, reverse=True))
    others = reshape(others, shape=moved.shape)
    return others if moved is x else transpose(others, perm=inverse_perm(perm))


def _partial_by_counting_zeros(x: Node, axes: tuple[int, ...]) -> Node:
    """The partial for a symbolic reduced length, exact at first order when the slice holds
    zeros (the running products above need a static length to be differentiated again).

    With no zero in the slice it is prod / x_i. With exactly one zero it is the product of the
    non-zeros at the zero's position and 0 elsewhere. With two or more zeros it is 0. Division
    uses a safe denominator so no branch computes inf or nan (which would poison second
    derivatives through ``where``).
    """
    zero, one = scalar(0, x), scalar(1, x)
    is_zero = E.equal(x, zero)
    nonzero_x = E.where(is_zero, one, x)
    prod_nonzero = expand_reduced(prod(nonzero_x, axes=axes, keepdims=True), x, axes, True)
    zeros_in_slice = expand_reduced(sum_(E.cast(is_zero, dtype=x.dtype), axes=axes,
                                         keepdims=True), x, axes, True)
    no_zero = E.div(prod_nonzero, nonzero_x)
    one_zero = E.where(is_zero, prod_nonzero, zero)
    return E.where(E.equal(zeros_in_slice, zero), no_zero,
                   E.where(E.equal(zeros_in_slice, one), one_zero, zero))


prod = defop(
    "prod", _accumulator_type, _reduce_kernel(np.multiply.reduce), out_arg=True,
    jax=lambda x, *, axes, keepdims: jnp().prod(x, axis=axes, keepdims=keepdims),
    fast_kernel=_bind_reduce(np.multiply.reduce),
    onnx=lambda ctx, n, i: ctx.reduce("ReduceProd", n, i),
    doc="Product over axes.",
    vjp=lambda node, g: [E.mul(expand_reduced(g, node.inputs[0], **node.attrs),
                               _prod_partial(node))],
    jvp=lambda node, t: sum_(E.mul(t[0], _prod_partial(node)), **node.attrs),
    batch=batch_along_axis("axes"))


# --- argmax / argmin: the first index attaining the extremum (numpy's and ONNX's tie rule) -----

def _arg_extremum_type(types: Sequence[TensorType], *, axis: int,
                       keepdims: bool) -> TensorType:
    (x,) = types
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {x.ndim}")
    if x.shape[axis] == 0:
        raise ShapeError("argmax/argmin of an empty axis has no index")
    shape = reduced_shape(x.shape, (axis,), keepdims)
    return TensorType(np.dtype(np.int64), shape)


def _arg_extremum(name: str, function: Callable, onnx_type: str) -> OpDef:
    def kernel(x: np.ndarray, *, axis: int, keepdims: bool) -> np.ndarray:
        return function(x, axis=axis, keepdims=keepdims)

    def lowered(x, *, axis: int, keepdims: bool):
        return getattr(jnp(), name)(x, axis=axis, keepdims=keepdims)  # NaN first, as numpy

    return defop(name, _arg_extremum_type, kernel, differentiable=False, jax=lowered,
                 batch=batch_along_axis("axis"),
                 onnx=lambda ctx, n, i: ctx.op(onnx_type, i, axis=n.attrs["axis"],
                                               keepdims=int(n.attrs["keepdims"])),
                 doc=f"Index of the first {name[3:]}imum along one axis (int64); a NaN counts "
                     f"as the extremum, as in numpy.")


argmax = _arg_extremum("argmax", np.argmax, "ArgMax")
argmin = _arg_extremum("argmin", np.argmin, "ArgMin")


# --- the size of (possibly symbolic) dimensions, for mean and friends ----------------------------

def _dim_product_type(types: Sequence[TensorType], *, dims: Shape,
                      dtype: np.dtype) -> TensorType:
    return TensorType(dtype, ())


def _dim_product_kernel(*, dims: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.asarray(np.prod(dims, dtype=np.int64), dtype=dtype)


dim_product = defop("dim_product", _dim_product_type, _dim_product_kernel,
                    jax=lambda *, dims, dtype: jnp().asarray(_dim_product_kernel(dims=dims,
                                                                                 dtype=dtype)),
                    differentiable=False, shape_attrs=("dims",),
                    onnx=lambda ctx, n, i: ctx.dim_product(n.attrs["dims"], n.attrs["dtype"]),
                    doc="The product of some dimensions as a scalar; symbols resolve per call.")


def count(x: Node, axes: tuple[int, ...], dtype: np.dtype) -> Node:
    """Number of elements in the reduced axes: a constant when static, else ``dim_product``."""
    dims = tuple(x.shape[a] for a in axes)
    if all(isinstance(d, int) for d in dims):
        return scalar(int(np.prod(dims, dtype=np.int64)), dtype)
    return dim_product(dims=dims, dtype=dtype)
