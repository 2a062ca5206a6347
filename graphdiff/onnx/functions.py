"""Import of ONNX ops that graphdiff has no importer for but whose schema defines them as a
function: the op is replaced by the nodes of its function body, imported one by one.

ONNX defines many newer ops this way (``AffineGrid``, the signal windows, ``SwiGLU``,
``LinearAttention``, ``CausalConvWithState``), some through a *context-dependent* function that
the schema builds for the node's attributes and input types. The body is taken for the model's
opset (the latest function version not newer than it) and imported at the opset it declares;
its attribute references take the node's attributes, or the function's defaults.
"""

from __future__ import annotations

from collections.abc import Callable

import onnx
from onnx import helper

from ..errors import OnnxError
from ..ir.types import TensorType
from .dtypes import onnx_elem_type


def function_body(proto: onnx.NodeProto, opset: int,
                  input_types: list[TensorType | None]) -> tuple[list[onnx.NodeProto], int] | None:
    """The nodes of ``proto``'s function body, renamed into the graph (its inputs and outputs
    are the node's), and the opset they are written for; None if the op has no function."""
    try:
        schema = onnx.defs.get_schema(proto.op_type, opset, domain=proto.domain)
    except onnx.defs.SchemaError:
        return None
    versions = [v for v in schema.function_opset_versions if v <= opset]
    contextual = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
    if not versions and not contextual:
        return None
    function = onnx.FunctionProto()
    if versions:
        function.ParseFromString(schema.get_function_with_opset_version(max(versions)))
    else:
        # an absent optional input has no type: an empty TypeProto, as onnx's expander gives
        types = [onnx.TypeProto() if t is None else helper.make_tensor_type_proto(
            onnx_elem_type(t.dtype), [d if isinstance(d, int) else str(d) for d in t.shape])
            for t in input_types]
        text = schema.get_context_dependent_function_with_opset_version(
            max(contextual), _with_defaults(proto, schema).SerializeToString(),
            [t.SerializeToString() for t in types])
        function.ParseFromString(text)
    body_opset = next((o.version for o in function.opset_import if o.domain in ("", "ai.onnx")),
                      opset)
    return _expand(_with_defaults(proto, schema, function), function), body_opset


def _with_defaults(proto: onnx.NodeProto, schema: onnx.defs.OpSchema,
                   function: onnx.FunctionProto | None = None) -> onnx.NodeProto:
    """``proto`` with every attribute it leaves out set to the schema's (or the function's)
    default, so that the body's attribute references resolve."""
    node = onnx.NodeProto()
    node.CopyFrom(proto)
    present = {a.name for a in proto.attribute}
    defaults = [a for a in (function.attribute_proto if function is not None else ())]
    defaults += [s.default_value for s in schema.attributes.values()
                 if s.default_value.name and s.default_value.type]
    for default in defaults:
        if default.name not in present:
            node.attribute.append(default)
            present.add(default.name)
    return node


def _expand(node: onnx.NodeProto, function: onnx.FunctionProto) -> list[onnx.NodeProto]:
    from onnx.backend.test.case.node import function_expand_helper

    prefix = f"{node.op_type}_{node.name or 'node'}_{id(node)}_"
    return function_expand_helper(node, function, prefix)


def import_function(proto: onnx.NodeProto, opset: int, input_types: list[TensorType | None],
                    label: str, import_body: Callable[[list[onnx.NodeProto], int], None]) -> bool:
    """Import ``proto`` through its function body with ``import_body(nodes, opset)``; False if
    its op defines no function."""
    body = function_body(proto, opset, input_types)
    if body is None:
        return False
    nodes, body_opset = body
    try:
        import_body(nodes, body_opset)
    except OnnxError as exc:
        raise OnnxError(f"{label}, imported as its ONNX function body: {exc}") from None
    return True
