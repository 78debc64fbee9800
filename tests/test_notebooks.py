"""The example notebooks run end to end on small data and leave their runs in the store.

Each notebook is executed with nbclient in a kernel of this interpreter, from the notebooks
folder (as Jupyter would), with the cell tagged ``parameters`` replaced by small sizes. Runs go
to a SQLite store in ``tmp_path`` (``MLFLOW_TRACKING_URI`` is inherited by the kernel), files to
``tmp_path/out``; nothing is written inside ``notebooks/``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CELL_TIMEOUT = 300


def _kernel_dir(tmp_path: Path) -> Path:
    """A ``python3`` kernelspec whose argv is this interpreter, whatever else is installed."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3 (test)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return tmp_path / "jupyter"


def _files(folder: Path) -> set[str]:
    skip = {"__pycache__", ".ipynb_checkpoints"}
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not skip & set(p.parts)}


@pytest.fixture
def run_notebook(tmp_path, monkeypatch):
    """Execute a notebook with parameters; returns (the executed notebook, an MLflow client)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("JUPYTER_PATH", str(_kernel_dir(tmp_path)))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    client = MlflowClient(tracking_uri=uri)

    def run(name: str, experiment: str, **params):
        import nbformat
        from nbclient import NotebookClient

        # Created here so that its artifacts land in tmp_path, not in ./mlruns of notebooks/.
        client.create_experiment(experiment, artifact_location=(tmp_path / "artifacts").as_uri())
        params = {
            "EXPERIMENT": experiment,
            "TRACKING_URI": uri,
            "OUTPUT_DIR": str(tmp_path / "out"),
            **params,
        }
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        overrides = "".join(f"\n{k} = {v!r}" for k, v in params.items())
        cell.source += "\n\n# small sizes for the test" + overrides
        before = _files(NOTEBOOKS)
        try:
            NotebookClient(
                nb,
                kernel_name="python3",
                timeout=CELL_TIMEOUT,
                resources={"metadata": {"path": str(NOTEBOOKS)}},
            ).execute()
        finally:  # the executed notebook, outputs and all, for a look after a failure
            nbformat.write(nb, tmp_path / name)
        assert _files(NOTEBOOKS) == before, "the notebook wrote inside notebooks/"
        return nb, client

    return run


def _runs(client, experiment: str):
    """The models' runs, and the comparison reports (kept in ``<experiment>/comparisons``)."""
    exp = client.get_experiment_by_name(experiment)
    models = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    assert all(r.data.tags.get("modeler.comparison") != "true" for r in models)
    companion = client.get_experiment_by_name(f"{experiment}/comparisons")
    comparisons = [] if companion is None else client.search_runs([companion.experiment_id])
    return models, comparisons


def _stdout(nb) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("name") == "stdout"
    )


def _check_model_run(run) -> None:
    assert run.info.status == "FINISHED", run.info.run_name
    assert "modeler.logging_error" not in run.data.tags, run.data.tags["modeler.logging_error"]
    for key in ("eval.roc_auc", "eval.pr_auc", "eval.precision", "eval.recall", "eval.f1"):
        assert 0.0 <= run.data.metrics[key] <= 1.0, (run.info.run_name, key)
    assert run.data.metrics["eval.positives"] > 0


@pytest.mark.slow
def test_fraud_class_imbalance(run_notebook):
    nb, client = run_notebook(
        "01_fraud_class_imbalance.ipynb",
        "nb-fraud",
        N_ROWS=12_000,
        FRAUD_RATE=0.01,
        EPOCHS=2,
        BATCH_SIZE=1024,
        N_TREES=10,
    )
    models, comparisons = _runs(client, "nb-fraud")

    types = sorted(r.data.tags["modeler.model_type"] for r in models)
    assert types == [
        "LogisticRegression",
        "LogisticRegression",
        "RandomForestClassifier",
        "keras",
        "keras",
    ]
    for run in models:
        _check_model_run(run)
        for key in ("eval.cost", "eval.cost_optimal_threshold", "eval.cost_at_optimal"):
            assert key in run.data.metrics, (run.info.run_name, key)
        assert run.data.tags["modeler.eval_source"] in ("validation", "validation_data")
    sampling = sorted(
        json.loads(r.data.tags["modeler.sampling"])["method"]
        for r in models
        if "modeler.sampling" in r.data.tags
    )
    assert sampling == ["down", "smote", "up"]
    weighted = [r for r in models if "class_weight" in r.data.params]
    assert len(weighted) == 1 and weighted[0].data.tags["modeler.model_type"] == "keras"

    assert len(comparisons) == 1
    compared = comparisons[0].data.params["runs"].split(",")
    assert sorted(compared) == sorted(r.info.run_id for r in models)
    artifacts = {a.path for a in client.list_artifacts(comparisons[0].info.run_id)}
    assert "report.html" in artifacts

    # The business metric names the cheapest run: the lowest cost at its decision threshold.
    cheapest = min(models, key=lambda r: r.data.metrics["eval.cost_at_decision"])
    assert f"The cheapest model is {cheapest.info.run_name}." in _stdout(nb)


@pytest.mark.slow
def test_imbalanced_data_tutorial(run_notebook):
    nb, client = run_notebook(
        "02_imbalanced_data_tutorial.ipynb",
        "nb-tutorial",
        N_ROWS=5_000,
        POSITIVE_RATE=0.02,
        EPOCHS=2,
        BATCH_SIZE=512,
    )
    models, comparisons = _runs(client, "nb-tutorial")

    # Three training runs; the best one, loaded back from MLflow, got its test-set evaluation.
    assert len(models) == 3
    fits = models
    for run in models:
        _check_model_run(run)
        assert run.data.tags["modeler.model_type"] == "keras"
    assert [r.data.tags["modeler.eval_source"] for r in fits] == ["validation_data"] * 3
    baseline, weighted, resampled = fits
    assert "class_weight" in weighted.data.params
    assert json.loads(resampled.data.tags["modeler.sampling"])["method"] == "balanced_dataset"
    assert "steps_per_epoch" in resampled.data.params
    assert "val_prc" in baseline.data.metrics  # the tutorial's per-epoch metrics
    assert baseline.data.params["EarlyStopping.monitor"] == "val_prc"

    assert len(comparisons) == 1
    compared = comparisons[0].data.params["runs"].split(",")
    assert sorted(compared) == sorted(r.info.run_id for r in fits)
    best = max(fits, key=lambda r: r.data.metrics["eval.pr_auc"])
    assert compared[0] == best.info.run_id
    assert f"best: {best.info.run_name}" in _stdout(nb)
    assert best.data.tags["modeler.test_source"] == "explicit"
    assert best.data.metrics["test.n"] == 1_000  # the test split: 20% of N_ROWS
    assert best.data.metrics["eval.n"] != 1_000  # the validation numbers stayed
    others = [r for r in fits if r.info.run_id != best.info.run_id]
    assert not any(k.startswith("test.") for r in others for k in r.data.metrics)


@pytest.mark.slow
def test_comment_classifier(run_notebook):
    nb, client = run_notebook(
        "03_comment_classifier.ipynb",
        "nb-comments",
        N_TRAIN=300,
        EPOCHS=1,
        LSTM_UNITS=4,
        EMBEDDING_DIM=8,
        MAX_TOKENS=2_000,
        SEQUENCE_LENGTH=16,
    )
    models, comparisons = _runs(client, "nb-comments")

    assert len(models) == 1 and not comparisons
    run = models[0]
    _check_model_run(run)
    assert run.data.params["validation_split"] == "0.3"
    assert run.data.params["batch_size"] == "128"
    assert run.data.params["callbacks"].startswith("EarlyStopping,ModelCheckpoint")
    # the fit's own evaluation on its validation split, and beside it accu.evaluate's on the
    # 471 labelled dev comments
    assert run.data.tags["modeler.eval_source"] == "validation_split"
    assert run.data.tags["modeler.dev_source"] == "explicit"
    assert run.data.metrics["dev.n"] == 471
    printed = re.search(r"roc_auc: ([0-9.]+)", _stdout(nb))
    assert printed and float(printed[1]) == pytest.approx(run.data.metrics["dev.roc_auc"], abs=1e-4)


def _has_model(client, run) -> bool:
    """The run's model: an MLflow 3 logged model, or a ``model/`` artifact folder."""
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None)
    if outputs:
        return True
    return any(a.path == "model" for a in client.list_artifacts(run.info.run_id))


_LAB: dict[str, object] = {}  # the executed lab notebook, shared by the two tests below
LAB_PRINTS = 4  # lines the lab's own print() calls write
MAX_PRINTED_LINES = LAB_PRINTS + 4  # what modeler, MLflow and TensorFlow may add, at most


def _lab(run_notebook):
    if "nb" not in _LAB:
        _LAB["nb"], _LAB["client"] = run_notebook(
            "04_accuinsight_lab.ipynb",
            "nb-accuinsight-lab",
            N_ROWS=20_000,
            FRAUD_RATE=0.01,
            EPOCHS=2,
            BATCH_SIZE=512,
        )
    return _LAB["nb"], _LAB["client"]


@pytest.mark.slow
def test_accuinsight_lab_runs_unchanged(run_notebook):
    nb, client = _lab(run_notebook)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from modeler.compat import accuinsight" in source
    assert source.count("accu.autolog(") == 6  # before every fit, as the lab asked

    models, _ = _runs(client, "nb-accuinsight-lab")
    # one run per model: five Keras fits, and the logistic regression's fit + add_experiment
    assert sorted(r.data.tags["modeler.nickname"] for r in models) == [
        "down",
        "logistic",
        "original",
        "smote",
        "smote-wide",
        "up",
    ]
    for run in models:
        _check_model_run(run)
        assert run.data.params, run.info.run_name  # complete: params,
        assert _has_model(client, run), run.info.run_name  # the model,
        assert run.data.tags["mlflow.note.content"]  # and autolog(tag=...) as description
    keras_runs = [r for r in models if r.data.tags["modeler.model_type"] == "keras"]
    assert len(keras_runs) == 5
    assert {r.data.params["epochs"] for r in keras_runs} == {"2"}
    (logistic,) = [r for r in models if r.data.tags["modeler.nickname"] == "logistic"]
    assert logistic.data.params["C"] == "0.5"
    assert logistic.data.tags["modeler.selected_params"] == "C"
    assert logistic.data.tags["mlflow.note.content"] == "logistic regression on SMOTE data"
    assert 0.0 <= logistic.data.metrics["F1-score"] <= 1.0
    assert logistic.info.run_id in _stdout(nb)  # accu.get_current_run_id() printed it

    # the console's comparison: accu.compare's table has one row per model
    table = nb.cells[-1].outputs[-1]["data"]["text/html"]
    body = table.split("<tbody>", 1)[1]
    assert body.count("<tr") == len(models) == 6


def _printed_lines(nb) -> list[str]:
    return [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "stream"
        for line in out.get("text", "").splitlines()
        if line.strip()
    ]


@pytest.mark.slow
def test_a_six_model_notebook_prints_little(run_notebook):
    nb, _ = _lab(run_notebook)
    printed = _printed_lines(nb)
    assert len(printed) <= MAX_PRINTED_LINES, "\n".join(printed)
