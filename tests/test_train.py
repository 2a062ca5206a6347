"""gd.train.fit: the batches it feeds, the history it keeps, the progress bar, checkpoints
every N steps, and a run killed mid-epoch and resumed that ends bit-identical to an
uninterrupted one."""

from __future__ import annotations

import io

import numpy as np
import pytest

import graphdiff as gd


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, (x @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(np.int64)


class _Recorder:
    """A step that records its batches and returns their mean as the loss."""

    def __init__(self):
        self.batches = []

    def __call__(self, x, y):
        self.batches.append((x.copy(), y.copy()))
        return {"loss": x.mean(), "labels": y.mean()}


def test_batches_follow_the_seeded_order_and_history_averages_by_batch_size():
    x, y = _data(50)
    step = _Recorder()
    history = gd.train.fit(step, (x, y), epochs=2, batch_size=16, seed=3)
    assert [len(b[0]) for b in step.batches] == [16, 16, 16, 2] * 2  # the last batch smaller
    for epoch in range(2):
        order = gd.train.batch_order(3, epoch, 50)
        fed = np.concatenate([b[0] for b in step.batches[4 * epoch:4 * epoch + 4]])
        np.testing.assert_array_equal(fed, x[order])
        # weighted by batch size, the batch means average to the mean of the data
        np.testing.assert_allclose(history["loss"][epoch], x.mean(), rtol=1e-12)
        np.testing.assert_allclose(history.labels[epoch], y.mean(), rtol=1e-12)
    assert not np.array_equal(gd.train.batch_order(3, 0, 50), gd.train.batch_order(3, 1, 50))
    assert history.steps == 8 and len(history.steps_per_second) == 2


def test_unshuffled_batches_are_in_order_and_sequences_are_named():
    x, y = _data(8)
    seen = []
    history = gd.train.fit(lambda a, b: seen.append(a) or (1.0, 2.0), (x, y), epochs=1,
                           batch_size=4, shuffle=False, metrics=["loss", "accuracy"])
    np.testing.assert_array_equal(np.concatenate(seen), x)
    assert history.metrics == {"loss": [1.0], "accuracy": [2.0]}


def test_dict_data_goes_by_keyword_to_a_step_with_dict_inputs():
    x = gd.placeholder((None, 4), "float64", name="x")
    y = gd.placeholder((None,), "int64", name="y")
    w = gd.variable(np.zeros(4), name="w")
    loss = gd.mean((x @ w - gd.astype(y, "float64")) ** 2)
    step = gd.function({"features": x, "labels": y}, {"loss": loss},
                       updates=gd.optim.SGD(0.1).minimize(loss, [w]))
    xv, yv = _data(32)
    history = gd.train.fit(step, {"features": xv, "labels": yv}, epochs=3, batch_size=8,
                           shuffle=False)
    assert history.loss[-1] < history.loss[0]
    # the same run by hand: batches in order, the epoch mean weighted by batch size
    gd.set_value(w, np.zeros(4))
    plain = gd.function([x, y], loss, updates=gd.optim.SGD(0.1).minimize(loss, [w]))
    by_hand = [np.mean([float(plain(xv[i:i + 8], yv[i:i + 8])) for i in range(0, 32, 8)])
               for _ in range(3)]
    np.testing.assert_allclose(history.loss, by_hand, rtol=1e-12)


def _model(seed=0):
    """A small classifier with dropout-free layers, Adam on a warm-up schedule; compiled."""
    rng = np.random.default_rng(seed)
    model = gd.nn.Sequential(gd.nn.Dense(4, 8, rng=rng, name="h", dtype="float64"), gd.tanh,
                             gd.nn.Dense(8, 2, rng=rng, name="out", dtype="float64"))
    params = model.parameters()
    x = gd.placeholder((None, 4), "float64", name="x")
    y = gd.placeholder((None,), "int64", name="y")
    logits = model(x)
    loss = gd.mean(gd.softmax_cross_entropy(logits, y))
    accuracy = gd.mean(gd.astype(gd.equal(gd.argmax(logits, axis=1), y), "float64"))
    opt = gd.optim.Adam(gd.optim.linear_warmup(0.05, 5))
    step = gd.function([x, y], [loss, accuracy], updates=opt.minimize(loss, params))
    predict = gd.function([x], logits)
    return params, opt, step, predict


def _values(tree):
    leaves, _ = gd.api.pytree.flatten(tree)
    return [gd.get_value(v) for v in leaves]


def _run(tmp_path, name, crash_at=None, resume=False):
    x, y = _data(50)
    params, opt, step, predict = _model()
    calls = []

    def crashing_step(*batch):
        calls.append(1)
        if crash_at is not None and len(calls) == crash_at:
            raise KeyboardInterrupt("killed")
        return step(*batch)

    def evaluate():
        return {"val_accuracy": float(np.mean(np.argmax(predict(x), 1) == y))}

    history = gd.train.fit(crashing_step, (x, y), epochs=3, batch_size=16, seed=1,
                           evaluate=evaluate, metrics=["loss", "accuracy"],
                           state={"params": params, "optimizer": opt.state},
                           checkpoint=tmp_path / name, checkpoint_every=3, resume=resume)
    return history, params, opt, len(calls)


def test_a_killed_run_resumed_is_bit_identical_to_an_uninterrupted_one(tmp_path):
    whole, params, opt, _ = _run(tmp_path, "whole.npz")
    assert whole.loss[-1] < whole.loss[0] and len(whole.val_accuracy) == 3
    with pytest.raises(KeyboardInterrupt):  # killed at the 11th of 12 steps: mid-epoch 3
        _run(tmp_path, "run.npz", crash_at=11)
    saved = gd.load(tmp_path / "run.npz")
    assert int(saved["fit"]["loop"]["steps"]) == 9  # the last checkpoint: step 9
    assert int(saved["state"]["optimizer"]["step"]) == 9
    resumed, params2, opt2, calls = _run(tmp_path, "run.npz", resume=True)
    assert calls == 3  # steps 10, 11 and 12 only
    for a, b in zip(_values(params) + _values(opt.state), _values(params2) + _values(opt2.state)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert resumed.metrics == whole.metrics and resumed.steps == 12
    assert np.isnan(resumed.steps_per_second[:2]).all()
    # a finished run resumed runs nothing and answers the same history
    again, _, _, calls = _run(tmp_path, "run.npz", resume=True)
    assert calls == 0 and again.metrics == whole.metrics


def test_resume_mid_epoch_keeps_the_epoch_s_running_sums(tmp_path):
    """Killed in epoch 2 just after a checkpoint at step 5 (of 4 per epoch): the resumed epoch's
    average still counts the batch run before the kill."""
    x, y = _data(50)

    def run(crash_at=None, resume=False, name="a.npz"):
        params, opt, step, _ = _model()
        calls = []

        def crashing(*batch):
            calls.append(1)
            if len(calls) == crash_at:
                raise KeyboardInterrupt
            return step(*batch)

        return gd.train.fit(crashing, (x, y), epochs=2, batch_size=16, seed=2,
                            state=[params, opt.state], checkpoint=tmp_path / name,
                            checkpoint_every=5, resume=resume)

    whole = run(name="whole.npz")
    with pytest.raises(KeyboardInterrupt):
        run(crash_at=7)
    assert run(resume=True).metrics == whole.metrics


def test_resume_into_a_different_model_changes_nothing(tmp_path):
    _run(tmp_path, "run.npz")
    x, y = _data(50)
    rng = np.random.default_rng(0)
    other = gd.nn.Dense(4, 3, rng=rng, name="h", dtype="float64")
    before = _values(other.parameters())
    with pytest.raises(gd.CheckpointError, match="does not match|variable"):
        gd.train.fit(lambda a, b: 0.0, (x, y), epochs=3, batch_size=16,
                     state={"params": other.parameters(), "optimizer": {}},
                     checkpoint=tmp_path / "run.npz", resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(before, _values(other.parameters())))
    params, opt, step, _ = _model()
    with pytest.raises(gd.CheckpointError, match="run of 3 epochs, this one has 5"):
        gd.train.fit(step, (x, y), epochs=5, batch_size=16,
                     state={"params": params, "optimizer": opt.state},
                     checkpoint=tmp_path / "run.npz", resume=True)


def test_checkpoint_every_n_steps_writes_the_file(tmp_path):
    x, y = _data(32)
    params, opt, step, _ = _model()
    path = tmp_path / "c.npz"
    gd.train.fit(step, (x, y), epochs=1, batch_size=8, state=params, checkpoint=path,
                 checkpoint_every=2)
    saved = gd.load(path)
    assert int(saved["fit"]["loop"]["steps"]) == 4
    np.testing.assert_array_equal(saved["state"]["h"]["weight"],
                                  gd.get_value(params["h"]["weight"]))


def test_bad_arguments_are_clear_errors(tmp_path):
    x, y = _data(10)
    with pytest.raises(gd.InputError, match="one leading length"):
        gd.train.fit(lambda a, b: 0.0, (x, y[:5]), epochs=1, batch_size=4)
    with pytest.raises(gd.InputError, match="need checkpoint=path"):
        gd.train.fit(lambda a, b: 0.0, (x, y), epochs=1, batch_size=4, resume=True)
    with pytest.raises(gd.InputError, match="needs state="):
        gd.train.fit(lambda a, b: 0.0, (x, y), epochs=1, batch_size=4, checkpoint=tmp_path / "c")
    with pytest.raises(gd.InputError, match="batch_size must be"):
        gd.train.fit(lambda a, b: 0.0, (x, y), epochs=1, batch_size=0)
    with pytest.raises(gd.InputError, match="name the evaluation's metrics apart"):
        gd.train.fit(lambda a, b: 0.0, (x, y), epochs=1, batch_size=4,
                     evaluate=lambda: {"loss": 1.0})


# --- progress bar -----------------------------------------------------------------------------

def test_progress_bar_is_quiet_off_a_terminal():
    stream = io.StringIO()
    bar = gd.train.ProgressBar(3, "epoch 1/1", stream)
    for i in range(3):
        bar.update(i + 1, {"loss": 0.5, "accuracy": 0.9})
    bar.close()
    assert stream.getvalue() == ""


def test_progress_bar_on_a_terminal_shows_metrics_and_speed():
    stream = _Terminal()
    bar = gd.train.ProgressBar(4, "epoch 2/5", stream)
    bar.update(4, {"loss": 0.1234, "accuracy": 0.875})
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\repoch 2/5 [") and text.endswith("\n")
    assert "4/4 loss 0.1234 acc 0.875" in text and "step/s" in text


def test_fit_through_a_terminal_draws_and_a_pipe_does_not():
    x, y = _data(64)
    quiet, loud = io.StringIO(), _Terminal()
    gd.train.fit(_Recorder(), (x, y), epochs=1, batch_size=32, stream=quiet)
    gd.train.fit(_Recorder(), (x, y), epochs=2, batch_size=32, stream=loud)
    assert quiet.getvalue() == ""
    assert "epoch 2/2" in loud.getvalue() and "2/2 loss" in loud.getvalue()


class _Crashing:
    """A step that raises KeyboardInterrupt at call ``crash_at``, passing on its random
    streams (as a wrapper must for fit to checkpoint them)."""

    def __init__(self, step, crash_at=None, pass_streams=True):
        self.step, self.crash_at, self.calls = step, crash_at, 0
        self.random_streams = step.random_streams if pass_streams else ()

    def __call__(self, *batch):
        self.calls += 1
        if self.calls == self.crash_at:
            raise KeyboardInterrupt("killed")
        return self.step(*batch)


def _dropout_run(tmp_path, name, crash_at=None, resume=False, pass_streams=True):
    x, y = _data(50)
    rng = np.random.default_rng(0)
    model = gd.nn.Sequential(gd.nn.Dense(4, 16, rng=rng, name="h", dtype="float64"), gd.tanh,
                             gd.nn.Dropout(0.5, seed=7),
                             gd.nn.Dense(16, 2, rng=rng, name="out", dtype="float64"))
    params = model.parameters()
    xp = gd.placeholder((None, 4), "float64", name="x")
    yp = gd.placeholder((None,), "int64", name="y")
    loss = gd.mean(gd.softmax_cross_entropy(model(xp), yp))
    opt = gd.optim.SGD(0.1)
    step = _Crashing(gd.function([xp, yp], loss, updates=opt.minimize(loss, params)), crash_at,
                    pass_streams)
    gd.train.fit(step, (x, y), epochs=2, batch_size=16, seed=1, state=params,
                 checkpoint=tmp_path / name, checkpoint_every=3, resume=resume)
    return _values(params), step


def test_a_run_with_dropout_resumed_draws_the_masks_it_would_have_drawn(tmp_path):
    whole, _ = _dropout_run(tmp_path, "whole.npz")
    with pytest.raises(KeyboardInterrupt):
        _dropout_run(tmp_path, "run.npz", crash_at=5)  # the last checkpoint: step 3
    resumed, step = _dropout_run(tmp_path, "run.npz", resume=True)
    assert step.calls == 5 and len(step.random_streams) == 1
    for a, b in zip(whole, resumed):
        assert np.array_equal(a, b)
    # a wrapper that hides the streams: the resumed steps draw the first masks again
    with pytest.raises(KeyboardInterrupt):
        _dropout_run(tmp_path, "lost.npz", crash_at=5, pass_streams=False)
    lost, _ = _dropout_run(tmp_path, "lost.npz", resume=True, pass_streams=False)
    assert not all(np.array_equal(a, b) for a, b in zip(whole, lost))


def test_a_random_stream_continues_from_its_saved_state():
    x = gd.placeholder((64,), "float64", name="x")
    f = gd.function([x], gd.dropout(x, 0.5, seed=3))
    (stream,) = f.random_streams
    f(np.ones(64))
    state = stream.state()
    after = [f(np.ones(64)) for _ in range(3)]
    stream.set_state(state)
    assert all(np.array_equal(a, f(np.ones(64))) for a in after)
    assert not np.array_equal(after[0], after[1])
    with pytest.raises(gd.GraphdiffError, match="7 uint64 words"):
        stream.set_state(np.zeros(3, np.int64))
    assert np.array_equal(stream.state(), stream.state())
