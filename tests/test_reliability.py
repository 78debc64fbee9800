"""Never lose a run: a real `mlflow server` killed, slow or failing, then `modeler sync`."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from modeler import accu
from modeler.cli import main
from modeler.errors import ModelerWarning, TrackingError
from modeler.tracking import outbox, writer

pytestmark = pytest.mark.server


@pytest.fixture
def data():
    X, y = make_classification(n_samples=600, n_features=5, weights=[0.9], random_state=2)
    return X[:400], y[:400], X[400:], y[400:]


@pytest.fixture
def remote(mlflow_server, monkeypatch):
    """autolog against the test server; the server is running again when the test ends."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    experiment = f"reliability-{time.monotonic_ns()}"
    accu.set_tracking(mlflow_server.url, experiment)
    client = MlflowClient(tracking_uri=mlflow_server.url)
    yield mlflow_server, client, experiment
    accu.autolog(disable=True)
    accu.set_tracking(None, None)
    mlflow_server.start()


def server_runs(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id])


def test_server_down_from_the_start_then_sync(remote, data, tmp_path):
    server, client, experiment = remote
    X, y, Xv, yv = data
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv))
    with pytest.warns(ModelerWarning, match="could not be reached") as caught:
        clf = LogisticRegression().fit(X, y)  # the fit completes normally
    assert len([w for w in caught if "could not be reached" in str(w.message)]) == 1
    assert clf.coef_.shape == (1, 5)
    (kept,) = outbox.pending()
    assert (kept / "ops.jsonl").stat().st_size > 0
    server.start()
    result = CliRunner().invoke(main, ["sync"])
    assert result.exit_code == 0, result.output
    assert "synced LogisticRegression-" in result.output
    (run,) = server_runs(client, experiment)
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "1.0"
    assert "eval.roc_auc" in run.data.metrics
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "eval")}
    assert "eval/curves.json" in arts
    import mlflow

    mlflow.set_tracking_uri(server.url)
    try:
        loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose(loaded.predict_proba(Xv), clf.predict_proba(Xv))
    again = CliRunner().invoke(main, ["sync"])  # twice: nothing more, no duplicate
    assert "nothing to sync" in again.output
    assert len(server_runs(client, experiment)) == 1


def test_server_killed_mid_fit_keeps_the_exact_metric_history(remote, monkeypatch):
    keras = pytest.importorskip("keras")
    server, client, experiment = remote
    monkeypatch.setattr(writer, "FLUSH_SECONDS", 0.0)  # send every epoch, so the kill bites
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 4)).astype("float32")
    y = (x[:, 0] > 1).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])

    class KillServer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                server.stop(kill=True)

    accu.autolog()
    with pytest.warns(ModelerWarning, match="could not be reached"):
        history = model.fit(
            x, y, validation_split=0.25, epochs=5, verbose=0, callbacks=[KillServer()]
        )
    server.start()
    (before,) = server_runs(client, experiment)
    assert before.info.status == "RUNNING"  # created before the kill, finished by sync
    assert [s for s, _ in _history(client, before.info.run_id, "loss")] == [0]
    accu.sync()
    (run,) = server_runs(client, experiment)
    assert run.info.run_id == before.info.run_id and run.info.status == "FINISHED"
    for key, values in history.history.items():
        assert _history(client, run.info.run_id, key) == [
            (i, pytest.approx(v, rel=1e-6)) for i, v in enumerate(values)
        ], key
    assert "eval.roc_auc" in run.data.metrics
    assert "model_summary.txt" in {a.path for a in client.list_artifacts(run.info.run_id)}


def _history(client, run_id, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_partial_or_repeated_replay_creates_no_duplicates(remote, data, tmp_path):
    server, client, experiment = remote
    X, y, Xv, yv = data
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv))
    with pytest.warns(ModelerWarning):
        LogisticRegression().fit(X, y)
    (kept,) = outbox.pending()
    copy = tmp_path / "copy"
    shutil.copytree(kept, copy)
    server.start()
    accu.sync()
    (run,) = server_runs(client, experiment)
    keys = sorted(run.data.metrics)
    counts = {k: len(client.get_metric_history(run.info.run_id, k)) for k in keys}
    # a crash right after the run was created, before progress was saved
    shutil.copytree(copy, kept)
    accu.sync()
    # a crash in the middle of the replay
    shutil.copytree(copy, kept)
    ops = (kept / "ops.jsonl").read_text().splitlines()
    (kept / "progress.json").write_text(
        json.dumps({"done": len(ops) // 2, "server_run_id": run.info.run_id})
    )
    accu.sync()
    (again,) = server_runs(client, experiment)
    assert again.info.run_id == run.info.run_id
    assert {k: len(client.get_metric_history(run.info.run_id, k)) for k in keys} == counts


def test_a_line_cut_by_a_crash_is_ignored(remote, data):
    server, client, experiment = remote
    X, y, Xv, yv = data
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv), log_models=False)
    with pytest.warns(ModelerWarning):
        LogisticRegression().fit(X, y)
    (kept,) = outbox.pending()
    with open(kept / "ops.jsonl", "a") as fh:
        fh.write('{"op": "batch", "metrics": [["half"')
    server.start()
    accu.sync()
    (run,) = server_runs(client, experiment)
    assert "half" not in run.data.metrics and "eval.f1" in run.data.metrics


def test_slow_server_does_not_hang_the_fit(monkeypatch, data):
    """A server that accepts connections and never answers: bounded by the timeout."""
    X, y, Xv, yv = data
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # read nothing, answer nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    accu.set_tracking(url, "slow")
    try:
        accu.autolog(validation=(Xv, yv), log_models=False)
        started = time.monotonic()
        with pytest.warns(ModelerWarning, match="could not be reached"):
            LogisticRegression().fit(X, y)
        LogisticRegression(C=0.5).fit(X, y)  # the store is known to be down: no new wait
        elapsed = time.monotonic() - started
    finally:
        accu.autolog(disable=True)
        accu.set_tracking(None, None)
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert elapsed < 30, f"two fits against a silent server took {elapsed:.1f} s"
    assert len(outbox.pending()) == 2
    with pytest.raises(TrackingError, match="still unreachable"):
        accu.sync()
    assert len(outbox.pending()) == 2  # kept for the next try


def test_artifact_upload_failing_keeps_artifacts_in_the_outbox(tmp_path, data, monkeypatch):
    from mlflow.tracking import MlflowClient

    from modeler.server import MlflowServer, free_port

    X, y, Xv, yv = data
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "4")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    dead_s3 = f"http://127.0.0.1:{free_port()}"  # nothing listens: every upload fails
    server = MlflowServer(
        f"sqlite:///{tmp_path / 'm.db'}",
        "s3://no-bucket/artifacts",
        log_path=tmp_path / "server.log",
        env={
            "MLFLOW_S3_ENDPOINT_URL": dead_s3,
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
            "AWS_MAX_ATTEMPTS": "1",
        },
    )
    server.start()
    try:
        accu.set_tracking(server.url, "uploads")
        accu.autolog(validation=(Xv, yv), log_models=False)
        with pytest.warns(ModelerWarning, match="could not be reached"):
            LogisticRegression().fit(X, y)
        client = MlflowClient(tracking_uri=server.url)
        (run,) = server_runs(client, "uploads")
        assert "C" in run.data.params  # what reached the server stays there
        (kept,) = outbox.pending()
        ops = [json.loads(line) for line in (kept / "ops.jsonl").read_text().splitlines()]
        uploads = [op for op in ops if op["op"] == "artifacts"]
        assert uploads and (kept / uploads[0]["dir"] / "curves.json").exists()
        assert ops[-1]["op"] == "end"
    finally:
        accu.autolog(disable=True)
        accu.set_tracking(None, None)
        server.stop(kill=True)
