"""Metrics of modeler.evaluation.metrics against scikit-learn's, and their error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from modeler.errors import EvaluationError
from modeler.evaluation import (
    as_binary_scores,
    binary_metrics,
    check_binary_labels,
    check_threshold,
    infer_task,
    multiclass_metrics,
    regression_metrics,
)
from modeler.evaluation.metrics import BINARY_KEYS

TOL = 1e-9


def _data(n: int = 3000, seed: int = 0, rate: float = 0.05, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    scores = np.clip(rng.random(n) * 0.7 + y * 0.3 * rng.random(n), 0, 1)
    if decimals is not None:  # many tied scores
        scores = np.round(scores, decimals)
    return y, scores


def _sklearn(y, scores, threshold, w=None):
    pred = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1], sample_weight=w).ravel()
    kw = {"pos_label": 1, "zero_division": 0, "sample_weight": w}
    return {
        "roc_auc": roc_auc_score(y, scores, sample_weight=w),
        "pr_auc": average_precision_score(y, scores, sample_weight=w),
        "precision": precision_score(y, pred, **kw),
        "recall": recall_score(y, pred, **kw),
        "f1": f1_score(y, pred, **kw),
        "accuracy": accuracy_score(y, pred, sample_weight=w),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def _assert_matches(ours, expected):
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=TOL, rel=TOL), key


@pytest.mark.parametrize("decimals", [None, 1, 2])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9])
def test_binary_metrics_equal_sklearn(decimals, threshold):
    y, scores = _data(decimals=decimals, seed=int(threshold * 10))
    ours = binary_metrics(y, scores, threshold=threshold)
    assert tuple(ours) == BINARY_KEYS
    _assert_matches(ours, _sklearn(y, scores, threshold))
    assert ours["n"] == len(y)
    assert ours["positives"] == y.sum()


@pytest.mark.parametrize("decimals", [None, 1])
def test_binary_metrics_with_sample_weight_equal_sklearn(decimals):
    y, scores = _data(decimals=decimals, seed=3)
    w = np.random.default_rng(4).random(len(y)) * 3
    w[:50] = 0.0  # zero weights are allowed
    ours = binary_metrics(y, scores, threshold=0.4, sample_weight=w)
    _assert_matches(ours, _sklearn(y, scores, 0.4, w))
    assert ours["n"] == len(y)  # row counts, not weights


def test_score_equal_to_threshold_is_positive():
    m = binary_metrics([0, 1, 0, 1], [0.5, 0.5, 0.49, 0.51], threshold=0.5)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 1, 0)


def test_no_predicted_positives_gives_zero_precision_and_f1():
    y, scores = _data(seed=5)
    m = binary_metrics(y, scores * 0.5, threshold=0.9)
    assert m["tp"] == m["fp"] == 0
    assert m["precision"] == m["recall"] == m["f1"] == 0.0
    _assert_matches(m, _sklearn(y, scores * 0.5, 0.9))


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_gives_nan_aucs(label):
    m = binary_metrics(np.full(20, label), np.linspace(0, 1, 20))
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert m["accuracy"] == pytest.approx(0.5)


def test_output_shapes_and_label_forms():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.8, 0.3, 0.6])
    expected = binary_metrics(y, p)
    assert binary_metrics(y.reshape(-1, 1), p.reshape(-1, 1)) == expected
    assert binary_metrics(y.astype(bool), np.stack([1 - p, p], axis=1)) == expected
    assert binary_metrics(y.astype(float), p.astype(np.float32)) == pytest.approx(expected)
    one_hot = np.stack([1 - y, y], axis=1)
    np.testing.assert_array_equal(check_binary_labels(one_hot), y)
    assert as_binary_scores(p).dtype == np.float64


@pytest.mark.parametrize(
    ("outputs", "match"),
    [
        (np.zeros((3, 3)), r"shape \(n,\), \(n, 1\) or \(n, 2\).*\(3, 3\)"),
        ([0.1, float("nan"), float("inf")], "2 NaN or infinite value.*first at flat index 1"),
        ([], "must not be empty"),
        (["a", "b"], "must be numeric"),
    ],
)
def test_as_binary_scores_errors(outputs, match):
    with pytest.raises(EvaluationError, match=match):
        as_binary_scores(outputs)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0, 1, 2], r"binary labels 0/1.*\[0, 1, 2\]"),
        ([0.0, 0.5], r"\[0.0, 0.5\]"),
        (["no", "yes"], "binary labels"),
        (np.zeros((2, 3)), r"shape \(n,\) or \(n, 1\); got \(2, 3\)"),
        (list(range(10)), r"\(10 distinct\)"),
    ],
)
def test_check_binary_labels_errors(labels, match):
    with pytest.raises(EvaluationError, match=match):
        check_binary_labels(labels)


@pytest.mark.parametrize("bad", [1.5, -0.1, True, "0.5", None, float("nan")])
def test_check_threshold_errors(bad):
    with pytest.raises(EvaluationError, match="threshold must be a number in \\[0, 1\\]"):
        check_threshold(bad)


def test_length_mismatch_and_bad_weights():
    with pytest.raises(EvaluationError, match="same number of rows; got 3 and 2"):
        binary_metrics([0, 1, 0], [0.1, 0.2])
    with pytest.raises(EvaluationError, match=r"sample_weight must have 2 values.*got 3"):
        binary_metrics([0, 1], [0.1, 0.2], sample_weight=[1, 1, 1])
    with pytest.raises(EvaluationError, match=r"sample_weight must be >= 0; row 1 is -1\.0"):
        binary_metrics([0, 1], [0.1, 0.2], sample_weight=[1, -1])


@pytest.mark.parametrize(
    ("y", "outputs", "task"),
    [
        ([0, 1, 2], np.full((3, 3), 1 / 3), "multiclass"),
        ([0, 1, 1], np.full((3, 2), 0.5), "binary"),
        ([0, 1, 1], [0.1, 0.9, 0.5], "binary"),
        ([[0], [1], [1]], [[0.1], [0.9], [0.5]], "binary"),
        ([True, False], [0.2, 0.4], "binary"),
        ([1.5, 2.0, 3.1], [1.4, 2.2, 3.0], "regression"),
        ([0, 1, 1], [-2.0, 3.0, 0.5], "regression"),
    ],
)
def test_infer_task(y, outputs, task):
    assert infer_task(y, outputs) == task


def test_multiclass_metrics_equal_sklearn():
    rng = np.random.default_rng(7)
    k, n = 4, 1500
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = multiclass_metrics(y, proba)
    pred = proba.argmax(axis=1)
    onehot = np.eye(k)[y]
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=TOL)
    kw = {"average": "macro", "zero_division": 0}
    assert m["precision"] == pytest.approx(precision_score(y, pred, **kw), abs=TOL)
    assert m["recall"] == pytest.approx(recall_score(y, pred, **kw), abs=TOL)
    assert m["f1"] == pytest.approx(f1_score(y, pred, **kw), abs=TOL)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"), abs=TOL)
    assert m["pr_auc"] == pytest.approx(average_precision_score(onehot, proba), abs=TOL)
    assert m["n"] == n
    assert multiclass_metrics(onehot, proba) == m  # one-hot labels work too


def test_multiclass_errors():
    with pytest.raises(EvaluationError, match=r"class indices 0..2.*\[0, 3\]"):
        multiclass_metrics([0, 3], np.full((2, 3), 1 / 3))
    with pytest.raises(EvaluationError, match=r"proba must have shape \(n, k\)"):
        multiclass_metrics([0, 1], [0.2, 0.8])


def test_regression_metrics():
    rng = np.random.default_rng(8)
    y = rng.normal(size=500)
    pred = y + rng.normal(scale=0.3, size=500)
    m = regression_metrics(y, pred.reshape(-1, 1))
    assert m["mae"] == pytest.approx(mean_absolute_error(y, pred), abs=TOL)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((y - pred) ** 2)), abs=TOL)
    assert m["r2"] == pytest.approx(r2_score(y, pred), abs=TOL)
    assert math.isnan(regression_metrics([1.0], [2.0])["r2"])
    with pytest.raises(EvaluationError, match="same number of rows; got 2 and 1"):
        regression_metrics([1.0, 2.0], [1.0])
