"""Automatic differentiation: reverse mode (grad, vjp), forward mode (jvp), Jacobians and second
order (jacobian, hessian, hvp), custom rules (custom_jvp, custom_vjp), checkpointing, and the
batching transform (vmap)."""

from .checkpoint import checkpoint
from .custom import custom_jvp, custom_vjp
from .forward import jvp
from .jacobian import hessian, hvp, jacobian
from .reverse import grad, vjp
from .vmap import BatchingError, vmap

__all__ = ["BatchingError", "checkpoint", "custom_jvp", "custom_vjp", "grad", "hessian", "hvp",
           "jacobian", "jvp", "vjp", "vmap"]
