"""graphdiff.viz: golden DOT, node kinds, the built-in SVG, the HTML page (also in a real
headless chromium when /usr/bin/chromium exists), pass stages, the memory view, ONNX sources and
tools/visualize.py."""

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
    from models.optim import Adam

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
    assert state == {"W", "W.m", "W.v", "adam.t"}
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
    body = d.details(fused[0])["body"]
    assert body[0] == "t0: f64[4] = tanh in0" and body[-1] == "yield t3"


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
    assert timeline.resident == 16 * 3 * 4 + 3 * (3 * 2 * 4) + 4 + constants  # x W m v t
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


# --- tools/visualize.py -----------------------------------------------------------------------

def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "visualize.py"), *args],
                          capture_output=True, text=True, timeout=300, check=False)


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


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_html_page_in_headless_chromium(tmp_path):
    f, _ = sgd_step()
    page = viz.to_html(f, memory_inputs=[(5, 2)])
    page = page.replace("<head>", "<head><script>window.__errors = [];"
                        "window.addEventListener('error', e => __errors.push(e.message));"
                        "</script>", 1)
    page = page.replace("</body>", HARNESS + "</body>")
    path = tmp_path / "page.html"
    path.write_text(page)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,800"]
    result = subprocess.run([CHROMIUM, *flags, "--dump-dom", path.as_uri()],
                            capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'data-results="([^"]*)"', result.stdout)
    assert match, result.stderr[-2000:]
    results = json.loads(html.unescape(match.group(1)))
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
