"""Checkpoints (graphdiff/saving.py): round trips of pytrees of variables, the checks that keep a
wrong load from changing anything, the atomic write (a writer killed mid-save leaves the previous
checkpoint whole), files that are not checkpoints, and a resumed training run that is bit for bit
the uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import optim

ROOT = Path(__file__).resolve().parents[1]


def _state(scale: float = 1.0, dtype=np.float64):
    return {
        "params": [gd.variable(scale * np.arange(6, dtype=dtype).reshape(2, 3), name="W"),
                   gd.variable(scale * np.ones(3, dtype), name="b")],
        "step": gd.variable(np.int64(5), name="step"),
        "extra": ({"z": gd.variable(np.float32(scale), name="z")}, None),
    }


def _values(state):
    leaves, _ = gd.api.pytree.flatten(state)
    return [gd.get_value(v) for v in leaves]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_into_variables_and_as_arrays(tmp_path, dtype):
    path = tmp_path / "ckpt.npz"
    saved = _state(2.0, dtype)
    gd.save(path, saved)
    target = _state(0.0, dtype)
    gd.load(path, target)
    for got, want in zip(_values(target), _values(saved)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    arrays = gd.load(str(path))
    assert set(arrays) == {"params", "step", "extra"}
    assert isinstance(arrays["params"], list) and isinstance(arrays["extra"], tuple)
    assert arrays["extra"][1] is None
    np.testing.assert_array_equal(arrays["params"][0], 2.0 * np.arange(6).reshape(2, 3))
    assert arrays["step"].dtype == np.int64 and int(arrays["step"]) == 5


def test_int_dict_keys_survive(tmp_path):
    v = gd.variable(np.ones(2), name="v")
    gd.save(tmp_path / "k.npz", {3: v, 7: []})
    loaded = gd.load(tmp_path / "k.npz")
    assert set(loaded) == {3, 7} and loaded[7] == []
    np.testing.assert_array_equal(loaded[3], np.ones(2))


def test_loaded_values_are_copies_and_compiled_functions_see_them(tmp_path):
    w = gd.variable(np.array([1.0, 2.0]), name="w")
    f = gd.function([], gd.sum(w))
    gd.save(tmp_path / "c.npz", [w])
    gd.set_value(w, np.zeros(2))
    assert float(f()) == 0.0
    gd.load(tmp_path / "c.npz", [w])
    assert float(f()) == 3.0


@pytest.mark.parametrize("change, message", [
    ("name", "missing from the file"),
    ("shape", "the file holds float64\\[4\\]"),
    ("dtype", "the file holds float64"),
    ("fewer", "not in the state"),
])
def test_mismatched_load_raises_and_changes_nothing(tmp_path, change, message):
    path = tmp_path / "m.npz"
    gd.save(path, [gd.variable(np.ones(4), name="a"), gd.variable(np.ones(2), name="b")])
    a = gd.variable(np.full(4, 7.0), name="a")
    b = {"name": gd.variable(np.full(2, 7.0), name="c"),
         "shape": gd.variable(np.full(2, 7.0), name="b"),
         "dtype": gd.variable(np.full(2, 7, np.float32), name="b"),
         "fewer": None}[change]
    state = [a] if b is None else [a, b]
    if change == "shape":
        gd.save(path, [gd.variable(np.ones(4), name="a"), gd.variable(np.ones(4), name="b")])
    with pytest.raises(gd.CheckpointError, match=message):
        gd.load(path, state)
    for v in state:
        assert np.all(gd.get_value(v) == 7.0)  # nothing changed, not even the matching "a"


def test_duplicate_names_unnamed_and_non_variables_are_errors(tmp_path):
    path = tmp_path / "d.npz"
    with pytest.raises(gd.CheckpointError, match=r"several variables are named \['w'\]"):
        gd.save(path, {"a": gd.variable(np.ones(2), name="w"),
                       "b": gd.variable(np.ones(2), name="w")})
    with pytest.raises(gd.CheckpointError, match="no name"):
        gd.save(path, [gd.variable(np.ones(2))])
    x = gd.variable(np.ones(2), name="x")
    with pytest.raises(gd.CheckpointError, match="must hold variables"):
        gd.save(path, [x * 2])
    with pytest.raises(gd.CheckpointError, match="must hold variables"):
        gd.save(path, [np.ones(2)])
    assert not path.exists() and os.listdir(tmp_path) == []
    with pytest.raises(gd.CheckpointError, match="is a folder"):
        gd.save(tmp_path, [x])


def test_files_that_are_not_checkpoints(tmp_path):
    with pytest.raises(gd.CheckpointError, match="cannot read"):
        gd.load(tmp_path / "absent.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(gd.CheckpointError, match="not a graphdiff checkpoint"):
        gd.load(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(gd.CheckpointError, match="cannot read"):
        gd.load(tmp_path / "junk.npz")
    # a pickled object array inside: refused, never unpickled
    good = tmp_path / "good.npz"
    gd.save(good, [gd.variable(np.ones(2), name="w")])
    hostile = tmp_path / "hostile.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(hostile, "w") as dst:
        dst.writestr("__graphdiff_tree__.npy", src.read("__graphdiff_tree__.npy"))
        with dst.open("w.npy", "w") as entry:
            np.save(entry, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(gd.CheckpointError, match="cannot read"):
        gd.load(hostile)


def test_a_failed_write_keeps_the_old_checkpoint_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f.npz"
    w = gd.variable(np.ones(3), name="w")
    gd.save(path, [w])
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    gd.set_value(w, np.zeros(3))
    with pytest.raises(OSError, match="disk full"):
        gd.save(path, [w])
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["f.npz"]


WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import graphdiff as gd
    real_fsync = os.fsync
    def stall(fd):
        # the new file is written but not yet renamed over the old one: the worst moment
        print("writing", flush=True)
        time.sleep(120)
    os.fsync = stall
    w = gd.variable(np.full(1_000_000, 2.0), name="w")
    gd.save(sys.argv[1], [w])
""")


def test_a_writer_killed_mid_save_leaves_the_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "run.npz"
    w = gd.variable(np.full(1_000_000, 1.0), name="w")
    gd.save(path, [w])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = writer.stdout.readline()
        assert line.strip() == "writing", writer.stderr.read()
        temporaries = [p for p in os.listdir(tmp_path) if p != "run.npz"]
        assert temporaries and os.path.getsize(tmp_path / temporaries[0]) > 8_000_000
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    gd.set_value(w, np.zeros(1_000_000))
    gd.load(path, [w])
    np.testing.assert_array_equal(gd.get_value(w), np.full(1_000_000, 1.0))


def _training_run(steps: int, resume_from: Path | None = None, save_at: int | None = None,
                  path: Path | None = None):
    """Adam on a small tanh regression over seeded batches; returns the parameter values."""
    rng = np.random.default_rng(0)
    x_all, y_all = rng.normal(size=(64, 5)), rng.normal(size=(64, 2))
    params = {"W": gd.variable(rng.normal(size=(5, 2)), name="W"),
              "b": gd.variable(np.zeros(2), name="b")}
    x = gd.placeholder((None, 5), "float64", name="x")
    y = gd.placeholder((None, 2), "float64", name="y")
    loss = gd.mean((gd.tanh(x @ params["W"] + params["b"]) - y) ** 2)
    opt = optim.Adam(optim.cosine_decay(0.05, 40))
    step = gd.function([x, y], loss, updates=opt.minimize(loss, params))
    state = {"params": params, "optimizer": opt.state}
    start = 0
    if resume_from is not None:
        gd.load(resume_from, state)
        start = int(gd.get_value(opt.state["step"]))
    for t in range(start, steps):
        batch = np.random.default_rng(t).choice(64, 16, replace=False)  # order a function of t
        step(x_all[batch], y_all[batch])
        if save_at is not None and t + 1 == save_at:
            gd.save(path, state)
    return {k: gd.get_value(v) for k, v in params.items()}, start


def test_a_resumed_run_is_bit_identical(tmp_path):
    path = tmp_path / "resume.npz"
    uninterrupted, _ = _training_run(40)
    _training_run(17, save_at=17, path=path)  # the interrupted run: stops after step 17
    resumed, start = _training_run(40, resume_from=path)
    assert start == 17  # the resumed run took only the 23 remaining steps
    for k in uninterrupted:
        assert uninterrupted[k].tobytes() == resumed[k].tobytes()

