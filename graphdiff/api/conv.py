"""Convolution, pooling and einsum, with PyTorch's (conv, pool) and numpy's (einsum) signatures.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((None, 3, 8, 8), "float32", name="x")
>>> w = gd.placeholder((4, 3, 3, 3), "float32", name="w")
>>> y = gd.conv2d(x, w, stride=2, padding=1)
>>> y.shape[1:]
(4, 4, 4)
>>> gd.max_pool2d(y, 2).shape[1:]
(4, 2, 2)
>>> gd.einsum("nchw,c->nhw", y, np.ones(4, "float32")).shape[1:]
(4, 4)
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

from ..errors import ShapeError, user_location
from ..ir.node import Node
from ..ir.types import Dim
from ..ops import conv as C
from ..ops import einsum as ES
from ..ops import pool as P
from ..ops import shape as S
from .convert import TensorLike, promote

__all__ = ["avg_pool2d", "conv2d", "conv_transpose2d", "einsum", "max_pool2d"]

IntOrPair = int | Sequence[int]
Padding = int | Sequence[int] | str


def _pair(value: IntOrPair, name: str) -> tuple[int, int]:
    values = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int | np.integer) for v in values):
        raise ShapeError(f"{name} must be an int or a pair of ints, got {value!r} "
                         f"(at {user_location()})")
    return int(values[0]), int(values[1])


def _pads(padding: Padding, kernel_hw: tuple[int, int], stride: tuple[int, int],
          dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, a pair (symmetric), four ints, or a string."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ShapeError(f"padding {padding!r} must be 'valid', 'same' or ints "
                             f"(at {user_location()})")
        if stride != (1, 1):
            raise ShapeError(f"padding='same' needs stride 1, got {stride} "
                             f"(at {user_location()})")
        pads = []
        for k, d in zip(kernel_hw, dilation):
            total = d * (k - 1)  # PyTorch puts the odd extra pixel at the end
            pads += [total // 2, total - total // 2]
        return pads[0], pads[1], pads[2], pads[3]
    if isinstance(padding, int | np.integer):
        return (int(padding),) * 4
    values = tuple(int(v) for v in padding)
    if len(values) == 2:
        return values[0], values[0], values[1], values[1]
    if len(values) == 4:
        return values  # type: ignore[return-value]
    raise ShapeError(f"padding must be an int, a pair, (top, bottom, left, right) or a string, "
                     f"got {padding!r} (at {user_location()})")


def _check_positive(name: str, values: Sequence[int]) -> None:
    if min(values) < 1:
        raise ShapeError(f"{name} must be positive, got {tuple(values)} (at {user_location()})")


def _float_operands(*values: TensorLike) -> list[Node]:
    tensors = promote(*values)
    if tensors[0].dtype.kind != "f":
        tensors = promote(*tensors, dtype=np.dtype(np.float64))
    return tensors


def conv2d(x: TensorLike, w: TensorLike, b: TensorLike | None = None, stride: IntOrPair = 1,
           padding: Padding = 0, dilation: IntOrPair = 1, groups: int = 1) -> Node:
    """2-D convolution (cross-correlation) of an NCHW input with an OIHW weight, PyTorch's
    ``torch.nn.functional.conv2d``. ``padding`` is an int, a pair (height, width), four ints
    (top, bottom, left, right), ``"valid"`` or ``"same"``. ``b`` has one value per output
    channel. Only the batch axis may be symbolic."""
    operands = _float_operands(x, w) if b is None else _float_operands(x, w, b)
    x, w = operands[:2]
    stride_hw, dilation_hw = _pair(stride, "stride"), _pair(dilation, "dilation")
    _check_positive("stride", stride_hw)
    _check_positive("dilation", dilation_hw)
    if w.ndim != 4:
        raise ShapeError(f"conv2d weight must have rank 4 (O, I/groups, kh, kw), got shape "
                         f"{w.shape} (at {user_location()})")
    pads = _pads(padding, w.shape[2:], stride_hw, dilation_hw)
    if min(pads) < 0:
        raise ShapeError(f"padding must be non-negative, got {pads} (at {user_location()})")
    y = C.conv2d(x, w, stride=stride_hw, padding=pads, dilation=dilation_hw, groups=int(groups))
    return y if b is None else _add_bias(y, operands[2], "conv2d")


def conv_transpose2d(x: TensorLike, w: TensorLike, b: TensorLike | None = None,
                     stride: IntOrPair = 1, padding: IntOrPair = 0,
                     output_padding: IntOrPair = 0, groups: int = 1,
                     dilation: IntOrPair = 1) -> Node:
    """Transposed convolution, PyTorch's ``torch.nn.functional.conv_transpose2d``: the adjoint
    of ``conv2d`` in its input. The weight is (C_in, C_out/groups, kh, kw); the output size is
    ``(H - 1)*stride - pads + dilation*(kh - 1) + output_padding + 1``, where ``output_padding``
    (smaller than the stride) picks among the input sizes a strided conv2d maps to H.
    ``padding`` may also be four ints (top, bottom, left, right).

    >>> import numpy as np, graphdiff as gd
    >>> x = gd.placeholder((None, 4, 5, 5), "float32")
    >>> gd.conv_transpose2d(x, np.ones((4, 2, 3, 3), "float32"), stride=2, padding=1,
    ...                     output_padding=1).shape[1:]
    (2, 10, 10)
    """
    operands = _float_operands(x, w) if b is None else _float_operands(x, w, b)
    x, w = operands[:2]
    stride_hw, dilation_hw = _pair(stride, "stride"), _pair(dilation, "dilation")
    extra = _pair(output_padding, "output_padding")
    _check_positive("stride", stride_hw)
    _check_positive("dilation", dilation_hw)
    if x.ndim != 4 or w.ndim != 4 or not all(isinstance(d, int) for d in x.shape[2:]):
        raise ShapeError(f"conv_transpose2d takes an NCHW input with static spatial sizes and a "
                         f"rank-4 weight, got {x.shape} and {w.shape} (at {user_location()})")
    if any(e < 0 or e >= s for e, s in zip(extra, stride_hw)):
        # PyTorch also allows output_padding < dilation; those outputs no conv2d would read
        raise ShapeError(f"output_padding {extra} must be smaller than the stride {stride_hw} "
                         f"(at {user_location()})")
    pads = _pads(padding, w.shape[2:], stride_hw, dilation_hw)
    out_hw = tuple((size - 1) * s - before - after + d * (k - 1) + e + 1
                   for size, s, before, after, d, k, e in zip(
                       x.shape[2:], stride_hw, pads[::2], pads[1::2], dilation_hw, w.shape[2:],
                       extra))
    if min(pads) < 0 or min(out_hw) < 1:
        raise ShapeError(f"conv_transpose2d: padding {pads} leaves an output of {out_hw} "
                         f"(at {user_location()})")
    y = C.conv2d_input_grad(x, w, input_hw=out_hw, stride=stride_hw, padding=pads,
                            dilation=dilation_hw, groups=int(groups))
    return y if b is None else _add_bias(y, operands[2], "conv_transpose2d")


def _add_bias(y: Node, bias: Node, what: str) -> Node:
    if bias.shape != (y.shape[1],):
        raise ShapeError(f"{what} bias must have shape ({y.shape[1]},), got {bias.shape} "
                         f"(at {user_location()})")
    return y + S.reshape(bias, shape=(y.shape[1], 1, 1))


def _pool_geometry(kernel_size: IntOrPair, stride: IntOrPair | None,
                   padding: IntOrPair) -> dict:
    kernel_hw = _pair(kernel_size, "kernel_size")
    stride_hw = kernel_hw if stride is None else _pair(stride, "stride")
    _check_positive("kernel_size", kernel_hw)
    _check_positive("stride", stride_hw)
    return {"kernel_hw": kernel_hw, "stride": stride_hw,
            "padding": _pads(padding, kernel_hw, stride_hw, (1, 1))}


def max_pool2d(x: TensorLike, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0) -> Node:
    """Maximum over each window of an NCHW tensor (``torch.nn.functional.max_pool2d``); the
    stride defaults to the kernel size, padding is -inf. The gradient goes to the first maximum
    of each window."""
    (x,) = _float_operands(x)
    return P.max_pool2d(x, **_pool_geometry(kernel_size, stride, padding))


def avg_pool2d(x: TensorLike, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, count_include_pad: bool = True) -> Node:
    """Mean over each window of an NCHW tensor (``torch.nn.functional.avg_pool2d``); padding is
    zero, counted in the divisor unless ``count_include_pad`` is False."""
    (x,) = _float_operands(x)
    return P.avg_pool2d(x, **_pool_geometry(kernel_size, stride, padding),
                        count_include_pad=bool(count_include_pad))


# --- einsum --------------------------------------------------------------------------------------

def einsum(subscripts: str, *operands: TensorLike) -> Node:
    """numpy.einsum: explicit (``"ij,jk->ik"``) or implicit (``"ij,jk"``) subscripts, ellipsis
    included; numpy's dtype promotion. Size-1 axes broadcast against the same letter's size.

    >>> import numpy as np, graphdiff as gd
    >>> a = gd.constant(np.arange(6.0).reshape(2, 3))
    >>> gd.function([], gd.einsum("ij->j", a))()
    array([3., 5., 7.])
    """
    if not isinstance(subscripts, str):
        raise ShapeError(f"einsum needs a subscripts string first, got {subscripts!r} "
                         f"(at {user_location()})")
    tensors = promote(*operands) if operands else []
    if not tensors:
        raise ShapeError(f"einsum needs at least one operand (at {user_location()})")
    explicit = _explicit(subscripts.replace(" ", ""), [t.ndim for t in tensors])
    terms = explicit.split("->")[0].split(",")
    return ES.einsum(*_broadcast_letters(terms, tensors), subscripts=explicit)


def _explicit(subscripts: str, ranks: Sequence[int]) -> str:
    """Explicit subscripts without ellipsis: '...' becomes spare letters (right-aligned across
    operands, as numpy broadcasts), and the implicit output is the ellipsis then the letters
    that appear once, in alphabetical order."""
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ranks):
        raise ShapeError(f"einsum subscripts {subscripts!r} name {len(terms)} operands, got "
                         f"{len(ranks)} (at {user_location()})")
    spare = [c for c in string.ascii_letters if c not in subscripts]
    widths = [rank - len(term.replace("...", "")) for term, rank in zip(terms, ranks)
              if "..." in term]
    width = max(widths, default=0)
    if min(widths, default=0) < 0:
        raise ShapeError(f"einsum subscripts {subscripts!r} name more axes than an operand has "
                         f"(at {user_location()})")
    ellipsis = "".join(spare[:width])
    expanded = []
    for term, rank in zip(terms, ranks):
        own = rank - len(term.replace("...", ""))
        expanded.append(term.replace("...", ellipsis[width - own:]) if "..." in term else term)
    if not arrow:
        counts = "".join(expanded)
        output = ellipsis + "".join(sorted(c for c in set(counts) - set(ellipsis)
                                           if counts.count(c) == 1))
    elif "..." in output:
        output = output.replace("...", ellipsis)
    elif width:
        raise ShapeError(f"einsum subscripts {subscripts!r}: the output needs '...' for the "
                         f"ellipsis axes (as in numpy) (at {user_location()})")
    return ",".join(expanded) + "->" + output


def _broadcast_letters(terms: Sequence[str], tensors: Sequence[Node]) -> list[Node]:
    """Stretch size-1 axes to their letter's size elsewhere (numpy einsum broadcasts them)."""
    sizes: dict[str, Dim] = {}
    for term, t in zip(terms, tensors):
        if len(term) != t.ndim:
            raise ShapeError(f"einsum operand of shape {t.shape} does not match subscripts "
                             f"{term!r} (at {user_location()})")
        for letter, dim in zip(term, t.shape):
            if sizes.get(letter, 1) == 1:
                sizes[letter] = dim
    result = []
    for term, t in zip(terms, tensors):
        wanted = tuple(sizes[letter] if dim == 1 else dim for letter, dim in zip(term, t.shape))
        result.append(t if wanted == t.shape else S.broadcast_to(t, shape=wanted))
    return result

