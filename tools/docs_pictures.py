"""Regenerate the pictures of docs/tutorial.md with graphdiff.viz (and Debian's chromium for the
screenshots of interactive pages, skipped when /usr/bin/chromium is absent).

    python tools/docs_pictures.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphdiff as gd  # noqa: E402
from graphdiff import viz  # noqa: E402
from models import zoo  # noqa: E402

IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def tutorial_step() -> gd.Function:
    """The tutorial's model: a two-layer network trained by SGD (the same code as the doc)."""
    rng = np.random.default_rng(0)
    x = gd.placeholder(("batch", 64), "float32", name="x")
    y = gd.placeholder(("batch",), "int64", name="y")
    W1 = gd.variable(rng.normal(0, 0.18, (64, 32)).astype(np.float32), name="W1")
    b1 = gd.variable(np.zeros(32, np.float32), name="b1")
    W2 = gd.variable(rng.normal(0, 0.18, (32, 10)).astype(np.float32), name="W2")
    b2 = gd.variable(np.zeros(10, np.float32), name="b2")
    logits = gd.relu(x @ W1 + b1) @ W2 + b2
    loss = gd.mean(gd.softmax_cross_entropy(logits, y))
    params = [W1, b1, W2, b2]
    grads = gd.grad(loss, params)
    return gd.function([x, y], loss, updates={p: p - 0.5 * g for p, g in zip(params, grads,
                                                                                strict=True)})


def screenshot(page: str, png: Path, size: str, fragment: str = "") -> None:
    if not Path(CHROMIUM).exists():
        print(f"skipped {png.name}: {CHROMIUM} is not installed")
        return
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "page.html"
        html.write_text(page, encoding="utf-8")
        subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={folder}/profile",
                        f"--window-size={size}", f"--screenshot={png}",
                        html.as_uri() + fragment],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {png}")


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    step = tutorial_step()
    (IMAGES / "tutorial_step.svg").write_text(viz.to_svg(step, engine="builtin"))
    print(f"wrote {IMAGES / 'tutorial_step.svg'}")
    if shutil.which("dot"):
        (IMAGES / "tutorial_step_graphviz.svg").write_text(viz.to_svg(step, engine="dot"))
        print(f"wrote {IMAGES / 'tutorial_step_graphviz.svg'}")
    example = [np.zeros((64, 64), np.float32), np.zeros(64, np.int64)]
    screenshot(viz.to_html(step, title="tutorial: SGD step", memory_inputs=example),
               IMAGES / "tutorial_page.png", "1400,950", "#node=" + quote("%3"))
    screenshot(viz.to_html(step, title="tutorial: the SGD step after each pass", stage=True),
               IMAGES / "tutorial_stages.png", "1600,800")
    cnn = zoo.build("cnn")
    batch = [np.zeros((32, 1, 8, 8), np.float32), np.zeros(32, np.int64)]
    screenshot(viz.to_html(cnn.step, title="LeNet training step", memory_inputs=batch),
               IMAGES / "cnn_training_step.png", "1400,1000")


if __name__ == "__main__":
    main()
