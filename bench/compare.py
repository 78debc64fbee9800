"""Time ``compare`` of 10 runs through a local ``mlflow server``, for 1M-row and 10k-row runs.

    .venv/bin/python bench/compare.py

Starts ``mlflow server`` (SQLite backend, ``--artifacts-destination`` a temporary folder,
127.0.0.1, a free port, gunicorn with 2 workers, job execution off: ``modeler.server``),
writes 10 runs whose evaluations (curves and cost curve) came from 1,000,000 rows each
(~0.2% positives, random scores with some signal) and 10 runs from 10,000 rows, then times
``compare(run_ids)`` on each set, alternating, median of 3 after one warm-up round:

- with the report logged as a run (what ``accu.compare`` does by default), and
- the build alone (``log_report=False``).

Prints seconds for each set, the ratio 1M/10k (about 1: curves.json holds at most ~1,000
points a curve, whatever the rows behind it) and the 2 s target. Stops the server at the end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # one line per report run

import numpy as np

RUNS = 10
ROUNDS = 3
RATE = 0.002
TARGET_S = 2.0
SIZES = {"1M": 1_000_000, "10k": 10_000}


def fraud_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, sigmoid scores with some signal, and transaction amounts."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < RATE).astype(np.int64)
    signal = 2.0 + 0.3 * (seed % RUNS)  # each run a little better than the last
    logits = rng.normal(-4.0, 1.5, n) + y * rng.normal(signal, 1.5, n)
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return y, scores, rng.lognormal(4.0, 1.2, n)


def write_runs(tracking, n: int) -> list[str]:
    """Ten runs through the run writer, each evaluated on ``n`` rows with costs."""
    from modeler.tracking.evaluate import log_evaluation
    from modeler.tracking.writer import RunWriter

    run_ids = []
    for i in range(RUNS):
        y, scores, amounts = fraud_like(n, seed=i)
        writer = RunWriter.start(tracking, "scores")
        log_evaluation(writer, y, scores, costs={"fn": amounts, "fp": 5.0})
        writer.end()
        run_ids.append(writer.run_id)
    return run_ids


def main() -> None:
    from modeler.compare import compare
    from modeler.config import resolve_tracking
    from modeler.server import MlflowServer

    root = Path(tempfile.mkdtemp(prefix="modeler-bench-compare-"))
    server = MlflowServer(
        f"sqlite:///{root / 'mlflow.db'}",
        (root / "artifacts").as_uri(),
        log_path=root / "mlflow-server.log",
    )
    started = time.perf_counter()
    server.start()
    print(f"mlflow server on {server.url} (up in {time.perf_counter() - started:.1f} s)")
    try:
        sets: dict[str, tuple[object, list[str]]] = {}
        for label, n in SIZES.items():
            tracking = resolve_tracking(server.url, f"bench-compare-{label}")
            started = time.perf_counter()
            sets[label] = (tracking, write_runs(tracking, n))
            print(f"wrote {RUNS} runs of {n:,} rows each in {time.perf_counter() - started:.1f} s")

        def timed(label: str, log_report: bool) -> float:
            tracking, run_ids = sets[label]
            out = root / "reports" / f"{label}-{time.perf_counter_ns()}"
            started = time.perf_counter()
            report = compare(run_ids, tracking=tracking, output_dir=out, log_report=log_report)
            seconds = time.perf_counter() - started
            assert len(report.table) == RUNS and not report.skipped, report.skipped
            assert report.cost_figure is not None
            return seconds

        for label in SIZES:  # warm-up: imports, font cache, connections
            timed(label, True)
        times: dict[tuple[str, bool], list[float]] = {}
        for _ in range(ROUNDS):  # alternate, so drifts in machine load hit both sets alike
            for log_report in (True, False):
                for label in SIZES:
                    times.setdefault((label, log_report), []).append(timed(label, log_report))

        print(f"\ncompare() of {RUNS} runs via mlflow server, median of {ROUNDS} (seconds)")
        print(f"{'':<28} {'1M rows':>8} {'10k rows':>9} {'1M/10k':>7} {'target':>7}  ok")
        for log_report, what in ((True, "with report run logged"), (False, "build only")):
            big = statistics.median(times[("1M", log_report)])
            small = statistics.median(times[("10k", log_report)])
            ok = "yes" if big <= TARGET_S else "NO"
            print(f"{what:<28} {big:8.3f} {small:9.3f} {big / small:7.2f} {TARGET_S:7.1f}  {ok}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        print("\nserver stopped")


if __name__ == "__main__":
    main()
