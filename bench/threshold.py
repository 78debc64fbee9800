"""Which cost threshold holds up on fresh data: the plain argmin or the bagged decision?

    .venv/bin/python bench/threshold.py [--draws 100]

Synthetic fraud data where the truth is known in closed form: logit scores N(2, 1) for frauds
and N(0, 1) for legitimate rows (shown to the model as probabilities), a missed fraud costs its
amount, lognormal with a heavy tail (sigma 2: the largest of 200 frauds is typically 200 times
the median), a false alarm costs 20. For each scenario, many validation sets are drawn; on each
one three rules choose a threshold:

- argmin: the threshold of minimal validation cost (what ``eval.cost_optimal_threshold`` is);
- mean cost: the argmin of the cost averaged over 500 bootstrap resamples (to show that it is
  the argmin again: the cost is linear in the rows, its bootstrap mean is the validation cost);
- bagged (ours, ``eval.decision_threshold``): the mean flag rate of the 500 resamples' optima.

Each choice is then scored by its expected cost on fresh data from the same distribution
(exact, from the normal and lognormal distributions), as regret: the cost above the best
possible threshold, in % of that best cost. Printed per scenario: mean, median and 90th
percentile of the regret over the draws, and how often the choice costs more on fresh data than
the cheaper trivial policy (flag nothing / flag everything).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm

from modeler.evaluation.cost import Costs, cost_curve
from modeler.evaluation.threshold import decide
from modeler.evaluation.uncertainty import bootstrap_binary

FP = 20.0
MU = 2.0  # frauds' mean logit; legitimate rows have 0
SHIFT = 4.0  # probabilities = expit(logit - SHIFT): fraud-like small scores
RESAMPLES = 500
# rows, fraud rate, sigma of log amounts, correlation of log amount with the score
SCENARIOS = (
    (100_000, 0.002, 2.0, 0.0),
    (50_000, 0.002, 2.0, 0.0),
    (20_000, 0.01, 2.0, 0.0),
    (10_000, 0.03, 2.0, 0.0),
    (60_000, 0.005, 1.0, 0.0),
    (100_000, 0.002, 2.0, 0.5),
)


def draw(rng: np.random.Generator, n: int, rate: float, sigma: float, corr: float):
    p = round(n * rate)
    y = np.r_[np.ones(p, np.int64), np.zeros(n - p, np.int64)]
    z = np.r_[rng.normal(MU, 1.0, p), rng.normal(0.0, 1.0, n - p)]
    amounts = np.exp(rng.normal(5.0, sigma, n) + corr * (z - MU)) * y
    return y, expit(z - SHIFT), amounts


def expected_cost(threshold: float, rate: float, sigma: float, corr: float) -> float:
    """Expected cost per row of flagging probability >= threshold, on fresh data."""
    z = np.inf if threshold >= 1.0 else logit(max(threshold, 1e-300)) + SHIFT
    missed = np.exp(5.0 + sigma**2 / 2 + corr**2 / 2) * norm.cdf(z - MU - corr)
    return float(rate * missed + (1 - rate) * FP * norm.sf(z))


def choose(y, s, amounts, seed):
    plain = cost_curve(y, s, Costs(fn=amounts, fp=FP))["optimal_threshold"]
    boot = bootstrap_binary(y, s, fn=amounts, fp=FP, resamples=RESAMPLES, seed=seed)
    assert boot.cost_cuts is not None
    cand = boot.candidates
    mean_cost = float(boot.layout.cuts[cand][np.argmin(boot.cost_cuts[:, cand].mean(axis=0))])
    return {"argmin": plain, "mean cost": mean_cost, "bagged (ours)": decide(boot, s).threshold}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    start = time.perf_counter()
    print(f"{args.draws} validation sets per scenario; regret = fresh-data cost above the best")
    print(
        f"{'rows':>8} {'frauds':>6} {'sigma':>5} {'corr':>4}  {'rule':<14} {'mean %':>7} "
        f"{'median %':>8} {'p90 %':>7} {'worse than trivial':>18}"
    )
    for n, rate, sigma, corr in SCENARIOS:
        grid = expit(np.linspace(-4.0, 9.0, 6001) - SHIFT)
        best = min(expected_cost(t, rate, sigma, corr) for t in grid)
        trivial = min(expected_cost(0.0, rate, sigma, corr), expected_cost(1.0, rate, sigma, corr))
        regrets: dict[str, list[float]] = {}
        worse: dict[str, int] = {}
        for d in range(args.draws):
            y, s, amounts = draw(rng, n, rate, sigma, corr)
            for rule, t in choose(y, s, amounts, seed=d).items():
                cost = expected_cost(t, rate, sigma, corr)
                regrets.setdefault(rule, []).append(100.0 * (cost - best) / best)
                worse[rule] = worse.get(rule, 0) + (cost > trivial)
        for rule, values in regrets.items():
            v = np.asarray(values)
            print(
                f"{n:>8,} {round(n * rate):>6} {sigma:>5.1f} {corr:>4.1f}  {rule:<14} "
                f"{v.mean():>7.2f} {np.median(v):>8.2f} {np.quantile(v, 0.9):>7.2f} "
                f"{worse[rule]:>13} of {args.draws}"
            )
        ratio = np.mean(regrets["bagged (ours)"]) / np.mean(regrets["argmin"])
        print(f"{'':>28}bagged / argmin mean regret: {ratio:.2f}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
