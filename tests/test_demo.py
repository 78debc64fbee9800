"""`modeler demo`, the README's first command, as a user runs it (small data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras")


@pytest.mark.slow
def test_demo_leaves_five_runs_a_comparison_and_a_report(tmp_path):
    exe = Path(sys.executable).with_name("modeler")
    env = {**os.environ, "MODELER_TEST_MODE": "1"}
    result = subprocess.run(
        [str(exe), "demo", "--rows", "20000", "--epochs", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "cheapest model: keras-" in out
    html = Path(out.split("HTML report: ", 1)[1].splitlines()[0])
    assert html.is_file() and html.stat().st_size > 10_000
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("fraud-demo")
    models = client.search_runs([exp.experiment_id])
    companion = client.get_experiment_by_name("fraud-demo/comparisons")
    reports = client.search_runs([companion.experiment_id])
    assert len(models) == 5 and len(reports) == 1  # the report is not among the models
    assert all(r.data.tags.get("modeler.comparison") == "true" for r in reports)
    assert all(
        r.info.status == "FINISHED" and "eval.cost_at_optimal" in r.data.metrics for r in models
    )
    methods = sorted(
        json.loads(r.data.tags["modeler.sampling"])["method"]
        for r in models
        if "modeler.sampling" in r.data.tags
    )
    assert methods == ["down", "smote", "up"]
    assert sum("class_weight" in r.data.params for r in models) == 1
    # every run says which file fed it: the descriptor's CSV, by digest
    sources = {json.loads(r.inputs.dataset_inputs[0].dataset.source)["uri"] for r in models}
    assert sources == {(tmp_path / "mlruns" / "demo-data" / "paysim.csv").as_uri()}
    for sampling in ("not recorded", "class weights", "down", "up", "smote"):
        assert sampling in out  # the comparison table's Sampling column (baseline: no record)
