"""The outbox: runs kept on local disk while the tracking store cannot be reached.

When the server is down at the start of a fit, or stops answering during one, the run writer
keeps writing — to ``mlruns/outbox/<id>/`` instead. Every operation is appended to
``ops.jsonl`` and fsync'ed, artifacts are copied beside it, so a crash later loses nothing
already written. ``modeler sync`` (or ``accu.sync()``) replays the outbox once the server is
back::

    $ modeler sync
    synced keras-5A5C... -> http://mlflow:5000 (run 3f2a...), 14 operations

Replay is idempotent: progress is saved after each operation, a run created by a replay is
found again by its ``modeler.outbox_id`` tag, and metric points the server already holds
(same key, step, timestamp and value) are not sent twice.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from modeler.config import embedded_store_dir
from modeler.errors import TrackingError

OUTBOX = "outbox"


def outbox_dir(base: Path | None = None) -> Path:
    """``<cwd>/mlruns/outbox``: beside the embedded store, whatever store the run was for."""
    return (base or embedded_store_dir()) / OUTBOX


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems do not open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write, fsync, rename: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Outbox:
    """One run on disk: ``run.json``, ``ops.jsonl`` and ``files/<n>/`` for artifacts."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def create(
        cls,
        *,
        tracking_uri: str,
        experiment: str,
        run_name: str,
        tags: dict[str, str],
        server_run_id: str | None,
        base: Path | None = None,
        reason: str = "",
    ) -> Outbox:
        local_id = uuid.uuid4().hex
        root = outbox_dir(base) / local_id
        (root / "files").mkdir(parents=True)
        write_json_atomic(
            root / "run.json",
            {
                "outbox_id": local_id,
                "tracking_uri": tracking_uri,
                "experiment": experiment,
                "run_name": run_name,
                "tags": tags,
                "server_run_id": server_run_id,
                "start_time": int(time.time() * 1000),
                "reason": reason,
            },
        )
        _fsync_dir(root.parent)
        return cls(root)

    @property
    def id(self) -> str:
        return self.root.name

    def append(self, op: dict[str, Any]) -> None:
        line = json.dumps(op, default=str) + "\n"
        with open(self.root / "ops.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def add_files(self, fill: Callable[[Path], None], artifact_path: str | None) -> None:
        """Let ``fill(folder)`` write files, keep them, and record an artifacts operation."""
        n = sum(1 for _ in (self.root / "files").iterdir())
        target = self.root / "files" / str(n)
        fill(target)
        for path in sorted(target.rglob("*")):
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        self.append({"op": "artifacts", "dir": f"files/{n}", "path": artifact_path})


def pending(base: Path | None = None) -> list[Path]:
    """Run folders waiting in the outbox, oldest first."""
    box = outbox_dir(base)
    if not box.is_dir():
        return []
    runs = [p for p in box.iterdir() if (p / "run.json").is_file()]
    return sorted(runs, key=lambda p: json.loads((p / "run.json").read_text())["start_time"])


def _ops(root: Path) -> Iterator[dict[str, Any]]:
    path = root / "ops.jsonl"
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n"):  # a line cut by a crash is not an operation
                yield json.loads(line)


def sync(base: Path | None = None, *, echo: Callable[[str], Any] = print) -> list[str]:
    """Replay every pending run to its tracking store; returns the server run ids."""
    done = []
    for root in pending(base):
        done.append(replay(root, echo=echo))
    if not done:
        echo("outbox is empty: nothing to sync")
    return done


def replay(root: Path, *, echo: Callable[[str], Any] = print) -> str:
    """Replay one outbox run; safe to repeat after a partial or complete replay."""
    from mlflow.tracking import MlflowClient

    from modeler.tracking.store import mlflow_env_defaults

    mlflow_env_defaults()
    run = json.loads((root / "run.json").read_text())
    progress_path = root / "progress.json"
    progress: dict[str, Any] = (
        json.loads(progress_path.read_text()) if progress_path.exists() else {"done": 0}
    )
    client = MlflowClient(tracking_uri=run["tracking_uri"])
    try:
        run_id: str | None = progress.get("server_run_id") or run.get("server_run_id")
        existed = run_id is not None or progress["done"] > 0
        if run_id is None:
            run_id, existed = _find_or_create(client, run)
        progress["server_run_id"] = run_id
        write_json_atomic(progress_path, progress)
        replayer = _Replayer(client, run_id, run, root, dedupe=existed)
        for i, op in enumerate(_ops(root)):
            if i < progress["done"]:
                continue
            replayer.apply(op)
            progress["done"] = i + 1
            write_json_atomic(progress_path, progress)
    except Exception as exc:
        from modeler.tracking.writer import is_transient

        if is_transient(exc, run["tracking_uri"].startswith(("http://", "https://"))):
            raise TrackingError(
                f"tracking store {run['tracking_uri']} is still unreachable; {root} was kept "
                f"and `modeler sync` can be run again ({type(exc).__name__})"
            ) from exc
        raise
    echo(
        f"synced {run['run_name']} -> {run['tracking_uri']} (run {run_id}), "
        f"{progress['done']} operations"
    )
    shutil.rmtree(root)
    return str(run_id)


def _find_or_create(client: Any, run: dict[str, Any]) -> tuple[str, bool]:
    """The run a previous replay created (found by its outbox id), or a new one."""
    from modeler.config import Tracking
    from modeler.tracking.store import connect

    store = connect(Tracking(run["tracking_uri"], run["experiment"]))
    found = client.search_runs(
        [store.experiment_id], filter_string=f"tags.`modeler.outbox_id` = '{run['outbox_id']}'"
    )
    if found:
        return found[0].info.run_id, True
    tags = {**run["tags"], "modeler.outbox_id": run["outbox_id"]}
    created = client.create_run(
        store.experiment_id, start_time=run["start_time"], run_name=run["run_name"], tags=tags
    )
    return created.info.run_id, False


class _Replayer:
    def __init__(
        self, client: Any, run_id: str, run: dict[str, Any], root: Path, *, dedupe: bool
    ) -> None:
        self.client, self.run_id, self.run, self.root = client, run_id, run, root
        self.dedupe = dedupe
        self._seen: dict[str, set[tuple[int, int, float]]] = {}

    def _known(self, key: str) -> set[tuple[int, int, float]]:
        if key not in self._seen:
            history = self.client.get_metric_history(self.run_id, key)
            self._seen[key] = {(m.step, m.timestamp, m.value) for m in history}
        return self._seen[key]

    def apply(self, op: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        kind = op["op"]
        if kind == "batch":
            metrics = [
                Metric(k, float(v), int(ts), int(step)) for k, v, ts, step in op.get("metrics", [])
            ]
            if self.dedupe:
                metrics = [
                    m for m in metrics if (m.step, m.timestamp, m.value) not in self._known(m.key)
                ]
            params = [Param(k, v) for k, v in op.get("params", {}).items()]
            tags = [RunTag(k, v) for k, v in op.get("tags", {}).items()]
            for i in range(0, max(len(metrics), 1), 1000):
                self.client.log_batch(
                    self.run_id,
                    metrics=metrics[i : i + 1000],
                    params=params if i == 0 else [],
                    tags=tags if i == 0 else [],
                )
            for m in metrics:
                self._known(m.key).add((m.step, m.timestamp, m.value))
        elif kind == "artifacts":
            self.client.log_artifacts(self.run_id, str(self.root / op["dir"]), op.get("path"))
        elif kind == "inputs":
            from modeler.tracking.writer import dataset_inputs

            self.client.log_inputs(self.run_id, datasets=dataset_inputs(op["datasets"]))
        elif kind == "register":
            import mlflow

            from modeler.tracking.writer import use_tracking_uri

            with use_tracking_uri(self.run["tracking_uri"]):
                version = mlflow.register_model(f"runs:/{self.run_id}/model", op["name"])
            self.client.set_tag(
                self.run_id, "modeler.model_version", f"{self.run['run_name']}_{version.version}"
            )
        elif kind == "end":
            self.client.set_terminated(self.run_id, op["status"], end_time=op.get("end_time"))
        else:
            raise TrackingError(f"{self.root / 'ops.jsonl'}: unknown operation {kind!r}")
