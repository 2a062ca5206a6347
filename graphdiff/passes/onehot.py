"""One-hot scatters as selects, so that the fusion pass can put them in the loop that reads them.

The gradient of ``take_along_axis(x, labels[..., None], -1)`` (the picked logit of a
cross-entropy) is ``scatter_add_along_axis(g, labels[..., None], axis=-1)``: zeros of x's shape
with one update per row. Added to the softmax term, that is a dense array written by one op and
read by the next. With one index per row along the axis, the same values are an elementwise
select over the axis's positions,

    where(arange(n)[:, None..] == take(arange(n), i), g + 0.0, 0.0)

which fuses with its users (the cross-entropy gradient becomes one loop over the logits). The
bounds of the scatter are kept: ``take(arange(n), i)`` is the index that the scatter would
write at, negative indices counting back, and an index out of range raises there as it does in
the scatter (an IndexError, reported with the user's line). ``g + 0.0`` is the scatter's
"zeros plus the update": an update of -0.0 gives 0.0, as the addition into zeros does.

The select costs a dense comparison where the scatter writes zeros, so the rewrite is made
only when every user of the scatter is elementwise (a fusion candidate); it runs in the fused
pipeline, just before ``fuse``.

>>> import numpy as np, graphdiff as gd
>>> z = gd.placeholder((None, 4), "float32", name="z")
>>> y = gd.placeholder((None,), "int64", name="y")
>>> loss = gd.mean(gd.softmax_cross_entropy(z, y))
>>> graph = gd.Graph([z, y], [gd.grad(loss, z)])
>>> new, changed = onehot(gd.optimize(graph))
>>> changed, "scatter_add_along_axis" in new.op_counts(), new.op_counts()["take"]
(True, False, 1)
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Node
from ..ops import elementwise as E
from ..ops.index import scatter_add_along_axis, take
from ..ops.source import constant
from .regions import region_pass
from .rewrite import build, rewrite_graph


def _one_per_row(node: Node) -> bool:
    """A scatter of one update per row along its axis, into a static number of positions."""
    g, indices = node.inputs
    axis = node.attrs["axis"]
    return (node.op is scatter_add_along_axis and indices.shape[axis] == 1
            and isinstance(node.attrs["shape"][axis], int) and g.dtype.kind == "f")


def _select(node: Node) -> Node | None:
    """The scatter ``node`` as where(positions == index, g + 0, 0), or None if its type
    would differ."""
    g, indices = node.inputs
    axis, shape = node.attrs["axis"], node.attrs["shape"]
    size = shape[axis]
    positions = np.arange(size, dtype=indices.dtype)
    # the wrapped index, checked: take raises on an index out of range as the scatter does
    at = build(take, [constant(positions), indices], {"axis": 0}, like=node)
    trailing = (1,) * (len(shape) - 1 - axis)
    along = constant(positions.reshape((size,) + trailing)) if trailing else at.inputs[0]
    mask = build(E.equal, [along, at], {}, like=node)
    zero = constant(np.zeros((), g.dtype))
    update = build(E.add, [g, zero], {}, like=node)  # zeros plus the update: -0.0 -> 0.0
    selected = build(E.where, [mask, update, zero], {}, like=node)
    return selected if selected.type == node.type else None


@region_pass
def onehot(graph: Graph) -> tuple[Graph, bool]:
    """Rewrite the one-hot scatters whose users are all elementwise into selects (in regions
    too)."""
    users, outputs = graph.users(), set(graph.outputs)
    targets = {n for n in graph.nodes if n.op is scatter_add_along_axis and _one_per_row(n)
               and n not in outputs and users[n]
               and all(u.op.elementwise for u in users[n])}
    if not targets and not any(n.regions for n in graph.nodes):
        return graph, False
    return rewrite_graph(graph, lambda n: _select(n) if n in targets else None,
                         regions=onehot)
