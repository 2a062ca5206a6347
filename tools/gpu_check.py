"""Check graphdiff on a CUDA GPU: `python tools/gpu_check.py [--quick]` (not part of CI).

With a CUDA device visible to JAX (``pip install "jax[cuda12]"``), it runs the op battery on it
(every op case of tests/opcases, values and gradients in float32 and float64, with
``backend="jax", device="gpu"`` against the reference backend on the CPU) and then the
``jax_backend`` benchmark suite on the GPU. With ``onnxruntime-gpu`` installed it also checks
that onnxruntime offers its CUDA execution provider. Without a GPU it says so and exits 0
having run nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def cuda_devices() -> list:
    try:
        import jax
    except ImportError:
        return []
    try:
        return jax.devices("cuda")
    except RuntimeError:
        return []


def op_battery(device: object) -> int:
    """Every op case on ``device`` against the reference; returns the number of failures."""
    import numpy as np

    import graphdiff as gd
    from tests.opcases import all_cases
    from tests.test_jax_backend import RANDOM, _case_graph, _draw

    failures = 0
    for case in all_cases():
        for dtype in ("float32", "float64"):
            arrays = _draw(case, dtype)
            inputs, outputs = _case_graph(case, arrays)
            try:
                want = gd.function(inputs, outputs, passes="none")(*arrays)
                got = gd.function(inputs, outputs, backend="jax", device=device)(*arrays)
                if case.name not in RANDOM:
                    rtol, atol = (1e-9, 1e-12) if dtype == "float64" else \
                        (max(case.rtol32, 1e-5), max(case.atol32, 1e-6))
                    for g, w in zip(got, want):
                        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
            except Exception as exc:  # report every case, then fail
                failures += 1
                print(f"FAIL {case.name} {dtype}: {type(exc).__name__}: {str(exc)[:300]}")
    return failures


def onnxruntime_cuda() -> str:
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime not installed: skipped"
    providers = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in providers:
        return "onnxruntime offers CUDAExecutionProvider"
    return f"onnxruntime has no CUDA provider (pip install onnxruntime-gpu); it has {providers}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small benchmark sizes")
    args = parser.parse_args()
    devices = cuda_devices()
    if not devices:
        print("SKIPPED: no CUDA device visible to JAX (install jax[cuda12] on a machine with an "
              "NVIDIA GPU); nothing was checked")
        return 0
    print(f"CUDA devices: {', '.join(str(d) for d in devices)}")
    failures = op_battery(devices[0])
    print(f"op battery on {devices[0]}: {'all passed' if not failures else f'{failures} failed'}")
    print(onnxruntime_cuda())
    os.environ.setdefault("JAX_PLATFORMS", "cuda,cpu")
    from benchmarks import jax_backend

    print("== jax_backend (on the GPU) ==")
    jax_backend.run(quick=args.quick)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
