"""The IR: tensor types, ops, nodes, graphs, the text form and the verifier."""

from .graph import Graph, region_walk, topo_order
from .node import OPS, Node, OpDef, make_node, register
from .types import (
    Dim,
    Shape,
    TensorType,
    TupleType,
    as_dtype,
    as_shape,
    broadcast_shapes,
    fresh_dim,
)

__all__ = [
    "OPS", "Dim", "Graph", "Node", "OpDef", "Shape", "TensorType", "TupleType", "as_dtype",
    "as_shape", "broadcast_shapes", "fresh_dim", "make_node", "region_walk", "register",
    "topo_order",
]
