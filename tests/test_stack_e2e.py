"""The self-hosted stack end to end: real fits under ``accu.autolog`` land in PostgreSQL and S3.

One module-scoped fixture logs a small Keras fit and a LogisticRegression fit to the
``mlflow_stack`` server (PostgreSQL + moto S3 + ``mlflow server`` proxying artifacts), then
compares them with ``accu.compare``. Two tests read what it left behind:

- the store itself: rows in PostgreSQL, ``eval/curves.json`` and ``report.html`` in the bucket;
- headless Chromium: the MLflow UI lists the runs, and the comparison run's ``report.html``,
  downloaded through the server, renders with the model run names.

The client is given no S3 endpoint or credentials: the server serves the artifacts.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_report_browser import FLAGS, chromium_path

from modeler import accu

COMPARISON_TAG = "modeler.comparison"
_CLIENT_ENV = (  # none of these may help the client reach S3: the server proxies artifacts
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)


@dataclass
class Logged:
    """What the fixture logged: run ids and names, and the comparison it made."""

    stack: object
    experiment: str
    experiment_id: str
    keras_run: tuple[str, str]  # (run id, run name)
    sklearn_run: tuple[str, str]
    comparison_run: tuple[str, str]
    comparison_experiment_id: str  # the companion experiment "<experiment>/comparisons"
    report: object

    @property
    def model_runs(self) -> list[tuple[str, str]]:
        return [self.keras_run, self.sklearn_run]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (installed as root when missing, else the test is skipped)."""
    return chromium_path()


def _browser(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium from the command line (``--dump-dom``, ``--screenshot``)."""
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [chromium, "--headless", *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def _data(n: int = 1500, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = ((x[:, 0] + 0.5 * rng.normal(size=n)) > 1.0).astype("float32")  # about 19% positives
    split = int(n * 0.7)
    return x[:split], y[:split], x[split:], y[split:]


@pytest.fixture(scope="module")
def logged(mlflow_stack, tmp_path_factory):
    """One Keras fit, one scikit-learn fit and their comparison, logged to the stack once."""
    keras = pytest.importorskip("keras")
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    stack = mlflow_stack
    experiment = f"e2e-stack-{uuid.uuid4().hex[:8]}"
    x_train, y_train, x_val, y_val = _data()
    with pytest.MonkeyPatch.context() as mp:
        for var in _CLIENT_ENV:
            mp.delenv(var, raising=False)
        work = tmp_path_factory.mktemp("stack-e2e")
        mp.setenv("MODELER_CACHE_DIR", str(work / "cache"))
        mp.chdir(work)  # compare writes ./reports/...
        try:
            accu.set_tracking(stack.tracking_uri, experiment)
            accu.autolog(validation=(x_val, y_val))

            keras.utils.set_random_seed(0)
            model = keras.Sequential(
                [
                    keras.Input((x_train.shape[1],)),
                    keras.layers.Dense(8, activation="relu"),
                    keras.layers.Dense(1, activation="sigmoid"),
                ]
            )
            model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
            model.fit(
                x_train,
                y_train,
                epochs=5,
                batch_size=64,
                validation_data=(x_val, y_val),
                verbose=0,
            )
            LogisticRegression(max_iter=200).fit(x_train, y_train)
            accu.wait()
            report = accu.compare(experiment=experiment, top=5)
        finally:
            accu.autolog(disable=True)
            accu.set_tracking(None, None)

    client = MlflowClient(tracking_uri=stack.tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment!r} was not created on the server"
    runs = client.search_runs([exp.experiment_id])
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for run in runs:
        kind = run.data.tags.get("modeler.model_type", run.info.run_name)
        by_kind.setdefault(kind, []).append((run.info.run_id, run.info.run_name))
    names = sorted(r.info.run_name for r in runs)
    # the report run lives in a companion experiment: the models' list holds models only
    assert sorted(by_kind) == ["LogisticRegression", "keras"], names
    assert all(len(found) == 1 for found in by_kind.values()), names
    assert report.run_id is not None and report.experiment_id != exp.experiment_id
    comparison = client.get_run(report.run_id)
    assert comparison.info.experiment_id == report.experiment_id
    assert comparison.data.tags.get(COMPARISON_TAG) == "true"
    assert client.get_experiment(report.experiment_id).name == f"{experiment}/comparisons"
    return Logged(
        stack=stack,
        experiment=experiment,
        experiment_id=exp.experiment_id,
        keras_run=by_kind["keras"][0],
        sklearn_run=by_kind["LogisticRegression"][0],
        comparison_run=(comparison.info.run_id, comparison.info.run_name),
        comparison_experiment_id=report.experiment_id,
        report=report,
    )


def _s3_keys(stack) -> list[str]:
    import boto3

    creds = stack.s3_credentials
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.s3_endpoint,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        region_name=creds.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


@pytest.mark.server
def test_fits_and_comparison_land_in_postgres_and_s3(logged):
    import psycopg2
    from mlflow import MlflowClient

    stack = logged.stack
    report = logged.report
    model_ids = [run_id for run_id, _ in logged.model_runs]
    comparison_id = logged.comparison_run[0]

    # the comparison covers exactly the two model runs and was logged as its own run
    assert report.run_id == comparison_id
    assert sorted(report.run_ids) == sorted(model_ids)
    assert sorted(report.table["Run"]) == sorted(name for _, name in logged.model_runs)
    assert not report.skipped

    # artifacts went through the server's proxy, not straight to S3 from the client
    client = MlflowClient(tracking_uri=stack.tracking_uri)
    for run_id in [*model_ids, comparison_id]:
        assert client.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:"), run_id

    # PostgreSQL holds the runs, their eval metrics and the comparison tag
    conn = psycopg2.connect(stack.postgres_url.replace("+psycopg2", "", 1))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT r.run_uuid, r.name, r.status FROM runs r "
                "JOIN experiments e ON e.experiment_id = r.experiment_id WHERE e.name = %s",
                (logged.experiment,),
            )
            rows = {run_id: (name, status) for run_id, name, status in cur.fetchall()}
            expected = {run_id: (name, "FINISHED") for run_id, name in logged.model_runs}
            assert rows == expected
            cur.execute(
                "SELECT name, status, experiment_id::text FROM runs WHERE run_uuid = %s",
                (comparison_id,),
            )
            assert cur.fetchall() == [
                (logged.comparison_run[1], "FINISHED", logged.comparison_experiment_id)
            ]
            cur.execute(
                "SELECT run_uuid, value FROM metrics WHERE key = 'eval.roc_auc' "
                "AND run_uuid = ANY(%s)",
                (model_ids,),
            )
            roc_auc = dict(cur.fetchall())
            cur.execute(
                "SELECT value FROM tags WHERE run_uuid = %s AND key = %s",
                (comparison_id, COMPARISON_TAG),
            )
            assert cur.fetchall() == [("true",)]
    finally:
        conn.close()
    assert sorted(roc_auc) == sorted(model_ids)
    for run_id, value in roc_auc.items():
        assert 0.7 < value <= 1.0, (run_id, value)  # the signal is easy to learn
    table_auc = dict(zip(report.run_ids, report.table["AUC"], strict=True))
    assert table_auc == pytest.approx(roc_auc)

    # the moto bucket holds the artifacts, under <experiment id>/<run id>/artifacts/
    keys = _s3_keys(stack)
    for run_id in model_ids:
        key = f"{logged.experiment_id}/{run_id}/artifacts/eval/curves.json"
        assert key in keys, [k for k in keys if run_id in k]
    for name in ("report.html", "comparison.png", "table.csv"):
        key = f"{logged.comparison_experiment_id}/{comparison_id}/artifacts/{name}"
        assert key in keys, [k for k in keys if comparison_id in k]


def _distinct_colours(png: Path, size: tuple[int, int]) -> np.ndarray:
    """The screenshot's pixels (N x 3) after checking its size and that it is not blank."""
    from PIL import Image

    image = Image.open(png).convert("RGB")
    assert image.size == size
    pixels = np.asarray(image).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    assert len(colours) > 200, f"{png.name} looks blank: {len(colours)} colours"
    background = np.bincount(np.ravel_multi_index(pixels.T, (256, 256, 256))).max()
    assert background < 0.95 * len(pixels), f"{png.name} is almost one colour"
    return pixels


@pytest.mark.browser
@pytest.mark.server
def test_mlflow_ui_and_report_show_the_runs(logged, chromium, tmp_path):
    from mlflow import MlflowClient

    budget = "--virtual-time-budget=15000"  # FACTS.md: the SPA renders only with it
    names = [name for _, name in logged.model_runs]
    comparison_id = logged.comparison_run[0]
    base = f"{logged.stack.tracking_uri}/#/experiments/{logged.experiment_id}"

    # MLflow 3.17 opens /#/experiments/<id> on the GenAI overview (traces, no runs);
    # the runs table ("Training runs") is /#/experiments/<id>/runs.
    runs_url = f"{base}/runs"
    dom = _browser(chromium, tmp_path, budget, "--dump-dom", runs_url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f"Experiment {logged.experiment_id} - MLflow" in dom.stdout  # the page title
    for text in [logged.experiment, *names]:
        assert text in dom.stdout, f"{text!r} not on {runs_url}"

    shot = tmp_path / "mlflow-ui.png"
    done = _browser(
        chromium, tmp_path, budget, f"--screenshot={shot}", "--window-size=1600,1000", runs_url
    )
    assert shot.exists() and shot.stat().st_size > 0, done.stderr[-2000:]
    _distinct_colours(shot, (1600, 1000))

    # the comparison run's page lists its artifacts, served from S3 by the server
    companion = f"{logged.stack.tracking_uri}/#/experiments/{logged.comparison_experiment_id}"
    artifacts_url = f"{companion}/runs/{comparison_id}/artifacts"
    dom = _browser(chromium, tmp_path, budget, "--dump-dom", artifacts_url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in ("report.html", "comparison.png", "table.csv"):
        assert name in dom.stdout, f"{name} not listed on {artifacts_url}"

    # report.html, downloaded through the server, renders offline with the runs' names
    client = MlflowClient(tracking_uri=logged.stack.tracking_uri)
    local = Path(client.download_artifacts(comparison_id, "report.html", str(tmp_path)))
    url = local.resolve().as_uri()
    shot = tmp_path / "report.png"
    done = _browser(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1400,1800", url)
    assert shot.exists() and shot.stat().st_size > 0, done.stderr[-2000:]
    pixels = _distinct_colours(shot, (1400, 1800))
    for rgb in ((31, 119, 180), (255, 127, 14)):  # tab10 blue and orange: both runs' curves
        near = np.abs(pixels.astype(int) - rgb).max(axis=1) <= 8
        assert near.sum() > 200, f"no chart pixels of colour {rgb}"

    dom = _browser(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in names:
        assert name in dom.stdout, f"{name} not in report.html"
    # the interactive report draws its curves on canvases (Chart.js, inlined)
    assert 'id="chart-pr"' in dom.stdout and 'id="chart-roc"' in dom.stdout
