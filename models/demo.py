"""The demo: train a LeNet-style CNN on the bundled handwritten digits, end to end.

    python models/demo.py [--epochs 20] [--out out/demo]

1. trains the CNN (Adam, mini-batches of 32) on the fixed training split with ``gd.train.fit``
   (a progress bar on terminals, the test accuracy after each epoch, a checkpoint after each
   epoch in ``<out>/checkpoint.npz``; ``--resume`` continues from it) and prints the test
   accuracy;
2. exports the trained predictor to ONNX and checks that onnxruntime (when installed) gives the
   same predictions on the whole test set;
3. draws the training step's graph (forward, gradient and optimizer-update nodes, and the memory
   plan) as an interactive HTML page, an SVG and Graphviz DOT.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `models` as a package

import graphdiff as gd  # noqa: E402
from graphdiff import viz  # noqa: E402
from models import zoo  # noqa: E402
from models.digits import load_digits  # noqa: E402
from models.train import evaluate  # noqa: E402


def check_onnxruntime(path: Path, x_test: np.ndarray, expected: np.ndarray) -> str:
    """Run the exported model in onnxruntime; compare with graphdiff's logits."""
    try:
        import onnxruntime
    except ImportError:
        return ('onnxruntime is not installed (pip install -e ".[demo]"): agreement not '
                'checked')
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (logits,) = session.run(None, {name: x_test})
    same = float(np.mean(np.argmax(logits, 1) == np.argmax(expected, 1)))
    error = float(np.max(np.abs(logits - expected)))
    if same < 1.0:
        raise SystemExit(f"onnxruntime disagrees on {1 - same:.1%} of the test set")
    return (f"onnxruntime agrees on all {len(x_test)} test predictions "
            f"(largest logit difference {error:.1e})")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=zoo.RECIPES["cnn"].epochs)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>/checkpoint.npz (bit for bit)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_digits()
    print(f"digits: {len(data.x_train)} training and {len(data.x_test)} test images (8x8)")
    recipe = zoo.RECIPES["cnn"]
    cnn = zoo.build("cnn", args.seed)
    print(f"training step: {len(cnn.step.reference_graph)} nodes built, "
          f"{len(cnn.step.graph)} after the passes")
    x_train, x_test = data.images("train"), data.images("test")
    n_batches = -(-len(x_train) // recipe.batch_size)
    history = gd.train.fit(
        cnn.step, (x_train, data.y_train), epochs=args.epochs, batch_size=recipe.batch_size,
        seed=args.seed,
        evaluate=lambda: {"test_accuracy": evaluate(cnn, x_test, data.y_test)},
        state=cnn.state, checkpoint=args.out / "checkpoint.npz", checkpoint_every=n_batches,
        resume=args.resume)
    trained = time.perf_counter() - start
    accuracy = evaluate(cnn, x_test, data.y_test)
    speed = history.steps_per_second[-1]  # NaN: the epoch ran before a resume
    print(f"trained {args.epochs} epochs in {trained:.1f} s "
          f"(last epoch {'resumed' if np.isnan(speed) else f'{speed:.0f} steps/s'}, "
          f"training loss {history.loss[-1]:.4f}); checkpoint {args.out / 'checkpoint.npz'}")
    print(f"test accuracy: {accuracy:.2%}")

    onnx_path = args.out / "digits_cnn.onnx"
    try:
        gd.export_onnx(onnx_path, [cnn.x], [cnn.logits])
    except gd.OnnxError as exc:  # an op of the model that the exporter does not map yet
        print(f"ONNX export failed, so onnxruntime was not run: {exc}")
    else:
        print(f"exported {onnx_path}")
        print(check_onnxruntime(onnx_path, data.images("test"),
                                cnn.predict(data.images("test"))))

    example = [data.images("train")[:recipe.batch_size], data.y_train[:recipe.batch_size]]
    pictures = [viz.save(cnn.step, args.out / "training_graph.html", memory_inputs=example,
                         title="LeNet training step on digits"),
                viz.save(cnn.step, args.out / "training_graph.svg"),
                viz.save(cnn.step, args.out / "training_graph.dot")]
    print("drew the training graph: " + ", ".join(str(p) for p in pictures))
    total = time.perf_counter() - start
    print(f"done in {total:.1f} s")
    return {"accuracy": accuracy, "seconds": total}


if __name__ == "__main__":
    main()
