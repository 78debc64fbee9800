"""The self-hosted stack without Docker: PostgreSQL + S3 (moto) + ``mlflow server``."""

from __future__ import annotations

import os
import signal
import socket
import uuid

import pytest

from modeler.errors import TrackingError
from modeler.server import MlflowServer, port_in_use, start_moto, start_stack

pytestmark = pytest.mark.server


def _password(url: str) -> str:
    return url.partition("://")[2].rpartition("@")[0].partition(":")[2]


def _s3(stack):
    import boto3

    creds = stack.s3_credentials
    return boto3.client(
        "s3",
        endpoint_url=stack.s3_endpoint,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


def test_stack_stores_runs_in_postgres_and_artifacts_in_s3(mlflow_stack, tmp_path, monkeypatch):
    import psycopg2
    from mlflow import MlflowClient

    stack = mlflow_stack
    assert stack.postgres_url.startswith("postgresql+psycopg2://")
    assert _password(stack.postgres_url) not in repr(stack)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack.tracking_uri)
    client = MlflowClient(tracking_uri=stack.tracking_uri)
    experiment_id = client.create_experiment(f"stack-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    client.log_param(run_id, "epochs", "3")
    client.log_metric(run_id, "eval.pr_auc", 0.75)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    client.log_artifact(run_id, str(notes), artifact_path="eval")
    client.set_terminated(run_id)

    with psycopg2.connect(stack.postgres_url.replace("+psycopg2", "", 1)) as conn:
        cur = conn.cursor()
        cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (run_id,))
        assert cur.fetchone() == ("FINISHED",)
        cur.execute("SELECT value FROM params WHERE run_uuid = %s AND key = 'epochs'", (run_id,))
        assert cur.fetchone() == ("3",)
        cur.execute("SELECT value FROM metrics WHERE run_uuid = %s", (run_id,))
        assert cur.fetchall() == [(0.75,)]
    conn.close()

    listing = _s3(stack).list_objects_v2(Bucket=stack.bucket)
    keys = [obj["Key"] for obj in listing.get("Contents", [])]
    assert f"{experiment_id}/{run_id}/artifacts/eval/notes.txt" in keys, keys
    assert [a.path for a in client.list_artifacts(run_id, "eval")] == ["eval/notes.txt"]


def test_sqlite_stack_on_a_given_endpoint_starts_and_stops_cleanly(tmp_path, monkeypatch):
    # A given endpoint is used with the credentials of the environment, as boto3 finds them.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "given-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "given-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    moto, endpoint = start_moto(tmp_path / "moto.log")
    try:
        messages: list[str] = []
        with start_stack(
            tmp_path / "stack", port=0, s3_endpoint=endpoint, bucket="arts", postgres=False,
            log=messages.append,
        ) as stack:  # fmt: skip
            assert stack.backend_store_uri == f"sqlite:///{tmp_path / 'stack' / 'mlflow.db'}"
            assert stack.postgres_url is None
            assert any("SQLite" in m for m in messages)
            assert port_in_use(stack.port)
            group = stack.server._proc.pid
        assert not port_in_use(stack.port)
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)  # no worker of the server is left behind
        assert moto.poll() is None, "a stack must not stop an S3 endpoint it did not start"
        assert (tmp_path / "stack" / "mlflow-server.log").stat().st_size > 0
    finally:
        moto.send_signal(signal.SIGTERM)
        moto.wait(10)


def test_busy_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(TrackingError, match=f"port {port} .* in use"):
            start_stack(tmp_path, port=port)
    assert not (tmp_path / "postgres").exists()


def test_server_that_never_answers_fails_with_its_log_and_no_password(tmp_path):
    server = MlflowServer(
        "postgresql+psycopg2://someone:pw-not-shown-1234@127.0.0.1:1/nowhere",
        (tmp_path / "artifacts").as_uri(),
        log_path=tmp_path / "mlflow-server.log",
        startup_timeout=6,
    )
    with pytest.raises(TrackingError, match=r"did not answer .* within 6 s") as err:
        server.start()
    assert str(tmp_path / "mlflow-server.log") in str(err.value)
    assert "pw-not-shown-1234" not in str(err.value)
    assert not server.running
    assert "pw-not-shown-1234" not in repr(server)


def test_mlflow_server_fixture_restarts_on_the_same_port(mlflow_server):
    import urllib.request

    url = mlflow_server.url
    mlflow_server.stop(kill=True)
    assert not port_in_use(mlflow_server.port)
    mlflow_server.start()
    assert mlflow_server.url == url
    with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
        assert response.status == 200


def test_the_machines_cluster_is_never_restarted():
    from modeler.server import Postgres

    shared = Postgres(
        url="postgresql+psycopg2://someone:pw-not-shown-5678@127.0.0.1:5432/db",
        mode="system",
        database="db",
        cluster=("15", "main", 5432),
    )
    with pytest.raises(TrackingError, match=r"machine's cluster.*private_postgres=True") as err:
        shared.restart(down_for=0)
    assert "pw-not-shown-5678" not in str(err.value)
    with pytest.raises(TrackingError, match="only a private cluster"):
        shared.start()
