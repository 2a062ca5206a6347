"""The demo: fit a small two-layer network to a noisy spiral with graphdiff, end to end.

Run: python models/demo.py
"""

import numpy as np

import graphdiff as gd


def spiral(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0.5, 3 * np.pi, n)
    label = rng.integers(0, 2, n)
    r = t / (3 * np.pi)
    angle = t + np.pi * label
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], 1) + rng.normal(0, 0.02, (n, 2))
    return x.astype(np.float32), label.astype(np.float32)


def main() -> None:
    rng = np.random.default_rng(0)
    data, labels = spiral(512, rng)
    x = gd.placeholder((None, 2), "float32", name="x")
    y = gd.placeholder((None,), "float32", name="y")
    W1 = gd.variable(rng.normal(0, 1.0, (2, 64)).astype(np.float32), name="W1")
    b1 = gd.variable(np.zeros(64, np.float32), name="b1")
    W2 = gd.variable(rng.normal(0, 0.2, (64, 1)).astype(np.float32), name="W2")
    hidden = gd.tanh(x @ W1 + b1)
    p = gd.sigmoid(gd.reshape(hidden @ W2, (-1,)))
    loss = -gd.mean(y * gd.log(p + 1e-7) + (1 - y) * gd.log(1 - p + 1e-7))
    params = [W1, b1, W2]
    grads = gd.grad(loss, params)
    step = gd.function([x, y], loss, updates={w: w - 0.5 * g for w, g in zip(params, grads)})
    predict = gd.function([x], p)
    for epoch in range(300):
        value = step(data, labels)
        if epoch % 100 == 0:
            print(f"epoch {epoch:4d}  loss {float(value):.4f}")
    accuracy = np.mean((predict(data) > 0.5) == (labels > 0.5))
    print(f"final loss {float(step(data, labels)):.4f}, training accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
