"""Cases for the ops that carry user derivative rules: custom (gd.custom_jvp, gd.custom_vjp,
gd.checkpoint) and remat_input (in the gradient of a checkpointed region)."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

V = (3, 4)

softplus = gd.custom_jvp(lambda x: gd.maximum(x, 0.0) + gd.log1p(gd.exp(-gd.abs(x))),
                         lambda primals, tangents: gd.sigmoid(primals[0]) * tangents[0])


def _exp_fwd(x):
    y = gd.exp(x)
    return y, (y,)


exp_with_residual = gd.custom_vjp(gd.exp, _exp_fwd, lambda residuals, g: (g * residuals[0],))

block = gd.checkpoint(lambda h, w: gd.tanh(h * w) * h)

CASES = [
    Case("custom_jvp_softplus", softplus, lambda x: np.logaddexp(0, x), [Arg(V, low=-30, high=30)]),
    # a custom_vjp has no forward-mode rule: the agreement tests skip JVP checks for it
    Case("custom_vjp_residual", exp_with_residual, np.exp, [Arg(V)], tags=("reverse_only",)),
    Case("checkpoint", block, lambda h, w: np.tanh(h * w) * h, [Arg(V), Arg((4,))]),
]
