"""Curve payloads (curves.json), thinning, and the PNG charts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import auc, average_precision_score, roc_auc_score

from modeler.errors import EvaluationError, OptionError
from modeler.evaluation import (
    binary_curves,
    binary_metrics,
    cost_curve,
    evaluate_binary,
    multiclass_curves,
    multiclass_metrics,
    parse_costs,
    plots,
    regression_payload,
    thin_curve,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _imbalanced(n: int, seed: int = 0, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.01).astype(int)
    scores = np.clip(rng.random(n) * 0.6 + y * 0.4 * rng.random(n), 0, 1)
    return y, (scores if decimals is None else np.round(scores, decimals))


def _multiclass(n: int = 900, k: int = 3, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.2
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


# --- binary payload ---------------------------------------------------------------------------
def test_binary_payload_schema_and_bound_on_200k_rows():
    y, scores = _imbalanced(200_000)
    metrics, curves = evaluate_binary(y, scores, threshold=0.4)
    assert set(curves) == {"schema", "task", "n", "positives", "threshold", "roc", "pr"}
    assert (curves["schema"], curves["task"], curves["threshold"]) == (1, "binary", 0.4)
    assert (curves["n"], curves["positives"]) == (200_000, int(y.sum()))
    assert isinstance(curves["n"], int) and isinstance(curves["positives"], int)
    assert set(curves["roc"]) == {"fpr", "tpr", "thresholds", "auc"}
    assert set(curves["pr"]) == {"recall", "precision", "thresholds", "auc"}
    for name, keys in (("roc", ("fpr", "tpr", "thresholds")), ("pr", ("recall", "precision"))):
        lengths = {len(curves[name][k]) for k in (*keys, "thresholds")}
        assert len(lengths) == 1 and 2 <= lengths.pop() <= 1000
    assert all(type(v) is float for v in curves["roc"]["thresholds"])
    # AUCs from the full data, not the thinned points.
    assert curves["roc"]["auc"] == metrics["roc_auc"] == pytest.approx(roc_auc_score(y, scores))
    assert curves["pr"]["auc"] == metrics["pr_auc"]
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(y, scores), abs=1e-12)
    # ...and the thinned curve still encloses nearly the same area.
    roc = curves["roc"]
    assert auc(roc["fpr"], roc["tpr"]) == pytest.approx(roc["auc"], abs=0.01)


def test_payload_json_round_trip_is_strict_json():
    y, scores = _imbalanced(5000, decimals=2)
    curves = binary_curves(y, scores)
    text = json.dumps(curves, allow_nan=False)
    assert json.loads(text) == curves


def test_curve_ends_and_flag_nothing_threshold():
    y, scores = _imbalanced(3000)
    curves = binary_curves(y, scores)
    roc, pr = curves["roc"], curves["pr"]
    above = float(np.nextafter(scores.max(), np.inf))
    assert (roc["fpr"][0], roc["tpr"][0], roc["thresholds"][0]) == (0.0, 0.0, above)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert (pr["recall"][-1], pr["precision"][-1], pr["thresholds"][-1]) == (0.0, 1.0, above)
    assert pr["recall"][0] == 1.0


def test_aucs_with_ties_and_sample_weight_equal_sklearn():
    y, scores = _imbalanced(4000, seed=2, decimals=1)
    w = np.random.default_rng(3).random(len(y))
    curves = binary_curves(y, scores, sample_weight=w)
    assert curves["roc"]["auc"] == pytest.approx(
        roc_auc_score(y, scores, sample_weight=w), abs=1e-12
    )
    assert curves["pr"]["auc"] == pytest.approx(
        average_precision_score(y, scores, sample_weight=w), abs=1e-12
    )


def test_binary_curves_agree_with_binary_metrics():
    y, scores = _imbalanced(2000, seed=4)
    metrics, curves = evaluate_binary(y, scores, threshold=0.3)
    assert metrics == binary_metrics(y, scores, threshold=0.3)
    assert curves == binary_curves(y, scores, threshold=0.3)


def test_single_class_payload_has_null_aucs():
    curves = binary_curves(np.zeros(50, dtype=int), np.linspace(0, 1, 50))
    assert curves["roc"] == {"fpr": [], "tpr": [], "thresholds": [], "auc": None}
    assert curves["pr"]["auc"] is None
    json.dumps(curves, allow_nan=False)


def test_max_points_errors():
    with pytest.raises(OptionError, match="max_points must be an int >= 2; got 1"):
        binary_curves([0, 1], [0.1, 0.9], max_points=1)
    with pytest.raises(OptionError, match="max_points must be an int >= 2"):
        thin_curve([0, 1], [0, 1], max_points=10.5)


# --- thinning ---------------------------------------------------------------------------------
@pytest.mark.parametrize("max_points", [2, 3, 10, 500])
def test_thin_respects_bound_and_keeps_ends(max_points):
    rng = np.random.default_rng(5)
    x = np.sort(rng.random(20_000))
    y = np.cumsum(rng.random(20_000))
    kept = thin_curve(x, y, max_points)
    assert len(kept) <= max_points
    assert kept[0] == 0 and kept[-1] == len(x) - 1
    assert np.all(np.diff(kept) > 0)


def test_thin_drops_collinear_points_and_keeps_staircase_corners():
    # A staircase with 50 points on each flat and each riser: only the corners matter.
    steps = 20
    xs, ys = [0.0], [0.0]
    for i in range(steps):
        xs += list(np.linspace(i, i + 1, 51)[1:])
        ys += [float(i)] * 50
        xs += [float(i + 1)] * 50
        ys += list(np.linspace(i, i + 1, 51)[1:])
    x, y = np.array(xs), np.array(ys)
    kept = thin_curve(x, y, max_points=1000)
    corners = {(float(i), float(i)) for i in range(steps + 1)} | {
        (float(i + 1), float(i)) for i in range(steps)
    }
    assert {(x[k], y[k]) for k in kept} == corners
    assert len(kept) == 2 * steps + 1


def test_thin_keeps_area_of_a_smooth_curve():
    x = np.linspace(0, 1, 200_000)
    y = np.sqrt(x) * (1 - 0.3 * np.sin(8 * x))
    kept = thin_curve(x, y, max_points=300)
    assert len(kept) <= 300
    assert np.trapezoid(y[kept], x[kept]) == pytest.approx(np.trapezoid(y, x), abs=0.01)


def test_thin_short_and_mismatched_inputs():
    np.testing.assert_array_equal(thin_curve([0.0], [1.0]), [0])
    np.testing.assert_array_equal(thin_curve([0, 1, 2, 3], [0, 1, 2, 2]), [0, 2, 3])
    with pytest.raises(EvaluationError, match="same length; got 3 and 2"):
        thin_curve([0, 1, 2], [0, 1])


# --- multi-class and regression ---------------------------------------------------------------
def test_multiclass_payload():
    y, proba = _multiclass()
    curves = multiclass_curves(y, proba, ["cat", "dog", "fox"], max_points=100)
    assert set(curves) == {
        "schema", "task", "n", "classes", "per_class", "micro", "macro",
    }  # fmt: skip
    assert (curves["task"], curves["n"], curves["classes"]) == (
        "multiclass",
        900,
        ["cat", "dog", "fox"],
    )
    for name in curves["classes"]:
        roc = curves["per_class"][name]["roc"]
        assert len(roc["fpr"]) <= 100
        k = curves["classes"].index(name)
        assert roc["auc"] == pytest.approx(roc_auc_score(y == k, proba[:, k]), abs=1e-12)
    metrics = multiclass_metrics(y, proba)
    assert curves["macro"]["roc"]["auc"] == pytest.approx(metrics["roc_auc"], abs=1e-12)
    assert curves["macro"]["pr"]["auc"] == pytest.approx(metrics["pr_auc"], abs=1e-12)
    assert set(curves["macro"]["roc"]) == {"fpr", "tpr", "auc"}
    assert set(curves["macro"]["pr"]) == {"recall", "precision", "auc"}
    onehot = np.eye(3)[y].ravel()
    assert curves["micro"]["roc"]["auc"] == pytest.approx(roc_auc_score(onehot, proba.ravel()))
    json.dumps(curves, allow_nan=False)


def test_multiclass_class_names_must_match_columns():
    y, proba = _multiclass()
    with pytest.raises(EvaluationError, match="classes must name the 3 columns of proba; got 2"):
        multiclass_curves(y, proba, ["a", "b"])


def test_regression_payload_is_a_bounded_deterministic_sample():
    rng = np.random.default_rng(6)
    y = rng.normal(size=5000)
    payload = regression_payload(y, y * 2, max_points=100)
    assert (payload["schema"], payload["task"], payload["n"]) == (1, "regression", 5000)
    assert len(payload["y_true"]) == len(payload["y_pred"]) == 100
    assert payload == regression_payload(y, y * 2, max_points=100)
    assert np.allclose(np.array(payload["y_pred"]), 2 * np.array(payload["y_true"]))


# --- plots ------------------------------------------------------------------------------------
def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000


def test_binary_and_cost_pngs(tmp_path):
    y, scores = _imbalanced(20_000)
    metrics, curves = evaluate_binary(y, scores)
    costs = parse_costs({"fn": 100.0, "fp": 5.0}, n=len(y))
    written = [
        plots.roc_png(curves, tmp_path / "eval" / "roc.png"),
        plots.pr_png(curves, tmp_path / "eval" / "pr.png"),
        plots.confusion_png(metrics, tmp_path / "eval" / "confusion_matrix.png", threshold=0.5),
        plots.cost_png(cost_curve(y, scores, costs), tmp_path / "eval" / "cost_curve.png"),
    ]
    for path in written:
        _assert_png(path)


def test_multiclass_regression_and_degenerate_pngs(tmp_path):
    y, proba = _multiclass()
    curves = multiclass_curves(y, proba)
    _assert_png(plots.roc_png(curves, tmp_path / "mroc.png"))
    _assert_png(plots.pr_png(curves, tmp_path / "mpr.png"))
    payload = regression_payload(np.arange(300.0), np.arange(300.0) + 1)
    _assert_png(plots.regression_png(payload, tmp_path / "reg.png"))
    single = binary_curves(np.zeros(10, dtype=int), np.linspace(0, 1, 10))
    _assert_png(plots.roc_png(single, tmp_path / "single.png"))
    with pytest.raises(EvaluationError, match="curves task must be 'binary' or 'multiclass'"):
        plots.roc_png(payload, tmp_path / "bad.png")


def test_draw_functions_overlay_runs_on_one_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    for seed in (0, 1):
        y, scores = _imbalanced(2000, seed=seed)
        curves = binary_curves(y, scores)
        plots.draw_roc(ax, curves, label=f"run {seed}", color=f"C{seed}")
    labels = [line.get_label() for line in ax.get_lines()]
    assert len(labels) == 2 and labels[0].startswith("run 0 (AUC 0.")
