"""Finite differences, what the tests hold exact derivatives against (float64, central
differences: the error is O(eps^2) plus rounding of O(1e-16 / eps))."""

from collections.abc import Callable

import numpy as np


def fd_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                               eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, one element of ``x`` at a time."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def fd_hessian(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                              eps: float = 1e-6) -> np.ndarray:
    """The (x.size, x.size) Hessian as central differences of an exact ``gradient``."""
    return np.stack([
        fd_gradient(lambda a, i=i: gradient(a).reshape(-1)[i], x, eps).reshape(-1)
        for i in range(x.size)])
