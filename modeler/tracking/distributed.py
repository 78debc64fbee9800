"""Which process of a distributed job logs: only the chief.

Every worker of a data-parallel job runs the same script, ``accu.autolog()`` included. The chief
logs the run; every other worker writes nothing (no run, no journal, no artifact, no store file).
The chief is rank 0 as the launcher says it, read from what launchers set, first match wins:

- ``TF_CONFIG`` (``tf.distribute``): the task ``chief``, or ``worker`` 0 when there is no chief
  (``ps`` and ``evaluator`` tasks never log);
- ``KERAS_DISTRIBUTION_PROCESS_ID`` / ``_NUM_PROCESSES`` (``keras.distribution.initialize()``);
- ``RANK`` / ``WORLD_SIZE`` (torchrun, DeepSpeed, Accelerate), ``HOROVOD_RANK`` /
  ``HOROVOD_SIZE`` (horovodrun), ``OMPI_COMM_WORLD_RANK`` / ``PMI_RANK`` (Open MPI, MPICH),
  ``SLURM_PROCID`` / ``SLURM_NTASKS`` (srun), ``LOCAL_RANK`` / ``LOCAL_WORLD_SIZE``;
- JAX's own runtime (``jax.distributed.initialize(...)`` called with arguments), read without
  starting JAX's backends, so a later ``jax.distributed.initialize`` still works.

>>> worker()                               # doctest: +SKIP
Worker(chief=True, rank=0, size=1, launcher='none', task='', problem=None)
>>> is_chief()                             # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass

from modeler.errors import ConfigError, ModelerWarning

# (rank variable, size variable, launcher), in the order they are trusted
_RANK_VARIABLES = (
    ("KERAS_DISTRIBUTION_PROCESS_ID", "KERAS_DISTRIBUTION_NUM_PROCESSES", "keras"),
    ("RANK", "WORLD_SIZE", "torchrun"),
    ("HOROVOD_RANK", "HOROVOD_SIZE", "horovod"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "mpi"),
    ("PMI_RANK", "PMI_SIZE", "mpi"),
    ("SLURM_PROCID", "SLURM_NTASKS", "slurm"),
    ("LOCAL_RANK", "LOCAL_WORLD_SIZE", "torchrun"),
)


@dataclass(frozen=True)
class Worker:
    """This process's place in its job."""

    chief: bool
    rank: int
    size: int
    launcher: str  # tf_config, keras, torchrun, horovod, mpi, slurm, jax, none
    task: str = ""  # as the launcher names it: "worker 1", "RANK=3"
    problem: str | None = None  # a launcher variable that cannot be read (then: one process)

    def tags(self) -> dict[str, str]:
        """What a run records about the job (nothing for a single process)."""
        if self.launcher == "none":
            return {}
        return {"modeler.workers": str(self.size), "modeler.launcher": self.launcher}


_ALONE = Worker(True, 0, 1, "none")


def _tf_config(raw: str) -> Worker:
    where = f"TF_CONFIG={raw[:200]!r}"
    try:
        config = json.loads(raw)
    except ValueError as exc:
        return _problem(f"{where} is not JSON ({exc})")
    task = config.get("task") if isinstance(config, dict) else None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(task, dict) or not isinstance(cluster, dict):
        return _problem(f'{where} must be an object with "cluster" and "task"')
    kind, index = task.get("type"), task.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool):
        return _problem(f"{where}: task index must be an integer; got {index!r}")
    members = cluster.get(kind) if isinstance(kind, str) else None
    if not isinstance(members, list) or not 0 <= index < len(members):
        return _problem(
            f"{where}: task {kind!r} {index} is not in the cluster "
            f"(it has {', '.join(f'{k}: {len(v)}' for k, v in cluster.items()) or 'no tasks'})"
        )
    size = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
    if size == 1 and kind in ("chief", "worker"):
        return _ALONE  # a cluster of one: nothing distributed about it
    if "chief" in cluster:
        chief = kind == "chief"
        rank = 0 if chief else index + 1 if kind == "worker" else -1
    else:
        chief = kind == "worker" and index == 0
        rank = index if kind == "worker" else -1
    return Worker(chief, rank, max(size, 1), "tf_config", f"{kind} {index}")


def _problem(text: str) -> Worker:
    return Worker(True, 0, 1, "none", problem=text)


def _from_variables() -> Worker | None:
    for rank_var, size_var, launcher in _RANK_VARIABLES:
        raw = os.environ.get(rank_var)
        if raw is None or raw.strip() == "":
            continue
        raw_size = os.environ.get(size_var, "")
        try:
            rank = int(raw)
            size = int(raw_size) if raw_size.strip() else rank + 1
        except ValueError:
            return _problem(
                f"{rank_var}={raw!r} and {size_var}={raw_size!r} must be integers "
                f"(as {launcher} sets them)"
            )
        if not 0 <= rank < size:
            return _problem(f"{rank_var}={rank} must be at least 0 and below {size_var}={size}")
        if size == 1:
            return None  # a launcher of one process: nothing distributed about it
        return Worker(rank == 0, rank, size, launcher, f"{rank_var}={rank}")
    return None


def _jax() -> Worker | None:
    """JAX's multi-process runtime, if this process started it; JAX's backends stay untouched."""
    if "jax" not in sys.modules:
        return None
    try:
        from jax._src import distributed, xla_bridge

        state = distributed.global_state
        if state.client is not None:  # jax.distributed.initialize() was called
            count, index = int(state.num_processes), int(state.process_id)
        elif xla_bridge.backends_are_initialized():  # e.g. a TPU pod, found by JAX itself
            import jax

            count, index = int(jax.process_count()), int(jax.process_index())
        else:
            return None
    except Exception:  # a JAX whose internals moved: as if not distributed
        return None
    if count <= 1:
        return None
    return Worker(index == 0, index, count, "jax", f"jax.process_index()={index}")


def worker() -> Worker:
    """This process: chief or not, rank, number of workers, launcher. Never raises."""
    raw = os.environ.get("TF_CONFIG")
    if raw:
        return _tf_config(raw)
    return _from_variables() or _jax() or _ALONE


def is_chief() -> bool:
    """True in the process that logs (rank 0, or a process on its own).

    Raises ``ConfigError`` when a launcher variable cannot be read (which process logs would be
    a guess). A worker that is not the chief says so once (a ``ModelerWarning``), so a stray
    ``RANK`` never silences a notebook without a word.
    """
    here = worker()
    if here.problem is not None:
        raise ConfigError(
            f"modeler cannot tell which process of the job logs: {here.problem}. "
            "Fix or unset the variable; a single process needs none of them."
        )
    if not here.chief:
        warnings.warn(
            f"modeler: this process is not the chief of its {here.size}-process job "
            f"({here.launcher}, {here.task}); only the chief logs runs, nothing is written "
            "from here",
            ModelerWarning,
            stacklevel=1,  # one location: shown once per process under the default filter
        )
    return here.chief
