"""The run writer: the one place that writes a run (ARCHITECTURE.md, contract 2).

>>> w = RunWriter.start(resolve_tracking(), model_type="keras")          # doctest: +SKIP
>>> w.log_params({"epochs": 10}); w.log_metrics({"loss": 0.3}, step=0)  # doctest: +SKIP
>>> w.log_evaluation(y_val, scores, threshold=0.5)   # eval.* + eval/curves.json, PNGs  # doctest: +SKIP
>>> w.end()                                                              # doctest: +SKIP

Metrics are buffered and sent with ``log_batch`` (one request per flush, not per value).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modeler.config import Tracking, test_mode
from modeler.errors import ModelerWarning

MAX_PARAM_LENGTH = 6000  # MLflow's limit for a param value
FLUSH_SECONDS = 5.0  # per-epoch metrics reach the UI at most this late


def new_run_name(model_type: str) -> str:
    """``<model_type>-<32 uppercase hex>``, e.g. ``keras-5A5CC0A8...``."""
    return f"{model_type}-{uuid.uuid4().hex.upper()}"


def _scalar(value: Any) -> Any:
    """Plain Python scalar for numpy / tensor scalars; None for anything else."""
    if isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 1) == 0:
        try:
            return item()
        except (TypeError, ValueError):
            return None
    return None


def param_value(value: Any) -> str | None:
    """The string MLflow stores for a param, or None if the value is not loggable."""
    value = _scalar(value) if not isinstance(value, dict | list | tuple) else value
    if value is None:
        return None
    if isinstance(value, dict | list | tuple):
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None
    else:
        text = str(value)
    return text[:MAX_PARAM_LENGTH]


class RunWriter:
    """Writes one MLflow run; every write is batched and bounded."""

    def __init__(
        self, client: Any, run_id: str, run_name: str, *, owned: bool, tracking_uri: str
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.run_name = run_name
        self.owned = owned  # False when the user started the run: we never end it
        self.tracking_uri = tracking_uri
        self.errors: list[str] = []
        self._metrics: list[Any] = []
        self._last_flush = time.monotonic()
        self._params_logged: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def start(
        cls, tracking: Tracking, model_type: str, tags: Mapping[str, str] | None = None
    ) -> RunWriter:
        """Open a run: the user's active ``mlflow.start_run()`` run if any, else a new one."""
        import mlflow

        from modeler.tracking.store import connect, mlflow_env_defaults

        tags = {"modeler.model_type": model_type, **(tags or {})}
        active = mlflow.active_run()
        if active is not None:
            mlflow_env_defaults()
            from mlflow.tracking import MlflowClient

            uri = mlflow.get_tracking_uri()
            client = MlflowClient(tracking_uri=uri)
            name = active.info.run_name or new_run_name(model_type)
            writer = cls(client, active.info.run_id, name, owned=False, tracking_uri=uri)
            writer.set_tags(tags)
            return writer
        store = connect(tracking)
        name = new_run_name(model_type)
        run = store.client.create_run(store.experiment_id, run_name=name, tags=tags)
        return cls(store.client, run.info.run_id, name, owned=True, tracking_uri=tracking.uri)

    @classmethod
    def attach(cls, tracking: Tracking, run_id: str) -> RunWriter:
        """Write more to an existing run (e.g. a test-set evaluation); its status is kept."""
        from modeler.tracking.store import connect

        store = connect(tracking)
        run = store.client.get_run(run_id)
        return cls(store.client, run_id, run.info.run_name, owned=False, tracking_uri=tracking.uri)

    def end(self, status: str = "FINISHED") -> None:
        """Flush what is buffered and, for a run we opened, mark it ``status``."""
        try:
            self.flush()
            if self.errors:
                self.set_tags({"modeler.logging_error": "; ".join(self.errors)[:5000]})
        finally:
            if self.owned:
                self.client.set_terminated(self.run_id, status)

    # --- params, tags, metrics ------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log loggable params once each (MLflow params are immutable); others are skipped."""
        from mlflow.entities import Param

        items = []
        for key, value in params.items():
            text = param_value(value)
            if text is None or key in self._params_logged:
                continue
            self._params_logged.add(key)
            items.append(Param(str(key)[:250], text))
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [
            RunTag(k, v if isinstance(v, str) else json.dumps(v, default=str))
            for k, v in tags.items()
            if v is not None
        ]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, tags=items[i : i + 100])

    def log_metrics(
        self, metrics: Mapping[str, Any], step: int = 0, *, flush: bool = False
    ) -> None:
        """Buffer finite scalar metrics; send them every few seconds or when asked."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for key, value in metrics.items():
            value = _scalar(value)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                self._metrics.append(Metric(str(key), float(value), now, int(step)))
        if flush or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        metrics, self._metrics = self._metrics, []
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])
        self._last_flush = time.monotonic()

    # --- artifacts ------------------------------------------------------------------------------
    def log_files(self, files: Mapping[str, bytes | str], artifact_path: str | None = None) -> None:
        """Write ``{relative path: content}`` as artifacts in one upload."""
        with tempfile.TemporaryDirectory(prefix="modeler-") as tmp:
            for rel, content in files.items():
                path = Path(tmp, rel)
                path.parent.mkdir(parents=True, exist_ok=True)
                mode = "wb" if isinstance(content, bytes) else "w"
                with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
                    fh.write(content)
            self.client.log_artifacts(self.run_id, tmp, artifact_path)

    def log_dir(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def log_datasets(self, datasets: list[Any], context: str = "training") -> None:
        """Log ``modeler.state.DatasetRecord`` objects as the run's dataset inputs."""
        if not datasets:
            return
        from mlflow.entities import Dataset, DatasetInput, InputTag

        inputs = []
        for rec in datasets:
            source_type = "s3" if rec.source.startswith("s3://") else "local"
            schema = json.dumps({"columns": list(rec.columns)}) if rec.columns else None
            profile = json.dumps({"num_rows": rec.rows}) if rec.rows is not None else None
            ds = Dataset(
                name=rec.name,
                digest=rec.digest[:36],
                source_type=source_type,
                source=json.dumps({"uri": rec.source}),
                schema=schema,
                profile=profile,
            )
            inputs.append(DatasetInput(ds, tags=[InputTag("mlflow.data.context", context)]))
        self.client.log_inputs(self.run_id, datasets=inputs)

    # --- model ------------------------------------------------------------------------------------
    @contextmanager
    def active(self) -> Iterator[None]:
        """Make this run the fluent active run, for ``mlflow.<flavor>.log_model``."""
        import mlflow

        current = mlflow.active_run()
        if current is not None and current.info.run_id == self.run_id:
            yield
            return
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        with _use_tracking_uri(self.tracking_uri):
            mlflow.start_run(run_id=self.run_id)
            try:
                yield
            finally:
                # end_run marks the run FINISHED; end() sets the final status afterwards
                mlflow.end_run()

    # --- safety -------------------------------------------------------------------------------------
    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn a failure in logging into one warning and the tag ``modeler.logging_error``.

        With ``MODELER_TEST_MODE=1`` the error is raised instead, so tests see our bugs.
        """
        try:
            yield
        except Exception as exc:  # logging must never break training
            if test_mode():
                raise
            message = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            self.errors.append(message)
            warnings.warn(
                f"modeler could not log {message} (training is unaffected)",
                ModelerWarning,
                stacklevel=3,
            )


@contextmanager
def guard_start(what: str = "the run") -> Iterator[None]:
    """Like :meth:`RunWriter.guard` when there is no writer yet (the store is unreachable)."""
    try:
        yield
    except Exception as exc:
        if test_mode():
            raise
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        warnings.warn(
            f"modeler could not log {what}: {type(exc).__name__}: {first} (training is unaffected)",
            ModelerWarning,
            stacklevel=4,
        )
