"""Evaluation of a Spark DataFrame equals the in-memory evaluation (local mode, two cores).

Exact mode against ``evaluate_binary`` / ``cost_report`` / scikit-learn to 1e-9, point lists
included; binned mode within its stated bounds; too many points for the driver: real curve
points only; and every bad input as a clear error.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from modeler import accu

pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - Java 17 is on the test machines
    pytest.skip("pyspark needs Java (java not on PATH)", allow_module_level=True)

from pyspark.sql import Row
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from modeler.errors import CostError, OptionError, SparkDataError
from modeler.evaluation import Costs, cost_at, cost_report, evaluate_binary, plots
from modeler.evaluation.histories import curve_histories
from modeler.evaluation.metrics import binary_core
from modeler.spark import evaluate_spark, spark_evaluation

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture(scope="module")
def spark():
    """One local session for the module: two cores, 1 GB, quiet, no UI."""
    from pyspark.sql import SparkSession

    before = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("modeler-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if before is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = before


def _frame(spark, partitions: int = 3, **columns):
    return spark.createDataFrame(pd.DataFrame(columns)).repartition(partitions)


def _fraud(n: int, seed: int, rate: float = 0.05, decimals: int | None = None):
    """Labels, sigmoid scores (ties when rounded), amounts and gains of a fraud-like set."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.int64)
    scores = 1.0 / (1.0 + np.exp(-(rng.normal(-2.0, 1.5, n) + 2.5 * y)))
    if decimals is not None:
        scores = np.round(scores, decimals)
    amount = np.round(rng.lognormal(3.0, 1.0, n), 2)
    gain = np.round(rng.random(n) * 3.0, 2)
    return y, scores, amount, gain


def _assert_metrics_equal(got: dict, want: dict, rel: float = 1e-9) -> None:
    assert list(got) == list(want)
    for key, value in want.items():
        if np.isnan(value):
            assert np.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=rel, abs=1e-9), key


def _assert_curves_equal(got: dict, want: dict) -> None:
    assert {k: v for k, v in got.items() if k not in ("roc", "pr")} == {
        k: v for k, v in want.items() if k not in ("roc", "pr")
    }
    for curve in ("roc", "pr"):
        assert set(got[curve]) == set(want[curve])
        for key, values in want[curve].items():
            if key == "auc":
                assert (got[curve][key] is None) == (values is None)
                if values is not None:
                    assert got[curve][key] == pytest.approx(values, abs=1e-9)
            else:  # the same points, to the bit
                assert got[curve][key] == values, (curve, key)


def _assert_cost_curve_close(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    # Same thresholds; costs are sums of amounts added in another order: equal to rounding.
    assert got["thresholds"] == want["thresholds"]
    np.testing.assert_allclose(got["cost"], want["cost"], rtol=1e-9, atol=1e-6)
    for key, value in want.items():
        if key not in ("thresholds", "cost"):
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key


# --- exact mode -------------------------------------------------------------------------------
CASES = {
    # ties: scores rounded to 3 decimals, costs per row plus a gain per caught fraud
    "ties-with-costs": dict(n=20_000, seed=0, decimals=3, gain=True),
    # float32 sigmoid outputs (as Keras predicts): thousands of distinct scores
    "float32": dict(n=12_000, seed=1, float32=True),
    # logits: scores outside [0, 1], balanced classes
    "logits": dict(n=8_000, seed=2, rate=0.4, logits=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exact_mode_equals_the_in_memory_evaluation(spark, case):
    spec = CASES[case]
    y, s, amount, gain = _fraud(
        spec["n"], spec["seed"], spec.get("rate", 0.05), spec.get("decimals")
    )
    if spec.get("float32"):
        s = s.astype(np.float32)
    if spec.get("logits"):
        s = np.log(s / (1.0 - s))
    columns = dict(label=y, score=s, amount=amount, gain=gain)
    df = _frame(spark, **columns)
    tp = "gain" if spec.get("gain") else None

    ev = spark_evaluation(
        df,
        label_col="label",
        score_col="score",
        threshold=0.3,
        fn_cost_col="amount",
        fp_cost=5.0,
        tp_gain_col=tp,
    )

    scores = s.astype(np.float64)
    metrics, curves = evaluate_binary(y, scores, threshold=0.3, max_points=1000)
    costs = Costs(fn=amount, fp=5.0, tp_gain=gain if tp else 0.0)
    cost_metrics, cost_curve = cost_report(y, scores, costs, 0.3, max_points=1000)
    _assert_metrics_equal(ev.metrics, {**metrics, **cost_metrics})
    assert ev.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-9)
    assert ev.metrics["pr_auc"] == pytest.approx(average_precision_score(y, scores), abs=1e-9)
    _assert_curves_equal(ev.curves, curves)
    _assert_cost_curve_close(ev.cost_curve, cost_curve)
    assert ev.exact and ev.exact_points == {"roc": True, "pr": True, "cost": True}
    # the metric histories of MLflow's chart view, as a run of the same rows logs them
    assert ev.histories == curve_histories(binary_core(y, scores))
    assert ev.error_bounds == {"roc_auc": 0.0, "pr_auc": 0.0, "cost_at_optimal": 0.0}


def test_results_do_not_depend_on_partitions_or_buckets(spark):
    y, s, _, _ = _fraud(6_000, seed=3, decimals=4)
    metrics, curves = evaluate_binary(y, s, threshold=0.5)
    before = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        # 1 bucket (no running sums across buckets) and 13 (most buckets' edges cross runs)
        for buckets, partitions in (("1", 1), ("13", 7)):
            spark.conf.set("spark.sql.shuffle.partitions", buckets)
            got, got_curves, cost = evaluate_spark(
                _frame(spark, partitions, y=y, s=s), label_col="y", score_col="s"
            )
            _assert_metrics_equal(got, metrics)
            _assert_curves_equal(got_curves, curves)
            assert cost is None
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)


def _polyline_area(x: list[float], y: list[float]) -> float:
    return float(np.sum(np.diff(x) * (np.asarray(y[1:]) + np.asarray(y[:-1])) / 2))


def test_too_many_points_for_the_driver_keeps_real_points_of_each_curve(spark, monkeypatch):
    y, s, amount, _ = _fraud(15_000, seed=4, rate=0.3)  # ~10,000 ROC corners
    df = _frame(spark, y=y, s=s, amount=amount)
    # Count what reaches the driver, nested points included, outside the code under test.
    received = []
    collect = type(df).collect

    def counting(self):
        rows = collect(self)
        received.extend(max(1, sum(isinstance(v, Row) for v in r)) for r in rows)
        return rows

    monkeypatch.setattr(type(df), "collect", counting)
    ev = spark_evaluation(
        df,
        label_col="y",
        score_col="s",
        fn_cost_col="amount",
        fp_cost=5.0,
        max_points=50,
        max_collect=400,
    )
    monkeypatch.undo()
    # three curves of at most 400 points, two histories of 1,001 steps, a few rows of sums
    assert sum(received) <= 3 * 400 + 2 * 1001 + 20
    metrics, curves = evaluate_binary(y, s, max_points=50)
    cost_metrics, cost_curve = cost_report(y, s, Costs(fn=amount, fp=5.0), 0.5, max_points=50)
    assert ev.exact_points == {"roc": False, "pr": False, "cost": False}
    # The numbers are still exact; only the point lists were chosen from fewer candidates.
    _assert_metrics_equal(ev.metrics, {**metrics, **cost_metrics})
    assert ev.rows_collected <= 3 * 400 + 2 * 1001 + 20

    roc, pr = ev.curves["roc"], ev.curves["pr"]
    assert 2 < len(roc["fpr"]) <= 50 and 2 < len(pr["recall"]) <= 50
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    on_roc = dict(
        zip(thr[1:].tolist(), zip(fpr[1:].tolist(), tpr[1:].tolist(), strict=True), strict=True)
    )
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    for f, t, th in zip(roc["fpr"][1:], roc["tpr"][1:], roc["thresholds"][1:], strict=True):
        assert on_roc[th] == (f, t)
    precision, recall, pthr = precision_recall_curve(y, s)
    on_pr = dict(
        zip(
            pthr.tolist(),
            zip(recall[:-1].tolist(), precision[:-1].tolist(), strict=True),
            strict=True,
        )
    )
    for r, p, th in zip(
        pr["recall"][:-1], pr["precision"][:-1], pr["thresholds"][:-1], strict=True
    ):
        assert on_pr[th] == (r, p)
    assert (pr["recall"][-1], pr["precision"][-1]) == (0.0, 1.0)
    # Drawn, they are the same curves: areas under the thinned lines agree closely.
    assert _polyline_area(roc["fpr"], roc["tpr"]) == pytest.approx(
        _polyline_area(curves["roc"]["fpr"], curves["roc"]["tpr"]), abs=0.01
    )
    assert _polyline_area(pr["recall"][::-1], pr["precision"][::-1]) == pytest.approx(
        _polyline_area(curves["pr"]["recall"][::-1], curves["pr"]["precision"][::-1]), abs=0.02
    )

    cost = ev.cost_curve
    assert len(cost["thresholds"]) <= 50
    assert cost["optimal_threshold"] in cost["thresholds"]
    assert cost["optimal_threshold"] == cost_curve["optimal_threshold"]
    costs = Costs(fn=amount, fp=5.0)
    for th, value in list(zip(cost["thresholds"], cost["cost"], strict=True))[::7]:
        assert value == pytest.approx(cost_at(y, s, costs, th), rel=1e-9)


# --- binned mode ------------------------------------------------------------------------------
def _bin_index(s: np.ndarray, bins: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """The bin of each score, computed with the same float operations as in Spark."""
    position = np.minimum(np.maximum((s - lo) * (bins / (hi - lo)), 0.0), bins - 1.0)
    return np.floor(position)


@pytest.mark.parametrize("bins", [200, 2_000])
def test_binned_mode_is_within_its_bounds(spark, bins):
    y, s, amount, _ = _fraud(20_000, seed=5)
    ev = spark_evaluation(
        _frame(spark, y=y, s=s, amount=amount),
        label_col="y",
        score_col="s",
        fn_cost_col="amount",
        fp_cost=5.0,
        exact=False,
        bins=bins,
    )
    metrics, curves = evaluate_binary(y, s)
    costs = Costs(fn=amount, fp=5.0)
    cost_metrics, _ = cost_report(y, s, costs, 0.5)
    bound = ev.error_bounds
    assert not ev.exact and 0 < bound["roc_auc"] < 0.01 and 0 < bound["pr_auc"] < 0.05
    assert abs(ev.metrics["roc_auc"] - metrics["roc_auc"]) <= bound["roc_auc"]
    assert abs(ev.metrics["pr_auc"] - metrics["pr_auc"]) <= bound["pr_auc"]
    # What the bins compute: scikit-learn's AUCs on scores rounded down to their bin.
    binned = _bin_index(s, bins)
    assert ev.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, binned), abs=1e-9)
    assert ev.metrics["pr_auc"] == pytest.approx(average_precision_score(y, binned), abs=1e-9)
    # Counts and cost at the threshold stay exact.
    for key in ("precision", "recall", "f1", "accuracy", "tp", "fp", "tn", "fn", "n", "positives"):
        assert ev.metrics[key] == metrics[key], key
    assert ev.metrics["cost"] == pytest.approx(cost_metrics["cost"], rel=1e-9)
    # The optimum among bins is a real cost, at most its bound above the exact optimum.
    best = ev.metrics["cost_at_optimal"]
    assert best == pytest.approx(
        cost_at(y, s, costs, ev.metrics["cost_optimal_threshold"]), rel=1e-9
    )
    assert cost_metrics["cost_at_optimal"] - 1e-6 <= best
    assert best <= cost_metrics["cost_at_optimal"] + bound["cost_at_optimal"] + 1e-6
    # Every ROC point is a point of the exact curve.
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    on_roc = dict(
        zip(thr[1:].tolist(), zip(fpr[1:].tolist(), tpr[1:].tolist(), strict=True), strict=True)
    )
    roc = ev.curves["roc"]
    for f, t, th in zip(roc["fpr"][1:], roc["tpr"][1:], roc["thresholds"][1:], strict=True):
        assert on_roc[th] == (f, t)
    assert ev.curves["roc"]["auc"] == ev.metrics["roc_auc"]
    assert set(ev.curves) == set(curves)
    # Histories through real curve points: never above the exact ones, and close to them.
    exact = curve_histories(binary_core(y, s))
    for name in ("pr_curve", "roc_curve"):
        got, want = np.array(ev.histories[name]), np.array(exact[name])
        assert (got[:, 0] == want[:, 0]).all() and (got[:, 1] <= want[:, 1] + 1e-12).all()
        assert np.abs(got[:, 1] - want[:, 1]).mean() < 0.01


def test_binned_bounds_shrink_with_more_bins(spark):
    y, s, _, _ = _fraud(20_000, seed=5)
    df = _frame(spark, y=y, s=s)
    coarse = spark_evaluation(df, label_col="y", score_col="s", exact=False, bins=50)
    fine = spark_evaluation(df, label_col="y", score_col="s", exact=False, bins=5_000)
    assert fine.error_bounds["roc_auc"] < coarse.error_bounds["roc_auc"] / 10
    assert fine.error_bounds["pr_auc"] < coarse.error_bounds["pr_auc"]
    assert fine.rows_collected <= 5_000 + 1


def test_binned_mode_bins_the_range_of_logits(spark):
    y, s, _, _ = _fraud(8_000, seed=6, rate=0.4)
    logits = np.log(s / (1.0 - s))
    ev = spark_evaluation(
        _frame(spark, y=y, s=logits), label_col="y", score_col="s", exact=False, bins=500
    )
    lo, hi = float(logits.min()), float(logits.max())
    binned = _bin_index(logits, 500, lo, hi)
    assert ev.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, binned), abs=1e-9)
    exact = roc_auc_score(y, logits)
    assert abs(ev.metrics["roc_auc"] - exact) <= ev.error_bounds["roc_auc"]


# --- shapes -----------------------------------------------------------------------------------
def _schema(value):
    """The structure of a payload: keys and the types of their values, lists by element type."""
    if isinstance(value, dict):
        return {k: _schema(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", *sorted({type(v).__name__ for v in value})]
    return type(value).__name__


@pytest.mark.parametrize("exact", [True, False])
def test_payloads_are_interchangeable_with_the_in_memory_ones(spark, exact, tmp_path):
    y, s, amount, _ = _fraud(3_000, seed=7, decimals=3)
    metrics, curves, cost_curve = evaluate_spark(
        _frame(spark, y=y, s=s, amount=amount),
        label_col="y",
        score_col="s",
        fn_cost_col="amount",
        fp_cost=2.0,
        exact=exact,
    )
    want_metrics, want_curves = evaluate_binary(y, s)
    want_cost_metrics, want_cost_curve = cost_report(y, s, Costs(fn=amount, fp=2.0), 0.5)
    assert list(metrics) == [*want_metrics, *want_cost_metrics]
    assert all(type(v) is float for v in metrics.values())
    assert _schema(curves) == _schema(want_curves)
    assert _schema(cost_curve) == _schema(want_cost_curve)
    json.dumps(curves), json.dumps(cost_curve)  # plain Python values only
    # The run writer's plots take them as they are.
    for draw, payload, name in (
        (plots.roc_png, curves, "roc.png"),
        (plots.pr_png, curves, "pr.png"),
        (plots.confusion_png, metrics, "confusion_matrix.png"),
        (plots.cost_png, cost_curve, "cost_curve.png"),
    ):
        draw(payload, tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000


def test_one_class_gives_undefined_aucs_and_empty_curves_as_in_memory(spark):
    y = np.zeros(40, dtype=np.int64)
    s = np.linspace(0.0, 1.0, 40)
    amount = np.full(40, 3.0)
    for exact in (True, False):
        metrics, curves, cost_curve = evaluate_spark(
            _frame(spark, y=y, s=s, amount=amount),
            label_col="y",
            score_col="s",
            fn_cost_col="amount",
            fp_cost=1.0,
            exact=exact,
        )
        want, want_curves = evaluate_binary(y, s)
        want_cost, want_cost_curve = cost_report(y, s, Costs(fn=amount, fp=1.0), 0.5)
        _assert_metrics_equal(metrics, {**want, **want_cost})
        _assert_curves_equal(curves, want_curves)
        assert cost_curve["optimal_threshold"] == want_cost_curve["optimal_threshold"]


def test_probability_vectors_arrays_and_boolean_labels(spark):
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    y, s, _, _ = _fraud(500, seed=8, decimals=2)
    df = _frame(spark, y=y.astype(bool), s=s).select(
        "y", F.array(1 - F.col("s"), F.col("s")).alias("arr")
    )
    df = df.withColumn("vec", array_to_vector("arr"))
    want, want_curves = evaluate_binary(y, s)
    for column in ("arr", "vec"):
        metrics, curves, _ = evaluate_spark(df, label_col="y", score_col=column)
        _assert_metrics_equal(metrics, want)
        assert curves["roc"]["thresholds"] == want_curves["roc"]["thresholds"]


# --- errors -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(spark):
    return _frame(
        spark,
        1,
        y=[0, 1, 0, 1],
        s=[0.1, 0.8, 0.4, 0.6],
        amount=[1.0, 2.0, 3.0, 4.0],
        name=["a", "b", "c", "d"],
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(label_col="label"), SparkDataError, r"label_col 'label' is not a column.*'y', 's'"),
        (dict(score_col="proba"), SparkDataError, r"score_col 'proba' is not a column"),
        (
            dict(score_col="name"),
            SparkDataError,
            r"score_col 'name' must be numeric.*got type string",
        ),
        (dict(label_col="name"), SparkDataError, r"label_col 'name' must be numeric 0/1.*string"),
        (dict(fn_cost_col="amount"), CostError, r"need both fn_cost_col .* and fp_cost"),
        (dict(fn_cost_col="fee", fp_cost=1.0), CostError, r"fn_cost_col 'fee' is not a column"),
        (
            dict(fn_cost_col="name", fp_cost=1.0),
            CostError,
            r"'name' must be numeric; got type string",
        ),
        (dict(fn_cost_col="amount", fp_cost=-1.0), CostError, r"fp_cost must be .* >= 0; got -1.0"),
        (dict(fn_cost_col=-2.0, fp_cost=1.0), CostError, r"fn_cost_col .* >= 0; got -2.0"),
        (dict(threshold=1.5), OptionError, r"threshold must be a number in \[0, 1\]; got 1.5"),
        (dict(bins=0), OptionError, r"bins must be an int >= 1; got 0"),
        (dict(max_points=1), OptionError, r"max_points must be an int >= 2; got 1"),
        (dict(exact="yes"), OptionError, r"exact must be True or False; got 'yes'"),
    ],
)
def test_bad_arguments_are_clear_errors(small, kwargs, error, match):
    args = {"label_col": "y", "score_col": "s", **kwargs}
    with pytest.raises(error, match=match):
        evaluate_spark(small, **args)


def test_a_pandas_frame_is_refused_with_the_in_memory_alternative():
    with pytest.raises(
        SparkDataError, match=r"must be a Spark DataFrame; got pandas.*evaluate_binary"
    ):
        evaluate_spark(pd.DataFrame({"y": [0, 1], "s": [0.1, 0.9]}), label_col="y", score_col="s")


@pytest.mark.parametrize("exact", [True, False])
def test_bad_values_are_clear_errors(spark, exact):
    def run(match, error=SparkDataError, **columns):
        base = dict(y=[0, 1, 0, 1], s=[0.1, 0.8, 0.4, 0.6], amount=[1.0, 2.0, 3.0, 4.0])
        df = spark.createDataFrame(pd.DataFrame({**base, **columns}))
        with pytest.raises(error, match=match):
            evaluate_spark(
                df, label_col="y", score_col="s", fn_cost_col="amount", fp_cost=1.0, exact=exact
            )

    run(
        r"label_col 'y' must hold binary labels 0/1.*2 row\(s\) hold other values, e\.g\. \[",
        y=[0, 2, 3, 1],
    )
    run(
        r"score_col 's' must hold finite numbers; 1 row\(s\) are null, NaN or infinite",
        s=[0.1, np.nan, 0.4, 0.6],
    )
    run(r"score_col 's' must hold finite numbers; 1 row\(s\)", s=[0.1, np.inf, 0.4, 0.6])
    run(
        r"fn_cost_col 'amount' must hold finite costs >= 0; 1 row\(s\) .* e\.g\. -3\.0",
        CostError,
        amount=[1.0, 2.0, -3.0, 4.0],
    )


def test_null_labels_vectors_of_three_and_empty_frames_are_clear_errors(spark):
    from pyspark.sql.types import DoubleType, LongType, StructField, StructType

    schema = StructType([StructField("y", LongType()), StructField("s", DoubleType())])
    with_null = spark.createDataFrame([(0, 0.1), (None, 0.2), (1, 0.9)], schema)
    with pytest.raises(SparkDataError, match=r"1 row\(s\) hold other values, e\.g\. \[None\]"):
        evaluate_spark(with_null, label_col="y", score_col="s")
    empty = spark.createDataFrame([], schema)
    with pytest.raises(SparkDataError, match="has no rows"):
        evaluate_spark(empty, label_col="y", score_col="s")
    three = spark.createDataFrame(
        [(0, [0.2, 0.3, 0.5]), (1, [0.1, 0.1, 0.8])], "y long, p array<double>"
    )
    with pytest.raises(SparkDataError, match=r"probability vectors of size 1 or 2.*2 row\(s\)"):
        evaluate_spark(three, label_col="y", score_col="p", exact=False)


# --- logged into a run: accu.evaluate_spark -----------------------------------------------
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
