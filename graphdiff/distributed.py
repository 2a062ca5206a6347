"""Many hosts: ``gd.distributed.initialize`` joins this process to a multi-process JAX run.

Call it once in every process, before the first ``gd.function(..., backend="jax")``; then
``jax.devices()`` lists the devices of every process, and a function with
``data_parallel=True`` shards each input's leading axis over all of them, replicates the
variables, and XLA reduces the gradients across hosts. Every process runs the same program and
feeds the same global batch (each places the rows of its own devices); results and variables
come back equal in every process. See docs/scaling.md (a GPU cluster, SLURM).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import BackendError


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None,
               local_device_ids: int | Sequence[int] | None = None, **options: Any) -> None:
    """``jax.distributed.initialize`` with these arguments (``coordinator_address`` is
    ``"host:port"`` of process 0; on SLURM, TPU pods and other managed clusters all may be
    left None for JAX to detect). Other keywords go to JAX as they are."""
    try:
        import jax
    except ImportError:
        raise BackendError("gd.distributed needs the jax package, which is not installed: "
                           "pip install graphdiff[jax]") from None
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               local_device_ids=local_device_ids, **options)


def process_index() -> int:
    """This process's index among the processes of the run (0 without ``initialize``)."""
    import jax

    return jax.process_index()


def process_count() -> int:
    import jax

    return jax.process_count()


def shutdown() -> None:
    """Leave the run (``jax.distributed.shutdown``)."""
    import jax

    jax.distributed.shutdown()
