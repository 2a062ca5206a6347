"""backend="onnxruntime" against the numpy backend: inference (and the training step) of the CNN
and the transformer block of ``cnn.py`` and ``transformer.py``, float32.

Columns: ``graphdiff`` (the numpy backend), ``graphdiff onnxruntime`` (the same function on
``backend="onnxruntime"``), and ``onnxruntime session`` (a bare ``InferenceSession`` over the
same exported model, fed the same arrays: what the backend's own call costs is the difference).
With ``OPENBLAS_NUM_THREADS=1`` every engine runs on one thread (onnxruntime's intra-op pool
too).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks import cnn, transformer
from benchmarks._harness import Step, check_close, compare, single_threaded

ORT = "graphdiff onnxruntime"
SESSION = "onnxruntime session"


def _one_thread() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return options


def _bare_session(f: Any, feeds: list[np.ndarray]) -> Step:
    """The exported model of ``f`` in a plain session: the floor for the backend's call."""
    import onnxruntime as ort

    bound = f.backend
    options = _one_thread() if single_threaded() else ort.SessionOptions()
    session = ort.InferenceSession(bound.bytes, options, providers=["CPUExecutionProvider"])
    inputs = dict(zip(bound.input_names, feeds))
    inputs.update({name: v.data.value for name, v in
                   zip(bound.input_names[len(feeds):], bound.fed)})
    names = bound.output_names
    return lambda: session.run(names, inputs)


def _cnn_logits(params: dict, x: np.ndarray, backend: str | None) -> Any:
    import graphdiff as gd

    xs = gd.placeholder((None, *x.shape[1:]), "float32", name="x")
    p = {name: gd.variable(value, name=name) for name, value in params.items()}
    h = gd.max_pool2d(gd.relu(gd.conv2d(xs, p["w1"], p["b1"], padding=1)), 2)
    h = gd.max_pool2d(gd.relu(gd.conv2d(h, p["w2"], p["b2"], padding=1)), 2)
    logits = gd.reshape(h, (-1, params["wd"].shape[0])) @ p["wd"] + p["bd"]
    return gd.function([xs], logits, backend=backend)


def _transformer_out(params: dict, x: np.ndarray, shape: tuple, backend: str | None) -> Any:
    import graphdiff as gd

    xs = gd.placeholder(x.shape, "float32", name="x")
    p = {name: gd.variable(value, name=name) for name, value in params.items()}
    out = transformer._block(transformer._Graphdiff, xs, p, shape)
    return gd.function([xs], out, backend=backend)


def _inference(title: str, build: Any, x: np.ndarray, quick: bool) -> None:
    numpy_f, ort_f = build(None), build("onnxruntime")
    check_close(ORT, ort_f(x), numpy_f(x), rtol=1e-4, atol=1e-5)
    steps: dict[str, Step] = {"graphdiff": lambda: numpy_f(x), ORT: lambda: ort_f(x),
                              SESSION: _bare_session(ort_f, [x])}
    compare(title, steps, quick=quick, traced=())


def run(quick: bool) -> None:
    if single_threaded():  # every onnxruntime function of this process on one thread
        from graphdiff.backends import get_backend

        get_backend("onnxruntime").session_options = _one_thread()
    rng = np.random.default_rng(1)
    batch, side, channels = (16, 16, (1, 8, 16)) if quick else (64, 28, (1, 16, 32))
    x = rng.normal(size=(batch, channels[0], side, side)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    params = cnn.init(channels, side, 10)
    _inference(f"CNN {side}x{side}x{channels[0]} -> conv{channels[1]} -> pool -> conv"
               f"{channels[2]} -> pool -> 10, inference, batch {batch}, float32",
               lambda backend: _cnn_logits(params, x, backend), x, quick)
    steps = {"graphdiff": cnn.graphdiff_step(params, x, y)[0],
             ORT: cnn.graphdiff_step(params, x, y, backend="onnxruntime")[0]}
    check_close(ORT, steps[ORT](), steps["graphdiff"](), rtol=1e-4)
    compare(f"CNN as above, training step, batch {batch}", steps, quick=quick, traced=())

    shape = (8, 16, 4, 64) if quick else (16, 64, 4, 128)  # batch, tokens, heads, width
    batch, tokens, _, width = shape
    x = rng.normal(size=(batch * tokens, width)).astype(np.float32)
    y = rng.normal(size=(batch * tokens, width)).astype(np.float32)
    params = transformer.init(width, 4 * width)
    _inference(f"transformer block, batch {batch} x {tokens} tokens, width {width}, 4 heads, "
               f"MLP {4 * width}, inference, float32",
               lambda backend: _transformer_out(params, x, shape, backend), x, quick)
    steps = {"graphdiff": transformer.graphdiff_step(params, x, y, shape)[0],
             ORT: transformer.graphdiff_step(params, x, y, shape, backend="onnxruntime")[0]}
    check_close(ORT, steps[ORT](), steps["graphdiff"](), rtol=1e-4)
    compare("transformer block as above, training step", steps, quick=quick, traced=())
