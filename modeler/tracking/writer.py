"""The run writer: the one place that writes a run (ARCHITECTURE.md, contract 2).

>>> w = RunWriter.start(resolve_tracking(), model_type="keras")      # doctest: +SKIP
>>> w.log_params({"epochs": 10})                                     # doctest: +SKIP
>>> w.log_metrics({"loss": 0.3}, step=0)                             # doctest: +SKIP
>>> w.end()                                                          # doctest: +SKIP

Metrics are buffered and sent with ``log_batch`` (one request per flush, not per value). If the
tracking store cannot be reached — at the start or in the middle of a run — the writer warns
once and goes on writing to the outbox (:mod:`modeler.tracking.outbox`); nothing is lost.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modeler.config import Tracking, test_mode
from modeler.tracking.finisher import notify

MAX_PARAM_LENGTH = 6000  # MLflow's limit for a param value
FLUSH_SECONDS = 5.0  # per-epoch metrics reach the UI at most this late
DOWN_SECONDS = 60.0  # after a failure, new runs go straight to the outbox for this long


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


def is_transient(exc: BaseException, remote: bool = True) -> bool:
    """True for failures of the store itself (unreachable, timed out, 5xx), not of our input.

    A generic MLflow error (``INTERNAL_ERROR``) is the store's fault only on a server; from a
    local database it is a bug or bad input and must not be hidden in the outbox.
    """
    import requests

    if isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | ConnectionError
        | TimeoutError,
    ):
        return True
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        if exc.error_code in ("TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED") or (
            remote and exc.error_code == "INTERNAL_ERROR"
        ):
            return True
        text = str(exc)
        return "API request to" in text and "failed with exception" in text
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, OperationalError)


def dataset_inputs(records: list[dict[str, Any]]) -> list[Any]:
    """MLflow ``DatasetInput`` objects from plain dicts (also used by the outbox replay)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    inputs = []
    for rec in records:
        ds = Dataset(
            name=rec["name"],
            digest=rec["digest"][:36],
            source_type=rec["source_type"],
            source=rec["source"],
            schema=rec.get("schema"),
            profile=rec.get("profile"),
        )
        inputs.append(DatasetInput(ds, tags=[InputTag("mlflow.data.context", rec["context"])]))
    return inputs


@contextmanager
def use_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API on ``uri`` for a moment; the user's settings come back intact.

    (MLflow's own ``_use_tracking_uri`` deletes ``MLFLOW_TRACKING_URI`` from the
    environment when no URI had been set in code, so later runs would go elsewhere.)
    """
    import os

    import mlflow
    from mlflow.tracking._tracking_service import utils

    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    saved = utils._tracking_uri
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved)  # type: ignore[arg-type]
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


def _down(uri: str) -> bool:
    from modeler.state import SESSION

    return SESSION.down_until.get(uri, 0.0) > time.monotonic()


def _mark_down(uri: str) -> None:
    """A server that failed is skipped for a while; a local database is tried each time."""
    from modeler.state import SESSION

    if uri.startswith(("http://", "https://")):
        SESSION.down_until[uri] = time.monotonic() + DOWN_SECONDS


class RunWriter:
    """Writes one MLflow run; every write is batched, bounded, and never lost."""

    def __init__(
        self,
        client: Any,
        run_id: str,
        run_name: str,
        *,
        owned: bool,
        tracking_uri: str,
        experiment: str = "",
        outbox: Any = None,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.run_name = run_name
        self.owned = owned  # False when the user started the run: we never end it
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.outbox = outbox  # set when the store could not be reached
        self.remote = tracking_uri.startswith(("http://", "https://"))
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
            name = active.info.run_name or new_run_name(model_type)
            writer = cls(
                MlflowClient(tracking_uri=uri),
                active.info.run_id,
                name,
                owned=False,
                tracking_uri=uri,
            )
            writer.set_tags(tags)
            return writer
        name = new_run_name(model_type)
        try:
            if _down(tracking.uri):
                raise ConnectionError(f"{tracking.uri} did not answer a moment ago")
            store = connect(tracking)
            run = store.client.create_run(store.experiment_id, run_name=name, tags=tags)
        except Exception as exc:
            if not is_transient(exc, tracking.uri.startswith(("http://", "https://"))):
                raise
            writer = cls(
                None,
                "",
                name,
                owned=True,
                tracking_uri=tracking.uri,
                experiment=tracking.experiment,
            )
            writer._fail_over(exc, tags=tags)
            return writer
        return cls(
            store.client,
            run.info.run_id,
            name,
            owned=True,
            tracking_uri=tracking.uri,
            experiment=tracking.experiment,
        )

    @classmethod
    def attach(cls, tracking: Tracking, run_id: str) -> RunWriter:
        """Write more to an existing run (e.g. a test-set evaluation); its status is kept."""
        from modeler.tracking.store import connect

        store = connect(tracking)
        run = store.client.get_run(run_id)
        return cls(
            store.client,
            run_id,
            run.info.run_name,
            owned=False,
            tracking_uri=tracking.uri,
            experiment=tracking.experiment,
        )

    def end(self, status: str = "FINISHED") -> None:
        """Flush what is buffered and, for a run we opened, mark it ``status``."""
        try:
            self.flush()
            if self.errors:
                self.set_tags({"modeler.logging_error": "; ".join(self.errors)[:5000]})
        finally:
            if self.owned:
                end_time = int(time.time() * 1000)
                self._send(
                    {"op": "end", "status": status, "end_time": end_time},
                    "set_terminated",
                    status,
                    end_time=end_time,
                )

    # --- the one way out: the store, or the outbox ------------------------------------------
    def _send(self, op: dict[str, Any], method: str, *args: Any, **kwargs: Any) -> None:
        """``client.<method>(run_id, *args, **kwargs)``, or keep ``op`` in the outbox."""
        if self.outbox is None:
            try:
                getattr(self.client, method)(self.run_id, *args, **kwargs)
                return
            except Exception as exc:
                if not is_transient(exc, self.remote):
                    raise
                self._fail_over(exc)
        self.outbox.append(op)

    def _fail_over(self, exc: BaseException, tags: Mapping[str, str] | None = None) -> None:
        from modeler.tracking.outbox import Outbox

        _mark_down(self.tracking_uri)
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        self.outbox = Outbox.create(
            tracking_uri=self.tracking_uri,
            experiment=self.experiment,
            run_name=self.run_name,
            tags=dict(tags or {}),
            server_run_id=self.run_id or None,
            reason=reason,
        )
        if not self.run_id:
            self.run_id = f"outbox-{self.outbox.id}"
        notify(
            f"modeler: the tracking store {self.tracking_uri} could not be reached ({reason}); "
            f"run {self.run_name} is kept in {self.outbox.root} and nothing is lost. "
            "Run `modeler sync` when the store is back.",
            stacklevel=4,
        )

    # --- params, tags, metrics ------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log loggable params once each (MLflow params are immutable); others are skipped."""
        from mlflow.entities import Param

        items: dict[str, str] = {}
        for key, value in params.items():
            text = param_value(value)
            if text is None or key in self._params_logged:
                continue
            self._params_logged.add(key)
            items[str(key)[:250]] = text
        self._send_pairs("params", items, Param)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = {
            k: v if isinstance(v, str) else json.dumps(v, default=str)
            for k, v in tags.items()
            if v is not None
        }
        self._send_pairs("tags", items, RunTag)

    def _send_pairs(self, kind: str, items: dict[str, str], entity: Any) -> None:
        """``log_batch`` of params or tags, 100 at a time (MLflow's limit per request)."""
        keys = list(items)
        for i in range(0, len(keys), 100):
            chunk = {k: items[k] for k in keys[i : i + 100]}
            self._send(
                {"op": "batch", kind: chunk},
                "log_batch",
                **{kind: [entity(k, v) for k, v in chunk.items()]},
            )

    def log_metrics(
        self, metrics: Mapping[str, Any], step: int = 0, *, flush: bool = False
    ) -> None:
        """Buffer finite scalar metrics; send them every few seconds or when asked."""
        now = int(time.time() * 1000)
        for key, value in metrics.items():
            value = _scalar(value)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                self._metrics.append((str(key), float(value), now, int(step)))
        if flush or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        from mlflow.entities import Metric

        metrics, self._metrics = self._metrics, []
        for i in range(0, len(metrics), 1000):
            chunk = metrics[i : i + 1000]
            self._send(
                {"op": "batch", "metrics": chunk}, "log_batch", metrics=[Metric(*m) for m in chunk]
            )
        self._last_flush = time.monotonic()

    # --- artifacts ------------------------------------------------------------------------------
    def log_files(self, files: Mapping[str, bytes | str], artifact_path: str | None = None) -> None:
        """Write ``{relative path: content}`` as artifacts in one upload."""
        with tempfile.TemporaryDirectory(prefix="modeler-") as tmp:
            for rel, content in files.items():
                path = Path(tmp, rel)
                path.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    path.write_bytes(content)
                else:
                    path.write_text(content, encoding="utf-8")
            self.log_dir(tmp, artifact_path)

    def log_dir(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Upload a folder's files as artifacts (kept in the outbox if the store is down)."""
        if self.outbox is None:
            try:
                self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)
                return
            except Exception as exc:
                if not is_transient(exc, self.remote):
                    raise
                self._fail_over(exc)
        self.outbox.add_files(lambda target: shutil.copytree(local_dir, target), artifact_path)

    def log_datasets(self, datasets: list[Any], context: str = "training") -> None:
        """Log ``modeler.state.DatasetRecord`` objects as the run's dataset inputs."""
        if not datasets:
            return
        records = [
            {
                "name": rec.name,
                "digest": rec.digest,
                "source_type": "s3" if rec.source.startswith("s3://") else "local",
                "source": json.dumps({"uri": rec.source}),
                "schema": json.dumps({"columns": list(rec.columns)}) if rec.columns else None,
                "profile": json.dumps({"num_rows": rec.rows}) if rec.rows is not None else None,
                "context": context,
            }
            for rec in datasets
        ]
        self._send(
            {"op": "inputs", "datasets": records}, "log_inputs", datasets=dataset_inputs(records)
        )

    # --- model ------------------------------------------------------------------------------------
    def log_model(
        self, flavor: Any, model: Any, *, registered_model_name: str | None = None, **kwargs: Any
    ) -> Any:
        """``flavor.log_model`` into this run; in the outbox, ``flavor.save_model`` instead."""
        if self.outbox is None:
            try:
                with self.active():
                    return flavor.log_model(
                        model, name="model", registered_model_name=registered_model_name, **kwargs
                    )
            except Exception as exc:
                if not is_transient(exc, self.remote):
                    raise
                self._fail_over(exc)
        self.outbox.add_files(
            lambda target: flavor.save_model(model, path=str(target), **kwargs), "model"
        )
        if registered_model_name:
            self.outbox.append({"op": "register", "name": registered_model_name})
        return None

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make this run the fluent active run, for ``mlflow.<flavor>.log_model``."""
        import mlflow

        current = mlflow.active_run()
        if current is not None and current.info.run_id == self.run_id:
            yield
            return
        from mlflow.tracking import fluent

        # mlflow.set_experiment() in the notebook must not block reopening our run
        saved_experiment = fluent._active_experiment_id
        fluent._active_experiment_id = None
        try:
            with use_tracking_uri(self.tracking_uri):
                mlflow.start_run(run_id=self.run_id)
                try:
                    yield
                finally:
                    # end_run marks the run FINISHED; end() sets the final status afterwards
                    mlflow.end_run()
        finally:
            fluent._active_experiment_id = saved_experiment

    # --- safety ---------------------------------------------------------------------------
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
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            message = f"{what}: {type(exc).__name__}: {first}"
            self.errors.append(message)
            notify(f"modeler could not log {message} (training is unaffected)")


@contextmanager
def guard_start(what: str = "the run") -> Iterator[None]:
    """Like :meth:`RunWriter.guard` when there is no writer yet."""
    try:
        yield
    except Exception as exc:
        if test_mode():
            raise
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        notify(
            f"modeler could not log {what}: {type(exc).__name__}: {first} (training is unaffected)",
            stacklevel=4,
        )
