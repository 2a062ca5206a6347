"""The IR: the text form (golden strings), hash-consing, immutability, the verifier, networkx."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ir import Graph, TensorType
from graphdiff.ir.node import Node
from graphdiff.ops import elementwise as E

# --- the text form ---------------------------------------------------------------------------


def test_text_form_of_a_small_model() -> None:
    x = gd.placeholder(("n", 4), "float32", name="x")
    W = gd.variable(np.zeros((4, 3), np.float32), name="W")
    y = gd.tanh(x @ W) + 1.0
    assert str(Graph([x], [y])) == """\
graph(x: f32[n,4]) {
  W: f32[4,3] = variable
  %0: f32[n,3] = matmul x, W
  %1: f32[n,3] = tanh %0
  %2: f32[] = constant 1.0
  %3: f32[n,3] = add %1, %2
  return %3
}"""


def test_text_form_of_a_gradient_graph() -> None:
    a = gd.placeholder((3,), "float64", name="a")
    loss = gd.sum(gd.exp(a) * a)
    assert str(Graph([a], [loss, gd.grad(loss, a)])) == """\
graph(a: f64[3]) {
  %0: f64[3] = exp a
  %1: f64[3] = mul %0, a
  %2: f64[] = sum[axes=(0,), keepdims=False] %1
  %3: f64[] = constant 1.0
  %4: f64[1] = reshape[shape=(1,)] %3
  %5: f64[3] = broadcast_to[shape=(3,)] %4
  %6: f64[3] = mul %5, %0
  %7: f64[3] = mul %5, a
  %8: f64[3] = mul %7, %0
  %9: f64[3] = add %6, %8
  return %2, %9
}"""


def test_text_form_with_symbolic_dims_and_derived_dims() -> None:
    x = gd.placeholder(("n", 4), "float32", name="x")
    f = gd.function([x], gd.reshape(x, (-1,)) * 2.0, passes="none")
    assert str(f.graph) == """\
graph(x: f32[n,4]) {
  %0: f32[n*4] = reshape[shape=('n*4',)] x
  %1: f32[] = constant 2.0
  %2: f32[n*4] = mul %0, %1
  return %2
}"""
    mean = gd.mean(x, axis=0)
    assert str(Graph([x], [mean])) == """\
graph(x: f32[n,4]) {
  %0: f32[4] = sum[axes=(0,), keepdims=False] x
  %1: f32[] = dim_product[dims=('n',), dtype=float32]
  %2: f32[4] = div %0, %1
  return %2
}"""


def test_text_form_shows_casts_and_fresh_dims() -> None:
    b = gd.placeholder((None, 2), "int32", name="b")
    fresh = b.shape[0]
    assert fresh.startswith("?")
    assert str(Graph([b], [b + 2.5])) == f"""\
graph(b: i32[{fresh},2]) {{
  %0: f64[{fresh},2] = cast[dtype=float64] b
  %1: f64[] = constant 2.5
  %2: f64[{fresh},2] = add %0, %1
  return %2
}}"""


def test_text_form_makes_clashing_names_unique() -> None:
    x = gd.placeholder(("n", 4), "float32", name="x")
    x2 = gd.placeholder(("n",), "float32", name="x")
    assert str(Graph([x, x2], [x2 * 2.0])) == """\
graph(x: f32[n,4], x_1: f32[n]) {
  %0: f32[] = constant 2.0
  %1: f32[n] = mul x_1, %0
  return %1
}"""


def test_print_writes_the_text_form(capsys: pytest.CaptureFixture[str]) -> None:
    x = gd.placeholder((2,), "float64", name="x")
    graph = Graph([x], [gd.sin(x)])
    print(graph)
    assert capsys.readouterr().out == str(graph) + "\n"
    assert repr(graph) == "<Graph: 1 inputs, 2 nodes, 1 outputs>"


# --- hash-consing ------------------------------------------------------------------------------


def test_building_the_same_pure_expression_twice_gives_the_same_node() -> None:
    x = gd.placeholder((None, 3), "float32", name="x")
    first = gd.sum(gd.tanh(x * 2.0) + x, axis=1)
    second = gd.sum(gd.tanh(x * 2.0) + x, axis=1)
    assert first is second
    assert gd.exp(x) is gd.exp(x)
    # attributes are part of the structure
    assert gd.sum(x, axis=0) is not gd.sum(x, axis=1)
    assert gd.sum(x, axis=0) is not gd.sum(x, axis=0, keepdims=True)


def test_small_constants_with_equal_values_are_one_node() -> None:
    assert gd.constant(np.float32(2.0)) is gd.constant(np.float32(2.0))
    assert gd.constant(np.float32(2.0)) is not gd.constant(np.float64(2.0))
    assert gd.constant([1.0, 2.0]) is not gd.constant([1.0, 3.0])


def test_commutative_operands_are_not_merged_by_construction() -> None:
    # construction interns by exact structure; merging a + b with b + a is the CSE pass's job
    a = gd.placeholder((3,), "float32", name="a")
    b = gd.placeholder((3,), "float32", name="b")
    assert E.add(a, b) is E.add(a, b)
    assert E.add(a, b) is not E.add(b, a)


def test_sources_never_merge() -> None:
    first = gd.placeholder((3,), "float32", name="x")
    second = gd.placeholder((3,), "float32", name="x")
    assert first is not second
    assert gd.exp(first) is not gd.exp(second)
    v1, v2 = gd.variable(np.zeros(3)), gd.variable(np.zeros(3))
    assert v1 is not v2


def _random_normal():
    for name in ("random_normal", "normal"):
        if hasattr(gd, name):
            return getattr(gd, name)
    pytest.skip("no random normal op in graphdiff yet")


def test_effectful_nodes_never_merge() -> None:
    normal = _random_normal()
    first, second = normal((2, 3), seed=0), normal((2, 3), seed=0)
    assert first.op.effectful
    assert first is not second
    assert gd.exp(first) is not gd.exp(second)


# --- immutability --------------------------------------------------------------------------------


def test_nodes_are_immutable() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    y = gd.sum(x)
    for name, value in [("type", TensorType.of("float64", (3,))), ("inputs", ()),
                        ("name", "y"), ("new_field", 1)]:
        with pytest.raises(gd.GraphdiffError, match="immutable"):
            setattr(y, name, value)
        with pytest.raises(AttributeError):  # also the Python protocol's error class
            setattr(y, name, value)
    with pytest.raises(gd.GraphdiffError, match="immutable"):
        del y.name
    with pytest.raises(TypeError):
        y.attrs["keepdims"] = True  # type: ignore[index]
    assert y.attrs["keepdims"] is False
    assert isinstance(y.inputs, tuple)


def test_tensor_types_are_immutable_values() -> None:
    t = TensorType.of("float32", ("n", 4))
    assert t == TensorType.of("float32", ("n", 4))
    assert hash(t) == hash(TensorType.of("float32", ("n", 4)))
    with pytest.raises(AttributeError):
        t.shape = (1,)  # type: ignore[misc]


def test_truth_value_of_a_tensor_raises() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    with pytest.raises(gd.GraphdiffError, match="gd.where"):
        bool(x > 0)


# --- the verifier ----------------------------------------------------------------------------


def test_verifier_accepts_good_graphs() -> None:
    x = gd.placeholder((None, 4), "float64", name="x")
    W = gd.variable(np.ones((4, 2)), name="W")
    loss = gd.mean(gd.tanh(x @ W) ** 2)
    gW = gd.grad(loss, W)
    Graph([x], [loss, gW]).verify()
    Graph([x], [gd.grad(gd.sum(gW * gW), W, unconnected="zero")]).verify()


def test_verifier_rejects_a_wrong_recorded_type_and_shows_the_line() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    y = gd.exp(x)
    bad = Node(E.add, (y, x), {}, TensorType.of("float32", (5,)))  # the rule gives f32[3]
    out = gd.sin(gd.sum(bad))
    with pytest.raises(gd.GraphError) as info:
        Graph([x], [out]).verify()
    message = str(info.value)
    assert "recorded type f32[5] but the rule gives f32[3]" in message
    assert ">> %1: f32[5] = add %0, x" in message  # the bad line, marked
    assert "   %0: f32[3] = exp x" in message  # with its neighbours for context
    assert "%2: f32[] = sum" in message
    assert f"{__file__}:" in message  # where the bad node was created


def test_verifier_rejects_operands_the_rule_refuses() -> None:
    a = gd.placeholder((3,), "float32", name="a")
    b = gd.placeholder((3,), "float64", name="b")
    bad = Node(E.add, (a, b), {}, TensorType.of("float32", (3,)))
    with pytest.raises(gd.GraphError, match="rule rejects its operands.*share one dtype"):
        Graph([a, b], [bad]).verify()


def test_verifier_rejects_an_undeclared_placeholder_and_a_non_placeholder_input() -> None:
    x = gd.placeholder((3,), "float32", name="x")
    hidden = gd.placeholder((3,), "float32", name="hidden")
    with pytest.raises(gd.GraphError, match="placeholder hidden is used but is not an input"):
        Graph([x], [x + hidden]).verify()
    W = gd.variable(np.zeros(3, np.float32), name="W")
    with pytest.raises(gd.GraphError, match="graph input W is a variable"):
        Graph([W], [W * 2.0]).verify()


# --- networkx --------------------------------------------------------------------------------


def test_to_networkx_has_one_vertex_per_node_and_one_edge_per_operand_use() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    square = x * x  # x is used twice by one node: two edges
    y = gd.sum(square + x)
    graph = Graph([x], [y])
    nxg = graph.to_networkx()
    assert nxg.number_of_nodes() == len(graph.nodes) == 4
    assert nxg.number_of_edges() == sum(len(n.inputs) for n in graph.nodes) == 5
    assert nxg.number_of_edges("x", "%0") == 2
    assert nxg.nodes["%0"]["op"] == "mul"
    assert nxg.nodes["%0"]["type"] == "f64[3]"
    assert sorted(d["operand"] for _, _, d in nxg.in_edges("%1", data=True)) == [0, 1]
    import networkx as nx

    assert list(nx.topological_sort(nxg))[-1] == "%2"


def test_graph_helpers() -> None:
    x = gd.placeholder((3,), "float64", name="x")
    y = gd.exp(x) * gd.exp(x)
    graph = Graph([x], [y])
    assert graph.op_counts() == {"placeholder": 1, "exp": 1, "mul": 1}
    users = graph.users()
    assert users[gd.exp(x)] == [y, y]
    assert len(graph) == 3
    assert graph.with_outputs([gd.exp(x)]).nodes == [x, gd.exp(x)]
