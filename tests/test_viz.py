"""graphdiff.viz: golden DOT, node kinds, the built-in SVG, the HTML page (also in a real
headless chromium when /usr/bin/chromium exists), pass stages, the memory view, ONNX sources,
regions drawn as nested clusters, and tools/visualize.py."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import viz

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

GOLDEN_SGD_STEP = r'''digraph "function" {
  rankdir=TB;
  node [shape=box, fontname="Helvetica", fontsize=10];
  edge [color="#666666", arrowsize=0.6];
  "x" [label="x\nf64[n,2]", fillcolor="#d6e9ff", color="#2b6cb0", style="filled,rounded", penwidth="1.5"];
  "W" [label="W\nf64[2,1]", fillcolor="#fff1c2", color="#b7791f", style="filled,rounded", penwidth="1.5"];
  "%0" [label="%0 = matmul\nf64[n,1]", fillcolor="#ffffff", color="#333333", style="filled,rounded", penwidth="1"];
  "%1" [label="%1 = tanh\nf64[n,1]", fillcolor="#ffffff", color="#333333", style="filled,rounded", penwidth="1"];
  "%2" [label="%2 = sum\nf64[]", fillcolor="#ffffff", color="#333333", style="filled,rounded", penwidth="3", xlabel="output 0"];
  "%3" [label="%3 = 0.5\nf64[]", fillcolor="#f1f1f1", color="#888888", style="filled,rounded,dashed", penwidth="1"];
  "%4" [label="%4 = transpose\nf64[2,n]", fillcolor="#ffe0e0", color="#c53030", style="filled,rounded", penwidth="1"];
  "%5" [label="%5 = 1.0\nf64[]", fillcolor="#f1f1f1", color="#888888", style="filled,rounded,dashed", penwidth="1"];
  "%6" [label="%6 = reshape\nf64[1,1]", fillcolor="#ffe0e0", color="#c53030", style="filled,rounded", penwidth="1"];
  "%7" [label="%7 = broadcast_to\nf64[n,1]", fillcolor="#ffe0e0", color="#c53030", style="filled,rounded", penwidth="1"];
  "%8" [label="%8 = square\nf64[n,1]", fillcolor="#ffe0e0", color="#c53030", style="filled,rounded", penwidth="1"];
  "%9" [label="%9 = sub\nf64[n,1]", fillcolor="#ffe0e0", color="#c53030", style="filled,rounded", penwidth="1"];
  "%10" [label="%10 = mul\nf64[n,1]", fillcolor="#ffe0e0", color="#c53030", style="filled,rounded", penwidth="1"];
  "%11" [label="%11 = matmul\nf64[2,1]", fillcolor="#ffe0e0", color="#c53030", style="filled,rounded", penwidth="1"];
  "%12" [label="%12 = mul\nf64[2,1]", fillcolor="#ffe0e0", color="#c53030", style="filled,rounded", penwidth="1"];
  "%13" [label="%13 = sub\nf64[2,1]", fillcolor="#dcf5d6", color="#2f855a", style="filled,rounded", penwidth="3", xlabel="W <- (update)"];
  "x" -> "%0";
  "W" -> "%0";
  "%0" -> "%1";
  "%1" -> "%2";
  "x" -> "%4";
  "%5" -> "%6";
  "%6" -> "%7";
  "%1" -> "%8";
  "%5" -> "%9";
  "%8" -> "%9";
  "%7" -> "%10";
  "%9" -> "%10";
  "%4" -> "%11";
  "%10" -> "%11";
  "%3" -> "%12";
  "%11" -> "%12";
  "W" -> "%13";
  "%12" -> "%13";
}
'''  # noqa: E501


def sgd_step(passes="none"):
    x = gd.placeholder(("n", 2), "float64", name="x")
    W = gd.variable(np.ones((2, 1)), name="W")
    loss = gd.sum(gd.tanh(x @ W))
    gW = gd.grad(loss, W)
    return gd.function([x], loss, updates={W: W - 0.5 * gW}, passes=passes), gW


def adam_step():
    sys.path.insert(0, str(ROOT))
    from graphdiff.optim import Adam

    x = gd.placeholder((None, 3), "float32", name="x")
    W = gd.variable(np.ones((3, 2), np.float32), name="W")
    loss = gd.mean(gd.square(x @ W))
    grads = gd.grad(loss, [W])
    return gd.function([x], loss, updates=Adam(0.1).updates([W], grads)), grads


# --- DOT ---------------------------------------------------------------------------------------

def test_dot_golden():
    f, _ = sgd_step()
    assert viz.to_dot(f, locations=False) == GOLDEN_SGD_STEP


def test_dot_names_match_the_text_form():
    f, _ = sgd_step()
    text_names = re.findall(r"^  (%\d+|W): ", str(f.graph), re.M)
    dot = viz.to_dot(f, locations=False)
    dot_names = re.findall(r'^  "([^"]+)" \[label=', dot, re.M)
    assert set(text_names) <= set(dot_names) and "x" in dot_names


def test_dot_tooltips_carry_the_users_line():
    f, _ = sgd_step()
    dot = viz.to_dot(f)
    assert f"test_viz.py:{sgd_step.__code__.co_firstlineno + 3}" in dot  # the tanh line


def test_stages_dot_has_one_cluster_per_pass():
    from graphdiff.viz.dot import stages_to_dot

    f, _ = adam_step()
    text = stages_to_dot(viz.stages(f))
    names = ["input", *gd.passes.DEFAULT_PIPELINE]
    for index, name in enumerate(names):
        assert f'label="{index}. {name} (' in text
    assert text.count("subgraph") == len(names)


def test_dot_renders_with_graphviz_when_installed():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    f, _ = sgd_step()
    svg = viz.to_svg(f, engine="dot")
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "%13" in titles and "W" in titles


# --- kinds -------------------------------------------------------------------------------------

def kinds_by_name(source, **options):
    d = viz.drawing(source, **options)
    return {d.names[n]: k for n, k in d.kinds.items()}


def test_kinds_of_an_sgd_step():
    f, gW = sgd_step()
    kinds = kinds_by_name(f)
    assert kinds["x"] == "input" and kinds["W"] == "variable"
    assert kinds["%3"] == kinds["%5"] == "constant"
    assert [kinds[f"%{i}"] for i in (0, 1, 2)] == ["forward"] * 3
    assert all(kinds[f"%{i}"] == "gradient" for i in (4, 6, 7, 8, 9, 10, 11))
    assert kinds["%13"] == "update"
    # told which node is the gradient, the scaling 0.5 * g becomes optimizer arithmetic
    exact = kinds_by_name(f, gradients=[gW])
    assert exact["%11"] == "gradient" and exact["%12"] == "update"


def test_kinds_of_an_adam_step():
    f, grads = adam_step()
    d = viz.drawing(f)
    by_kind: dict[str, set[str]] = {}
    for node, kind in d.kinds.items():
        by_kind.setdefault(kind, set()).add(node.op.name)
    state = {n.name for n in d.graph.nodes if n.op.name == "variable"}
    assert state == {"W", "adam.W.m", "adam.W.v", "adam.step"}
    assert "sqrt" in by_kind["update"] and "matmul" in by_kind["gradient"]
    assert all(d.kinds[o] == "update" for o in d.graph.outputs[1:])
    assert d.kinds[d.graph.outputs[0]] == "forward"


def test_fused_nodes_are_their_own_kind():
    x = gd.placeholder((4,), "float64", name="x")
    y = gd.exp(gd.tanh(x) * 2.0 + 1.0)
    f = gd.function([x], y, passes=["fuse"])
    d = viz.drawing(f)
    fused = [n for n in d.graph.nodes if n.op.name.startswith("fused")]
    assert fused and all(d.kinds[n] == "fused" for n in fused)
    assert 'peripheries="2"' in viz.to_dot(f)
    body = d.details(fused[0])["body"]  # the group's region, as the text form prints it
    assert body[0].startswith("  region 0 (%0.0: f64[4]")
    assert body[1] == "    %0.3: f64[4] = tanh %0.0" and body[-2] == "    return %0.6"
    (group,) = d.regions[fused[0]]
    assert group.title == "group"


# --- SVG and HTML ------------------------------------------------------------------------------

def test_builtin_svg_is_wellformed_and_distinguishes_kinds():
    f, _ = adam_step()
    svg = viz.to_svg(f, engine="builtin")
    root = ET.fromstring(svg)
    groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g")
              if "node" in g.get("class", "").split()]
    assert len(groups) == len(f.graph.nodes)
    classes = {g.get("class") for g in groups}
    for kind in ("input", "variable", "constant", "forward", "gradient", "update"):
        assert f"node kind-{kind}" in classes


def test_layout_keeps_boxes_apart_and_edges_downward():
    from graphdiff.viz.layout import layout

    f, _ = adam_step()
    d = viz.drawing(f)
    boxes, width, height = layout(d)
    rows: dict[float, list] = {}
    for box in boxes.values():
        rows.setdefault(box.y, []).append(box)
    for row in rows.values():
        row.sort(key=lambda b: b.x)
        for a, b in zip(row, row[1:], strict=False):
            assert a.x + a.width / 2 <= b.x - b.width / 2 + 1e-6
    for node in d.graph.nodes:
        for value in node.inputs:
            assert boxes[value].y < boxes[node].y
    assert all(0 <= b.x - b.width / 2 and b.x + b.width / 2 <= width for b in boxes.values())


def page_data(text: str) -> dict:
    match = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', text,
                      re.S)
    assert match
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_html_is_selfcontained_and_carries_node_details():
    f, _ = sgd_step()
    text = viz.to_html(f, title="sgd")
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<script src" not in text
    data = page_data(text)
    (panel,) = data["panels"]
    node = {n["name"]: n for n in panel["nodes"]}["%1"]
    assert node["op"] == "tanh" and node["dtype"] == "float64" and node["shape"] == ["n", "1"]
    assert node["location"].endswith(f"test_viz.py:{sgd_step.__code__.co_firstlineno + 3}")
    assert node["kind"] == "forward" and node["inputs"] == ["%0"]
    assert node["text"] == "%1: f64[n,1] = tanh %0"


def test_html_stage_view_has_a_panel_per_pass_ending_at_the_compiled_graph():
    f, _ = adam_step()
    data = page_data(viz.to_html(f, stage=True))
    titles = [p["title"] for p in data["panels"]]
    assert titles == ["input", *gd.passes.DEFAULT_PIPELINE]
    assert len(data["panels"][0]["nodes"]) == len(f.reference_graph.nodes)
    assert len(data["panels"][-1]["nodes"]) == len(f.graph.nodes)


def test_memory_view_matches_the_runtime_plan():
    f, _ = adam_step()
    batch = [np.ones((16, 3), np.float32)]
    timeline = viz.memory_timeline(f, batch)
    report = f.memory_report(*batch)
    assert timeline.arena == report.arena
    assert timeline.lower_bound == report.lower_bound
    assert len(timeline.steps) == len(timeline.arena_live) == len(timeline.heap_live)
    constants = sum(n.data.nbytes for n in f.graph.nodes if n.op.name == "constant")
    # x, W m v (float32), the int64 step counter
    assert timeline.resident == 16 * 3 * 4 + 3 * (3 * 2 * 4) + 8 + constants
    placed = timeline.placements
    assert placed and all(0 <= p.offset and p.offset + p.nbytes <= timeline.arena for p in placed)
    for i, a in enumerate(placed):  # buffers live at the same step never share bytes
        for b in placed[i + 1:]:
            if a.start <= b.end and b.start <= a.end:
                assert a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset
    page = viz.to_html(f, memory_inputs=[(16, 3)])
    assert page.count('class="bar"') == len(timeline.steps)
    assert page.count('class="buffer bar"') == len(placed)
    assert "planned arena" in page and "arena lower bound" in page


def test_memory_view_without_a_plan():
    f, _ = sgd_step()  # passes="none": the reference interpreter plans nothing
    timeline = viz.memory_timeline(f, [(5, 2)])
    assert timeline.arena is None and max(timeline.arena_live) == 0
    assert timeline.peak > 0


def test_onnx_file_draws(tmp_path):
    x = gd.placeholder(("n", 3), "float32", name="x")
    W = gd.variable(np.ones((3, 2), np.float32), name="W")
    path = tmp_path / "model.onnx"
    gd.export_onnx(path, [x], [gd.tanh(x @ W)])
    dot = viz.to_dot(str(path))
    assert "matmul" in dot and "tanh" in dot
    assert viz.drawing(str(path)).title == "model.onnx"


def test_save_picks_the_format_from_the_extension(tmp_path):
    f, _ = sgd_step()
    for ext, start in ((".dot", "digraph"), (".svg", "<"), (".html", "<!DOCTYPE html>")):
        path = viz.save(f, tmp_path / f"g{ext}")
        assert Path(path).read_text().lstrip().startswith(start)
    with pytest.raises(gd.GraphdiffError, match="use .dot, .svg or .html"):
        viz.save(f, tmp_path / "g.png")


def test_drawing_rejects_what_holds_no_graph():
    with pytest.raises(gd.GraphdiffError, match="cannot draw a int"):
        viz.drawing(3)


# --- regions ------------------------------------------------------------------------------------

def lstm_scan_cond():
    """An LSTM-like cell scanned over a sequence, then a cond on the last hidden state."""
    H = 3
    xs = gd.placeholder(("T", 2), "float64", name="xs")
    Wx = gd.variable(np.full((2, 4 * H), 0.1), name="Wx")
    Wh = gd.variable(np.full((H, 4 * H), 0.1), name="Wh")

    def cell(carry, x):
        h, c = carry
        z = x @ Wx + h @ Wh
        i, f, o, g = (z[k * H:(k + 1) * H] for k in range(4))
        c = gd.sigmoid(f) * c + gd.sigmoid(i) * gd.tanh(g)
        h = gd.sigmoid(o) * gd.tanh(c)
        return (h, c), h
    (h, _), hs = gd.scan(cell, (gd.zeros(H, "float64"), gd.zeros(H, "float64")), xs)
    out = gd.cond(gd.sum(h) > 0, lambda a: a * 2.0, lambda a: -a, h)
    return gd.Graph([xs], [out, hs])


def scan_in_scan():
    """A scan whose body holds a scan and a cond."""
    xs = gd.placeholder((4, 3, 2), "float64", name="xs")

    def outer(c, x):
        inner, _ = gd.scan(lambda a, r: (a + r, None), c, x)
        inner = gd.cond(gd.sum(inner) > 0, lambda v: v * 2.0, lambda v: v, inner)
        return inner, gd.sum(inner)
    total, sums = gd.scan(outer, gd.zeros(2, "float64"), xs)
    return gd.Graph([xs], [total, sums])


def region_count(graph):
    return sum(len(n.regions) for n in gd.ir.region_walk(graph))


def dot_clusters(text):
    """Each DOT node's enclosing clusters (outermost first), from the subgraph nesting."""
    stack, inside = [], {}
    for line in text.splitlines():
        opened = re.match(r'\s*subgraph "(cluster_[^"]+)" \{', line)
        if opened:
            stack.append(opened.group(1))
        elif line.strip() == "}":
            stack = stack[:-1]
        node = re.match(r'\s*"([^"]+)" \[', line)
        if node:
            inside[node.group(1)] = tuple(stack)
    return inside


def test_dot_draws_each_region_as_a_nested_cluster():
    graph = scan_in_scan()
    text = viz.to_dot(graph, locations=False)
    assert text.count("subgraph") == region_count(graph) == 4
    inside = dot_clusters(text)
    # names as print(graph) gives them: block 0 the outer body, 1 the inner scan's, 2 and 3
    # the cond's branches (both inside the outer body)
    printed = set(re.findall(r"^\s*(%\d+\.\d+): ", str(graph), re.M))
    assert printed <= set(inside)
    assert inside["%1.2"] == ("cluster_block0", "cluster_block1")  # the inner body's add
    assert inside["%3.2"] == ("cluster_block0", "cluster_block3")  # the true branch's mul
    assert inside["%0.4"] == ("cluster_block0",) and inside["%1"] == ()  # the outer scan
    for block in range(4):  # every region has its parameters and its return box
        cluster = f"cluster_block{block}"
        assert inside[f"%{block}.0"][-1] == inside[f"%{block}.return"][-1] == cluster
    assert 'label="%1 = scan: body"' in text and 'label="%0.7 = switch: branch 1 (true)"' in text
    # each operand joins the parameter it is passed as, each return box its owner
    assert '"xs" -> "%0.1" [style=dashed];' in text and '"%0.1" -> "%1.1" [style=dashed];' in text
    assert '"%1.return" -> "%0.2" [style=dashed];' in text
    assert '"%0.6" -> "%0.7";' in text  # the cond's predicate is passed to no branch


def test_lstm_scan_and_cond_draw_with_operands_bound_to_parameters():
    graph = lstm_scan_cond()
    d = viz.drawing(graph)
    body = next(level for level in d.walk() if level.block == 0)
    assert body.feeds == ["Wh", "Wx", "%0", "%0", "xs"]  # consts, carry (h, c), the slice
    assert {body.kinds[n] for n in body.nodes} == {"parameter", "forward"}
    inside = dot_clusters(viz.to_dot(graph))
    matmuls = [body.names[n] for n in body.nodes if n.op.name == "matmul"]
    assert len(matmuls) == 2 and all(inside[m] == ("cluster_block0",) for m in matmuls)
    false, true = (level for level in d.walk() if level.block in (1, 2))
    assert (false.title, true.title) == ("branch 0 (false)", "branch 1 (true)")


def test_nodes_with_several_results_have_details_without_dtype():
    d = viz.drawing(lstm_scan_cond())
    scan = next(n for n in d.nodes if n.op.name == "scan")
    info = d.details(scan)
    assert info["dtype"] is None and info["shape"] is None
    assert info["type"] == "(f64[3], f64[3], f64[T,3])"
    assert info["text"].startswith("%1: (f64[3], f64[3], f64[T,3]) = scan[")
    assert info["body"][0].startswith("  region 0 (%0.0: f64[3,12]")  # the text form's block
    assert d.label(d.graph.outputs[1]) == "%8 = result[2]"
    body = d.regions[scan][0]
    assert body.details(body.graph.inputs[4])["operand"] == "xs"


def svg_rects(root):
    """Every g.cluster's frame and every box, by data-key, as (x0, y0, x1, y1)."""
    rects = {}
    for g in root.iter(SVG + "g"):
        key = g.get("data-key")
        rect = g.find(SVG + "rect")
        if key is not None:
            x, y = float(rect.get("x")), float(rect.get("y"))
            rects[key] = (x, y, x + float(rect.get("width")), y + float(rect.get("height")))
    return rects


SVG = "{http://www.w3.org/2000/svg}"


def contains(outer, inner):
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and \
        inner[3] <= outer[3]


def test_builtin_svg_nests_clusters_inside_their_owners():
    graph = scan_in_scan()
    d = viz.drawing(graph)
    root = ET.fromstring(viz.to_svg(graph, engine="builtin"))
    rects = svg_rects(root)
    assert sum(1 for g in root.iter(SVG + "g") if g.get("class") == "cluster") == 4
    for level in d.walk():
        if level.block is None:
            continue
        frame = rects[f"block:{level.block}"]
        for node in level.nodes:
            assert contains(frame, rects[level.names[node]])
        assert contains(frame, rects[level.return_name])
    assert contains(rects["block:0"], rects["block:1"])  # the inner scan's body
    assert contains(rects["%1"], rects["block:0"]) and contains(rects["%0.7"], rects["block:3"])
    edges = [p for p in root.iter(SVG + "path") if "param" in p.get("class", "").split()]
    fed = sum(1 for level in d.walk() for feed in level.feeds if feed is not None)
    assert len(edges) == fed == 6
    nodes = [g for g in root.iter(SVG + "g") if "node" in g.get("class", "").split()]
    assert len(nodes) == sum(len(level.nodes) for level in d.walk())


def test_layout_of_regions_keeps_boxes_apart_and_edges_downward():
    from graphdiff.viz.layout import RETURN_KEY, arrange

    root = arrange(viz.drawing(lstm_scan_cond()))
    for cluster in root.walk():
        rows: dict[float, list] = {}
        for box in cluster.boxes.values():
            rows.setdefault(box.y, []).append(box)
        for row in rows.values():
            row.sort(key=lambda b: b.x)
            for a, b in zip(row, row[1:], strict=False):
                assert a.x + a.width / 2 <= b.x - b.width / 2 + 1e-6
        for node in cluster.drawing.nodes:
            for value in node.inputs:
                assert cluster.boxes[value].y + cluster.boxes[value].height <= \
                    cluster.boxes[node].y
        if cluster.drawing.block is not None:  # parameters first, the return box last
            first, last = min(rows), max(rows)
            assert all(cluster.boxes[p].y == first for p in cluster.drawing.graph.inputs)
            assert cluster.boxes[RETURN_KEY].y == last


def test_html_regions_are_foldable_clusters():
    graph = scan_in_scan()
    d = viz.drawing(graph)
    text = viz.to_html(graph)
    for block in range(4):
        assert f'<g class="cluster" data-key="block:{block}" data-block="{block}">' in text
    assert text.count('<g class="cluster-title">') == 4 and "setupClusters" in text
    (panel,) = page_data(text)["panels"]
    assert [n["name"] for n in panel["nodes"]] == \
        [level.names[n] for level in d.walk() for n in level.nodes]
    boxes = {b["key"]: b for row in panel["geometry"]["root"]["rows"] for b in row}
    body = boxes["%1"]["clusters"][0]  # the outer scan's body, the rows the page re-places
    assert body["block"] == 0 and [c["block"] for r in body["rows"] for b in r
                                   for c in b["clusters"]] == [1, 2, 3]
    # the text form prints the regions too, each node's line selectable by its name
    assert '<span data-name="%3.2">%3.2: f64[2] = mul %3.0, %3.1</span>' in text


def test_regions_draw_without_graphviz(monkeypatch):
    import graphdiff.viz.dot as dot

    monkeypatch.setattr(dot, "dot_available", lambda: False)
    for graph in (lstm_scan_cond(), scan_in_scan()):
        svg = viz.to_svg(graph)  # "auto" falls back to the built-in layout
        assert 'class="cluster"' in svg and ET.fromstring(svg) is not None


def test_regions_render_with_graphviz_when_installed():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    svg = viz.to_svg(lstm_scan_cond(), engine="dot")
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter(SVG + "title")]
    assert {"cluster_block0", "cluster_block1", "cluster_block2"} <= set(titles)
    # Graphviz renames ids that start with "%" in its output; the labels keep the names
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "%0.11 = add" in texts and "return %0.24, %0.22, %0.24" in texts


def test_a_compiled_function_with_regions_draws_with_its_memory_view():
    graph = lstm_scan_cond()
    for passes in ("default", "none"):  # the planned runtime and the reference interpreter
        f = gd.function(list(graph.inputs), list(graph.outputs), passes=passes)
        page = viz.to_html(f, memory_inputs=[(5, 2)])
        timeline = viz.memory_timeline(f, [(5, 2)])
        assert page.count('class="bar"') == len(timeline.steps)
        assert any(n.op.name == "scan" for n in timeline.steps)
        assert page.count('<g class="cluster"') == 3


# --- tools/visualize.py -----------------------------------------------------------------------

def run_tool(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # the tool imports this checkout's graphdiff, not whichever one is installed
    env = {**(os.environ if env is None else env), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "tools" / "visualize.py"), *args],
                          capture_output=True, text=True, timeout=300, check=False, env=env)


def test_tool_draws_a_bundled_model_with_memory(tmp_path):
    out = tmp_path / "mlp.html"
    result = run_tool("--model", "mlp", "--memory", "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert 'id="memory"' in text and 'class="panel"' in text


def test_tool_draws_a_python_builder_and_stages(tmp_path):
    script = tmp_path / "build.py"
    script.write_text("import graphdiff as gd\n"
                      "def build():\n"
                      "    x = gd.placeholder((3,), 'float64', name='x')\n"
                      "    return gd.function([x], gd.sum(x * 1.0 + 0.0))\n")
    result = run_tool(f"{script}:build")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('digraph "function"')
    stages = tmp_path / "stages.dot"
    assert run_tool(f"{script}:build", "--stage", "-o", str(stages)).returncode == 0
    assert "cluster_0" in stages.read_text()
    assert run_tool("--model", "cnn", "extra").returncode != 0  # source and --model clash


def test_tool_draws_a_graph_with_regions(tmp_path):
    script = tmp_path / "build.py"
    script.write_text("import graphdiff as gd\n"
                      "def build():\n"
                      "    xs = gd.placeholder(('T', 2), 'float64', name='xs')\n"
                      "    c0 = gd.zeros(2, 'float64')\n"
                      "    c, ys = gd.scan(lambda c, x: (c + x, gd.tanh(c)), c0, xs)\n"
                      "    y = gd.cond(gd.sum(c) > 0, lambda a: a * 2.0, lambda a: -a, c)\n"
                      "    return gd.function([xs], [y, ys])\n")
    no_dot = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    for ext in ("dot", "svg", "html"):
        out = tmp_path / f"g.{ext}"
        result = run_tool(f"{script}:build", "-o", str(out), env=no_dot)
        assert result.returncode == 0, result.stderr
        assert "cluster_block0" in out.read_text() if ext == "dot" else \
            'class="cluster"' in out.read_text()
    stages = tmp_path / "stages.html"
    result = run_tool(f"{script}:build", "--stage", "--unoptimized", "-o", str(stages))
    assert result.returncode == 0, result.stderr


# --- the page in a real browser -----------------------------------------------------------------

HARNESS = """
<script>
(function () {
  const results = {errors: window.__errors};
  const panel = document.querySelector('.panel');
  const svg = panel.querySelector('svg');
  results.initial = svg.getAttribute('viewBox');
  svg.dispatchEvent(new WheelEvent('wheel', {deltaY: -120, clientX: 200, clientY: 150,
                                             bubbles: true, cancelable: true}));
  results.zoomed = svg.getAttribute('viewBox');
  svg.dispatchEvent(new MouseEvent('mousedown', {clientX: 200, clientY: 150, bubbles: true}));
  window.dispatchEvent(new MouseEvent('mousemove', {clientX: 260, clientY: 190}));
  window.dispatchEvent(new MouseEvent('mouseup', {}));
  results.panned = svg.getAttribute('viewBox');
  const node = document.querySelector('g.node[data-name="%1"]');
  node.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  const cell = (k) => (document.querySelector('#details td.f-' + k) || {}).textContent;
  results.title = document.querySelector('#details h3').textContent;
  results.op = cell('op'); results.dtype = cell('dtype'); results.shape = cell('shape');
  results.location = cell('created-at'); results.kind = cell('kind');
  results.selected = node.classList.contains('selected');
  const line = document.querySelector('pre.text .hl');
  results.line = line ? line.textContent : null;
  document.querySelector('#memory g.bar[data-name="%2"]')
    .dispatchEvent(new MouseEvent('click', {bubbles: true}));
  results.fromBar = document.querySelector('#details h3').textContent;
  document.body.setAttribute('data-results', JSON.stringify(results));
})();
</script>
"""


def run_in_chromium(page: str, harness: str, tmp_path: Path) -> dict:
    """Load ``page`` with ``harness`` appended in headless chromium; the harness's results."""
    page = page.replace("<head>", "<head><script>window.__errors = [];"
                        "window.addEventListener('error', e => __errors.push(e.message));"
                        "</script>", 1)
    page = page.replace("</body>", harness + "</body>")
    path = tmp_path / "page.html"
    path.write_text(page)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,800"]
    result = subprocess.run([CHROMIUM, *flags, "--dump-dom", path.as_uri()],
                            capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'data-results="([^"]*)"', result.stdout)
    assert match, result.stderr[-2000:]
    return json.loads(html.unescape(match.group(1)))


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_html_page_in_headless_chromium(tmp_path):
    f, _ = sgd_step()
    results = run_in_chromium(viz.to_html(f, memory_inputs=[(5, 2)]), HARNESS, tmp_path)
    assert results["errors"] == []
    initial = [float(v) for v in results["initial"].split()]
    zoomed = [float(v) for v in results["zoomed"].split()]
    panned = [float(v) for v in results["panned"].split()]
    assert zoomed[2] < initial[2] and zoomed[3] < initial[3]  # zoomed in: a smaller view box
    assert panned[2:] == zoomed[2:] and panned[:2] != zoomed[:2]  # panned: moved, same size
    assert results["title"] == "%1" and results["op"] == "tanh" and results["kind"] == "forward"
    assert results["dtype"] == "float64" and results["shape"] == "[n, 1]"
    assert results["location"].endswith(f"test_viz.py:{sgd_step.__code__.co_firstlineno + 3}")
    assert results["selected"] and results["line"] == "%1: f64[n,1] = tanh %0"
    assert results["fromBar"] == "%2"  # a bar of the memory view selects its node


FOLD_HARNESS = """
<script>
(function () {
  const results = {errors: window.__errors};
  const q = (s) => document.querySelector(s);
  const title = q('g.cluster[data-block="0"] > .cluster-title');
  const frame = q('g.cluster[data-block="0"] > rect.frame');
  const state = () => ({below: q('g.node[data-name="%7"]').getAttribute('transform'),
    inner: q('g.node[data-name="%0.11"]').style.display,
    edge: q('path.edge[data-to="%0.4"]').getAttribute('d'),
    frame: frame.getAttribute('height'), fold: title.querySelector('.fold').textContent});
  const before = state();
  title.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  results.folded = state();
  title.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  results.unfolded = state();
  results.before = before;
  results.frameY = Number(frame.getAttribute('y'));
  q('g.node[data-name="%1"]').dispatchEvent(new MouseEvent('click', {bubbles: true}));
  results.scanType = (q('#details td.f-type') || {}).textContent;
  results.scanDtype = q('#details td.f-dtype') === null;
  document.body.setAttribute('data-results', JSON.stringify(results));
})();
</script>
"""


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_html_clusters_fold_in_headless_chromium(tmp_path):
    results = run_in_chromium(viz.to_html(lstm_scan_cond()), FOLD_HARNESS, tmp_path)
    assert results["errors"] == []
    before, folded, unfolded = results["before"], results["folded"], results["unfolded"]
    assert before["inner"] == "" and folded["inner"] == "none"  # the body's nodes hide
    shift = float(re.search(r"translate\(0,(-?[\d.]+)\)", folded["below"]).group(1))
    assert shift < -300  # what is below the scan moves up by most of the body's height
    assert float(folded["frame"]) < 20 < float(before["frame"]) and folded["fold"] != before["fold"]
    end = float(folded["edge"].split()[-1].split(",")[1])  # xs now ends at the title strip
    assert abs(end - (results["frameY"] - 2)) < 0.5
    assert unfolded == {**before, "below": "translate(0,0)"}  # exactly as drawn, unfolded
    assert results["scanType"] == "(f64[3], f64[3], f64[T,3])" and results["scanDtype"]


def test_tool_draws_a_builder_that_returns_tensors(tmp_path):
    script = tmp_path / "build.py"
    script.write_text("import graphdiff as gd\n"
                      "def build():\n"
                      "    x = gd.placeholder((3,), 'float64', name='x')\n"
                      "    return gd.sum(gd.tanh(x))\n"
                      "def build_two():\n"
                      "    x = gd.placeholder((3,), 'float64', name='x')\n"
                      "    return [gd.tanh(x), gd.exp(x)]\n")
    for builder, ops in (("build", ("tanh", "sum")), ("build_two", ("tanh", "exp"))):
        result = run_tool(f"{script}:{builder}")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("digraph")
        assert all(op in result.stdout for op in ops), result.stdout


def test_tool_refuses_memory_without_a_model(tmp_path):
    script = tmp_path / "build.py"
    script.write_text("import graphdiff as gd\n"
                      "def build():\n"
                      "    x = gd.placeholder((3,), 'float64', name='x')\n"
                      "    return gd.function([x], gd.sum(x))\n")
    result = run_tool(f"{script}:build", "--memory", "-o", str(tmp_path / "g.html"))
    assert result.returncode != 0
    assert "--memory" in result.stderr and "needs --model" in result.stderr
    assert not (tmp_path / "g.html").exists()
