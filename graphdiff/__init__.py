"""graphdiff: a static computation-graph framework with symbolic automatic differentiation.

>>> import numpy as np, graphdiff as gd
>>> x = gd.placeholder((None, 2), "float64", name="x")
>>> W = gd.variable(np.ones((2, 1)), name="W")
>>> loss = gd.sum((x @ W) ** 2)
>>> gW = gd.grad(loss, W)
>>> f = gd.function([x], [loss, gW])
>>> loss_value, gW_value = f(np.array([[1.0, 2.0]]))
>>> float(loss_value), gW_value.ravel().tolist()
(9.0, [6.0, 12.0])
"""

from . import distributed, nn, optim, train
from . import ops as _ops  # registers every op
from .api import *  # noqa: F403
from .api import linalg
from .api.pytree import flatten as tree_flatten
from .api.pytree import tree_map
from .api.pytree import unflatten as tree_unflatten
from .autodiff import (
    BatchingError,
    checkpoint,
    custom_jvp,
    custom_vjp,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    vjp,
    vmap,
)
from .errors import (
    AllocationError,
    BackendError,
    CheckpointError,
    DTypeError,
    GradientError,
    GraphdiffError,
    GraphError,
    InputError,
    NonFiniteError,
    OnnxError,
    ShapeError,
    user_location,
)
from .ir import Graph, Node, TensorType
from .ops.source import VARIABLE, constant, placeholder, variable
from .passes import optimize
from .runtime import Function, function
from .runtime.threads import set_num_threads
from .saving import load, save


def get_value(var: Node):
    """The current value of a variable (a copy: mutating it changes nothing)."""
    _require_variable(var)
    return var.data.value.copy()


def set_value(var: Node, value, allow_downcast: bool = False) -> None:
    """Replace a variable's value; the shape must stay the same, and the dtype policy is that of
    a function's feeds (safe casts only, unless ``allow_downcast``; never an overflow to inf)."""
    import numpy as np

    from .api.convert import as_array

    _require_variable(var)
    shape = np.shape(value) if isinstance(value, np.ndarray) else None
    if shape is not None and shape != var.shape:
        raise InputError(f"set_value: variable {var.name!r} is {var.type}, got "
                         f"{value.dtype.name}{list(shape)} (at {user_location()})")
    try:
        array = as_array(value, var.dtype, f"set_value: variable {var.name!r}", allow_downcast)
    except DTypeError as exc:
        raise DTypeError(f"{exc} (at {user_location()})") from None
    if array.shape != var.shape:
        raise InputError(f"set_value: variable {var.name!r} is {var.type}, got "
                         f"{array.dtype.name}{list(array.shape)} (at {user_location()})")
    var.data.value = np.array(array, copy=True)


def _require_variable(node: Node) -> None:
    if not isinstance(node, Node) or node.op is not VARIABLE:
        raise GraphdiffError(f"expected a variable, got {node!r} (at {user_location()})")


_ONNX_NAMES = ("export_onnx", "export_training_step", "import_onnx")


def __getattr__(name: str):
    # graphdiff.onnx imports the onnx package, which would double graphdiff's import time:
    # it loads on first use of one of its names.
    if name in _ONNX_NAMES:
        from . import onnx as _onnx

        return getattr(_onnx, name)
    raise AttributeError(f"module 'graphdiff' has no attribute {name!r}")


__version__ = "0.1.0"
