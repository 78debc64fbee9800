"""The run writer: the one place that writes a run (ARCHITECTURE.md, contracts 2 and 5).

It writes to the run's journal only — append and fsync, so a record is on disk when the call
returns — and the background uploader (:mod:`modeler.tracking.uploader`) sends the journal to
the tracking store. Nothing here waits for the network.

>>> w = RunWriter.start(resolve_tracking(), model_type="keras")      # doctest: +SKIP
>>> w.log_params({"epochs": 10})                                     # doctest: +SKIP
>>> w.log_metrics({"loss": 0.3}, step=0)                             # doctest: +SKIP
>>> w.end()                                  # waits until the run is in the store  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modeler import layout
from modeler.config import Tracking, test_mode
from modeler.errors import ModelerWarning
from modeler.redact import redact_text, redact_url
from modeler.tracking.journal import Journal
from modeler.tracking.naming import run_name
from modeler.tracking.uploader import Uploader

MAX_PARAM_LENGTH = 6000  # MLflow's limit for a param value


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
    return redact_text(text)[:MAX_PARAM_LENGTH]


def inline() -> bool:
    """Replay in the caller's thread: test mode (errors raise) or ``MODELER_BACKGROUND=0``."""
    return test_mode() or os.environ.get("MODELER_BACKGROUND", "1") == "0"


_made = threading.Lock()


def uploader() -> Uploader:
    """This process's background uploader (kept by the session; made on first use)."""
    from modeler.state import SESSION

    if SESSION.uploader is None:
        with _made:
            if SESSION.uploader is None:
                SESSION.uploader = Uploader()
    return SESSION.uploader


class RunWriter:
    """Writes one MLflow run through its journal."""

    def __init__(self, journal: Journal, tracking_uri: str) -> None:
        self.journal = journal
        self.tracking_uri = tracking_uri
        self.errors: list[str] = []
        self._params_logged: set[str] = set()

    @property
    def run_name(self) -> str:
        return str(self.journal.meta["run_name"])

    @property
    def owned(self) -> bool:
        """False when the user started the run (or it is an earlier run): we never end it."""
        return self.journal.owned

    @property
    def run_id(self) -> str | None:
        """The run's id in the store; waits (bounded) until the uploader created it, None
        while the store cannot be reached."""
        return uploader().run_id(self.journal)

    # --- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        tracking: Tracking,
        model_type: str,
        tags: Mapping[str, str] | None = None,
        *,
        sampling: str | None = None,
        name_type: str | None = None,
    ) -> RunWriter:
        """Open a run: the user's active ``mlflow.start_run()`` run if any, else a new one.

        ``name_type``: the model type the run is named after (a pipeline's final estimator),
        when it differs from ``model_type``."""
        import mlflow

        tags = {layout.MODEL_TYPE: model_type, **(tags or {})}
        active = mlflow.active_run()
        if active is not None:
            from modeler.tracking.store import mlflow_env_defaults

            mlflow_env_defaults()
            uri = mlflow.get_tracking_uri()
            _warn_other_store(uri, tracking.uri)
            journal = Journal.create(
                tracking_uri=redact_url(uri),
                experiment=tracking.experiment,
                run_name=active.info.run_name or model_type,
                tags={},
                run_id=active.info.run_id,
                base=tracking.journal_home,
            )
            writer = cls(journal, uri)
            uploader().add(journal, uri, inline=True)  # the user's run: written as we go
            writer.set_tags(tags)
            return writer
        journal_id = uuid.uuid4().hex
        name = run_name(
            name_type or model_type,
            journal_id,
            nickname=tags.get(layout.NICKNAME),
            sampling=sampling,
        )
        journal = Journal.create(
            tracking_uri=redact_url(tracking.uri),
            experiment=tracking.experiment,
            run_name=name,
            tags=dict(tags),
            base=tracking.journal_home,
            journal_id=journal_id,
        )
        writer = cls(journal, tracking.uri)
        uploader().add(journal, tracking.uri, inline=inline())
        return writer

    @classmethod
    def attach(
        cls, tracking: Tracking, run_id: str | None = None, *, to: RunWriter | None = None
    ) -> RunWriter:
        """Write more to an existing run (e.g. a test-set evaluation); its status is kept.

        ``to``: the writer of a run of this session, which may not be in the store yet (then
        the new records wait for it in their own journal).
        """
        if run_id is None and to is None:
            raise ValueError("attach needs a run id or a writer")
        if run_id is None and to is not None:
            run_id = to.run_id  # waits for the uploader to create it; None while the store is down
        journal = Journal.create(
            tracking_uri=redact_url(tracking.uri),
            experiment=tracking.experiment,
            run_name=to.run_name if to is not None else str(run_id),
            tags={},
            run_id=run_id,
            attach_to=to.journal.id if to is not None and run_id is None else None,
            base=tracking.journal_home,
        )
        writer = cls(journal, tracking.uri)
        uploader().add(journal, tracking.uri, inline=inline())
        return writer

    def poke(self, *, urgent: bool = False) -> None:
        uploader().poke(self.journal, urgent=urgent)

    def returned(self) -> None:
        """``fit`` returned: a run recovered from this journal counts as FINISHED."""
        self.journal.append({"op": "returned", "time": int(time.time() * 1000)})

    def end(self, status: str = "FINISHED", *, wait: bool = True) -> None:
        """Finish the run (pending evaluations, the model, then ``status``) and upload it.

        ``wait=False`` returns at once: the uploader finishes in the background.
        """
        from modeler.tracking.finish import finish

        errors = list(self.errors)
        self.errors.clear()

        def job() -> list[str]:
            return finish(self.journal, status=status, errors=errors)

        uploader().finish(self.journal, job)
        if wait:
            self.wait()

    def wait(self) -> None:
        """Until this run is in the store (or its store is found down)."""
        up = uploader()
        up.wait([self.journal])
        for message in up.messages():
            warnings.warn(message, ModelerWarning, stacklevel=3)

    # --- params, tags, metrics ------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log loggable params once each (MLflow params are immutable); others are skipped."""
        items: dict[str, str] = {}
        for key, value in params.items():
            text = param_value(value)
            if text is None or key in self._params_logged:
                continue
            self._params_logged.add(key)
            items[str(key)[:250]] = text
        self._pairs("params", items)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = {
            k: redact_text(v if isinstance(v, str) else json.dumps(v, default=str))
            for k, v in tags.items()
            if v is not None
        }
        self._pairs("tags", items)

    def _pairs(self, kind: str, items: dict[str, str]) -> None:
        if items:
            self.journal.append({"op": "batch", kind: items})
            self.poke()

    def rename(self, name: str) -> None:
        self.journal.meta["run_name"] = name
        self.journal.append({"op": "name", "name": name})
        self.poke()

    def log_metrics(self, metrics: Mapping[str, Any], step: int = 0, **_: Any) -> None:
        """Journal numeric metrics now (NaN and infinities included: a diverging loss is a
        fact of the run); the uploader sends them within a few seconds."""
        now = int(time.time() * 1000)
        points = []
        for key, value in metrics.items():
            value = _scalar(value)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            value = float(value)
            if math.isinf(value):  # JSON has no infinity; MLflow stores it as a huge number
                value = math.copysign(1.7976931348623157e308, value)
            points.append([str(key), value, now, int(step)])
        if points:
            self.journal.append({"op": "batch", "metrics": points})
            self.poke()

    # --- artifacts ------------------------------------------------------------------------------
    def log_files(self, files: Mapping[str, bytes | str], artifact_path: str | None = None) -> None:
        """Write ``{relative path: content}`` as artifacts."""
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
        """Copy a folder's files into the journal as artifacts."""

        def fill(target: Path) -> None:
            shutil.copytree(local_dir, target, dirs_exist_ok=True)

        self.journal.add_files(fill, artifact_path)
        self.poke()

    def log_datasets(self, datasets: list[Any], context: str = "training") -> None:
        """Log ``modeler.state.DatasetRecord`` objects as the run's dataset inputs."""
        if not datasets:
            return
        records = [
            {
                "name": rec.name,
                "digest": rec.digest,
                "source_type": "s3" if rec.source.startswith("s3://") else "local",
                "source": json.dumps({"uri": redact_url(rec.source)}),
                "schema": json.dumps({"columns": list(rec.columns)}) if rec.columns else None,
                "profile": json.dumps({"num_rows": rec.rows}) if rec.rows is not None else None,
                "context": context,
            }
            for rec in datasets
        ]
        self.journal.append({"op": "inputs", "datasets": records})
        self.poke()

    # --- model ------------------------------------------------------------------------------------
    def freeze_model(
        self,
        flavor: str,
        model: Any,
        *,
        registered_model_name: str | None = None,
        signature: Any = None,
    ) -> None:
        """Write the model as it is now into the journal (``keras`` or ``sklearn``); it is
        saved as an MLflow model and logged when the run is finished."""
        from modeler.tracking.models import freeze

        freeze(
            self.journal,
            flavor,
            model,
            registered_model_name=registered_model_name,
            signature=signature,
        )

    @contextmanager
    def active(self) -> Iterator[None]:
        """This run as MLflow's active run for a moment, so fits autologged inside the block
        write into it (``accuinsight().add_experiment``). Waits until the run is in the store."""
        import mlflow

        from modeler.tracking.client import use_tracking_uri
        from modeler.tracking.store import connect

        run_id = self.run_id
        if run_id is None:  # the store is down: nested fits make runs of their own
            yield
            return
        from mlflow.tracking import fluent

        # mlflow.set_experiment() in the notebook must not block reopening our run
        saved_experiment = fluent._active_experiment_id
        fluent._active_experiment_id = None
        try:
            with use_tracking_uri(self.tracking_uri):
                connect(Tracking(self.tracking_uri, self.journal.meta["experiment"], None))
                mlflow.start_run(run_id=run_id)
                try:
                    yield
                finally:
                    mlflow.end_run()  # marks it FINISHED; end() sets the final status after
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
            first = redact_text(str(exc).splitlines()[0][:300]) if str(exc) else ""
            message = f"{what}: {type(exc).__name__}: {first}"
            self.errors.append(message)
            warnings.warn(
                f"modeler could not log {message} (training is unaffected)",
                ModelerWarning,
                stacklevel=3,
            )

    def report(self, messages: list[str]) -> None:
        """Show warnings of the evaluation (one line each, naming the run) to the user."""
        for message in messages:
            warnings.warn(f"modeler: run {self.run_name}: {message}", ModelerWarning, stacklevel=3)


_OTHER_STORES_WARNED: set[tuple[str, str]] = set()


def _warn_other_store(theirs: str, ours: str) -> None:
    """Once per pair of stores: the user's own ``mlflow.start_run()`` run is in MLflow's store,
    which is not modeler's (MLflow's tracking URI was never pointed at it)."""
    if _same_store(theirs, ours) or (theirs, ours) in _OTHER_STORES_WARNED:
        return
    _OTHER_STORES_WARNED.add((theirs, ours))
    warnings.warn(
        f"modeler: your mlflow.start_run() run is in MLflow's store {redact_url(theirs)!r}, "
        f"not modeler's {redact_url(ours)!r}, so `modeler ui` and accu.compare do not see it; "
        "modeler logs into it there. Point MLflow at modeler's store first: "
        "mlflow.set_tracking_uri(accu.tracking().uri)",
        ModelerWarning,
        stacklevel=6,  # the user's fit
    )


def _same_store(a: str, b: str) -> bool:
    from modeler.tracking.store import sqlite_path

    def norm(uri: str) -> str:
        db = sqlite_path(uri)
        return f"sqlite:{db.resolve()}" if db is not None else uri.rstrip("/")

    return norm(a) == norm(b)


@contextmanager
def guard_start(what: str = "the run") -> Iterator[None]:
    """Like :meth:`RunWriter.guard` when there is no writer yet."""
    try:
        yield
    except Exception as exc:
        if test_mode():
            raise
        first = redact_text(str(exc).splitlines()[0][:300]) if str(exc) else ""
        warnings.warn(
            f"modeler could not log {what}: {type(exc).__name__}: {first} (training is unaffected)",
            ModelerWarning,
            stacklevel=4,
        )
