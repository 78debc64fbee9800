"""What the replayer needs from MLflow beyond ``MlflowClient``: failure kinds, dataset inputs,
and logging a model folder that was saved earlier (from the journal) as an MLflow LoggedModel.

>>> is_transient(ConnectionError("refused"))
True
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def is_transient(exc: BaseException, remote: bool = True) -> bool:
    """True for failures of the store itself (unreachable, timed out, 5xx, locked), not of
    our input: the operation is kept in the journal and tried again later.

    A generic MLflow error (``INTERNAL_ERROR``) is the store's fault only on a server; from a
    local database it is a bug or bad input and must not be retried for ever.
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
        if "database is locked" in text:
            return True
        return "API request to" in text and "failed with exception" in text
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, OperationalError)


def dataset_inputs(records: list[dict[str, Any]]) -> list[Any]:
    """MLflow ``DatasetInput`` objects from the plain dicts kept in the journal."""
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


class _SavedFlavor:
    """A stand-in flavor for ``mlflow.models.Model.log``: the model was saved already (by
    ``mlflow.<flavor>.save_model`` into the journal), so "saving" copies that folder and keeps
    the new model's ids in its MLmodel file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def save_model(self, path: str, mlflow_model: Any, **_: Any) -> None:
        from mlflow.models import Model

        saved = Model.load(str(self.folder / "MLmodel"))
        shutil.copytree(self.folder, path, dirs_exist_ok=True)
        mlflow_model.flavors = saved.flavors
        mlflow_model.signature = saved.signature
        mlflow_model.saved_input_example_info = saved.saved_input_example_info
        mlflow_model.save(str(Path(path) / "MLmodel"))


def log_saved_model(
    client: Any,
    run_id: str,
    folder: Path,
    registered_model_name: str | None = None,
) -> Any:
    """Log a saved MLflow model folder into ``run_id`` as its model named ``model``.

    Loadable afterwards with ``mlflow.<flavor>.load_model(f"runs:/{run_id}/model")``; returns
    MLflow's ``ModelInfo`` (``registered_model_version`` set when registered). The model is
    created in the run's own experiment, whatever experiment the notebook has set.
    """
    import mlflow
    from mlflow.models import Model

    run = client.get_run(run_id)
    with use_tracking_uri(client.tracking_uri):
        model = mlflow.initialize_logged_model(
            name="model",
            source_run_id=run_id,
            experiment_id=run.info.experiment_id,
            params={k: str(v) for k, v in run.data.params.items()},
        )
        return Model.log(
            artifact_path=None,
            name="model",
            flavor=_SavedFlavor(Path(folder)),
            registered_model_name=registered_model_name,
            run_id=run_id,
            model_id=model.model_id,
        )


def has_logged_model(client: Any, run_id: str) -> bool:
    """True when ``run_id`` already has a model named ``model`` (a replay after a crash)."""
    run = client.get_run(run_id)
    outputs = getattr(run, "outputs", None)
    model_ids = [m.model_id for m in getattr(outputs, "model_outputs", None) or []]
    for model_id in model_ids:
        try:
            if client.get_logged_model(model_id).name == "model":
                return True
        except Exception:  # a model that went away
            continue
    return False
