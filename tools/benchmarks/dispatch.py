"""Per-node overhead of the executor on a graph of tiny ops (target: at most 1.5 us per node).

A chain of unary ops on a 4-element array, where a bare numpy call costs about 0.3-0.5 us: the
planned executor, the reference interpreter (``passes="none"``) and the same numpy calls written
out by hand. Overhead per node = (graphdiff call - hand-written numpy) / nodes.
"""

from __future__ import annotations

import numpy as np

from benchmarks._harness import compare

UFUNCS = (np.tanh, np.exp, np.negative, np.sin)


def run(quick: bool) -> None:
    import graphdiff as gd
    from graphdiff.runtime import Function

    length = 100 if quick else 400
    functions = (gd.tanh, gd.exp, gd.negative, gd.sin)
    x = gd.placeholder((4,), "float32", name="x")
    y = x
    for i in range(length):
        y = functions[i % 4](y)
    planned = Function([x], [y], {}, passes="none", executor="planned", single_output=True)
    reference = Function([x], [y], {}, passes="none", executor="reference",
                         single_output=True)
    xs = np.full(4, 0.5, np.float32)

    def by_hand() -> np.ndarray:
        a = xs
        for i in range(length):
            a = UFUNCS[i % 4](a)
        return a

    np.testing.assert_allclose(planned(xs), by_hand(), rtol=1e-6)
    medians = compare(f"chain of {length} tiny unary ops (float32[4])",
                      {"graphdiff": lambda: planned(xs), "numpy": by_hand,
                       "reference": lambda: reference(xs)}, quick=quick,
                      functions={"graphdiff": planned})
    per_node = {name: seconds / length * 1e6 for name, seconds in medians.items()}
    overhead = per_node["graphdiff"] - per_node["numpy"]
    print(f"   per node: graphdiff {per_node['graphdiff']:.2f} us, numpy "
          f"{per_node['numpy']:.2f} us, reference interpreter {per_node['reference']:.2f} us;"
          f" overhead over numpy {overhead:+.2f} us/node (target <= 1.5)")
