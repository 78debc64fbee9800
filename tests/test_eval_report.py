"""build_report: metrics equal scikit-learn's, intervals and a decision, files, and every data
problem named in a tag and one warning instead of raised."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    precision_score,
    recall_score,
    roc_auc_score,
)

from modeler.errors import EvaluationError, OptionError
from modeler.evaluation.cost import Costs, cost_at, cost_curve
from modeler.evaluation.report import build_report
from modeler.evaluation.scores import read_scores

PNG = b"\x89PNG\r\n\x1a\n"
BINARY_FILES = {
    "curves.json",
    "roc.png",
    "pr.png",
    "confusion_matrix.png",
    "scores.parquet",
    "uncertainty.json",
}


def _fraud(n=20_000, rate=0.01, mu=2.5, sigma=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    z = rng.normal(0, 1, n) + mu * y
    s = 1 / (1 + np.exp(-(z - 3)))
    amounts = np.exp(rng.normal(5, sigma, n))
    return y, s, amounts


def _json(rep, name):
    return json.loads(rep.files[name])


# --- binary -------------------------------------------------------------------------------------
def test_binary_metrics_equal_sklearn_and_costs_equal_cost_module():
    y, s, amounts = _fraud()
    costs = Costs(fn=amounts, fp=20.0)
    rep = build_report(y, s, threshold=0.4, costs=costs, resamples=200)
    m = rep.metrics
    assert rep.task == "binary"
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, s))
    pred = s >= 0.4
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (tn, fp, fn, tp)
    assert (m["n"], m["positives"]) == (len(y), y.sum())
    curve = cost_curve(y, s, costs)
    assert m["cost"] == pytest.approx(cost_at(y, s, costs, 0.4))
    assert m["cost_optimal_threshold"] == curve["optimal_threshold"]
    assert m["cost_at_optimal"] == pytest.approx(curve["cost_at_optimal"])
    assert m["cost_at_decision"] == pytest.approx(cost_at(y, s, costs, m["decision_threshold"]))
    cheaper = min(curve["approve_all_cost"], curve["flag_all_cost"])
    assert m["savings"] == pytest.approx(cheaper - m["cost_at_decision"])
    dec = s >= m["decision_threshold"]
    assert m["precision_at_decision"] == pytest.approx(precision_score(y, dec))
    assert m["recall_at_decision"] == pytest.approx(recall_score(y, dec))
    for name in (
        "roc_auc",
        "pr_auc",
        "precision",
        "recall",
        "f1",
        "cost",
        "cost_at_optimal",
        "decision_threshold",
        "cost_at_decision",
        "savings",
    ):
        assert m[f"{name}.ci_low"] <= m[f"{name}.ci_high"], name
    assert set(rep.files) == BINARY_FILES | {"cost_curve.json", "cost_curve.png"}
    assert rep.tags == {
        "modeler.task": "binary",
        "modeler.threshold": "0.4",
        "modeler.score_transform": "none",
    }
    assert rep.warnings == []


def test_weighted_metrics_equal_sklearn():
    y, s, _ = _fraud(n=5000, rate=0.05, seed=3)
    w = np.random.default_rng(1).random(len(y)) + 0.5
    rep = build_report(y, s, sample_weight=w, resamples=100)
    assert rep.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert rep.metrics["pr_auc"] == pytest.approx(average_precision_score(y, s, sample_weight=w))
    assert rep.metrics["precision"] == pytest.approx(precision_score(y, s >= 0.5, sample_weight=w))
    assert "weights" in _json(rep, "uncertainty.json")
    assert rep.metrics["roc_auc.ci_low"] < rep.metrics["roc_auc"] < rep.metrics["roc_auc.ci_high"]


def test_files_histories_and_uncertainty_json():
    y, s, amounts = _fraud(n=8000, rate=0.02)
    rep = build_report(y, s, costs=Costs(fn=amounts, fp=10.0), resamples=150, seed=4, level=0.9)
    for name in ("roc.png", "pr.png", "confusion_matrix.png", "cost_curve.png"):
        assert rep.files[name].startswith(PNG), name
    curves = _json(rep, "curves.json")
    assert curves["roc"]["auc"] == pytest.approx(rep.metrics["roc_auc"])
    unc = _json(rep, "uncertainty.json")
    assert (unc["level"], unc["resamples"], unc["seed"]) == (0.9, 150, 4)
    assert "stratified bootstrap" in unc["method"] and unc["interval"] == "percentile"
    assert unc["metrics"]["pr_auc"]["ci_low"] == rep.metrics["pr_auc.ci_low"]
    assert unc["decision"]["threshold"] == rep.metrics["decision_threshold"]
    assert unc["decision"]["hindsight"] is False
    cc = _json(rep, "cost_curve.json")
    assert cc["decision_threshold"] == rep.metrics["decision_threshold"]
    assert len(cc["band"]["low"]) == len(cc["band"]["thresholds"]) <= 200
    assert all(lo <= hi for lo, hi in zip(cc["band"]["low"], cc["band"]["high"], strict=True))
    scores = read_scores(rep.files["scores.parquet"])
    assert scores.labels.tolist() == y.tolist()
    np.testing.assert_array_equal(scores.scores, s.astype(np.float32))
    assert set(rep.histories) == {"pr_curve", "roc_curve"}
    assert len(rep.histories["pr_curve"]) == 1001
    assert rep.histories["roc_curve"][1000] == (1000, 1.0)


def test_same_seed_gives_the_same_report_and_threads_are_safe():
    y, s, amounts = _fraud(n=6000, rate=0.02, seed=7)
    kwargs = {"costs": Costs(fn=amounts, fp=10.0), "resamples": 100, "seed": 3}
    first = build_report(y, s, **kwargs)
    with ThreadPoolExecutor(max_workers=2) as pool:
        others = list(pool.map(lambda _: build_report(y, s, **kwargs), range(2)))
    for other in others:
        assert other.metrics == first.metrics
        assert other.files == first.files  # bytes included
        assert other.histories == first.histories
    reseeded = build_report(y, s, **{**kwargs, "seed": 4})
    assert reseeded.metrics["pr_auc.ci_low"] != first.metrics["pr_auc.ci_low"]
    assert reseeded.metrics["pr_auc"] == first.metrics["pr_auc"]


def test_test_evaluation_uses_the_given_threshold_and_never_picks_one():
    y_val, s_val, a_val = _fraud(seed=10)
    validation = build_report(y_val, s_val, costs=Costs(fn=a_val, fp=20.0), resamples=100)
    chosen = validation.metrics["decision_threshold"]
    y, s, amounts = _fraud(seed=11)  # fresh data
    costs = Costs(fn=amounts, fp=20.0)
    rep = build_report(y, s, costs=costs, decision_threshold=chosen, resamples=100)
    m = rep.metrics
    assert m["decision_threshold"] == chosen
    assert "decision_threshold.ci_low" not in m
    assert "cost_optimal_threshold" not in m and "cost_at_optimal" not in m
    assert m["cost_at_decision"] == pytest.approx(cost_at(y, s, costs, chosen))
    hindsight = cost_curve(y, s, costs)
    assert m["hindsight_threshold"] == hindsight["optimal_threshold"] != chosen
    assert m["hindsight_cost"] == pytest.approx(hindsight["cost_at_optimal"])
    unc = _json(rep, "uncertainty.json")
    assert unc["decision"]["hindsight"] is True and unc["decision"]["threshold"] == chosen
    cc = _json(rep, "cost_curve.json")
    assert cc["decision_threshold"] == chosen and cc["hindsight"] is True
    # Without costs, the given threshold still gives the rates at it, and no decision is made.
    plain = build_report(y, s, decision_threshold=chosen, resamples=50)
    assert plain.metrics["decision_threshold"] == chosen
    assert plain.metrics["recall_at_decision"] == pytest.approx(recall_score(y, s >= chosen))


def test_instability_is_flagged_on_a_fragile_choice_and_not_on_a_solid_one():
    # 30 frauds, a weak model and amounts spanning four orders of magnitude.
    y, s, amounts = _fraud(n=30_000, rate=0.001, mu=1.0, sigma=2.5, seed=5)
    fragile = build_report(y, s, costs=Costs(fn=amounts, fp=20.0), resamples=300)
    assert fragile.metrics["savings.ci_low"] < 0
    assert fragile.tags["modeler.threshold_unstable"] == "true"
    assert len(fragile.warnings) == 1 and "is not reliable" in fragile.warnings[0]
    assert _json(fragile, "cost_curve.json")["unstable"] is True
    # 1,000 frauds, a strong model and moderate amounts.
    y, s, amounts = _fraud(n=20_000, rate=0.05, mu=4.0, sigma=0.5, seed=6)
    solid = build_report(y, s, costs=Costs(fn=amounts, fp=5.0), resamples=300)
    assert solid.metrics["savings.ci_low"] > 0
    assert "modeler.threshold_unstable" not in solid.tags and solid.warnings == []


def test_a_decision_that_flags_no_validation_negative_is_not_called_reliable():
    """15 frauds among 600 rows, all scored above every negative: the decision flags no
    negative, so no resample holds a false alarm and the savings' interval looks safe. On new
    data the same threshold raises false alarms; up to 3 per 585 negatives is as likely as
    none (the rule of three), 600 of cost at fp=200: more than the interval's low end."""
    rng = np.random.default_rng(119)
    y = np.r_[np.ones(15, int), np.zeros(585, int)]
    s = np.r_[rng.uniform(0.9, 1.0, 15), rng.uniform(0.0, 0.85, 585)]
    amounts = rng.lognormal(3.5, 1.0, 600)
    rep = build_report(y, s, costs=Costs(fn=amounts, fp=200.0), resamples=300)
    m = rep.metrics
    flagged = s >= m["decision_threshold"]
    assert flagged.any() and not (flagged & (y == 0)).any()  # the case at hand
    assert 0 < m["savings.ci_low"] < 600  # the bootstrap alone calls it safe
    assert rep.tags["modeler.threshold_unstable"] == "true"
    (warning,) = rep.warnings
    assert "flags none of the 585 negatives of the validation data" in warning
    assert "(the rule of three), 600.00 of cost" in warning
    # cheaper false alarms: 3 of them cost less than the savings' low end, so it stands
    cheap = build_report(y, s, costs=Costs(fn=amounts, fp=100.0), resamples=300)
    assert "modeler.threshold_unstable" not in cheap.tags and cheap.warnings == []


def test_cost_chart_shows_decision_band_and_trivial_policies():
    from matplotlib.image import imread

    y, s, amounts = _fraud(n=20_000, rate=0.005, sigma=2.0, seed=8)
    rep = build_report(y, s, costs=Costs(fn=amounts, fp=20.0), resamples=100)
    image = imread(io.BytesIO(rep.files["cost_curve.png"]), format="png")
    assert image.shape[1] > 1.8 * image.shape[0]  # two panels side by side
    blue_band = np.all(np.abs(image[..., :3] - np.array([0.82, 0.88, 0.94])) < 0.05, axis=-1)
    assert blue_band.mean() > 0.02  # the interval band covers part of the chart


# --- problems named, not raised ------------------------------------------------------------------
def test_one_class_names_undefined_aucs_and_keeps_counts():
    rep = build_report(np.zeros(300, int), np.linspace(0, 1, 300), resamples=50)
    assert "roc_auc" not in rep.metrics and "pr_auc" not in rep.metrics
    assert rep.metrics["n"] == 300 and rep.metrics["positives"] == 0
    assert rep.metrics["fp"] == 150
    assert rep.tags["modeler.auc_undefined"].startswith(
        "validation labels hold one class only (0 positives among 300 rows)"
    )
    assert rep.warnings == [rep.tags["modeler.auc_undefined"]]
    assert rep.histories == {}


def test_tiny_validation_set_is_named():
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 0])
    rep = build_report(y, np.linspace(0.05, 0.95, 10), resamples=50)
    assert rep.tags["modeler.small_validation"].startswith(
        "the validation set is tiny (3 positives, 7 negatives"
    )
    assert len(rep.warnings) == 1 and "roc_auc" in rep.metrics


def test_three_classes_against_one_sigmoid_is_a_clear_statement():
    y = np.array([0, 1, 2, 1, 0, 2])
    rep = build_report(y, np.linspace(0.1, 0.9, 6), costs=Costs(fn=1.0, fp=1.0))
    assert rep.task == "unsupported" and rep.tags["modeler.task"] == "unsupported"
    assert rep.tags["modeler.task_mismatch"].startswith("labels hold 3 classes [0, 1, 2]")
    assert rep.metrics == {"n": 6.0}
    assert rep.files == {}
    assert rep.warnings[0] == rep.tags["modeler.task_mismatch"]
    assert "modeler.cost_error" in rep.tags  # and the costs it could not apply, said once


def test_non_finite_outputs_keep_counts():
    rep = build_report([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.9])
    assert rep.metrics == {"n": 4.0, "positives": 2.0}
    assert rep.tags["modeler.scores_invalid"].startswith("1 of 4 model outputs are NaN")
    assert len(rep.warnings) == 1


def test_invalid_costs_drop_only_the_cost_part():
    y, s, amounts = _fraud(n=3000, rate=0.03)
    rep = build_report(y, s, cost_error="costs 'fn' must be >= 0; ...", resamples=50)
    assert rep.tags["modeler.cost_error"].startswith("costs left out: costs 'fn' must be >= 0")
    assert "cost" not in rep.metrics and "cost_curve.png" not in rep.files
    assert rep.metrics["pr_auc"] == pytest.approx(average_precision_score(y, s))
    assert len(rep.warnings) == 1
    wrong_length = Costs(fn=amounts[:10], fp=1.0)
    rep = build_report(y, s, costs=wrong_length, resamples=50)
    assert "has 10 per-row values but the data has 3000 rows" in rep.tags["modeler.cost_error"]
    assert "cost" not in rep.metrics and set(rep.files) == BINARY_FILES
    rep = build_report(y, s, costs={"fn": -1.0, "fp": 1.0}, resamples=50)  # a dict spec
    assert "must be >= 0" in rep.tags["modeler.cost_error"]


def test_bad_sample_weight_is_dropped_with_a_tag():
    y, s, _ = _fraud(n=2000, rate=0.05)
    rep = build_report(y, s, sample_weight=np.ones(5), resamples=50)
    assert rep.tags["modeler.sample_weight_error"].startswith(
        "sample weights left out: sample_weight must have 2000 values"
    )
    assert rep.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, s))


def test_logits_go_through_a_sigmoid():
    y, s, _ = _fraud(n=2000, rate=0.1)
    logits = np.log(s / (1 - s))
    rep = build_report(y, logits[:, None], resamples=50)
    assert rep.tags["modeler.score_transform"] == "sigmoid"
    assert rep.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert rep.metrics["precision"] == pytest.approx(precision_score(y, s >= 0.5))


# --- multi-class and regression ------------------------------------------------------------------
def test_multiclass_and_regression_write_what_they_did():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3))
    logits[np.arange(600), y] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    rep = build_report(y, proba, classes=["a", "b", "c"], costs=Costs(fn=1.0, fp=1.0))
    assert rep.task == "multiclass" and set(rep.files) == {"curves.json", "roc.png", "pr.png"}
    assert rep.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"))
    assert _json(rep, "curves.json")["classes"] == ["a", "b", "c"]
    assert rep.tags["modeler.cost_error"].endswith("this evaluation is multiclass")
    target = rng.normal(size=300) * 5
    pred = target + rng.normal(size=300)
    rep = build_report(target, pred)
    assert rep.task == "regression" and set(rep.files) == {"curves.json", "true_vs_predicted.png"}
    assert rep.metrics["mae"] == pytest.approx(mean_absolute_error(target, pred))
    rep = build_report(y, proba, classes=["a", "b"])  # two names for three columns
    assert rep.tags["modeler.classes_error"].startswith("class names left out")
    assert _json(rep, "curves.json")["classes"] == ["0", "1", "2"]


# --- raised: nothing to evaluate, or a wrong option ----------------------------------------------
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (([], []), {}, EvaluationError, "validation data is empty"),
        (([0, 1], [0.5]), {}, EvaluationError, "model outputs have 1 rows but the labels have 2"),
        (([0, 1], [0.2, 0.7]), {"threshold": 2}, EvaluationError, r"threshold must be a number"),
        (([0, 1], [0.2, 0.7]), {"resamples": 5}, OptionError, "resamples must be an int >= 20"),
        (([0, 1], [0.2, 0.7]), {"level": 95}, OptionError, "level must be a number between"),
        (([0, 1], [0.2, 0.7]), {"max_points": 2}, OptionError, "max_points must be >= 3"),
        (
            ([0, 1], [0.2, 0.7]),
            {"decision_threshold": float("nan")},
            OptionError,
            "decision_threshold must be a finite number",
        ),
    ],
)
def test_what_raises(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        build_report(*args, **kwargs)


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_with_costs_decides_the_trivial_policy(label):
    y = np.full(60, label)
    s = np.linspace(0, 1, 60)
    rep = build_report(y, s, costs=Costs(fn=100.0, fp=5.0), resamples=50)
    optimum = cost_curve(y, s, Costs(fn=100.0, fp=5.0))
    assert rep.metrics["decision_threshold"] == optimum["optimal_threshold"]
    assert rep.metrics["savings"] == 0.0
    assert "modeler.threshold_unstable" not in rep.tags
    assert list(rep.tags) == [
        "modeler.task",
        "modeler.threshold",
        "modeler.score_transform",
        "modeler.auc_undefined",
    ]
