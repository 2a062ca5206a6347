"""Hostile and malformed ONNX files: every one raises OnnxError (a GraphdiffError) or imports
cleanly; none crashes, reads outside the model's folder or runs code.

An audit hook watches every ``open`` and every code-running event (exec, compile of source,
subprocess, pickle) while ``import_onnx`` runs. The fuzz test mutates valid models at random,
bytes and protobuf fields; GRAPHDIFF_SLOW=1 runs it longer.
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphdiff as gd

from .test_onnx_models import _mlp

FUZZ_ROUNDS = 4000 if os.environ.get("GRAPHDIFF_SLOW") else 300
_WATCHED = {"open", "exec", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
            "pickle.find_class", "marshal.loads"}
_events: list[tuple[str, tuple]] | None = None


def _audit(event: str, args: tuple) -> None:
    if _events is not None and event in _WATCHED:
        _events.append((event, args))


sys.addaudithook(_audit)
gd.import_onnx(helper.make_model(helper.make_graph(  # load the importer before watching
    [], "warm-up", [], []), opset_imports=[helper.make_opsetid("", 18)]))


_TRUSTED = (os.path.dirname(os.path.dirname(os.path.abspath(gd.__file__))), sys.prefix,
            sys.base_prefix)


def _is_module_code(code) -> bool:
    filename = os.path.abspath(getattr(code, "co_filename", "<none>"))
    return os.path.isfile(filename) and filename.startswith(_TRUSTED)


def guarded_import(source, folder: str | None = None, **kwargs):
    """import_onnx, checking that it opened nothing outside ``folder`` and ran no code."""
    global _events
    _events = []
    try:
        return gd.import_onnx(source, **kwargs)
    finally:
        events, _events = _events, None
        for event, args in events:
            if event == "exec" and _is_module_code(args[0]):
                continue  # a module imported lazily on first use, not code from the model
            assert event == "open", f"import_onnx triggered {event} {args!r}"
            path = args[0]
            if not isinstance(path, str | bytes) or path == "<bytes>":
                continue
            path = os.path.realpath(os.fsdecode(path))
            if path.endswith((".py", ".pyc", ".so")) or "site-packages" in path:
                continue  # a lazily imported module of onnx or numpy
            assert folder is not None and os.path.commonpath(
                [os.path.realpath(folder), path]) == os.path.realpath(folder), \
                f"import_onnx opened {path} outside {folder}"


def _model(nodes, inputs, outputs, initializers=(), opset=18) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def _raises(source, match: str, folder: str | None = None) -> None:
    with pytest.raises(gd.OnnxError, match=match):
        guarded_import(source, folder)


def test_unknown_op() -> None:
    _raises(_model([helper.make_node("FrobnicateAll", ["x"], ["y"])], [X], [Y]), "Frobnicate")


def test_custom_domain() -> None:
    node = helper.make_node("Relu", ["x"], ["y"], domain="com.evil")
    _raises(_model([node], [X], [Y]), "domain 'com.evil'")


def test_wrong_attribute_type() -> None:
    node = helper.make_node("Softmax", ["x"], ["y"])
    node.attribute.append(helper.make_attribute("axis", "one"))
    _raises(_model([node], [X], [Y]), "attribute 'axis' must be INT, got STRING")
    node = helper.make_node("Transpose", ["x"], ["y"], perm=2.5)
    _raises(_model([node], [X], [Y]), "attribute 'perm' must be INTS")


def test_cyclic_graph() -> None:
    nodes = [helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Identity", ["a"], ["y"])]
    _raises(_model(nodes, [X], [Y]), "cycle")


def test_dangling_input_and_duplicate_output() -> None:
    _raises(_model([helper.make_node("Relu", ["nowhere"], ["y"])], [X], [Y]), "nowhere")
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])]
    _raises(_model(nodes, [X], [Y]), "defined twice")


def test_garbage_and_truncated_bytes() -> None:
    _raises(b"\xff\xfe not a model at all \x00\x01", "not a valid ONNX model|no graph")
    x = gd.placeholder((2, 3), "float32", name="x")
    data = gd.export_onnx(None, [x], [gd.exp(x) @ np.ones((3, 2), np.float32)])\
        .SerializeToString()
    for cut in (1, 7, len(data) // 3, len(data) - 1):
        try:
            guarded_import(data[:cut])
        except gd.OnnxError:
            pass


def test_tensor_size_lies() -> None:
    node = helper.make_node("Add", ["x", "w"], ["y"])
    for dims, values, message in (([1000, 1000, 1000], [1.0], "more than"),
                                  ([2, 3], [1.0, 2.0], "holds 2 values"),
                                  ([2, -3], [], "negative dimension")):
        tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims,
                             float_data=values)
        _raises(_model([node], [X], [Y], [tensor]), message)
    raw = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3], raw_data=b"\0" * 7)
    _raises(_model([node], [X], [Y], [raw]), "raw data holds 7 bytes")


def test_no_unbounded_allocation() -> None:
    big = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10**7])
    sizes = numpy_helper.from_array(np.array([1, 2 * 10**7], np.int64), "sizes")
    resize = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")
    _raises(_model([resize], [big], [Y], [sizes]), "more than")
    bounds = [numpy_helper.from_array(np.asarray(v, np.int64), n)
              for v, n in ((0, "start"), (10**12, "limit"), (1, "delta"))]
    arange = helper.make_node("Range", ["start", "limit", "delta"], ["y"])
    _raises(_model([arange], [], [Y], bounds), "more than")


def _external_model(folder: str, location: str) -> str:
    weights = numpy_helper.from_array(np.ones((2, 3), np.float32), "w")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "24")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [X], [Y], [weights])
    path = os.path.join(folder, "model.onnx")
    with open(path, "wb") as file:
        file.write(model.SerializeToString())
    return path


def test_external_data_inside_the_folder_loads(tmp_path) -> None:
    (tmp_path / "weights.bin").write_bytes(np.full((2, 3), 2.0, np.float32).tobytes())
    path = _external_model(str(tmp_path), "weights.bin")
    model = guarded_import(path, str(tmp_path))
    np.testing.assert_array_equal(model(np.ones((2, 3), np.float32))[0], np.full((2, 3), 3.0))


@pytest.mark.parametrize("location", ["../outside/secret.bin", "/etc/passwd", "",
                                      "sub/../../outside/secret.bin", "link.bin", "."])
def test_external_data_cannot_escape(tmp_path, location: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"S" * 24)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "link.bin").symlink_to(outside / "secret.bin")
    path = _external_model(str(folder), location)
    _raises(path, "outside|relative path|not a regular file|missing", str(folder))


def test_external_data_offsets_checked(tmp_path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 10)
    _raises(_external_model(str(tmp_path), "weights.bin"), "shorter", str(tmp_path))
    model = onnx.load(_external_model(str(tmp_path), "weights.bin"), load_external_data=False)
    _raises(model, "loaded from a path")


# --- fuzzing -------------------------------------------------------------------------------------

def _seed_models(folder: str) -> list[bytes]:
    x, y, params, logits, loss = _mlp()
    mlp = gd.export_onnx(None, [x, y], [logits, loss])
    image = gd.placeholder((1, 2, 6, 6), "float32", name="image")
    kernel = gd.variable(np.ones((3, 2, 3, 3), np.float32), name="kernel")
    conv = gd.export_onnx(None, [image], [gd.max_pool2d(gd.conv2d(image, kernel), 2)])
    (open(os.path.join(folder, "weights.bin"), "wb")).write(np.ones(6, np.float32).tobytes())
    with open(_external_model(folder, "weights.bin"), "rb") as file:
        external = file.read()
    return [mlp.SerializeToString(), conv.SerializeToString(), external] + _node_test_models()


def _node_test_models(count: int = 40) -> list[bytes]:
    """Some of onnx's node-test models (every importer's attribute handling gets mutated)."""
    import warnings

    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [c for c in load_model_tests(kind="node") if not c.name.endswith("expanded")]
    picked = random.Random(1).sample(cases, count)
    return [case.model.SerializeToString() for case in picked]


_OP_TYPES = ["Add", "Reshape", "Gather", "Concat", "Slice", "Conv", "MaxPool", "Softmax",
             "ReduceSum", "Cast", "Expand", "ConstantOfShape", "Range", "Split", "Loop", "If"]


def _mutate_fields(model: onnx.ModelProto, rng: random.Random) -> None:
    graph = model.graph
    choice = rng.randrange(9)
    nodes = list(graph.node)
    if choice == 0 and nodes:
        rng.choice(nodes).op_type = rng.choice(_OP_TYPES)
    elif choice == 1 and nodes:
        node = rng.choice(nodes)
        if node.input:
            names = [n for other in nodes for n in other.output] + ["", "ghost"]
            node.input[rng.randrange(len(node.input))] = rng.choice(names)
    elif choice == 2 and nodes:
        node = rng.choice(nodes)
        value = rng.choice([rng.randint(-2**40, 2**40), rng.random() * 1e9, "text",
                            [rng.randint(-5, 5) for _ in range(rng.randrange(6))]])
        name = rng.choice(["axis", "perm", "to", "kernel_shape", "pads", "value", "keepdims"])
        del node.attribute[:]
        kind = onnx.AttributeProto.INTS if isinstance(value, list) else None
        node.attribute.append(helper.make_attribute(name, value, attr_type=kind))
    elif choice == 3 and graph.initializer:
        tensor = rng.choice(list(graph.initializer))
        tensor.dims[:] = [rng.choice([0, 1, 3, -1, 2**31, 7]) for _ in range(rng.randrange(4))]
    elif choice == 4 and graph.initializer:
        rng.choice(list(graph.initializer)).data_type = rng.randrange(0, 30)
    elif choice == 5 and graph.input:
        dims = rng.choice(list(graph.input)).type.tensor_type.shape.dim
        if dims:
            dims[rng.randrange(len(dims))].dim_value = rng.choice([0, 1, 10**6, -4])
    elif choice == 6 and nodes:
        graph.node.insert(0, graph.node.pop())  # break the order (and maybe make a cycle)
    elif choice == 7 and graph.initializer:
        tensor = rng.choice(list(graph.initializer))
        tensor.data_location = TensorProto.EXTERNAL
        entry = tensor.external_data.add()
        entry.key = "location"
        entry.value = rng.choice(["/etc/passwd", "../x", "weights.bin", "a/../../b", ""])
    else:
        model.opset_import[0].version = rng.choice([0, 1, 6, 13, 18, 10**6])


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randrange(1, 8)):
        kind = rng.randrange(3)
        position = rng.randrange(len(data))
        if kind == 0:
            data[position] = rng.randrange(256)
        elif kind == 1:
            del data[position:position + rng.randrange(1, 16)]
        else:
            data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
    return bytes(data[:rng.randrange(len(data) // 2, len(data) + 1)])


def test_random_mutations_never_crash(tmp_path) -> None:
    folder = str(tmp_path)
    seeds = _seed_models(folder)
    rng = random.Random(0)
    outcomes = {"imported": 0, "rejected": 0}
    for round_ in range(FUZZ_ROUNDS):
        data = rng.choice(seeds)
        if round_ % 2:
            data = _mutate_bytes(data, rng)
        else:
            model = onnx.ModelProto.FromString(data)
            for _ in range(rng.randrange(1, 4)):
                _mutate_fields(model, rng)
            data = model.SerializeToString()
        path = os.path.join(folder, "model.onnx")
        with open(path, "wb") as file:
            file.write(data)
        try:
            imported = guarded_import(path, folder)
            gd.function(imported.inputs, imported.outputs)
            outcomes["imported"] += 1
        except gd.OnnxError:
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > FUZZ_ROUNDS // 4 and outcomes["imported"] > 0, outcomes


def test_no_unbounded_loops() -> None:
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    pool = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[10**6, 10**6], dilations=[2, 2])
    _raises(_model([pool], [image], [Y]), "taps")
    split = helper.make_node("Split", ["x"], ["y"], axis=2, num_outputs=2**40)
    _raises(_model([split], [image], [Y]), "pieces")
