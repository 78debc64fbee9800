"""Time ``compare`` of 10 runs through a local ``mlflow server``, for 1M-row and 10k-row runs.

    .venv/bin/python bench/compare.py

Starts ``mlflow server`` (SQLite backend, ``--artifacts-destination`` a temporary folder,
127.0.0.1, a free port, gunicorn with 2 workers, job execution off: ``modeler.server``),
writes 10 runs evaluated on the same 1,000,000 rows (~0.2% positives, per-row amounts as
costs, random scores with some signal) and 10 runs on the same 10,000 rows, each with what the
writer logs (``build_report``: metrics with intervals, the decision threshold, curve
histories, curves.json, cost_curve.json and scores.parquet, capped at 100,000 rows), then times
``compare(run_ids)`` on each set, alternating, median of 3 after one warm-up round:

- with the report logged as a run in the companion experiment (``accu.compare``'s default),
- the build alone (``log_report=False``).

Both include reading every run's scores.parquet, the exact operating points and the paired
bootstrap (the runs share their rows). Prints seconds for each set, the ratio 1M/10k and the
2 s target, where the time goes in this process, and the forked children's jobs timed alone.
Stops the server at the end.
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


def fraud_like(n: int, seed: int, y=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (or the ones given), sigmoid scores with some signal, transaction amounts."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < RATE).astype(np.int64) if y is None else y
    signal = 2.0 + 0.3 * (seed % RUNS)  # each run a little better than the last
    logits = rng.normal(-4.0, 1.5, n) + y * rng.normal(signal, 1.5, n)
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return y, scores, rng.lognormal(4.0, 1.2, n)


def log_run(client, experiment_id: str, y, scores, amounts) -> str:
    """One run as the writer logs it (its evaluation, histories and eval/ files)."""
    import tempfile

    from mlflow.entities import Metric, RunTag

    from modeler.evaluation import build_report

    rep = build_report(y, scores, costs={"fn": amounts, "fp": 5.0})
    run_id = client.create_run(experiment_id).info.run_id
    metrics = [
        Metric(f"eval.{k}", float(v), 0, 0) for k, v in rep.metrics.items() if np.isfinite(v)
    ]
    for key, points in rep.histories.items():
        metrics += [Metric(f"eval.{key}", v, 0, step) for step, v in points]
    for i in range(0, len(metrics), 1000):
        tags = [RunTag(k, v) for k, v in rep.tags.items()] if i == 0 else []
        client.log_batch(run_id, metrics=metrics[i : i + 1000], tags=tags)
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in rep.files.items():
            (Path(tmp) / name).write_bytes(data)
        client.log_artifacts(run_id, tmp, "eval")
    client.set_terminated(run_id)
    return run_id


def write_runs(tracking, n: int) -> list[str]:
    """Ten runs evaluated on the same ``n`` rows, with costs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking.uri)
    exp = client.get_experiment_by_name(tracking.experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(tracking.experiment)
    y, _, amounts = fraud_like(n, seed=0)
    return [log_run(client, exp_id, y, fraud_like(n, seed=i, y=y)[1], amounts) for i in range(RUNS)]


CALLER_PHASES = ("_load", "_write", "_log_report")


def _phase_timer() -> dict[str, list[float]]:
    """Wrap compare's phases in this process to add up their seconds and calls.

    _load: curves, cost curves and scores; _write: table and HTML; _log_report: the report run
    (it also waits for the PNGs). The paired bootstrap, the page's points and the figures with
    their PNGs run in forked children meanwhile: the rest of a call is the time spent waiting
    for them.
    """
    import modeler.compare as cmp

    totals: dict[str, list[float]] = {}
    for name in CALLER_PHASES:
        original = getattr(cmp, name)

        def timed(*args, _f=original, _name=name, **kwargs):
            started = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                entry = totals.setdefault(_name, [0.0, 0])
                entry[0] += time.perf_counter() - started
                entry[1] += 1

        setattr(cmp, name, timed)
    return totals


def _children_alone(tracking, run_ids: list[str], out: Path) -> dict[str, float]:
    """Seconds of each job compare gives a forked child, run alone here (median of 3)."""
    from mlflow.tracking import MlflowClient

    import modeler.compare as cmp

    client = MlflowClient(tracking.uri)
    loaded, _ = cmp._load(client, tracking.uri, cmp._select_runs(client, run_ids))
    out.mkdir(parents=True, exist_ok=True)
    jobs = {
        "paired evidence": lambda: cmp._evidence(loaded),
        "page points": lambda: cmp._page_runs(loaded),
        "figures and PNGs": lambda: cmp._write_pngs(out, loaded),
    }
    seconds = {}
    for name, job in jobs.items():
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            job()
            runs.append(time.perf_counter() - started)
        seconds[name] = statistics.median(runs)
    return seconds


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
            assert report.cost_figure is not None and report.evidence.paired
            return seconds

        phases = _phase_timer()
        for label in SIZES:  # warm-up: imports, font cache, connections
            timed(label, True)
        phases.clear()
        times: dict[tuple[str, bool], list[float]] = {}
        for _ in range(ROUNDS):  # alternate, so drifts in machine load hit both sets alike
            for log_report in (True, False):
                for label in SIZES:
                    times.setdefault((label, log_report), []).append(timed(label, log_report))
        calls = sum(len(v) for v in times.values())
        waiting = sum(sum(v) for v in times.values()) - sum(t for t, _ in phases.values())

        print(f"\ncompare() of {RUNS} runs via mlflow server, median of {ROUNDS} (seconds)")
        print(f"{'':<28} {'1M rows':>8} {'10k rows':>9} {'1M/10k':>7} {'target':>7}  ok")
        for log_report, what in ((True, "with report run logged"), (False, "build only")):
            big = statistics.median(times[("1M", log_report)])
            small = statistics.median(times[("10k", log_report)])
            ok = "yes" if big <= TARGET_S else "NO"
            print(f"{what:<28} {big:8.3f} {small:9.3f} {big / small:7.2f} {TARGET_S:7.1f}  {ok}")
        print("\nwhere the time goes, mean per call over both sets and modes (seconds):")
        for name, (total, n) in phases.items():
            print(f"  {name:<28} {total / n:.3f}")
        print(f"  {'waiting for the children':<28} {waiting / calls:.3f}")
        print("\nthe children's jobs on the 1M set, each alone in this process (seconds):")
        tracking, run_ids = sets["1M"]
        for name, seconds in _children_alone(tracking, run_ids, root / "alone").items():
            print(f"  {name:<28} {seconds:.3f}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        print("\nserver stopped")


if __name__ == "__main__":
    main()
