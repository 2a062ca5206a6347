"""One style table shared by every renderer, so DOT, SVG and HTML agree on what a kind looks
like. Fills are light so the text stays readable; borders carry the second cue for readers who
do not tell the colours apart (dashed constants, double-bordered fused groups, thick updates)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindStyle:
    fill: str
    border: str
    dash: bool = False  # dashed border
    double: bool = False  # a second border inside the first
    width: float = 1.0
    rounded: bool = True
    legend: str = ""


STYLES: dict[str, KindStyle] = {
    "input": KindStyle("#d6e9ff", "#2b6cb0", width=1.5, legend="input (placeholder)"),
    "variable": KindStyle("#fff1c2", "#b7791f", width=1.5, legend="variable (state)"),
    "constant": KindStyle("#f1f1f1", "#888888", dash=True, legend="constant"),
    "forward": KindStyle("#ffffff", "#333333", legend="forward"),
    "gradient": KindStyle("#ffe0e0", "#c53030", legend="gradient"),
    "update": KindStyle("#dcf5d6", "#2f855a", width=2.0, legend="optimizer update"),
    "fused": KindStyle("#ece2ff", "#6b46c1", double=True, legend="fused group"),
    "parameter": KindStyle("#e6fffa", "#2c7a7b", width=1.5, legend="region parameter"),
}

# a region (loop body, branch) is a cluster: a light frame with a title strip; its results box
REGION = KindStyle("#f7f9fc", "#718096")
REGION_TITLE = "#e2e8f0"
RETURN = KindStyle("#edf2f7", "#4a5568", rounded=False)


def legend_styles(regions: bool) -> list[KindStyle]:
    """The legend's entries: region parameters only where some node owns a region."""
    return [style for kind, style in STYLES.items() if regions or kind != "parameter"]


OUTPUT_BORDER = 3.0  # a graph output gets a heavier border than its kind's
