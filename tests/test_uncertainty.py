"""Bootstrap intervals: exact per resample against scikit-learn, against a brute-force
bootstrap, and covering a known truth about as often as their level says."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import binom, norm
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from modeler.errors import EvaluationError, OptionError
from modeler.evaluation.uncertainty import (
    bootstrap_binary,
    check_bootstrap_options,
    draw_counts,
    identity_counts,
    layout,
    row_counts,
    stats,
)


def _data(n=120, rate=0.3, seed=0, decimals=2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.int64)
    s = np.round(np.clip(rng.random(n) * 0.7 + 0.3 * y * rng.random(n), 0, 1), decimals)
    fn = np.round(rng.lognormal(3.0, 1.0, n), 2) * y
    tp = np.round(rng.random(n) * 5, 2) * y
    return y, s, fn, tp


def _brute_cost(y, s, fn, tp, fp, t):
    flagged = s >= t
    return (
        fn[(y == 1) & ~flagged].sum()
        + fp * ((y == 0) & flagged).sum()
        - tp[(y == 1) & flagged].sum()
    )


# --- exact per resample -------------------------------------------------------------------------
@pytest.mark.parametrize("decimals", [1, 2, 6])  # 1: many ties between the classes
def test_every_resample_equals_sklearn_and_brute_force(decimals):
    y, s, fn, tp = _data(decimals=decimals)
    lay = layout(y, s, thresholds=[0.5, 0.33], fn=fn, tp=tp, fp=4.0)
    at = [lay.cut_index(0.5)]
    rng = np.random.default_rng(1)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for _ in range(25):
        # A stratified resample, drawn row by row as a plain bootstrap would.
        idx = np.concatenate((rng.choice(pos, len(pos)), rng.choice(neg, len(neg))))
        counts = np.bincount(idx, minlength=len(y))[None, :]
        st = stats(lay, row_counts(lay, counts), at, with_cost=True)
        yy, ss = y[idx], s[idx]
        assert st.roc_auc[0] == pytest.approx(roc_auc_score(yy, ss), abs=1e-12)
        assert st.pr_auc[0] == pytest.approx(average_precision_score(yy, ss), abs=1e-12)
        pred = ss >= 0.5
        assert st.precision[0, 0] == pytest.approx(precision_score(yy, pred, zero_division=0))
        assert st.recall[0, 0] == pytest.approx(recall_score(yy, pred))
        assert st.f1[0, 0] == pytest.approx(f1_score(yy, pred))
        for k, t in enumerate(lay.cuts):  # the cost at every cut
            expected = _brute_cost(yy, ss, fn[idx], tp[idx], 4.0, t)
            assert st.cost[0, k] == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_points_with_integer_weights_equal_repeated_rows():
    y, s, _, _ = _data(n=80, seed=3)
    w = np.random.default_rng(4).integers(1, 4, len(y)).astype(float)
    lay = layout(y, s, thresholds=[0.5], weights=w)
    st = stats(lay, identity_counts(lay), [lay.cut_index(0.5)], with_cost=False)
    yy, ss = np.repeat(y, w.astype(int)), np.repeat(s, w.astype(int))
    assert st.roc_auc[0] == pytest.approx(roc_auc_score(yy, ss))
    assert st.pr_auc[0] == pytest.approx(average_precision_score(yy, ss))
    assert st.precision[0, 0] == pytest.approx(precision_score(yy, ss >= 0.5))


def test_draws_are_stratified_and_unbiased():
    sizes = np.array([5, 1, 1, 30, 2])
    rng = np.random.default_rng(0)
    for sz in (sizes, np.ones(40, dtype=np.int64)):  # multinomial path and row-drawing path
        counts = draw_counts(rng, sz, 4000)
        assert (counts.sum(axis=1) == sz.sum()).all()  # every resample keeps the class size
        se = np.sqrt(sz * (1 - sz / sz.sum()) / 4000)
        assert np.all(np.abs(counts.mean(axis=0) - sz) < 5 * se)


# --- against a brute-force bootstrap ------------------------------------------------------------
def test_intervals_agree_with_a_brute_force_bootstrap():
    y, s, fn, _ = _data(n=300, rate=0.15, seed=5, decimals=3)
    b_count = 1500
    boot = bootstrap_binary(
        y, s, thresholds={"threshold": 0.5}, fn=fn, fp=3.0, resamples=b_count, seed=11
    )
    rng = np.random.default_rng(12)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    brute = {"roc_auc": [], "pr_auc": [], "precision": [], "recall": [], "cost": []}
    for _ in range(b_count):
        idx = np.concatenate((rng.choice(pos, len(pos)), rng.choice(neg, len(neg))))
        yy, ss = y[idx], s[idx]
        brute["roc_auc"].append(roc_auc_score(yy, ss))
        brute["pr_auc"].append(average_precision_score(yy, ss))
        tp, flagged = ((yy == 1) & (ss >= 0.5)).sum(), (ss >= 0.5).sum()  # checked exactly above
        brute["precision"].append(tp / flagged if flagged else 0.0)
        brute["recall"].append(tp / len(pos))
        brute["cost"].append(_brute_cost(yy, ss, fn[idx], 0 * fn[idx], 3.0, 0.5))
    for name, values in brute.items():
        values = np.asarray(values)
        sd = values.std()
        lo, hi = np.quantile(values, [0.025, 0.975])
        ours_lo, ours_hi = boot.interval(name)
        # Two independent Monte Carlo estimates of a 2.5% quantile from 1500 draws differ by
        # about 0.1 sd; 0.4 sd is four of those.
        assert abs(ours_lo - lo) < 0.4 * sd, name
        assert abs(ours_hi - hi) < 0.4 * sd, name
        assert boot.samples[name].std() == pytest.approx(sd, rel=0.1), name


# --- coverage -----------------------------------------------------------------------------------
def test_95_percent_intervals_cover_the_truth_about_95_percent_of_the_time():
    """Binormal scores with fixed class counts: every truth is known in closed form."""
    mu, p, n_neg, t, fp, mu_a, s_a = 1.5, 150, 1350, 1.0, 3.0, 3.0, 0.6
    tpr, fpr = norm.sf(t - mu), norm.sf(t)

    def ap_integrand(x):  # precision at a threshold times the density of positives there
        prec = p * norm.sf(x - mu) / (p * norm.sf(x - mu) + n_neg * norm.sf(x))
        return prec * norm.pdf(x - mu)

    truth = {
        "roc_auc": norm.cdf(mu / np.sqrt(2)),
        "pr_auc": integrate.quad(ap_integrand, -10, 12)[0],
        "precision": p * tpr / (p * tpr + n_neg * fpr),
        "recall": tpr,
        "cost": p * np.exp(mu_a + s_a**2 / 2) * norm.cdf(t - mu) + fp * n_neg * fpr,
    }
    reps = 200
    rng = np.random.default_rng(2026)
    hits = dict.fromkeys(truth, 0)
    y = np.r_[np.ones(p, int), np.zeros(n_neg, int)]
    for r in range(reps):
        s = np.r_[rng.normal(mu, 1, p), rng.normal(0, 1, n_neg)]
        fn = np.exp(rng.normal(mu_a, s_a, p + n_neg)) * y
        boot = bootstrap_binary(y, s, thresholds={"t": t}, fn=fn, fp=fp, resamples=400, seed=r)
        for name, value in truth.items():
            lo, hi = boot.interval(name)
            hits[name] += lo <= value <= hi
    # The range a true 95% coverage gives in 999 of 1000 such experiments.
    low, high = binom.interval(0.999, reps, 0.95)
    for name, h in hits.items():
        assert low <= h <= high, f"{name}: covered {h} of {reps}, expected {low:.0f}..{high:.0f}"


# --- the rest -----------------------------------------------------------------------------------
def test_cost_between_cuts_matches_a_bootstrap_with_that_cut():
    y, s, fn, _ = _data(n=400, rate=0.1, seed=8, decimals=6)
    negatives = np.sort(s[y == 0])
    t = float((negatives[150] + negatives[151]) / 2)  # inside a group of negatives
    plain = bootstrap_binary(y, s, fn=fn, fp=2.0, resamples=3000, seed=1)
    assert t not in plain.layout.cuts
    split = plain.cost_at(t)
    with_cut = bootstrap_binary(y, s, thresholds={"t": t}, fn=fn, fp=2.0, resamples=3000, seed=2)
    direct = with_cut.samples["cost"]
    assert split.mean() == pytest.approx(direct.mean(), rel=0.02)
    assert split.std() == pytest.approx(direct.std(), rel=0.1)
    # At a cut, the values are the cut's own.
    k = int(plain.candidates[3])
    assert np.array_equal(plain.cost_at(float(plain.layout.cuts[k])), plain.cost_cuts[:, k])


def test_binned_scores_give_the_exact_intervals_within_noise():
    rng = np.random.default_rng(9)
    y = (rng.random(20_000) < 0.2).astype(int)
    s = rng.normal(0, 1, len(y)) + 1.2 * y
    exact = bootstrap_binary(y, s, thresholds={"t": 0.8}, resamples=600, seed=3, max_levels=10**6)
    binned = bootstrap_binary(y, s, thresholds={"t": 0.8}, resamples=600, seed=3, max_levels=300)
    assert not exact.layout.binned and binned.layout.binned
    auc = roc_auc_score(y, s)
    lo_e, hi_e = exact.interval("roc_auc", auc)
    lo_b, hi_b = binned.interval("roc_auc", auc)
    width = hi_e - lo_e
    assert abs(lo_b - lo_e) < 0.15 * width and abs(hi_b - hi_e) < 0.15 * width
    # The threshold is a cut in both: precision at it is exact either way.
    assert binned.points["precision"] == pytest.approx(precision_score(y, s >= 0.8))


def test_same_seed_same_values_other_seed_other_values():
    y, s, fn, _ = _data(n=500, rate=0.1, seed=2)
    a = bootstrap_binary(y, s, fn=fn, fp=1.0, resamples=100, seed=7)
    b = bootstrap_binary(y, s, fn=fn, fp=1.0, resamples=100, seed=7)
    c = bootstrap_binary(y, s, fn=fn, fp=1.0, resamples=100, seed=8)
    assert all(np.array_equal(a.samples[k], b.samples[k]) for k in a.samples)
    assert not np.array_equal(a.samples["roc_auc"], c.samples["roc_auc"])


def test_one_class_gives_undefined_aucs_but_costs():
    y = np.zeros(50, dtype=int)
    s = np.linspace(0, 1, 50)
    boot = bootstrap_binary(y, s, thresholds={"t": 0.5}, fp=1.0, resamples=50)
    assert np.isnan(boot.interval("roc_auc")).all()
    assert boot.points["cost"] == 25.0  # 25 negatives score >= 0.5
    lo, hi = boot.interval("cost")
    assert lo < 25.0 < hi  # how many of them a resample draws varies


@pytest.mark.parametrize(
    ("resamples", "seed", "level", "match"),
    [
        (10, 0, 0.95, "resamples must be an int >= 20; got 10"),
        (True, 0, 0.95, "resamples must be an int >= 20"),
        (100, -1, 0.95, "seed must be an int >= 0; got -1"),
        (100, 0, 1.0, r"level must be a number between 0 and 1 \(e.g. 0.95\); got 1.0"),
        (100, 0, "95%", "level must be a number between 0 and 1"),
    ],
)
def test_bootstrap_options_errors(resamples, seed, level, match):
    with pytest.raises(OptionError, match=match):
        check_bootstrap_options(resamples, seed, level)


def test_threshold_that_is_not_a_cut_is_refused():
    lay = layout(np.array([0, 1]), np.array([0.2, 0.8]), thresholds=[0.5])
    with pytest.raises(EvaluationError, match=r"threshold 0\.6 is not a cut"):
        lay.cut_index(0.6)


def test_many_positives_with_own_costs_grouped_by_cut_give_the_same_intervals():
    rng = np.random.default_rng(10)
    y = (rng.random(6000) < 0.3).astype(int)
    s = np.round(rng.normal(0, 1, len(y)) + 1.0 * y, 1)  # about 60 distinct scores
    fn = rng.lognormal(3, 1, len(y)) * y
    kwargs = {"thresholds": {"t": 0.5}, "fn": fn, "fp": 2.0, "resamples": 1500}
    exact = bootstrap_binary(y, s, seed=1, **kwargs)
    grouped = bootstrap_binary(y, s, seed=2, **kwargs, max_units=100)
    assert len(exact.layout.pos_size) == int(y.sum()) and grouped.layout.pos_sd.any()
    assert len(grouped.layout.pos_size) < 100
    for name in ("cost", "cost_at_optimal", "roc_auc", "recall"):
        sd = exact.samples[name].std()
        for a, b in zip(exact.interval(name), grouped.interval(name), strict=True):
            assert abs(a - b) < 0.4 * sd, name
        assert grouped.points[name] == pytest.approx(exact.points[name])
