"""The IR: tensor types, ops, nodes, graphs, the text form and the verifier."""

from .graph import Graph, topo_order
from .node import OPS, Node, OpDef, make_node, register
from .types import Dim, Shape, TensorType, as_dtype, as_shape, broadcast_shapes, fresh_dim

__all__ = [
    "OPS", "Dim", "Graph", "Node", "OpDef", "Shape", "TensorType", "as_dtype", "as_shape",
    "broadcast_shapes", "fresh_dim", "make_node", "register", "topo_order",
]
