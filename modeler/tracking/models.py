"""The model of a run: frozen into the journal before ``fit`` returns, saved as MLflow later.

Before ``fit`` returns, the model is written as it is at that moment — Keras' own ``.keras``
file, or a cloudpickle of the estimator (a few tens of milliseconds for usual models) — so that
``model.load_weights(...)``, ``clf.coef_ = ...`` or another ``fit`` right afterwards cannot change
what the run records, and a process killed right after ``fit`` still leaves the model behind.
Turning it into an MLflow model folder (``mlflow.keras.save_model`` /
``mlflow.sklearn.save_model``, pinned requirements, no pip inference) happens afterwards, on the
background thread or during recovery.

>>> freeze(journal, "keras", model, registered_model_name=None)     # doctest: +SKIP
>>> save_flavor(journal, op)                                         # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import Any

from modeler.tracking.journal import Journal, fsync_tree

KERAS_FILE = "model.keras"
SKLEARN_FILE = "model.pkl"


def freeze(
    journal: Journal,
    flavor: str,
    model: Any,
    *,
    registered_model_name: str | None = None,
    signature: Any = None,
) -> dict[str, Any]:
    """Write ``model`` as it is now into the journal; returns the ``model_snapshot`` op.

    Not fsync'ed here (a killed process loses nothing the kernel has; the finishing step
    fsyncs before the model is used), so ``fit`` does not wait for the disk.
    """
    folder, rel = journal.new_folder(prefix="model-snapshot-")
    if flavor == "keras":
        model.save(folder / KERAS_FILE)
        requirements = _keras_requirements()
    elif flavor == "sklearn":
        import cloudpickle

        with open(folder / SKLEARN_FILE, "wb") as fh:
            cloudpickle.dump(model, fh)
        requirements = _sklearn_requirements(model)
    else:  # pragma: no cover - adapters only pass the two above
        raise ValueError(f"unknown model flavor {flavor!r}")
    meta = {
        "flavor": flavor,
        "pip_requirements": requirements,
        "signature": signature.to_dict() if signature is not None else None,
    }
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    op = {
        "op": "model_snapshot",
        "dir": rel,
        "flavor": flavor,
        "registered_model_name": registered_model_name,
    }
    journal.append(op)
    return op


def save_flavor(journal: Journal, op: dict[str, Any]) -> dict[str, Any]:
    """Turn a ``model_snapshot`` into an MLflow model folder; returns the ``model`` op."""
    snapshot = journal.root / op["dir"]
    fsync_tree(snapshot)
    meta = json.loads((snapshot / "meta.json").read_text(encoding="utf-8"))
    signature = None
    if meta.get("signature"):
        from mlflow.models import ModelSignature

        signature = ModelSignature.from_dict(meta["signature"])
    folder, rel = journal.new_folder(prefix="model-")
    folder.rmdir()  # save_model wants to create it
    if op["flavor"] == "keras":
        import mlflow.keras

        # the .keras file written before fit returned becomes the model's data as it is: no
        # load (a custom loss or layer would need its code), no second serialisation
        mlflow.keras.save_model(
            _SavedKeras(snapshot / KERAS_FILE),
            str(folder),
            pip_requirements=meta["pip_requirements"],
            signature=signature,
        )
    else:
        import cloudpickle

        with open(snapshot / SKLEARN_FILE, "rb") as fh:
            model = cloudpickle.load(fh)
        _save_sklearn(model, folder, meta["pip_requirements"], signature)
    fsync_tree(folder)
    done = {
        "op": "model",
        "dir": rel,
        "snapshot": op["dir"],
        "registered_model_name": op.get("registered_model_name"),
    }
    journal.append(done)
    return done


def _save_sklearn(model: Any, folder: Any, requirements: list[str], signature: Any) -> None:
    """skops when it can write the model (loading it then runs no code from the file), else
    cloudpickle. skops reconstructs only the types it is told to trust: those of this very
    model, listed in the MLmodel file so ``mlflow.sklearn.load_model`` needs no argument."""
    import mlflow.sklearn

    try:
        import skops
        import skops.io

        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    except Exception:  # skops missing, or a model it cannot write (a lambda inside, say)
        trusted = None
    if trusted is not None:
        reqs = [r for r in requirements if not r.startswith("cloudpickle==")]
        try:
            mlflow.sklearn.save_model(
                model,
                str(folder),
                pip_requirements=[*reqs, f"skops=={skops.__version__}"],
                serialization_format="skops",
                skops_trusted_types=trusted,
                signature=signature,
            )
            return
        except Exception:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    mlflow.sklearn.save_model(
        model,
        str(folder),
        pip_requirements=requirements,
        serialization_format="cloudpickle",
        signature=signature,
    )


class _SavedKeras:
    """Stands in for the model in ``mlflow.keras.save_model``, which only calls ``save``."""

    def __init__(self, path: Any) -> None:
        self.path = path

    def save(self, target: str, **_: Any) -> None:
        import shutil

        shutil.copyfile(self.path, target)


def _keras_requirements() -> list[str]:
    import keras

    reqs = [f"keras=={keras.__version__}"]
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        reqs.append(f"tensorflow=={tf.__version__}")
    elif backend == "jax":
        import jax

        reqs.append(f"jax=={jax.__version__}")
    elif backend == "torch":
        import torch

        reqs.append(f"torch=={torch.__version__.split('+')[0]}")
    return reqs


def _sklearn_requirements(model: Any) -> list[str]:
    import cloudpickle
    import sklearn

    reqs = [f"scikit-learn=={sklearn.__version__}", f"cloudpickle=={cloudpickle.__version__}"]
    if type(model).__module__.startswith("imblearn") or "imblearn" in repr(model):
        import imblearn

        reqs.append(f"imbalanced-learn=={imblearn.__version__}")
    return reqs
