"""Time the evaluation of 10,000,000 scores that live in Spark (local mode, two cores).

    .venv/bin/python bench/spark_eval.py [--rows 10000000] [--limit 1500]

Writes a fraud-like validation set (0.2% positives, float32 sigmoid scores as Keras predicts,
per-row amounts) to Parquet once, then, side by side on the same rows:
- in memory: the Parquet columns read into numpy, then ``evaluate_binary`` + ``cost_report``
  (what an in-memory run computes);
- Spark, exact: ``spark_evaluation(df, ..., exact=True)`` on ``spark.read.parquet``;
- Spark, binned: the same with ``exact=False`` (10,000 bins).
Prints seconds, each Spark mode's largest difference to the in-memory metrics (exact: rounding;
binned: within the bounds it reports), the rows that came back to the driver, and whether the
curve point lists equal the in-memory ones. Spark runs with 3 GB of memory; the whole bench is
stopped after ``--limit`` seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from modeler.evaluation import Costs, cost_report, evaluate_binary

RATE = 0.002
FP_COST = 5.0


def fraud_like(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Labels, float32 sigmoid scores and transaction amounts of a fraud-like validation set."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < RATE).astype(np.int64)
    logits = rng.normal(-4.0, 1.5, n) + y * rng.normal(4.0, 2.0, n)
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    amounts = np.round(rng.lognormal(4.0, 1.2, n), 2)
    return {"label": y, "score": scores, "amount": amounts}


def write_parquet(path: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    chunk = 1_000_000
    with pq.ParquetWriter(
        path, pa.schema([("label", pa.int64()), ("score", pa.float32()), ("amount", pa.float64())])
    ) as writer:
        for i, start in enumerate(range(0, n, chunk)):
            cols = fraud_like(min(chunk, n - start), seed=i)
            writer.write_table(pa.table(cols))


def session():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("modeler-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "3g")
        .config("spark.sql.shuffle.partitions", "16")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def largest_difference(got: dict, want: dict, keys: list[str]) -> tuple[str, float]:
    diffs = {k: abs(got[k] - want[k]) / max(1.0, abs(want[k])) for k in keys}
    worst = max(diffs, key=lambda k: diffs[k])
    return worst, diffs[worst]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--limit", type=int, default=1500, help="stop after this many seconds")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"stopped after --limit {args.limit} s"))
    signal.alarm(args.limit)
    warnings.filterwarnings("ignore", category=FutureWarning)  # pyspark on pandas 3

    from modeler.spark import spark_evaluation

    tmp = Path(tempfile.mkdtemp(prefix="modeler-spark-bench-"))
    path = tmp / "validation.parquet"
    write_parquet(path, args.rows)
    print(f"n = {args.rows:,} rows, {RATE:.1%} positives, Parquet {path.stat().st_size >> 20} MB")

    # in memory
    import pyarrow.parquet as pq

    start = time.perf_counter()
    table = pq.read_table(path)
    y = table["label"].to_numpy()
    s = table["score"].to_numpy().astype(np.float64)
    amount = table["amount"].to_numpy()
    read = time.perf_counter() - start
    start = time.perf_counter()
    metrics, _ = evaluate_binary(y, s)
    cost_metrics, _ = cost_report(y, s, Costs(fn=amount, fp=FP_COST), 0.5)
    memory = time.perf_counter() - start
    want = {**metrics, **cost_metrics}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
    print(f"distinct scores: {len(np.unique(s)):,}; in-memory peak RSS {rss} MB")
    del table, y, s, amount

    spark = session()
    small = spark.createDataFrame(
        [(0, 0.1, 1.0), (1, 0.8, 2.0)], "label long, score float, amount double"
    )
    spark_evaluation(small, label_col="label", score_col="score")  # warm-up: JIT, planner

    df = spark.read.parquet(str(path))
    rows = [("in memory: read Parquet into numpy", read, None)]
    rows.append(("in memory: evaluate_binary + cost_report", memory, None))
    results = {}
    for name, exact in (("Spark exact", True), ("Spark binned (10,000 bins)", False)):
        start = time.perf_counter()
        ev = spark_evaluation(
            df,
            label_col="label",
            score_col="score",
            fn_cost_col="amount",
            fp_cost=FP_COST,
            exact=exact,
        )
        rows.append((name, time.perf_counter() - start, ev))
        results[name] = ev

    print(f"\n{'step':<44} {'seconds':>8} {'vs memory':>9} {'rows to driver':>14}")
    for name, seconds, ev in rows:
        collected = f"{ev.rows_collected:,}" if ev is not None else ""
        print(f"{name:<44} {seconds:8.2f} {seconds / memory:8.1f}x {collected:>14}")

    keys = [k for k in want if not np.isnan(want[k])]
    exact = results["Spark exact"]
    worst, diff = largest_difference(exact.metrics, want, keys)
    print(
        f"\nexact: largest relative difference to in memory {diff:.1e} ({worst}); "
        f"point lists as in memory: {exact.exact_points}"
    )
    binned = results["Spark binned (10,000 bins)"]
    for key in ("roc_auc", "pr_auc", "cost_at_optimal"):
        print(
            f"binned {key}: error {abs(binned.metrics[key] - want[key]):.2e}, "
            f"stated bound {binned.error_bounds[key]:.2e}"
        )
    worst, diff = largest_difference(
        binned.metrics,
        want,
        [
            k
            for k in keys
            if k not in ("roc_auc", "pr_auc") and "optimal" not in k and k != "savings"
        ],
    )
    print(f"binned counts and cost at the threshold: largest difference {diff:.1e} ({worst})")
    spark.stop()


if __name__ == "__main__":
    main()
