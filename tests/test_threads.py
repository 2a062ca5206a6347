"""Large elementwise steps run in chunks on several threads (runtime/threads.py): the values
are those of the one-thread run and of the reference backend, bit for bit, for every way an
operand can broadcast against the split axis."""

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.errors import InputError
from graphdiff.runtime import threads

# numpy warns on inf * 0 unless the executor's "ignore" reaches the worker threads
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

RNG = np.random.default_rng(0)
BIG = threads.PARALLEL_FROM  # elements: the smallest result that is split


SPLITS = []  # the chunk counts of the steps run in chunks since the last _run


@pytest.fixture(autouse=True)
def two_threads(monkeypatch):
    threads.set_num_threads(2)  # also on a one-core machine: the split itself is what is tested
    run_chunks = threads.run_chunks

    def counted(kernel, args, n_chunks, n_threads, choice=None):
        SPLITS.append(n_chunks)
        return run_chunks(kernel, args, n_chunks, n_threads)  # always on both threads

    monkeypatch.setattr(threads, "run_chunks", counted)
    yield
    threads.set_num_threads(None)


def _run(build, arrays, dtype):
    inputs = [gd.placeholder(a.shape, a.dtype, name=f"x{i}") for i, a in enumerate(arrays)]
    outputs = build(*inputs)
    parallel = gd.function(inputs, outputs, passes="none", backend="numpy")
    reference = gd.function(inputs, outputs, backend="reference", passes="none")
    SPLITS.clear()
    got = parallel(*arrays)
    assert SPLITS and all(n == 4 for n in SPLITS)  # 2 chunks per thread
    threads.set_num_threads(1)
    alone = parallel(*arrays)
    threads.set_num_threads(2)
    want = reference(*arrays)
    for g, a, w in zip(got, alone, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, a)
        np.testing.assert_array_equal(g, w)
        assert np.array_equal(np.signbit(g), np.signbit(w))  # -0.0 kept
    return got


def _with_edges(a):
    flat = a.reshape(-1)
    flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    return a


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [
    ((64, 128, 1), (64, 1, 64)),      # an outer product per row: both cut along axis 0
    ((64, 128, 64), (128, 64)),       # the second operand lacks the split axis: read whole
    ((64, 128, 64), (1, 128, 64)),    # ... or has it with extent 1
    ((1, 4 * BIG // 1024, 1024), (1024,)),  # leading 1: the split moves to axis 1
    ((BIG + 3,), ()),                 # an uneven length and a 0-d operand
])
def test_binary_broadcasts_split_like_one_thread(shapes, dtype):
    arrays = [_with_edges(RNG.standard_normal(s).astype(dtype)) if s else
              np.asarray(1.5, dtype) for s in shapes]
    _run(lambda a, b: [a * b, a - b, gd.maximum(a, b)], arrays, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_select_and_cast_split_like_one_thread(dtype):
    x = _with_edges(RNG.standard_normal((256, BIG // 128)).astype(dtype))
    c = RNG.standard_normal((256, 1)) > 0
    _run(lambda x, c: [gd.relu(x), gd.tanh(x), gd.where(c, x, 0.0), gd.exp(x),
                       gd.cast(x, "float16"), x > 0.5], [x, c], dtype)


def test_the_per_example_outer_product_is_split():
    # what gd.vmap(gd.grad(...)) makes of a dense layer's weight gradient
    row = RNG.standard_normal((32, 64)).astype("float32")
    delta = RNG.standard_normal((32, 256)).astype("float32")
    _run(lambda r, d: [gd.reshape(r, (32, 64, 1)) * gd.reshape(d, (32, 1, 256))],
         [row, delta], "float32")


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(InputError, match="set_num_threads"):
            gd.set_num_threads(bad)
    gd.set_num_threads(3)
    assert threads.count() == 3


def test_the_environment_sets_the_default(monkeypatch):
    threads.set_num_threads(None)
    monkeypatch.setenv("GRAPHDIFF_NUM_THREADS", "5")
    assert threads.count() == 5
    monkeypatch.setenv("GRAPHDIFF_NUM_THREADS", "none")  # not a count: the cores
    assert threads.count() >= 1


def test_an_error_in_a_chunk_reaches_the_caller():
    calls = []

    def kernel(lo, hi, out):
        calls.append(lo)
        if lo == 3:
            raise FloatingPointError("chunk 3")

    with pytest.raises(FloatingPointError, match="chunk 3"):
        threads.run_chunks(kernel, [None], 6, 2)
    assert sorted(calls) == list(range(6))  # the other chunks still ran: no half-done wait


def test_choice_runs_the_faster_and_probes_the_other():
    choice = threads.Choice()
    runs = []
    for _ in range(64):
        parallel = choice.parallel()
        runs.append(parallel)
        choice.record(parallel, 1.0 if parallel else 3.0)  # the threads pay here
    assert runs[:2] == [False, True]  # each measured once, serial first
    serial_runs = [i for i, p in enumerate(runs) if not p and i > 0]
    assert len(serial_runs) == 4 and all(i % 16 == 15 for i in serial_runs)  # probes only
    slow = threads.Choice()
    for _ in range(32):
        parallel = slow.parallel()
        slow.record(parallel, 5.0 if parallel else 1.0)  # a loaded machine: they do not
    assert sum(slow.parallel() for _ in range(32)) == 2  # every 16th call tries them again
