"""modeler.tracking.rest: MlflowClient's calls that compare makes, over a real server's REST API.

Every answer is checked against MlflowClient's own on the same server.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from modeler.tracking.rest import Param, RestClient, RestError, usable

pytestmark = pytest.mark.server


@pytest.fixture()
def pair(mlflow_server):
    """(RestClient, MlflowClient) on the same server."""
    from mlflow.tracking import MlflowClient

    return RestClient(mlflow_server.url), MlflowClient(mlflow_server.url)


def _experiment(client, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp else client.create_experiment(name)


def test_usable_for_http_servers_only(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_AUTH", raising=False)
    assert usable("http://127.0.0.1:5000") and usable("https://mlflow.example.com/")
    assert not usable("sqlite:///mlflow.db") and not usable("file:///tmp/mlruns")
    monkeypatch.setenv("MLFLOW_TRACKING_AUTH", "my_plugin")  # a custom auth provider
    assert not usable("http://127.0.0.1:5000")


def test_credentials_come_from_mlflows_variables(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "analyst")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    client = RestClient("https://mlflow.example.com")
    assert client.session.auth == ("analyst", "s3cret") and client.session.verify is False
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok")
    assert RestClient("https://x").session.headers["Authorization"] == "Bearer tok"


def test_runs_read_back_as_mlflow_reads_them(pair, tmp_path):
    from mlflow.entities import Metric, RunTag
    from mlflow.entities import Param as MlflowParam

    rest, mlflow_client = pair
    exp_id = _experiment(mlflow_client, "rest-read")
    run = mlflow_client.create_run(exp_id, run_name="LogReg-smote-B579", tags={"team": "fraud"})
    now = int(time.time() * 1000)
    mlflow_client.log_batch(
        run.info.run_id,
        metrics=[
            Metric("eval.pr_auc", 0.8125, now, 0),
            Metric("eval.cost", float("nan"), now, 0),
            Metric("val_loss", float("inf"), now, 3),
        ],
        params=[MlflowParam("C", "0.5")],
        tags=[RunTag("modeler.model_version", "LogReg-smote-B579_1")],
    )
    (tmp_path / "curves.json").write_text(json.dumps({"schema": 1}))
    mlflow_client.log_artifact(run.info.run_id, str(tmp_path / "curves.json"), "eval")

    (got,) = rest.search_runs([exp_id], filter_string="attributes.run_name = 'LogReg-smote-B579'")
    want = mlflow_client.get_run(run.info.run_id)
    assert got.info.run_id == want.info.run_id and got.info.run_name == want.info.run_name
    assert got.info.experiment_id == exp_id and got.info.artifact_uri == want.info.artifact_uri
    assert got.data.params == want.data.params and got.data.tags == want.data.tags
    assert got.data.metrics["eval.pr_auc"] == 0.8125 and math.isnan(got.data.metrics["eval.cost"])
    # the store keeps infinity as the largest float: both clients read back the same number
    assert got.data.metrics["val_loss"] == want.data.metrics["val_loss"] > 1e308

    local = tmp_path / "back.json"
    rest.download_artifact(got.info.artifact_uri, "eval/curves.json", str(local))
    assert json.loads(local.read_text()) == {"schema": 1}
    with pytest.raises(RestError, match="404"):
        rest.download_artifact(got.info.artifact_uri, "eval/missing.json", str(local))


def test_search_orders_and_limits_on_the_server(pair):
    rest, mlflow_client = pair
    exp_id = _experiment(mlflow_client, "rest-order")
    for value in (0.3, 0.9, 0.1, 0.5):
        run = mlflow_client.create_run(exp_id)
        mlflow_client.log_metric(run.info.run_id, "eval.pr_auc", value)
    mlflow_client.create_run(exp_id)  # no metric: left out by the filter
    options = {
        "filter_string": "metrics.`eval.pr_auc` > -1e308",
        "order_by": ["metrics.`eval.pr_auc` DESC"],
        "max_results": 3,
    }
    got = [r.data.metrics["eval.pr_auc"] for r in rest.search_runs([exp_id], **options)]
    want = [r.data.metrics["eval.pr_auc"] for r in mlflow_client.search_runs([exp_id], **options)]
    assert got == want == [0.9, 0.5, 0.3]


def test_experiments_runs_and_artifacts_are_written_as_mlflow_reads_them(pair, tmp_path):
    rest, mlflow_client = pair
    name = f"rest-write-{time.time_ns()}"
    assert rest.get_experiment_by_name(name) is None
    exp_id = rest.create_experiment(name, tags={"modeler.models_experiment": "fraud"})
    rest.set_experiment_tag(exp_id, "purpose", "reports")
    exp = mlflow_client.get_experiment(exp_id)
    assert exp.name == name and exp.tags["modeler.models_experiment"] == "fraud"
    assert exp.tags["purpose"] == "reports"
    assert {e.experiment_id for e in rest.search_experiments()} >= {exp_id}
    with pytest.raises(RestError) as raised:
        rest.create_experiment(name)  # the name is taken
    assert raised.value.error_code == "RESOURCE_ALREADY_EXISTS"

    run = rest.create_run(exp_id, run_name="comparison-2-runs", tags={"modeler.comparison": "true"})
    rest.log_batch(run.info.run_id, params=[Param("n_runs", "2")])
    (tmp_path / "report.html").write_text("<html>report</html>")
    rest.log_artifact(run.info.run_id, str(tmp_path / "report.html"))
    rest.set_terminated(run.info.run_id, "FINISHED")
    stored = mlflow_client.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED" and stored.info.run_name == "comparison-2-runs"
    assert stored.data.params == {"n_runs": "2"}
    assert stored.data.tags["modeler.comparison"] == "true"
    assert [f.path for f in mlflow_client.list_artifacts(run.info.run_id)] == ["report.html"]


def test_registry_and_errors_name_what_was_asked(pair):
    rest, _ = pair
    with pytest.raises(RestError, match="RESOURCE_DOES_NOT_EXIST"):
        rest.get_model_version("no-such-model", "1")
    with pytest.raises(RestError, match="no answer"):
        RestClient("http://127.0.0.1:9", timeout=2).search_experiments()


def test_modeler_compare_on_a_server_imports_no_heavy_library(mlflow_server, tmp_path):
    """The command's point: seconds of imports are not paid against a server."""
    from mlflow.tracking import MlflowClient
    from test_compare import COSTS, fraud_scores, log_scored_run

    client = MlflowClient(mlflow_server.url)
    exp_id = _experiment(client, "rest-cli")
    y, _ = fraud_scores(1000, 1.0, seed=0)
    for signal in (1.0, 2.5):
        _, s = fraud_scores(1000, signal, seed=int(signal * 10))
        log_scored_run(client, exp_id, y, s, costs=COSTS, name=f"cli-{signal}")
    script = (
        "import sys\n"
        "from modeler.cli import main\n"
        "try:\n"
        "    main(['compare', '--experiment', 'rest-cli', '--top', '2', '--out', sys.argv[1]])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = {'mlflow', 'pandas', 'matplotlib', 'sklearn'}\n"
        "print('heavy modules:', sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "MLFLOW_TRACKING_URI": mlflow_server.url},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # MLflow, pandas, matplotlib (drawn in a child) and scikit-learn: 3-5 s of imports here
    assert "cli-2.5" in done.stdout and "heavy modules: []" in done.stdout, done.stdout
    report = sorted(r for r in client.search_runs(
        [client.get_experiment_by_name("rest-cli/comparisons").experiment_id]
    ) if r.data.tags.get("modeler.comparison") == "true")  # fmt: skip
    artifacts = {f.path for f in client.list_artifacts(report[0].info.run_id)}
    assert {"report.html", "table.csv", "comparison.png", "cost_comparison.png"} <= artifacts


def test_artifacts_on_a_path_the_server_shares_are_copied(tmp_path):
    """A server without the artifact proxy gives file URIs (or plain paths): files are copied."""
    root = tmp_path / "artifacts" / "1" / "abc" / "artifacts"
    (root / "eval").mkdir(parents=True)
    (root / "eval" / "curves.json").write_text('{"schema": 1}')
    client = RestClient("http://127.0.0.1:9")  # never asked: nothing goes over the network
    for uri in (root.as_uri(), str(root)):
        local = tmp_path / "got.json"
        client.download_artifact(uri, "eval/curves.json", str(local))
        assert json.loads(local.read_text()) == {"schema": 1}
    client._artifact_uris["abc"] = root.as_uri()
    (tmp_path / "report.html").write_text("<html></html>")
    client.log_artifact("abc", str(tmp_path / "report.html"), "reports")
    assert (root / "reports" / "report.html").read_text() == "<html></html>"


def test_compare_against_a_server_that_does_not_answer_names_it(tmp_path, monkeypatch):
    from modeler.compare import compare
    from modeler.config import resolve_tracking
    from modeler.errors import TrackingError

    monkeypatch.setenv("MODELER_HTTP_TIMEOUT", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracking = resolve_tracking("http://127.0.0.1:9", "fraud")
    with pytest.raises(
        TrackingError, match=r"could not read runs from 'http://127.0.0.1:9'.*no answer"
    ):
        compare(experiment="fraud", tracking=tracking, output_dir=tmp_path / "out")
