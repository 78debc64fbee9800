"""Paired comparison: differences to the best run, checked against a brute-force paired
bootstrap and for coverage of a known true difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import binom, norm
from sklearn.metrics import average_precision_score

from modeler.errors import EvaluationError, OptionError
from modeler.evaluation.cost import Costs
from modeler.evaluation.paired import paired
from modeler.evaluation.scores import read_scores, scores_parquet, scores_table


def _two_models(rng, p=150, n_neg=1350, mu_a=1.6, mu_b=1.3, rho=0.7):
    """Correlated scores of two models on the same rows: positives N(mu, 1), negatives N(0, 1)."""
    y = np.r_[np.ones(p, int), np.zeros(n_neg, int)]
    e1, e2 = rng.normal(size=p + n_neg), rng.normal(size=p + n_neg)
    a = e1 + mu_a * y
    b = rho * e1 + np.sqrt(1 - rho**2) * e2 + mu_b * y
    return y, a, b


def _a_minus_b(result):
    """The interval of A - B from a two-run result (whichever run is best)."""
    runs = result["runs"]
    if result["best"] == "B":
        return runs["A"]["ci_low"], runs["A"]["ci_high"]
    return -runs["B"]["ci_high"], -runs["B"]["ci_low"]


def _cost(y, s, fn, fp, t):
    flagged = s >= t
    return fn[(y == 1) & ~flagged].sum() + fp * ((y == 0) & flagged).sum()


def test_values_and_shape_of_the_result():
    rng = np.random.default_rng(0)
    y, a, b = _two_models(rng)
    result = paired(y, {"A": a, "B": b, "A again": a}, resamples=200)
    assert result["metric"] == "pr_auc" and result["higher_is_better"] is True
    for name, s in (("A", a), ("B", b)):
        assert result["runs"][name]["value"] == pytest.approx(average_precision_score(y, s))
    best = result["best"]
    assert result["runs"][best] == {
        "value": result["runs"][best]["value"],
        "diff": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "indistinguishable": True,
        "best": True,
    }
    twin = "A again" if best == "A" else "A"
    assert result["runs"][twin]["diff"] == 0.0
    assert (result["runs"][twin]["ci_low"], result["runs"][twin]["ci_high"]) == (0.0, 0.0)
    other = result["runs"]["B" if best == "A" else "A"]
    assert other["diff"] == pytest.approx(other["value"] - result["runs"][best]["value"])
    assert other["indistinguishable"] == (other["ci_low"] <= 0 <= other["ci_high"])


@pytest.mark.parametrize("metric", ["pr_auc", "cost"])
def test_the_same_model_twice_gets_the_same_interval(metric):
    """Every run is resampled with the same draws: two copies of a run that is not the best
    get one interval, not two that differ by the luck of their draws."""
    rng = np.random.default_rng(3)
    y, a, b = _two_models(rng)
    costs = Costs(fn=np.round(np.exp(rng.normal(3, 0.8, len(y))), 2) * y, fp=3.0)
    runs = {"strong": a, "weak": b, "weak again": b.copy(), "weakest": b - 0.4 * y}
    result = paired(
        y,
        runs,
        metric=metric,
        costs=costs,
        thresholds={name: 1.0 for name in runs},
        resamples=300,
    )
    assert result["best"] == "strong"
    one, two = result["runs"]["weak"], result["runs"]["weak again"]
    assert one == two
    assert one["ci_low"] < one["diff"] < one["ci_high"] and one["diff"] != 0.0
    assert result["runs"]["weakest"]["diff"] != one["diff"]


@pytest.mark.parametrize("metric", ["pr_auc", "cost"])
def test_intervals_agree_with_a_brute_force_paired_bootstrap(metric):
    rng = np.random.default_rng(1)
    y, a, b = _two_models(rng, p=60, n_neg=240)
    fn = np.round(np.exp(rng.normal(3, 0.8, len(y))), 2) * y
    costs = Costs(fn=fn, fp=3.0)
    thresholds = {"A": 1.0, "B": 0.8}
    count = 1000
    result = paired(
        y, {"A": a, "B": b}, metric=metric, costs=costs, thresholds=thresholds, resamples=count
    )
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    brute = []
    for _ in range(count):
        idx = np.concatenate((rng.choice(pos, len(pos)), rng.choice(neg, len(neg))))
        if metric == "pr_auc":
            brute.append(
                average_precision_score(y[idx], a[idx]) - average_precision_score(y[idx], b[idx])
            )
        else:
            brute.append(
                _cost(y[idx], a[idx], fn[idx], 3.0, 1.0) - _cost(y[idx], b[idx], fn[idx], 3.0, 0.8)
            )
    brute = np.asarray(brute)
    lo, hi = np.quantile(brute, [0.025, 0.975])
    ours = _a_minus_b(result)
    sd = brute.std()
    # Two Monte Carlo estimates of a 2.5% quantile from 1000 draws differ by about 0.12 sd.
    assert abs(ours[0] - lo) < 0.5 * sd and abs(ours[1] - hi) < 0.5 * sd
    # Pairing matters: the difference varies far less than the runs' values themselves.
    solo = [
        average_precision_score(y[i], a[i])
        for i in (rng.choice(len(y), len(y)) for _ in range(200))
    ]
    if metric == "pr_auc":
        assert sd < np.std(solo)


def test_difference_intervals_cover_the_true_difference():
    """Binormal models with known marginals: the true differences have closed forms."""
    p, n_neg, mu_a, mu_b, t, fp, s_a = 150, 1350, 1.6, 1.3, 1.0, 3.0, 0.6

    def population_ap(mu):
        def integrand(x):
            return (
                p * norm.sf(x - mu) / (p * norm.sf(x - mu) + n_neg * norm.sf(x)) * norm.pdf(x - mu)
            )

        return integrate.quad(integrand, -10, 12)[0]

    truth = {
        "pr_auc": population_ap(mu_a) - population_ap(mu_b),
        "cost": p * np.exp(3 + s_a**2 / 2) * (norm.cdf(t - mu_a) - norm.cdf(t - mu_b)),
    }
    reps = 150
    rng = np.random.default_rng(2026)
    hits = dict.fromkeys(truth, 0)
    for r in range(reps):
        y, a, b = _two_models(rng, p, n_neg, mu_a, mu_b)
        fn = np.exp(rng.normal(3, s_a, len(y))) * y
        for metric in truth:
            result = paired(
                y,
                {"A": a, "B": b},
                metric=metric,
                costs=Costs(fn=fn, fp=fp),
                thresholds={"A": t, "B": t},
                resamples=300,
                seed=r,
            )
            lo, hi = _a_minus_b(result)
            hits[metric] += lo <= truth[metric] <= hi
    low, high = binom.interval(0.999, reps, 0.95)
    for metric, h in hits.items():
        assert low <= h <= high, f"{metric}: covered {h} of {reps}, expected {low:.0f}..{high:.0f}"


def test_sampled_scores_table_and_negative_sampling():
    rng = np.random.default_rng(3)
    y, a, b = _two_models(rng, p=400, n_neg=60_000, mu_a=2.2, mu_b=2.0)
    tables = [read_scores(scores_parquet(scores_table(y, s, cap=20_000))) for s in (a, b)]
    assert np.array_equal(tables[0].rows, tables[1].rows)  # the same rows, so they pair
    w = tables[0].weights
    result = paired(
        tables[0].labels, {"A": tables[0].scores, "B": tables[1].scores}, weights=w, resamples=200
    )
    expected = average_precision_score(tables[0].labels, tables[0].scores, sample_weight=w)
    assert result["runs"]["A"]["value"] == pytest.approx(expected)
    # Snapped to 64 levels (the default) or exact: the same interval within Monte Carlo noise.
    exact = paired(y, {"A": a, "B": b}, resamples=600, levels=100_000, seed=1)
    snapped = paired(y, {"A": a, "B": b}, resamples=600, seed=2)
    assert snapped["runs"]["B"]["diff"] == exact["runs"]["B"]["diff"]
    width = exact["runs"]["B"]["ci_high"] - exact["runs"]["B"]["ci_low"]
    for end in ("ci_low", "ci_high"):
        assert abs(snapped["runs"]["B"][end] - exact["runs"]["B"][end]) < 0.1 * width


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"metric": "roc_auc"}, OptionError, r"metric must be one of \['pr_auc', 'cost'\]"),
        ({"scores": {}}, OptionError, "at least one run"),
        ({"metric": "cost"}, OptionError, "metric='cost' needs costs"),
        (
            {"metric": "cost", "costs": {"fn": 1.0, "fp": 1.0}, "thresholds": {"A": 0.5}},
            OptionError,
            r"missing for \['B'\]",
        ),
        ({"scores": {"A": [0.1, 0.2]}}, EvaluationError, "run 'A' has 2 scores but the labels"),
        ({"labels": [0, 0, 0, 0]}, EvaluationError, "labels hold one class only"),
    ],
)
def test_errors(kwargs, error, match):
    args = {
        "labels": [0, 1, 0, 1],
        "scores": {"A": [0.1, 0.8, 0.3, 0.6], "B": [0.2, 0.7, 0.5, 0.4]},
        **kwargs,
    }
    labels, scores = args.pop("labels"), args.pop("scores")
    with pytest.raises(error, match=match):
        paired(labels, scores, resamples=20, **args)


def test_average_precision_from_one_sort_equals_scikit_learn():
    from sklearn.metrics import average_precision_score

    from modeler.evaluation.paired import average_precision

    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(5, 2000))
        y = (rng.random(n) < 0.2).astype(int)
        y[0] = 1
        s = np.round(rng.random(n), int(rng.integers(1, 4)))  # many ties
        w = rng.random(n) + 0.1
        assert average_precision(y, s, w) == pytest.approx(
            average_precision_score(y, s, sample_weight=w), abs=1e-12
        )
