"""accu.evaluate_spark: an evaluation computed in Spark lands in a run like an in-memory one."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest

from modeler import accu

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("modeler-runs")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_a_spark_evaluation_is_logged_like_an_in_memory_one(spark, store):
    rng = np.random.default_rng(5)
    n = 20_000
    y = (rng.random(n) < 0.02).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(-3, 1, n) + 2.5 * y)))
    amount = rng.lognormal(4, 1, n)
    frame = pd.DataFrame({"y": y, "p": p, "amount": amount})
    df = spark.createDataFrame(frame).repartition(3)

    metrics = accu.evaluate_spark(
        df, label_col="y", score_col="p", fn_cost_col="amount", fp_cost=5.0
    )
    in_memory = accu.evaluate(p, None, y, costs={"fn": amount, "fp": 5.0})
    spark_run, memory_run = store.runs()
    assert spark_run.info.run_name.startswith("spark-")
    assert spark_run.data.tags["modeler.eval_source"] == "spark"
    assert spark_run.data.tags["modeler.spark_mode"] == "exact"
    for key in (
        "roc_auc",
        "pr_auc",
        "precision",
        "recall",
        "f1",
        "tp",
        "fp",
        "cost",
        "cost_optimal_threshold",
        "cost_at_optimal",
    ):
        assert metrics[key] == pytest.approx(in_memory[key], abs=1e-9), key
        assert spark_run.data.metrics[f"eval.{key}"] == pytest.approx(
            memory_run.data.metrics[f"eval.{key}"], abs=1e-9
        ), key
    history = store.metric_history(spark_run.info.run_id, "eval.pr_curve")
    assert history == store.metric_history(memory_run.info.run_id, "eval.pr_curve")
    files = {a.path for a in store.client.list_artifacts(spark_run.info.run_id, "eval")}
    assert {"eval/curves.json", "eval/cost_curve.json", "eval/roc.png", "eval/pr.png"} <= files
    curves = store.artifact_json(spark_run.info.run_id, "eval/curves.json")
    assert len(curves["roc"]["fpr"]) <= 1000 and curves["roc"]["auc"] == pytest.approx(
        in_memory["roc_auc"], abs=1e-9
    )
    # a comparison reads the Spark run like any other
    report = accu.compare([spark_run.info.run_id, memory_run.info.run_id], output_dir="cmp")
    assert report.run_ids == [spark_run.info.run_id, memory_run.info.run_id]
