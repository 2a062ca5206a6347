"""graphdiff.optim against torch.optim: 100 steps of each algorithm in float64 on the same
loss agree to 1e-6 (parameters and the optimizer state), schedules against torch's
lr_scheduler, clipping against clip_grad_norm_; float32 runs too."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import optim

torch = pytest.importorskip("torch")

STEPS = 100


def _init(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}


def _data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(8, 3)), rng.normal(size=(8, 4))


def _gd_run(make_opt, dtype="float64", clip=None):
    """STEPS steps of graphdiff on a tanh regression; returns the final parameters and lrs."""
    x_val, y_val = _data()
    params = {k: gd.variable(v.astype(dtype), name=k) for k, v in _init().items()}
    x = gd.placeholder(x_val.shape, dtype, name="x")
    y = gd.placeholder(y_val.shape, dtype, name="y")
    loss = gd.mean((gd.tanh(x @ params["W"] + params["b"]) - y) ** 2)
    grads = dict(zip(["W", "b"], gd.grad(loss, [params["W"], params["b"]])))
    if clip is not None:
        grads = optim.clip_by_global_norm(grads, clip)
    opt = make_opt(optim)
    step = gd.function([x, y], loss, updates=opt.updates(params, grads))
    for _ in range(STEPS):
        step(x_val.astype(dtype), y_val.astype(dtype))
    return {k: gd.get_value(v) for k, v in params.items()}, opt


def _torch_run(make_opt, schedule=None, clip=None):
    x_val, y_val = _data()
    params = {k: torch.tensor(v, requires_grad=True) for k, v in _init().items()}
    opt = make_opt(torch.optim, [params["W"], params["b"]])
    scheduler = schedule(opt) if schedule else None
    x, y = torch.tensor(x_val), torch.tensor(y_val)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch.mean((torch.tanh(x @ params["W"] + params["b"]) - y) ** 2)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([params["W"], params["b"]], clip)
        opt.step()
        if scheduler:
            scheduler.step()
    return {k: v.detach().numpy() for k, v in params.items()}


CASES = {
    "sgd": (lambda m: m.SGD(0.1), lambda m, p: m.SGD(p, lr=0.1)),
    "sgd-momentum-wd": (lambda m: m.SGD(0.05, momentum=0.9, weight_decay=0.01),
                        lambda m, p: m.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01)),
    "sgd-dampening": (lambda m: m.SGD(0.05, momentum=0.8, dampening=0.3),
                      lambda m, p: m.SGD(p, lr=0.05, momentum=0.8, dampening=0.3)),
    "sgd-nesterov": (lambda m: m.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                     lambda m, p: m.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                        weight_decay=1e-3)),
    "adam": (lambda m: m.Adam(0.01), lambda m, p: m.Adam(p, lr=0.01)),
    "adam-wd": (lambda m: m.Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
                lambda m, p: m.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    "adamw": (lambda m: m.AdamW(0.01, weight_decay=0.1),
              lambda m, p: m.AdamW(p, lr=0.01, weight_decay=0.1)),
    "rmsprop": (lambda m: m.RMSProp(0.01), lambda m, p: m.RMSprop(p, lr=0.01)),
    "rmsprop-centered-momentum": (
        lambda m: m.RMSProp(0.005, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01),
        lambda m, p: m.RMSprop(p, lr=0.005, alpha=0.9, momentum=0.5, centered=True,
                               weight_decay=0.01)),
    "adagrad": (lambda m: m.Adagrad(0.1), lambda m, p: m.Adagrad(p, lr=0.1)),
    "adagrad-decay": (
        lambda m: m.Adagrad(0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
        lambda m, p: m.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01,
                               initial_accumulator_value=0.1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch_over_100_steps(case):
    ours, theirs = CASES[case]
    got, _ = _gd_run(ours)
    want = _torch_run(theirs)
    start = _init()
    for k in got:
        assert np.abs(got[k] - start[k]).max() > 1e-3  # the run moved the parameters
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-6)


SCHEDULES = {
    "step": (lambda m: m.step_decay(0.1, step_size=30, gamma=0.5),
             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.5)),
    "cosine": (lambda m: m.cosine_decay(0.1, total_steps=STEPS, min_rate=0.01),
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS,
                                                                    eta_min=0.01)),
    "warmup": (lambda m: m.linear_warmup(0.1, warmup_steps=20, start_factor=0.1),
               lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=1.0,
                                                           total_iters=20)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("algorithm", ["sgd", "adam"])
def test_schedules_match_torch(name, algorithm):
    ours_schedule, theirs_schedule = SCHEDULES[name]
    if algorithm == "sgd":
        def ours(m):
            return m.SGD(ours_schedule(m), momentum=0.9)

        def theirs(m, p):
            return m.SGD(p, lr=0.1, momentum=0.9)
    else:
        def ours(m):
            return m.Adam(ours_schedule(m))

        def theirs(m, p):
            return m.Adam(p, lr=0.1)
    got, _ = _gd_run(ours)
    want = _torch_run(theirs, schedule=theirs_schedule)
    for k in got:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-6)


def test_schedule_values():
    t = gd.placeholder((), "int64", name="t")
    warm = optim.linear_warmup(optim.cosine_decay(1.0, 10), warmup_steps=4)
    f = gd.function([t], [optim.step_decay(1.0, 3, 0.5)(t), warm(t)])
    for k in range(15):
        step_value, warm_value = f(np.int64(k))
        assert float(step_value) == pytest.approx(0.5 ** (k // 3))
        cosine = 0.5 * (1 + np.cos(np.pi * min(k, 10) / 10))
        assert float(warm_value) == pytest.approx(min(k / 4, 1.0) * cosine)


def test_clipping_matches_torch():
    ours, theirs = CASES["sgd-momentum-wd"]
    got, _ = _gd_run(ours, clip=0.05)
    want = _torch_run(theirs, clip=0.05)
    unclipped, _ = _gd_run(ours)
    assert np.abs(got["W"] - unclipped["W"]).max() > 1e-3  # clipping was active
    for k in got:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-6)


def test_clip_by_global_norm_values_and_structure():
    a = gd.constant(np.array([3.0, 0.0]))
    b = gd.constant(np.array([[4.0]]))
    clipped = optim.clip_by_global_norm({"a": a, "n": [b]}, 1.0)
    assert set(clipped) == {"a", "n"} and isinstance(clipped["n"], list)
    ca, cb = gd.function([], [clipped["a"], clipped["n"][0]])()
    np.testing.assert_allclose(ca, [3 / (5 + 1e-6), 0.0])
    np.testing.assert_allclose(cb, [[4 / (5 + 1e-6)]])
    small = optim.clip_by_global_norm([a], 100.0)
    np.testing.assert_array_equal(gd.function([], small)()[0], [3.0, 0.0])


@pytest.mark.parametrize("case", ["sgd-nesterov", "adam", "adamw", "rmsprop", "adagrad"])
def test_float32_follows_float64(case):
    ours, _ = CASES[case]
    got32, opt = _gd_run(ours, dtype="float32")
    got64, _ = _gd_run(ours)
    for k in got32:
        assert got32[k].dtype == np.float32
        np.testing.assert_allclose(got32[k], got64[k], atol=1e-4)
    leaves, _ = gd.api.pytree.flatten(opt.state)
    assert all(v.dtype == np.float32 for v in leaves if v is not opt.state["step"])


def test_state_is_a_pytree_of_variables_like_the_params():
    _, opt = _gd_run(CASES["adam"][0])
    assert set(opt.state) == {"step", "m", "v"}
    assert set(opt.state["m"]) == {"W", "b"}
    assert int(gd.get_value(opt.state["step"])) == STEPS
    assert opt.state["m"]["W"].shape == (3, 4)
    assert opt.state["m"]["W"].name == "adam.W.m"


def test_bad_arguments_raise():
    w = gd.variable(np.zeros(2), name="w")
    with pytest.raises(gd.GraphdiffError, match="structure"):
        optim.SGD(0.1).updates([w], {"w": w})
    with pytest.raises(gd.GraphdiffError, match="must be variables"):
        optim.SGD(0.1).updates([w * 2], [w])
    opt = optim.Adam()
    opt.updates([w], [w])
    with pytest.raises(gd.GraphdiffError, match="twice"):
        opt.updates([w], [w])
    with pytest.raises(gd.GraphdiffError, match="nesterov"):
        optim.SGD(0.1, nesterov=True)


def test_minimize_and_learning_rate_as_a_variable():
    w = gd.variable(np.array([2.0]), name="w")
    lr = gd.variable(np.array(0.25), name="lr")
    step = gd.function([], [], updates=optim.SGD(lr).minimize(gd.sum(w * w), [w]))
    step()
    np.testing.assert_allclose(gd.get_value(w), [2.0 - 0.25 * 4.0])
    gd.set_value(lr, 0.1)
    step()
    np.testing.assert_allclose(gd.get_value(w), [1.0 - 0.1 * 2.0])
