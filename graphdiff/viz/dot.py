"""Graphviz DOT text for a drawing, and SVG through the ``dot`` program when it is installed.

Each box reads ``name = op`` over the type, with the text form's names, so a box and a line of
``print(graph)`` match. The tooltip (shown on hover in Graphviz's SVG) holds the node's full text
line and the user's file:line that created it.

A region is a ``cluster_...`` subgraph nested where its owner is (a cond inside a scan body is a
cluster inside the body's cluster) holding its parameters, its nodes and a return box; dashed
edges join each of the owner's operands to the parameter it is passed as, and the return box to
the owner.
"""

from __future__ import annotations

import shutil
import subprocess

from ..errors import GraphdiffError
from .drawing import Drawing
from .style import OUTPUT_BORDER, REGION, RETURN, STYLES


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_line(d: Drawing, node, prefix: str, locations: bool) -> str:
    style = STYLES[d.kinds[node]]
    styles = ["filled"] + (["rounded"] if style.rounded else []) + \
        (["dashed"] if style.dash else [])
    width = OUTPUT_BORDER if node in d.output_labels else style.width
    attrs = {
        "label": f"{d.label(node)}\n{node.type}",
        "fillcolor": style.fill, "color": style.border, "style": ",".join(styles),
        "penwidth": f"{width:g}",
    }
    if style.double:
        attrs["peripheries"] = "2"
    if node in d.output_labels:
        attrs["xlabel"] = d.output_labels[node]
    if locations:
        attrs["tooltip"] = f"{d.details(node)['text']}\n{node.location}"
    body = ", ".join(f"{key}={_quote(value)}" for key, value in attrs.items())
    return f"  {_quote(prefix + d.names[node])} [{body}];"


def _body(d: Drawing, prefix: str, locations: bool, indent: str = "") -> list[str]:
    lines = [indent + _node_line(d, node, prefix, locations) for node in d.nodes]
    if d.block is not None:  # a region's return box, fed by its results
        ret = {"label": d.return_label(), "shape": "invhouse", "style": "filled",
               "fillcolor": RETURN.fill, "color": RETURN.border}
        body = ", ".join(f"{key}={_quote(value)}" for key, value in ret.items())
        lines.append(f"{indent}  {_quote(prefix + d.return_name)} [{body}];")
    for node in d.nodes:
        for region in d.regions.get(node, ()):
            lines += _cluster(region, f"{d.label(node)}: {region.title}", prefix, locations,
                              indent + "  ")
    # edges out of a region are stated here, outside its cluster: an edge stated inside a
    # cluster would pull its other end into that cluster too
    for source, target, kind in d.edges():
        dashed = " [style=dashed]" if kind != "data" else ""
        lines.append(f"{indent}  {_quote(prefix + source)} -> {_quote(prefix + target)}{dashed};")
    return lines


def _cluster(region: Drawing, label: str, prefix: str, locations: bool,
             indent: str) -> list[str]:
    return [f"{indent}subgraph {_quote(f'cluster_{prefix}block{region.block}')} {{",
            f"{indent}  label={_quote(label)}; labeljust=l; fontname=Helvetica; "
            f'fontsize=11; style="rounded,filled"; fillcolor={_quote(REGION.fill)}; '
            f"color={_quote(REGION.border)};",
            *_body(region, prefix, locations, indent),
            f"{indent}}}"]


_HEADER = [
    "  rankdir=TB;",
    '  node [shape=box, fontname="Helvetica", fontsize=10];',
    '  edge [color="#666666", arrowsize=0.6];',
]


def to_dot(d: Drawing, *, locations: bool = True) -> str:
    """The drawing as one DOT digraph."""
    lines = [f"digraph {_quote(d.title)} {{", *_HEADER, *_body(d, "", locations), "}"]
    return "\n".join(lines) + "\n"


def stages_to_dot(stages: list[tuple[str, Drawing]], *, locations: bool = True) -> str:
    """Several drawings side by side, one cluster per stage (names prefixed ``stage:``)."""
    lines = ["digraph stages {", *_HEADER, "  newrank=true;"]
    for index, (name, d) in enumerate(stages):
        lines.append(f"  subgraph {_quote(f'cluster_{index}')} {{")
        lines.append(f"    label={_quote(f'{index}. {name} ({len(d.graph)} nodes)')};")
        lines.extend(_body(d, f"{index}:", locations, indent="  "))
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_available() -> bool:
    """True when Graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def run_dot(dot_text: str, fmt: str = "svg") -> str:
    """Lay out and render DOT text with the ``dot`` program."""
    program = shutil.which("dot")
    if program is None:
        raise GraphdiffError("the Graphviz 'dot' program is not installed; use "
                             "graphdiff.viz.to_svg(..., engine='builtin') instead")
    result = subprocess.run([program, f"-T{fmt}"], input=dot_text, capture_output=True,
                            text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise GraphdiffError(f"dot failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout
