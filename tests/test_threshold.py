"""The decision threshold: flag rates, the bagged optimum, and that it pays off on fresh data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from modeler.errors import EvaluationError
from modeler.evaluation.cost import Costs, cost_curve
from modeler.evaluation.threshold import FlagRates, decide
from modeler.evaluation.uncertainty import bootstrap_binary


def test_flag_rates_and_back():
    s = np.array([0.1, 0.4, 0.4, 0.8, 0.9])
    rates = FlagRates(s)
    assert rates.rate(0.4) == pytest.approx(0.8)  # 0.4, 0.4, 0.8, 0.9
    assert rates.rate(0.95) == 0.0
    assert rates.threshold(0.4) == 0.8
    assert rates.threshold(0.7) == 0.4  # 0.8 is the closest rate: both tied rows together
    assert rates.threshold(0.0) == np.nextafter(0.9, np.inf)  # flag nothing
    assert rates.threshold(1.0) == 0.1
    weighted = FlagRates(s, np.array([1.0, 1.0, 1.0, 1.0, 6.0]))
    assert weighted.rate(0.9) == pytest.approx(0.6)


def test_flag_rates_need_weight():
    with pytest.raises(EvaluationError, match="positive weight"):
        FlagRates(np.array([0.2, 0.3]), np.zeros(2))


def _fraud(rng, n, rate, mu=2.0, sigma=2.0):
    p = round(n * rate)
    y = np.r_[np.ones(p, int), np.zeros(n - p, int)]
    z = np.r_[rng.normal(mu, 1.0, p), rng.normal(0.0, 1.0, n - p)]
    amounts = np.exp(rng.normal(5.0, sigma, n)) * y
    return y, 1.0 / (1.0 + np.exp(-(z - 4.0))), amounts  # fraud-like probabilities


def test_decision_flags_the_mean_rate_of_the_resamples_optima():
    rng = np.random.default_rng(0)
    y, s, amounts = _fraud(rng, 5000, 0.02)
    boot = bootstrap_binary(y, s, fn=amounts, fp=20.0, resamples=300, seed=1)
    decision = decide(boot, s)
    # Brute force: each optimum's flag rate by counting rows.
    rates = [(s >= t).mean() for t in decision.optima]
    target = float(np.mean(rates))
    distinct = np.unique(s)
    best_gap = min(abs((s >= t).mean() - target) for t in distinct)
    assert abs((s >= decision.threshold).mean() - target) == pytest.approx(best_gap)
    assert decision.flag_rate == pytest.approx((s >= decision.threshold).mean())
    assert decision.ci_low <= decision.threshold <= decision.ci_high
    lo, hi = np.quantile(decision.optima, [0.025, 0.975])
    assert (decision.ci_low, decision.ci_high) == (lo, hi)


def test_decision_needs_costs():
    y = np.array([0, 1, 0, 1] * 10)
    s = np.linspace(0, 1, 40)
    with pytest.raises(EvaluationError, match="needs costs"):
        decide(bootstrap_binary(y, s, resamples=20), s)


def test_bagged_threshold_costs_less_on_fresh_data_than_the_plain_argmin():
    """Heavy-tailed amounts and 200 positives: the population cost of each choice is known in
    closed form, so the regret (cost above the best possible threshold) is exact."""
    fp, mu, sigma, rate, n = 20.0, 2.0, 2.0, 0.01, 20_000
    mean_amount = np.exp(5.0 + sigma**2 / 2)

    def population_cost(threshold):  # expected cost of a row, threshold on the probability
        z = np.log(threshold / (1 - threshold)) + 4.0 if threshold < 1 else np.inf
        return rate * mean_amount * norm.cdf(z - mu) + (1 - rate) * fp * norm.sf(z)

    grid = 1.0 / (1.0 + np.exp(-(np.linspace(-3, 8, 4001) - 4.0)))
    best = min(population_cost(t) for t in grid)
    rng = np.random.default_rng(42)
    plain, bagged = [], []
    for r in range(40):
        y, s, amounts = _fraud(rng, n, rate, mu, sigma)
        plain_t = cost_curve(y, s, Costs(fn=amounts, fp=fp))["optimal_threshold"]
        boot = bootstrap_binary(y, s, fn=amounts, fp=fp, resamples=200, seed=r)
        bagged_t = decide(boot, s).threshold
        plain.append(population_cost(plain_t) - best)
        bagged.append(population_cost(bagged_t) - best)
    assert np.mean(bagged) < 0.9 * np.mean(plain)
    assert np.median(bagged) < np.median(plain)
