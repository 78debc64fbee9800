"""Which process of a distributed job logs: only the chief.

Every worker of a data-parallel job runs the same script, ``accu.autolog()`` included. The chief
logs the run; every other worker writes nothing (no run, no journal, no artifact). The chief is
rank 0 as the launcher says it:

- ``TF_CONFIG`` (``tf.distribute``): the task ``chief``, or ``worker`` 0 when there is no chief;
- ``RANK`` (torchrun, ``torch.distributed``, Horovod-style launchers), else ``LOCAL_RANK``;
- ``OMPI_COMM_WORLD_RANK`` / ``PMI_RANK`` (MPI), ``SLURM_PROCID`` (SLURM);
- JAX: ``jax.process_index()`` when JAX's distributed runtime is initialised.

>>> worker()                               # doctest: +SKIP
Worker(chief=True, rank=0, size=1, launcher='none')
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Worker:
    """This process's place in its job."""

    chief: bool
    rank: int
    size: int
    launcher: str  # tf_config, torchrun, mpi, slurm, jax, none

    def tags(self) -> dict[str, str]:
        """What a run records about the job (nothing for a single process)."""
        if self.launcher == "none":
            return {}
        return {"modeler.workers": str(self.size), "modeler.launcher": self.launcher}


def _int(name: str) -> int | None:
    value = os.environ.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _tf_config() -> Worker | None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
        task = config.get("task") or {}
        cluster = config.get("cluster") or {}
        kind, index = str(task.get("type", "")), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    size = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
    if "chief" in cluster:
        chief = kind == "chief"
        rank = 0 if chief else index + 1
    else:
        chief = kind == "worker" and index == 0
        rank = index
    return Worker(chief, rank, max(size, 1), "tf_config")


def _jax() -> Worker | None:
    jax = sys.modules.get("jax")
    if jax is None:
        return None
    try:
        count = int(jax.process_count())
        if count <= 1:
            return None
        index = int(jax.process_index())
    except Exception:  # JAX present but not initialised
        return None
    return Worker(index == 0, index, count, "jax")


def worker() -> Worker:
    """This process: chief or not, rank, number of workers, launcher."""
    found = _tf_config()
    if found is not None:
        return found
    for rank_var, size_var, launcher in (
        ("RANK", "WORLD_SIZE", "torchrun"),
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "mpi"),
        ("PMI_RANK", "PMI_SIZE", "mpi"),
        ("SLURM_PROCID", "SLURM_NTASKS", "slurm"),
        ("LOCAL_RANK", "LOCAL_WORLD_SIZE", "torchrun"),
    ):
        rank = _int(rank_var)
        if rank is not None:
            size = _int(size_var) or 1
            if size <= 1 and rank == 0:
                break  # a launcher of one process: nothing distributed about it
            return Worker(rank == 0, rank, max(size, rank + 1), launcher)
    found = _jax()
    if found is not None:
        return found
    return Worker(True, 0, 1, "none")


def is_chief() -> bool:
    """True in the process that logs (rank 0, or a process on its own)."""
    return worker().chief
