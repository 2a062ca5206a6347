"""Cases for sorting and searching (sort, argsort, top_k, partition, searchsorted) and the order
statistics (median, quantile, percentile)."""

import numpy as np

import graphdiff as gd

from . import Arg, Case

X = Arg((3, 5))
T = Arg((2, 3, 4))
TIES = Arg((2, 6), kind="fixed", value=[[2.0, 1.0, 2.0, 3.0, 1.0, 2.0],
                                        [0.0, 0.0, -1.0, 5.0, 5.0, 0.0]])
WITH_NAN = Arg((3, 4), kind="fixed", value=[[1.0, np.nan, 3.0, 0.0], [2.0, 1.0, 4.0, 3.0],
                                            [np.nan, np.nan, 1.0, 2.0]])
SORTED = Arg((6,), kind="fixed", value=[-1.0, -0.5, 0.0, 0.0, 1.0, 1.5])
PROBES = Arg((2, 4), kind="fixed", value=[[-2.0, 0.0, 1.0, 0.3], [1.5, 9.0, -0.5, 0.2]])
UNSORTED = np.array([1.0, -0.5, 1.5, 0.0, -1.0, 0.0])


def _descending(x, axis=-1):
    """numpy has no descending sort: the stable ascending order of the reversed array."""
    order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return x.shape[axis] - 1 - np.flip(order, axis)


def _top_k(x, k):
    indices = _descending(x)[..., :k]
    return np.take_along_axis(x, indices, axis=-1), indices


CASES = [
    # --- sort and argsort ------------------------------------------------------------------
    Case("sort", gd.sort, np.sort, [X]),
    Case("sort_axis0", lambda x: gd.sort(x, axis=0), lambda x: np.sort(x, axis=0), [T]),
    Case("sort_flat", lambda x: gd.sort(x, axis=None), lambda x: np.sort(x, axis=None), [T]),
    Case("sort_symbolic", lambda x: gd.sort(x, axis=0) * 2.0,
         lambda x: np.sort(x, axis=0) * 2.0, [X], symbolic=True),
    Case("sort_descending", lambda x: gd.sort(x, axis=1, descending=True),
         lambda x: np.flip(np.sort(x, axis=1), 1), [T]),
    Case("sort_nan", gd.sort, np.sort, [WITH_NAN], grad=False),
    Case("sort_int", gd.sort, np.sort, [Arg((3, 6), kind="int", low=-4, high=4)], grad=False),
    Case("argsort_ties", gd.argsort, lambda x: np.argsort(x, kind="stable"), [TIES],
         grad=False),
    Case("argsort_descending_ties", lambda x: gd.argsort(x, descending=True), _descending,
         [TIES], grad=False),
    Case("argsort_bool", lambda x: gd.argsort(x, axis=0),
         lambda x: np.argsort(x, axis=0, kind="stable"), [Arg((5, 3), kind="bool")],
         grad=False),
    # --- top_k, partition --------------------------------------------------------------------
    Case("top_k_values", lambda x: gd.top_k(x, 3)[0], lambda x: _top_k(x, 3)[0], [T]),
    Case("top_k_indices_ties", lambda x: gd.top_k(x, 4)[1], lambda x: _top_k(x, 4)[1],
         [TIES], grad=False),
    # k <= n / 4 selects instead of sorting: ties at the k-th value go to the lower index
    Case("top_k_selected", lambda x: gd.top_k(x, 4)[0], lambda x: _top_k(x, 4)[0],
         [Arg((2, 3, 16))]),
    Case("top_k_selected_ties", lambda x: gd.top_k(x, 5)[1], lambda x: _top_k(x, 5)[1],
         [Arg((4, 20), kind="int", low=0, high=4)], grad=False),
    Case("top_k_selected_nan", lambda x: gd.top_k(x, 1)[1], lambda x: _top_k(x, 1)[1],
         [WITH_NAN], grad=False),
    Case("top_k_symbolic", lambda x: gd.top_k(x, 2)[0], lambda x: _top_k(x, 2)[0], [X],
         symbolic=True),
    Case("partition", lambda x: gd.partition(x, 2), lambda x: np.sort(x), [X]),
    Case("argpartition", lambda x: gd.argpartition(x, (0, 3), axis=-1),
         lambda x: np.argsort(x, axis=-1, kind="stable"), [T], grad=False),
    # --- searchsorted ------------------------------------------------------------------------
    Case("searchsorted_left", gd.searchsorted, np.searchsorted, [SORTED, PROBES], grad=False),
    Case("searchsorted_right", lambda a, v: gd.searchsorted(a, v, side="right"),
         lambda a, v: np.searchsorted(a, v, side="right"), [SORTED, PROBES], grad=False),
    Case("searchsorted_sorter",
         lambda a, v: gd.searchsorted(a, v, sorter=np.argsort(UNSORTED, kind="stable")),
         lambda a, v: np.searchsorted(a, v, sorter=np.argsort(UNSORTED, kind="stable")),
         [Arg((6,), kind="fixed", value=UNSORTED), PROBES], grad=False),
    # --- median, quantile, percentile --------------------------------------------------------
    Case("median", lambda x: gd.median(x, axis=1), lambda x: np.median(x, axis=1), [X]),
    Case("median_even_all", gd.median, np.median, [T]),
    Case("median_symbolic", lambda x: gd.median(x, axis=0, keepdims=True),
         lambda x: np.median(x, axis=0, keepdims=True), [Arg((4, 3))], symbolic=True),
    Case("median_nan", lambda x: gd.median(x, axis=1), lambda x: np.median(x, axis=1),
         [WITH_NAN], grad=False),
    Case("median_int", lambda x: gd.median(x, axis=0), lambda x: np.median(x, axis=0),
         [Arg((4, 3), kind="int", low=-5, high=5)], grad=False),
    Case("quantile", lambda x: gd.quantile(x, 0.3, axis=-1), lambda x: np.quantile(x, 0.3,
                                                                                     axis=-1),
         [T]),
    Case("quantile_vector_axes", lambda x: gd.quantile(x, [0.0, 0.45, 1.0], axis=(0, 2)),
         lambda x: np.quantile(x, [0.0, 0.45, 1.0], axis=(0, 2)), [T]),
    Case("quantile_keepdims_symbolic",
         lambda x: gd.quantile(x, [0.2, 0.7], axis=0, keepdims=True),
         lambda x: np.quantile(x, [0.2, 0.7], axis=0, keepdims=True), [Arg((5, 3))],
         symbolic=True),
    Case("quantile_q_tensor", lambda x, q: gd.quantile(x, q, axis=1),
         lambda x, q: np.quantile(x, q, axis=1),
         [X, Arg((3,), low=0.05, high=0.95, avoid=(0.25, 0.5, 0.75), avoid_width=0.02)]),
    Case("quantile_nan", lambda x: gd.quantile(x, [0.5, 0.9], axis=1),
         lambda x: np.quantile(x, [0.5, 0.9], axis=1), [WITH_NAN], grad=False),
    *(Case(f"quantile_{method}", lambda x, m=method: gd.quantile(x, [0.1, 0.5, 0.8], axis=1,
                                                                  method=m),
           lambda x, m=method: np.quantile(x, [0.1, 0.5, 0.8], axis=1, method=m), [X])
      for method in ("weibull", "hazen", "median_unbiased", "normal_unbiased",
                     "interpolated_inverted_cdf", "averaged_inverted_cdf", "midpoint", "lower",
                     "higher", "nearest", "inverted_cdf", "closest_observation")),
    Case("percentile", lambda x: gd.percentile(x, [25, 50, 75], axis=0),
         lambda x: np.percentile(x, [25, 50, 75], axis=0), [T]),
    Case("percentile_int", lambda x: gd.percentile(x, 40, method="lower"),
         lambda x: np.percentile(x, 40, method="lower"),
         [Arg((4, 3), kind="int", low=-5, high=5)], grad=False),
]
