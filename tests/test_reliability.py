"""Never lose a run: a real `mlflow server` killed, slow or failing; journals replayed by sync.

These tests run the path users run: the background uploader, warnings instead of errors
(MODELER_TEST_MODE=0).
"""

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
from modeler.tracking import journal, uploader

pytestmark = pytest.mark.server


@pytest.fixture(autouse=True)
def _user_mode(monkeypatch):
    """What users run: background uploads, logging problems as warnings."""
    monkeypatch.setenv("MODELER_TEST_MODE", "0")


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


def kept() -> list:
    return journal.folders()


def test_server_down_from_the_start_then_sync(remote, data):
    server, client, experiment = remote
    X, y, Xv, yv = data
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv))
    # the fit completes normally; one warning, at its end or at the next wait
    with pytest.warns(ModelerWarning, match="did not answer") as caught:
        clf = LogisticRegression().fit(X, y)
        accu.wait()
    assert clf.coef_.shape == (1, 5)
    assert len([w for w in caught if "did not answer" in str(w.message)]) == 1
    (folder,) = kept()
    assert (folder / "ops.jsonl").stat().st_size > 0
    # while the server is down, sync says so and exits non-zero
    busy = CliRunner().invoke(main, ["sync"])
    assert busy.exit_code == 1 and "still does not answer" in busy.output, busy.output
    server.start()
    accu.sync()
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
    assert kept() == []
    again = CliRunner().invoke(main, ["sync"])  # twice: nothing more, no duplicate
    assert "nothing to sync" in again.output and again.exit_code == 0
    assert len(server_runs(client, experiment)) == 1


def test_server_back_before_the_process_ends_uploads_by_itself(remote, data, monkeypatch):
    server, client, experiment = remote
    X, y, Xv, yv = data
    monkeypatch.setattr(uploader, "RETRY_SECONDS", 0.5)
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv), log_models=False)
    with pytest.warns(ModelerWarning, match="did not answer"):
        LogisticRegression().fit(X, y)
        accu.wait()
    server.start()
    deadline = time.monotonic() + 60
    while kept() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kept() == []
    (run,) = server_runs(client, experiment)
    assert run.info.status == "FINISHED" and "eval.pr_auc" in run.data.metrics


def test_server_killed_mid_fit_keeps_the_exact_metric_history(remote, monkeypatch):
    keras = pytest.importorskip("keras")
    server, client, experiment = remote
    monkeypatch.setattr(uploader, "FLUSH_SECONDS", 0.0)  # send every epoch, so the kill bites
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 4)).astype("float32")
    y = (x[:, 0] > 1).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    seen_running = []

    class KillServer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                time.sleep(1.0)  # epoch 0 reaches the server while the fit runs (our
                # callback comes after this one, so epoch 1 is not journaled yet)
                runs = server_runs(client, experiment)
                seen_running.extend(
                    (r.info.status, len(client.get_metric_history(r.info.run_id, "loss")))
                    for r in runs
                )
                server.stop(kill=True)

    accu.autolog()
    with pytest.warns(ModelerWarning, match="did not answer"):
        history = model.fit(
            x, y, validation_split=0.25, epochs=5, verbose=0, callbacks=[KillServer()]
        )
        accu.wait()
    assert seen_running == [("RUNNING", 1)]  # live curves: the store had epoch 0
    server.start()
    accu.sync()
    (run,) = server_runs(client, experiment)
    assert run.info.status == "FINISHED"
    for key, values in history.history.items():
        assert _history(client, run.info.run_id, key) == [
            (i, pytest.approx(v, rel=1e-6)) for i, v in enumerate(values)
        ], key
    assert "eval.roc_auc" in run.data.metrics
    assert "model_summary.txt" in {a.path for a in client.list_artifacts(run.info.run_id)}


def _history(client, run_id, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _one_kept_run(remote, data, **options):
    server = remote[0]
    X, y, Xv, yv = data
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv), **options)
    with pytest.warns(ModelerWarning, match="did not answer"):
        LogisticRegression().fit(X, y)
        accu.wait()
    accu.session.uploader.reset()  # as if this process had ended: the journal is an orphan
    (folder,) = kept()
    return folder


def test_partial_or_repeated_replay_creates_no_duplicates(remote, data, tmp_path):
    server, client, experiment = remote
    folder = _one_kept_run(remote, data)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    server.start()
    accu.sync()
    (run,) = server_runs(client, experiment)
    keys = sorted(run.data.metrics)
    counts = {k: len(client.get_metric_history(run.info.run_id, k)) for k in keys}
    # a crash right after the run was created, before progress was saved
    shutil.copytree(copy, folder)
    accu.sync()
    # a crash in the middle of the replay, with progress saved half-way
    shutil.copytree(copy, folder)
    ops = (folder / "ops.jsonl").read_text().splitlines()
    (folder / "progress.json").write_text(
        json.dumps({"done": len(ops) // 2, "run_id": run.info.run_id})
    )
    accu.sync()
    (again,) = server_runs(client, experiment)
    assert again.info.run_id == run.info.run_id
    assert {k: len(client.get_metric_history(run.info.run_id, k)) for k in keys} == counts
    assert len(client.search_logged_models([again.info.experiment_id])) == 1


def test_a_line_cut_by_a_crash_replays_what_is_intact_and_says_so(remote, data):
    server, client, experiment = remote
    folder = _one_kept_run(remote, data, log_models=False)
    text = (folder / "ops.jsonl").read_text()
    end = text.rindex('{"op": "end"')
    (folder / "ops.jsonl").write_text(text[:end] + '{"op": "end", "sta')  # cut mid-record
    server.start()
    result = CliRunner().invoke(main, ["sync"])
    assert result.exit_code == 0, result.output
    assert "last record was cut" in result.output
    (run,) = server_runs(client, experiment)
    # the end record was the cut one: fit had returned, so the run is complete and FINISHED
    assert run.info.status == "FINISHED"
    assert run.data.tags["modeler.journal_truncated"] == "true"
    assert "eval.f1" in run.data.metrics


def test_a_garbled_line_sets_the_journal_aside_and_others_sync(remote, data):
    server, client, experiment = remote
    X, y, Xv, yv = data
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv), log_models=False)
    with pytest.warns(ModelerWarning):
        LogisticRegression().fit(X, y)
        LogisticRegression(C=0.1).fit(X, y)
        accu.wait()
    accu.session.uploader.reset()
    bad, _good = kept()
    lines = (bad / "ops.jsonl").read_text().splitlines(keepends=True)
    lines[1] = "{not json\n"
    (bad / "ops.jsonl").write_text("".join(lines))
    server.start()
    result = CliRunner().invoke(main, ["sync"])
    assert result.exit_code == 1  # something could not be synced
    assert f"{bad / 'ops.jsonl'}, line 2: not valid JSON" in result.output
    (run,) = server_runs(client, experiment)  # the good one went through
    assert run.data.params["C"] == "0.1" and run.info.status == "FINISHED"
    damaged = bad.parent / "damaged" / bad.name
    assert (damaged / "reason.txt").read_text().startswith(str(bad / "ops.jsonl"))
    again = CliRunner().invoke(main, ["sync"])  # still says so, still non-zero
    assert again.exit_code == 1 and "set aside" in again.output
    shutil.rmtree(damaged)
    assert CliRunner().invoke(main, ["sync"]).exit_code == 0


def test_a_garbled_run_json_never_breaks_autolog(data, tmp_path, capsys):
    X, y, Xv, yv = data
    folder = journal.journal_dir() / ("0" * 32)
    folder.mkdir(parents=True)
    (folder / "run.json").write_text('{"journal_id": "x", "tracking')
    accu.autolog(validation=(Xv, yv), log_models=False)  # does not raise
    try:
        err = capsys.readouterr().err
        assert f"{folder / 'run.json'}: not readable JSON" in err
        assert (journal.journal_dir() / "damaged" / folder.name / "reason.txt").exists()
        LogisticRegression().fit(X, y)  # and logging goes on
        runs = accu.tracking()
        from mlflow.tracking import MlflowClient

        accu.wait()
        client = MlflowClient(runs.uri)
        exp = client.get_experiment_by_name(runs.experiment)
        assert len(client.search_runs([exp.experiment_id])) == 1
    finally:
        accu.autolog(disable=True)


def test_two_syncs_at_once_never_duplicate(remote, data):
    server, client, experiment = remote
    X, y, Xv, yv = data
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv), log_models=False)
    with pytest.warns(ModelerWarning):
        for c in (1.0, 0.5, 0.2):
            LogisticRegression(C=c).fit(X, y)
        accu.wait()
    accu.session.uploader.reset()
    server.start()
    import subprocess
    import sys

    env = {**__import__("os").environ, "MLFLOW_TRACKING_URI": server.url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "modeler.cli", "sync"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    said = "\n---\n".join(outputs)  # in full: pytest shortens a list's repr
    assert "Traceback" not in said, said
    if any(p.returncode for p in procs):
        # Exit 1 means "not everything synced"; on a loaded machine the restarted server may
        # not answer one of them in time. What is left must go on the next sync, once.
        assert "not synced" in said, said
        again = subprocess.run(
            [sys.executable, "-m", "modeler.cli", "sync"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert again.returncode == 0, said + "\n---\n" + again.stdout + again.stderr
    runs = server_runs(client, experiment)
    assert sorted(r.data.params["C"] for r in runs) == ["0.2", "0.5", "1.0"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert kept() == []


def test_slow_server_does_not_hang_the_fit(monkeypatch, data):
    """A server that accepts connections and never answers: fits do not wait for it."""
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
        with pytest.warns(ModelerWarning, match="did not answer"):
            LogisticRegression().fit(X, y)
            LogisticRegression(C=0.5).fit(X, y)
            fits = time.monotonic() - started
            accu.wait()
        waited = time.monotonic() - started
        assert len(kept()) == 2
        with pytest.raises(TrackingError, match="could not sync"):
            accu.session.uploader.reset()
            accu.sync()
        assert len(kept()) == 2  # kept for the next try
    finally:
        accu.autolog(disable=True)
        accu.set_tracking(None, None)
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert fits < 5, f"two fits against a silent server took {fits:.1f} s"
    assert waited < 30, f"waiting for a silent server took {waited:.1f} s"


def test_artifact_upload_failing_keeps_artifacts_in_the_journal(tmp_path, data, monkeypatch):
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
        with pytest.warns(ModelerWarning, match="did not answer"):
            LogisticRegression().fit(X, y)
            accu.wait()
        client = MlflowClient(tracking_uri=server.url)
        (run,) = server_runs(client, "uploads")
        assert "C" in run.data.params  # what reached the server stays there
        (folder,) = kept()
        ops = [json.loads(line) for line in (folder / "ops.jsonl").read_text().splitlines()]
        uploads = [op for op in ops if op["op"] == "artifacts" and op["path"] == "eval"]
        assert uploads and (folder / uploads[0]["dir"] / "curves.json").exists()
        assert ops[-1]["op"] == "end"
    finally:
        accu.autolog(disable=True)
        accu.set_tracking(None, None)
        server.stop(kill=True)


def test_a_test_evaluation_made_while_the_store_was_down_joins_its_run(remote, data):
    server, client, experiment = remote
    X, y, Xv, yv = data
    server.stop(kill=True)
    accu.autolog(validation=(Xv, yv), log_models=False)
    with pytest.warns(ModelerWarning, match="did not answer"):
        clf = LogisticRegression().fit(X, y)
        accu.evaluate(clf, X[:200], y[:200], prefix="test")  # its run is not in the store yet
        accu.wait()
    assert len(kept()) == 2  # the run's journal, and the one adding test.* to it
    server.start()
    accu.sync()
    (run,) = server_runs(client, experiment)  # one run, not two
    assert run.info.status == "FINISHED"
    assert "eval.pr_auc" in run.data.metrics and run.data.metrics["test.n"] == 200
    assert kept() == []
