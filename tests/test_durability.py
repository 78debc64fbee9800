"""Runs are durable and exact: journal first, then upload (issue 12).

Processes killed right after ``fit`` or during it, models changed right after ``fit``, two
processes opening a fresh store at once, passwords in tracking URLs. Subprocesses run as users
do: background upload, MODELER_TEST_MODE off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from modeler import accu
from modeler.cli import main
from modeler.tracking import journal

SKLEARN_FIT = """
import os, signal, sys
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from modeler import accu

X, y = make_classification(n_samples=3000, n_features=8, weights=[0.95], random_state=0)
accu.autolog(validation=(X[2000:], y[2000:]))
clf = LogisticRegression().fit(X[:2000], y[:2000])
np.save("proba.npy", clf.predict_proba(X[2000:])[:, 1])
{after}
"""

KERAS_FIT = """
import os, signal, sys
import numpy as np
import keras
from modeler import accu

rng = np.random.default_rng(0)
x = rng.normal(size=(1200, 6)).astype("float32")
y = (x[:, 0] + 0.5 * rng.normal(size=1200) > 1.2).astype("float32")
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile("adam", "binary_crossentropy")

class Stop(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        {during}

accu.autolog()
history = model.fit(x[:900], y[:900], validation_data=(x[900:], y[900:]), epochs=4,
                    verbose=0, callbacks=[Stop()])
np.save("proba.npy", model.predict(x[900:], verbose=0).ravel())
np.save("loss.npy", np.array(history.history["loss"]))
{after}
"""

KILL = "os.kill(os.getpid(), signal.SIGKILL)"


def run_script(folder: Path, code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    script = folder / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        env={**os.environ, "MODELER_TEST_MODE": "0", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def runs_in(folder: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("modeler")
    return client, ([] if exp is None else client.search_runs([exp.experiment_id]))


def load_model(folder: Path, run_id: str, flavor: str):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    try:
        return getattr(mlflow, flavor).load_model(f"runs:/{run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)


def sync_in(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modeler.cli", "sync"],
        cwd=folder,
        env={**os.environ, "MODELER_TEST_MODE": "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sklearn_killed_right_after_fit_is_completed_by_sync(tmp_path):
    from sklearn.metrics import roc_auc_score

    killed = run_script(tmp_path, SKLEARN_FIT.format(after=KILL))
    assert killed.returncode == -9
    assert len(journal.folders(tmp_path / "mlruns")) == 1  # nothing lost, waiting
    synced = sync_in(tmp_path)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "synced LogReg-" in synced.stdout
    _, (run,) = runs_in(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.data.tags["modeler.recovered"].startswith("completed from its journal")
    proba = np.load(tmp_path / "proba.npy")
    from sklearn.datasets import make_classification

    _, y = make_classification(n_samples=3000, n_features=8, weights=[0.95], random_state=0)
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(roc_auc_score(y[2000:], proba))
    model = load_model(tmp_path, run.info.run_id, "sklearn")
    X, _ = make_classification(n_samples=3000, n_features=8, weights=[0.95], random_state=0)
    np.testing.assert_allclose(model.predict_proba(X[2000:])[:, 1], proba)
    assert journal.folders(tmp_path / "mlruns") == []


def test_a_script_that_ends_right_after_fit_gets_its_whole_run_at_exit(tmp_path):
    """The last line is the fit: the evaluation runs at exit, while Python is shutting down
    (thread pools, pyarrow's included, refuse work once its threading exit hooks ran)."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score

    code = SKLEARN_FIT.split("np.save")[0]  # nothing after the fit
    done = run_script(tmp_path, code)
    assert done.returncode == 0, done.stderr
    assert "could not log" not in done.stderr and "could not reach" not in done.stderr
    _, (run,) = runs_in(tmp_path)
    assert run.info.status == "FINISHED" and "modeler.logging_error" not in run.data.tags
    X, y = make_classification(n_samples=3000, n_features=8, weights=[0.95], random_state=0)
    proba = LogisticRegression().fit(X[:2000], y[:2000]).predict_proba(X[2000:])[:, 1]
    m = run.data.metrics
    assert m["eval.roc_auc"] == pytest.approx(roc_auc_score(y[2000:], proba))
    assert m["eval.pr_auc"] == pytest.approx(average_precision_score(y[2000:], proba))
    client, _ = runs_in(tmp_path)
    files = {f.path for f in client.list_artifacts(run.info.run_id, "eval")}
    assert {"eval/curves.json", "eval/scores.parquet"} <= files
    assert journal.folders(tmp_path / "mlruns") == []


@pytest.mark.slow
def test_keras_killed_right_after_fit_is_completed_by_the_next_autolog(tmp_path):
    pytest.importorskip("keras")
    killed = run_script(tmp_path, KERAS_FIT.format(during="pass", after=KILL))
    assert killed.returncode == -9
    # the per-epoch history did not wait for the end of the run
    (folder,) = journal.folders(tmp_path / "mlruns")
    ops = [json.loads(line) for line in (folder / "ops.jsonl").read_text().splitlines()]
    assert sum(1 for op in ops for m in op.get("metrics", ()) if m[0] == "loss") == 4
    # the next autolog in that folder completes it, with one message
    later = run_script(tmp_path, "from modeler import accu\naccu.autolog()\naccu.wait()\n")
    assert later.returncode == 0, later.stderr
    assert later.stderr.count("completing 1 run(s) left by a process that ended") == 1
    client, (run,) = runs_in(tmp_path)
    assert run.info.status == "FINISHED"
    losses = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
    np.testing.assert_allclose(losses, np.load(tmp_path / "loss.npy"), rtol=1e-6)
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=1200) > 1.2).astype("float32")
    proba = np.load(tmp_path / "proba.npy")
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(roc_auc_score(y[900:], proba))
    model = load_model(tmp_path, run.info.run_id, "keras")
    np.testing.assert_allclose(model.predict(x[900:], verbose=0).ravel(), proba, rtol=1e-5)


@pytest.mark.slow
def test_keras_killed_during_fit_is_a_killed_run_with_its_epochs(tmp_path):
    pytest.importorskip("keras")
    during = "if epoch == 1: os.kill(os.getpid(), signal.SIGKILL)"
    killed = run_script(tmp_path, KERAS_FIT.format(during=during, after=""))
    assert killed.returncode == -9
    result = CliRunner().invoke(main, ["sync", "--store", str(tmp_path / "mlruns")])
    assert result.exit_code == 0, result.output
    client, (run,) = runs_in(tmp_path)
    assert run.info.status == "KILLED"
    assert "ended during fit" in run.data.tags["modeler.recovered"]
    # epoch 1's own metrics were not journaled yet when the user's callback killed it
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0]
    assert not any(k.startswith("eval.") for k in run.data.metrics)


# --- the model changed right after fit ------------------------------------------------------
@pytest.fixture
def user_mode(monkeypatch, store):
    monkeypatch.setenv("MODELER_TEST_MODE", "0")
    yield store
    accu.autolog(disable=True)


def test_sklearn_model_changed_right_after_fit(user_mode):
    from sklearn.datasets import make_classification
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score

    X, y = make_classification(n_samples=3000, n_features=8, weights=[0.9], random_state=1)
    accu.autolog(validation=(X[2000:], y[2000:]))
    clf = SGDClassifier(loss="log_loss", random_state=0).fit(X[:2000], y[:2000])
    returned = clf.predict_proba(X[2000:])[:, 1]
    clf.coef_ = np.zeros_like(clf.coef_)  # right after fit, while the run is being written
    clf.partial_fit(X[:100], 1 - y[:100])
    run = user_mode.only_run()
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(roc_auc_score(y[2000:], returned))
    model = load_model(Path.cwd(), run.info.run_id, "sklearn")
    np.testing.assert_allclose(model.predict_proba(X[2000:])[:, 1], returned)


@pytest.mark.slow
def test_keras_weights_changed_right_after_fit(user_mode, tmp_path):
    keras = pytest.importorskip("keras")
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=1500) > 1.2).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    fresh = [np.zeros_like(w) for w in model.get_weights()]
    accu.autolog()
    model.fit(x[:1000], y[:1000], validation_data=(x[1000:], y[1000:]), epochs=3, verbose=0)
    returned = model.predict(x[1000:], verbose=0).ravel()
    model.set_weights(fresh)  # as load_weights("best.h5") would, right after fit returns
    run = user_mode.only_run()
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(roc_auc_score(y[1000:], returned))
    logged = load_model(Path.cwd(), run.info.run_id, "keras")
    np.testing.assert_allclose(logged.predict(x[1000:], verbose=0).ravel(), returned, rtol=1e-5)


# --- processes sharing one fresh embedded store -----------------------------------------------
CONCURRENT = """
import sys
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from modeler import accu

seed = int(sys.argv[1])
X, y = make_classification(n_samples=600, n_features=5, weights=[0.9], random_state=seed)
accu.autolog(validation=(X[400:], y[400:]), log_models=False)
for c in (1.0, 0.5, 0.2, 0.1):
    LogisticRegression(C=c).fit(X[:400], y[:400])
accu.wait()
"""


@pytest.mark.slow
@pytest.mark.parametrize("cache", ["empty", "with-template"])
def test_two_processes_on_a_fresh_store_lose_nothing(tmp_path, cache):
    script = tmp_path / "fit.py"
    script.write_text(CONCURRENT)
    env = {**os.environ, "MODELER_TEST_MODE": "0"}
    if cache == "empty":  # the store is built by MLflow's migrations, else copied
        env["MODELER_CACHE_DIR"] = str(tmp_path / "empty-cache")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    import sqlite3

    db = sqlite3.connect(tmp_path / "mlruns" / "mlflow.db")
    wedged = db.execute("select name from sqlite_master where name like '_alembic_tmp%'").fetchall()
    assert wedged == []
    _, runs = runs_in(tmp_path)
    assert len(runs) == 8 and all(r.info.status == "FINISHED" for r in runs)
    assert all("eval.pr_auc" in r.data.metrics for r in runs)
    assert journal.folders(tmp_path / "mlruns") == []


# --- passwords in tracking URLs -------------------------------------------------------------
@pytest.mark.server
def test_a_password_in_the_tracking_url_is_never_printed_or_stored(mlflow_server, tmp_path):
    password = "Sup3r-s3cret-pw"
    url = mlflow_server.url.replace("http://", f"http://alice:{password}@")
    code = SKLEARN_FIT.format(after="accu.wait()")
    mlflow_server.stop(kill=True)
    try:
        experiment = f"secrets-{tmp_path.name}"
        down = run_script(
            tmp_path,
            code,
            env={
                "MLFLOW_TRACKING_URI": url,
                "MLFLOW_EXPERIMENT_NAME": experiment,
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            },
        )
        assert down.returncode == 0, down.stderr
        assert "modeler sync" in down.stderr  # the run waits in the journal, and it says so
        on_disk = [p for p in (tmp_path / "mlruns").rglob("*") if p.is_file()]
        assert on_disk
        for path in on_disk:
            assert password.encode() not in path.read_bytes(), path
        mlflow_server.start()
        without = sync_in(tmp_path)  # the password is not on disk: sync asks for it
        assert without.returncode == 1 and "MLFLOW_TRACKING_URI" in without.stdout
        synced = subprocess.run(
            [sys.executable, "-m", "modeler.cli", "sync"],
            cwd=tmp_path,
            env={**os.environ, "MODELER_TEST_MODE": "0", "MLFLOW_TRACKING_URI": url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert synced.returncode == 0, synced.stdout + synced.stderr
        for text in (down.stdout, down.stderr, without.stdout, synced.stdout, synced.stderr):
            assert password not in text
            assert "alice:***@" in text or "alice" not in text
    finally:
        mlflow_server.start()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.url)
    exp = client.get_experiment_by_name(experiment)
    (run,) = client.search_runs([exp.experiment_id])
    everything = json.dumps(
        {"params": run.data.params, "tags": run.data.tags, "name": run.info.run_name}
    )
    assert password not in everything


@pytest.mark.server
def test_a_store_back_before_the_process_exits_gets_its_runs_at_exit(mlflow_server, tmp_path):
    """A short outage: the process retries at exit instead of leaving work for modeler sync."""
    import time

    code = SKLEARN_FIT.format(
        after=(
            "import pathlib, time\nwhile not pathlib.Path('go').exists():\n    time.sleep(0.2)\n"
        )
    )
    (tmp_path / "script.py").write_text(textwrap.dedent(code))
    experiment = f"exit-{tmp_path.name}"
    mlflow_server.stop(kill=True)
    try:
        proc = subprocess.Popen(
            [sys.executable, "script.py"],
            cwd=tmp_path,
            env={
                **os.environ,
                "MODELER_TEST_MODE": "0",
                "MLFLOW_TRACKING_URI": mlflow_server.url,
                "MLFLOW_EXPERIMENT_NAME": experiment,
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not (tmp_path / "proba.npy").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # the fit returned while the server was down
        time.sleep(6)  # longer ago than EXIT_RETRY_AFTER
        mlflow_server.start()
        (tmp_path / "go").touch()
        _, err = proc.communicate(timeout=120)
    finally:
        mlflow_server.start()
    assert proc.returncode == 0, err
    assert "is now in the store" in err and "could not reach" not in err  # none left for sync
    assert journal.folders(tmp_path / "mlruns") == []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.url)
    exp = client.get_experiment_by_name(experiment)
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and "eval.roc_auc" in run.data.metrics
