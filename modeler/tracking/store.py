"""Connecting to the resolved tracking store (contract 1).

>>> from modeler.tracking.store import connect
>>> store = connect(resolve_tracking())          # doctest: +SKIP
>>> store.client, store.experiment_id            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeler.config import Tracking, request_timeout, resolve_tracking
from modeler.errors import TrackingError


def mlflow_env_defaults() -> None:
    """Quiet, bounded MLflow defaults, each only where the user has not set it.

    Telemetry off, and HTTP requests bounded so a dead server cannot hang a notebook
    (``MODELER_HTTP_TIMEOUT`` seconds per request, two retries).
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # MLflow prints a "View run ... at <url>" line per run against a server: from the
    # background thread into whatever cell runs, and with the URL's password if it has one
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # progress bars of artifact transfers, drawn by the background thread into any cell
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(1, request_timeout()))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


@dataclass
class Store:
    """An MLflow client bound to one tracking URI and experiment."""

    tracking: Tracking
    client: Any
    experiment_id: str


_lock = threading.Lock()


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None.

    >>> sqlite_path("sqlite:////tmp/mlruns/mlflow.db")
    PosixPath('/tmp/mlruns/mlflow.db')
    """
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Across processes, one at a time creates or migrates a SQLite store (``<db>.lock``).

    Two notebooks opening a fresh store at once would otherwise both run MLflow's schema
    creation and could wedge the database. Other stores need no lock: a server does this.
    """
    import fcntl

    db = sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def open_client(uri: str) -> Any:
    """``MlflowClient(uri)``; a SQLite store that does not exist yet is created whole or not
    at all: its tables are built in a temporary file, renamed into place under
    :func:`store_lock`. A process killed half-way leaves a stray temporary file, never a
    half-migrated database."""
    import uuid

    from mlflow.tracking import MlflowClient

    with store_lock(uri):
        db = sqlite_path(uri)
        if db is not None and not db.exists():
            building = db.with_name(f".{db.name}.{uuid.uuid4().hex}.creating")
            try:
                _build_sqlite(building)
                os.replace(building, db)
            finally:
                building.unlink(missing_ok=True)
        return MlflowClient(tracking_uri=uri)


def template_path() -> Path:
    """The empty store this MLflow version's migrations build, kept in the cache and copied
    for each new SQLite store (``<cache>/stores/mlflow-<version>-empty.db``).

    Running MLflow's migrations takes 2-3 s; a copy takes milliseconds.
    """
    import mlflow

    from modeler.config import cache_dir

    return cache_dir() / "stores" / f"mlflow-{mlflow.__version__}-empty.db"


def _open_store(path: Path) -> None:
    """Open ``path`` as MLflow does: tables built when missing, the schema checked, the
    Default experiment created when missing. Then let go of the file."""
    from mlflow.tracking import MlflowClient

    # MLflow logs two INFO lines while it builds the tables: not news to a user
    quiet = logging.getLogger("mlflow.store.db.utils")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        store = MlflowClient(tracking_uri=f"sqlite:///{path}")._tracking_client.store
        store.engine.dispose()
    finally:
        quiet.setLevel(level)


def _build_sqlite(building: Path) -> None:
    """A new store at ``building``: a copy of the cached empty store when there is a sound one,
    else MLflow's migrations, whose result is then cached (without its Default experiment,
    which MLflow creates on opening, with this folder's artifact location and the time)."""
    import shutil
    import sqlite3
    import uuid

    template = template_path()
    if template.is_file():
        copy = building.with_name(building.name + ".copy")  # MLflow keeps engines per path
        try:
            shutil.copyfile(template, copy)
            _open_store(copy)
            os.replace(copy, building)
            return
        except Exception:  # a damaged or foreign cache file: build from scratch, replace it
            template.unlink(missing_ok=True)
        finally:
            copy.unlink(missing_ok=True)
    _open_store(building)
    spare = template.with_name(f".{template.name}.{uuid.uuid4().hex}.tmp")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(building, spare)
        con = sqlite3.connect(spare)
        try:
            with con:
                con.execute("DELETE FROM experiments WHERE experiment_id = 0")
        finally:
            con.close()
        os.replace(spare, template)
    except (OSError, sqlite3.Error):  # the cache is an optimisation, never a failure
        pass
    finally:
        spare.unlink(missing_ok=True)


def connect(tracking: Tracking | None = None) -> Store:
    """A client for ``tracking`` with its experiment created if missing.

    On the embedded store, folders are created and new experiments keep their artifacts
    under ``mlruns/artifacts``.
    """
    tracking = tracking or resolve_tracking()
    mlflow_env_defaults()
    from mlflow.tracking import MlflowClient

    from modeler.state import SESSION

    if tracking.store_dir is not None:
        (tracking.store_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    key = (tracking.uri, tracking.experiment)
    with _lock:  # threads of this process; store_lock: other processes
        exp_id = SESSION.experiment_ids.get(key)
        if exp_id is not None:
            return Store(tracking, MlflowClient(tracking_uri=tracking.uri), exp_id)
        client = open_client(tracking.uri)
        with store_lock(tracking.uri):
            exp_id = _experiment_id(client, tracking)
        SESSION.experiment_ids[key] = exp_id
    return Store(tracking, client, exp_id)


def _experiment_id(client: Any, tracking: Tracking) -> str:
    from mlflow.exceptions import MlflowException

    try:
        exp = client.get_experiment_by_name(tracking.experiment)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                client.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        try:
            return client.create_experiment(
                tracking.experiment, artifact_location=tracking.artifact_location
            )
        except MlflowException:  # created meanwhile by another process
            exp = client.get_experiment_by_name(tracking.experiment)
            if exp is None:
                raise
            return exp.experiment_id
    except MlflowException as exc:
        from modeler.tracking.client import is_transient

        remote = tracking.uri.startswith(("http://", "https://"))
        if is_transient(exc, remote):  # the caller keeps the run in the outbox
            raise
        raise TrackingError(
            f"tracking store {tracking.uri!r} refused experiment {tracking.experiment!r}: "
            f"{str(exc).splitlines()[0][:300]}"
        ) from exc


def ui_command(
    host: str = "127.0.0.1", port: int = 5000, tracking: Tracking | None = None
) -> tuple[list[str], str]:
    """The ``mlflow ui`` command line for the resolved store, and its URL.

    >>> cmd, url = ui_command(port=5001)     # doctest: +SKIP
    """
    import sys

    tracking = tracking or resolve_tracking()
    if tracking.uri.startswith(("http://", "https://")):
        raise TrackingError(
            f"the tracking store is the server {tracking.uri}: open it in a browser instead of "
            "starting a UI"
        )
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tracking.uri,
        "--host",
        host,
        "--port",
        str(port),
    ]
    if tracking.store_dir is not None:
        (tracking.store_dir / "artifacts").mkdir(parents=True, exist_ok=True)
        cmd += ["--default-artifact-root", str(tracking.store_dir / "artifacts")]
    return cmd, f"http://{host}:{port}"
