"""Models loaded back from MLflow keep their run: ``accu.evaluate`` adds to it.

While autolog is on, ``mlflow.sklearn / keras / tensorflow / pyfunc .load_model`` remember
which run a loaded model came from (``runs:/<id>/...``, ``models:/<name>/<version>``,
``models:/<name>@<alias>``, ``models:/m-<model id>``), so a test-set evaluation of it goes on
that run, at that run's decision threshold, instead of making a new run.

>>> model = mlflow.sklearn.load_model(f"runs:/{run_id}/model")        # doctest: +SKIP
>>> accu.evaluate(model, X_test, y_test, prefix="test")               # on run_id # doctest: +SKIP
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

_FLAVORS = ("mlflow.sklearn", "mlflow.keras", "mlflow.tensorflow", "mlflow.pyfunc")
_RUNS = re.compile(r"^runs:/(?P<run_id>[^/]+)")
_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>[^/]+))?")


def run_id_of(uri: str) -> str | None:
    """The run a model URI points to, or None (a plain path, or an unknown model).

    >>> run_id_of("runs:/3f2a9c/model")
    '3f2a9c'
    """
    if not isinstance(uri, str):
        return None
    match = _RUNS.match(uri)
    if match:
        return match["run_id"]
    match = _MODELS.match(uri)
    if match is None:
        return None
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    name, version, alias = match["name"], match["version"], match["alias"]
    if version is None and alias is None and name.startswith("m-"):  # a logged model's id
        return client.get_logged_model(name).source_run_id
    if alias is not None:
        return client.get_model_version_by_alias(name, alias).run_id
    if version is not None and version.isdigit():
        return client.get_model_version(name, version).run_id
    return None


def patch_loaders(hooks: Any) -> None:
    """Wrap each flavor's ``load_model`` (now, or when the flavor is imported); undone by
    ``hooks.restore()``."""
    from mlflow.utils.import_hooks import register_post_import_hook

    for name in _FLAVORS:
        if name in sys.modules:
            _wrap(hooks, sys.modules[name])
        else:
            register_post_import_hook(lambda module: _wrap(hooks, module), name, overwrite=True)


def _wrap(hooks: Any, module: Any) -> None:
    original = getattr(module, "load_model", None)
    if original is None or getattr(original, "__modeler_wrapped__", False) or not hooks.enabled:
        return

    @functools.wraps(original)
    def load_model(model_uri, *args, **kwargs):
        model = original(model_uri, *args, **kwargs)
        try:
            run_id = run_id_of(str(model_uri))
            if run_id is not None:
                hooks.loaded[model] = run_id
        except Exception:  # bookkeeping only: the model loaded fine
            pass
        return model

    load_model.__modeler_wrapped__ = True  # type: ignore[attr-defined]
    module.load_model = load_model

    def restore() -> None:
        module.load_model = original

    hooks.add_restore(restore)
