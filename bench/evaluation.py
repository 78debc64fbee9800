"""Time the end-of-fit evaluation on 1,000,000 rows with 0.2% positives.

    .venv/bin/python bench/evaluation.py

Prints, as the median of 5 runs (time.perf_counter):
- evaluate_binary + json.dumps of curves.json (target <= 1 s),
- cost_curve with per-row amounts (target < 1 s),
- three PNGs (roc, pr, confusion matrix; target < 0.3 s),
- thin_curve on a smooth 1,000,000-point curve (target < 0.3 s),
- build_report with costs: everything a run's evaluation writes (metrics, 1,000-resample
  intervals, the decision threshold, curve histories, four PNGs, scores.parquet; target < 3 s),
and the size of curves.json for 10k, 100k and 1M rows, which should not grow with n.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modeler.evaluation import (
    build_report,
    cost_curve,
    evaluate_binary,
    parse_costs,
    plots,
    thin_curve,
)

N = 1_000_000
RATE = 0.002
RUNS = 5


def fraud_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, sigmoid-like scores and transaction amounts of a fraud-like validation set."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < RATE).astype(np.int64)
    logits = rng.normal(-4.0, 1.5, n) + y * rng.normal(4.0, 2.0, n)
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)  # Keras predicts float32
    amounts = rng.lognormal(4.0, 1.2, n)
    return y, scores, amounts


def median_seconds(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    y, scores, amounts = fraud_like(N)
    costs = parse_costs({"fn": amounts, "fp": 5.0}, n=N)
    metrics, curves = evaluate_binary(y, scores)  # warm-up: imports, caches
    out = Path(tempfile.mkdtemp(prefix="modeler-bench-"))

    def three_pngs() -> None:
        plots.roc_png(curves, out / "roc.png")
        plots.pr_png(curves, out / "pr.png")
        plots.confusion_png(metrics, out / "confusion_matrix.png")

    three_pngs()
    x = np.linspace(0.0, 1.0, N)
    smooth = np.sqrt(x) * (1.0 - 0.3 * np.sin(8.0 * x))  # no straight runs: LTTB does it all
    rows = [
        ("evaluate_binary + json.dumps", lambda: json.dumps(evaluate_binary(y, scores)[1]), 1.0),
        ("cost_curve (per-row amounts)", lambda: cost_curve(y, scores, costs), 1.0),
        ("roc + pr + confusion PNGs", three_pngs, 0.3),
        ("thin_curve, 1M smooth points", lambda: thin_curve(x, smooth, 1000), 0.3),
        ("build_report with costs", lambda: build_report(y, scores, costs=costs), 3.0),
    ]
    print(f"n = {N:,} rows, {int(y.sum()):,} positives ({RATE:.1%}); median of {RUNS} runs")
    print(f"{'step':<32} {'seconds':>8} {'target':>8}  ok")
    for name, fn, target in rows:
        seconds = median_seconds(fn)
        print(f"{name:<32} {seconds:8.3f} {target:8.2f}  {'yes' if seconds <= target else 'NO'}")

    print(f"\n{'n':>10} {'curves.json bytes':>18} {'roc points':>11} {'pr points':>10}")
    for n in (10_000, 100_000, N):
        c = evaluate_binary(*fraud_like(n, seed=1)[:2])[1]
        size = len(json.dumps(c).encode())
        print(f"{n:>10,} {size:>18,} {len(c['roc']['fpr']):>11} {len(c['pr']['recall']):>10}")


if __name__ == "__main__":
    main()
