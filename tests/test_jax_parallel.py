"""backend="jax" on several devices and several processes, each run in fresh processes (XLA
fixes the device count when it starts): data parallel on 4 forced CPU devices equals one
device; two processes on 127.0.0.1 (2 devices each) train to identical parameters, equal to
a single-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .jax_parallel_run import mlp_step, train

pytest.importorskip("jax")

SCRIPT = Path(__file__).resolve().parent / "jax_parallel_run.py"
ROOT = SCRIPT.parents[1]


def _environment(devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _result(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output
    return json.loads(lines[-1][len("RESULT "):])


def _close(got: dict, want: dict) -> None:
    np.testing.assert_allclose(got["losses"], want["losses"], rtol=1e-5)
    for g, w in zip(got["params"], want["params"]):
        np.testing.assert_allclose(np.array(g), np.array(w), rtol=1e-4, atol=1e-6)


def test_data_parallel_training_on_four_devices_equals_one_device() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "devices"], env=_environment(4),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = _result(done.stdout)
    for name in ("mlp", "transformer"):
        single, sharded = result[name]["single"], result[name]["sharded"]
        assert len(single["losses"]) == 3 and single["losses"][2] < single["losses"][0]
        _close(sharded, single)
    assert result["variable_devices"] == 4 and result["variable_replicated"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_data_parallel_to_identical_parameters() -> None:
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), "host", str(i), "2", str(port)],
                              env=_environment(2), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(_result(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    first, second = outputs
    # one process, one device, the numpy backend: the same five steps
    assert {first["process"], second["process"]} == {0, 1}
    assert first["losses"] == second["losses"] and first["params"] == second["params"]
    _close(first, train(mlp_step, 5, "numpy"))
