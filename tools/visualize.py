"""Draw a graph: DOT, SVG or an interactive HTML page (a thin script over graphdiff.viz).

    python tools/visualize.py model.onnx -o model.html            # an imported ONNX file
    python tools/visualize.py --model cnn -o train.html --memory  # a bundled model's training step
    python tools/visualize.py --model mlp --stage -o stages.html  # the graph after each pass
    python tools/visualize.py my_script.py:build -o g.svg         # build() returns a graph

The output format follows the extension of ``-o`` (.dot, .svg, .html; default: DOT on stdout).
A ``file.py:function`` source is imported and the function called with no arguments; it may
return a Graph, a compiled function, a tensor or a list of tensors (drawn from the placeholders
they depend on), or anything ``graphdiff.viz`` draws. Loop bodies and branches
(gd.scan, gd.cond, ...) are drawn as nested clusters; in the HTML page a cluster's title folds it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the graphdiff and models/ of this checkout

import graphdiff as gd  # noqa: E402
from graphdiff import viz  # noqa: E402
from graphdiff.ops.source import graph_of  # noqa: E402

MODELS = ("mlp", "cnn", "lstm", "gru", "transformer")  # models/zoo.py RECIPES


def model_step(name: str, batch: int = 32) -> tuple[Any, list[Any]]:
    """A bundled model's compiled training step, and example inputs for the memory view."""
    import numpy as np

    from models import zoo

    classifier = zoo.build(name)
    shape = zoo.RECIPES[name].input_shape
    inputs = [np.zeros((batch, *shape), np.float32), np.zeros(batch, np.int64)]
    return classifier.step, inputs


def load_source(spec: str) -> Any:
    """An .onnx path, or ``file.py:function`` called with no arguments."""
    if spec.endswith(".onnx"):
        return spec
    if ":" not in spec:
        raise SystemExit(f"don't know how to draw {spec!r}: give a .onnx file or file.py:function")
    file, function = spec.rsplit(":", 1)
    module_spec = importlib.util.spec_from_file_location(Path(file).stem, file)
    if module_spec is None or module_spec.loader is None:
        raise SystemExit(f"cannot import {file!r}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    built = getattr(module, function)()
    # a tensor or a list of tensors: draw the graph from the placeholders they depend on
    if isinstance(built, gd.Node) or (isinstance(built, list | tuple) and built
                                      and all(isinstance(b, gd.Node) for b in built)):
        built = graph_of([built] if isinstance(built, gd.Node) else list(built))
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", help="a .onnx file or file.py:function")
    parser.add_argument("--model", choices=MODELS, help="draw a bundled model's training step")
    parser.add_argument("-o", "--output", help="output file (.dot, .svg, .html)")
    parser.add_argument("--stage", action="store_true",
                        help="HTML/DOT: the graph before and after each pass, side by side")
    parser.add_argument("--memory", action="store_true",
                        help="HTML: add the memory view (bytes live per step; --model only)")
    parser.add_argument("--unoptimized", action="store_true",
                        help="draw a compiled function's graph before the passes")
    args = parser.parse_args(argv)
    if (args.source is None) == (args.model is None):
        parser.error("give exactly one of SOURCE or --model")
    if args.memory and not args.model:
        parser.error("--memory draws the memory view of a bundled model's step: it needs "
                     "--model (a SOURCE comes with no example inputs)")
    inputs = None
    if args.model:
        source, inputs = model_step(args.model)
    else:
        source = load_source(args.source)
    if args.unoptimized and isinstance(source, gd.Function):
        source = source.reference_graph
    extension = os.path.splitext(args.output or "")[1].lower() or ".dot"
    if extension == ".html":
        text = viz.to_html(source, stage=args.stage,
                           memory_inputs=inputs if args.memory else None)
    elif args.stage:
        if extension not in (".dot", ".gv"):
            parser.error("--stage draws to .html or .dot")
        from graphdiff.viz.dot import stages_to_dot

        text = stages_to_dot(viz.stages(source))
    elif extension in (".dot", ".gv"):
        text = viz.to_dot(source)
    elif extension == ".svg":
        text = viz.to_svg(source)
    else:
        parser.error(f"unknown output format {extension!r}: use .dot, .svg or .html")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
