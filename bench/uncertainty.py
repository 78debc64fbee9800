"""Time the intervals and the decision threshold against scikit-learn's plain metrics.

    .venv/bin/python bench/uncertainty.py

For a fraud-like validation set of 45,000 rows (the demo's size, ~120 frauds) and one of
1,000,000 rows (0.2% frauds), with per-row fraud amounts, it times side by side, alternating the
variants over 5 rounds and printing medians:

- sklearn: ``roc_auc_score``, ``average_precision_score``, ``precision_recall_fscore_support``
  at 0.5 (the plain metrics, no interval);
- ours: 1,000 stratified resamples giving intervals for ROC-AUC, PR-AUC, precision / recall /
  F1, cost, cost at optimum, the cost band at 200 thresholds, and the bagged decision threshold
  with the cost at it (what ``build_report`` computes; targets: <= 0.3 s and <= 3 s);
- a plain loop of scikit-learn metrics over resamples (re-sorting each time), timed on 20
  resamples and scaled to 1,000, for the ratio.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from modeler.evaluation.cost import Costs, cost_curve
from modeler.evaluation.curves import thin_curve
from modeler.evaluation.threshold import decide
from modeler.evaluation.uncertainty import bootstrap_binary

ROUNDS = 5
RESAMPLES = 1000
LOOP_RESAMPLES = 20


def fraud_like(n: int, rate: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, float32 sigmoid scores (as Keras predicts) and lognormal fraud amounts."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.int64)
    logits = rng.normal(-4.0, 1.5, n) + y * rng.normal(4.0, 2.0, n)
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32).astype(np.float64)
    return y, scores, rng.lognormal(4.0, 1.5, n) * y


def sklearn_plain(y: np.ndarray, s: np.ndarray) -> None:
    roc_auc_score(y, s)
    average_precision_score(y, s)
    precision_recall_fscore_support(y, s >= 0.5, average="binary", zero_division=0)


def ours(y: np.ndarray, s: np.ndarray, amounts: np.ndarray) -> float:
    curve = cost_curve(y, s, Costs(fn=amounts, fp=5.0))
    thr = np.asarray(curve["thresholds"])
    band_at = thr[thin_curve(thr, np.asarray(curve["cost"]), 200)]
    boot = bootstrap_binary(
        y,
        s,
        thresholds={"threshold": 0.5},
        plot_thresholds=band_at,
        fn=amounts,
        fp=5.0,
        resamples=RESAMPLES,
    )
    for name in ("roc_auc", "pr_auc", "precision", "recall", "f1", "cost", "cost_at_optimal"):
        boot.interval(name)
    boot.cost_band(np.searchsorted(boot.layout.cuts, band_at))
    decision = decide(boot, s)
    boot.interval_of(boot.cost_at(decision.threshold))
    return decision.threshold


def sklearn_loop(y: np.ndarray, s: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for _ in range(LOOP_RESAMPLES):
        idx = np.concatenate((rng.choice(pos, len(pos)), rng.choice(neg, len(neg))))
        sklearn_plain(y[idx], s[idx])


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    print(f"{RESAMPLES} resamples; median of {ROUNDS} alternating rounds (seconds)")
    header = (
        f"{'rows':>10} {'frauds':>7} {'sklearn plain':>14} {'ours, 1000 resamples':>21} "
        f"{'target':>7} {'ours/plain':>11} {'sklearn loop x1000':>19} {'loop/ours':>10}"
    )
    print(header)
    for n, rate, target in ((45_000, 0.0027, 0.3), (1_000_000, 0.002, 3.0)):
        y, s, amounts = fraud_like(n, rate)
        ours(y, s, amounts)  # warm-up
        plain_t, ours_t, loop_t = [], [], []
        for _ in range(ROUNDS):
            plain_t.append(timed(lambda: sklearn_plain(y, s)))  # noqa: B023
            ours_t.append(timed(lambda: ours(y, s, amounts)))  # noqa: B023
        for _ in range(2):
            loop_t.append(timed(lambda: sklearn_loop(y, s)) * RESAMPLES / LOOP_RESAMPLES)  # noqa: B023
        p, o, loop = (
            statistics.median(plain_t),
            statistics.median(ours_t),
            statistics.median(loop_t),
        )
        ok = "yes" if o <= target else "NO"
        print(
            f"{n:>10,} {int(y.sum()):>7,} {p:>14.3f} {o:>21.3f} {target:>7.1f} "
            f"{o / p:>11.1f} {loop:>19.1f} {loop / o:>10.0f}   within target: {ok}"
        )


if __name__ == "__main__":
    main()
