"""An experiment of 10,000 runs on PostgreSQL: ``compare`` still answers within 2 s.

    .venv/bin/python bench/at_size.py                   # 10,000 runs; about 3-4 min here
    .venv/bin/python bench/at_size.py --runs 2000       # shorter

Starts the ``modeler server`` topology (``modeler.server.start_stack``: PostgreSQL, moto S3 on
127.0.0.1, ``mlflow server``) and seeds two experiments:

- ``large``: ``--runs`` runs. The 20 best by ``eval.pr_auc`` are real evaluations (modeler's
  ``build_report`` on 10,000 shared validation rows with costs: metrics, intervals, curve
  histories and the ``eval/`` files, scores.parquet included); every other run has the eval.*
  scalars of a weaker model, five ``loss`` points and no files. 30% of the others lack
  ``eval.pr_auc`` (an evaluation that failed) and 1% hold NaN (one-class validation data), so
  the ranking is by a metric some runs lack.
- ``small``: the same 20 evaluated runs alone.

How: the 20 evaluated runs and ``--api-runs`` (200) of the others go through the server's REST
API, 8 threads (``MlflowClient.create_run`` with the run's tags, ``log_batch``, ``log_artifacts``,
``set_terminated``); the rate is printed. The rest are cloned from those 200 in SQL
(``INSERT ... SELECT`` over MLflow's own ``runs``, ``tags``, ``params``, ``metrics`` and
``latest_metrics`` rows, with new run ids and a fresh ``eval.pr_auc`` per clone), because this
shared two-core machine wrote only 4-20 runs/s through the API (10,000 would take 10-40 min).
The expected ranking is read back from ``latest_metrics``.

Then, alternating large and small, median of 5 after a warm-up:

- ``accu.compare(experiment=..., top=10, by="eval.pr_auc")`` in this process (the report is
  logged as a run, as by default), counting which runs' artifacts it downloads;
- ``modeler compare --experiment ... --top 10 --by eval.pr_auc`` as a command (a fresh
  interpreter: imports included);
- ``MlflowClient.search_runs`` ordered by the metric, 30 rows (what compare asks the server).

Checks that the ten runs are the true ten best of the seeded values (NaN and missing left out,
order kept) and that only those ten runs' artifacts were downloaded. Prints seconds, the
large/small ratio and the 2 s target.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

import numpy as np  # noqa: E402

EVALUATED = 20  # runs with real evaluations and files: the best ones
TOP = 10
ROWS = 10_000
ROUNDS = 5  # medians of 5: this shared machine drifts by 20-50% within minutes
TARGET_S = 2.0
THREADS = 8
BY = "eval.pr_auc"


def _evaluations() -> list[Any]:
    """``build_report`` of EVALUATED models of rising quality on the same 10,000 rows."""
    from modeler.evaluation import build_report

    rng = np.random.default_rng(0)
    y = (rng.random(ROWS) < 0.02).astype(np.int64)
    amounts = rng.lognormal(4.0, 1.2, ROWS)
    reports = []
    for i in range(EVALUATED):
        logits = rng.normal(-4.0, 1.5, ROWS) + y * rng.normal(2.5 + 0.15 * i, 1.2, ROWS)
        scores = 1.0 / (1.0 + np.exp(-logits))
        reports.append(build_report(y, scores, costs={"fn": amounts, "fp": 5.0}))
    return reports


def _seed_evaluated(client: Any, exp_id: str, rep: Any, i: int) -> str:
    """One run as the writer logs an evaluation: tags, eval.* metrics and histories, files."""
    from mlflow.entities import Metric, Param

    tags = {"modeler.model_type": "keras", "modeler.eval_source": "validation_data", **rep.tags}
    run = client.create_run(exp_id, run_name=f"keras-eval-{i:02d}", tags=tags)
    run_id = run.info.run_id
    metrics = [Metric(f"eval.{k}", float(v), 0, 0) for k, v in rep.metrics.items()]
    for key, points in rep.histories.items():
        metrics += [Metric(f"eval.{key}", float(v), 0, step) for step, v in points]
    params = [Param("epochs", "10"), Param("batch_size", "2048")]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000],
                         params=params if start == 0 else [])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in rep.files.items():
            Path(tmp, name).write_bytes(data)
        client.log_artifacts(run_id, tmp, "eval")
    client.set_terminated(run_id)
    return run_id


def _seed_filler(client: Any, exp_id: str, i: int, ceiling: float) -> tuple[str, float | None]:
    """A run with a weaker model's eval.* scalars and no files; returns (id, its pr_auc)."""
    from mlflow.entities import Metric, Param

    rng = np.random.default_rng(1000 + i)
    roll = rng.random()
    pr_auc: float | None
    if roll < 0.30:
        pr_auc = None  # the evaluation failed: no eval.pr_auc
    elif roll < 0.31:
        pr_auc = math.nan  # one-class validation data: undefined
    else:
        pr_auc = float(rng.uniform(0.01, ceiling))
    values = {
        "roc_auc": float(rng.uniform(0.6, 0.95)),
        "precision": float(rng.random()),
        "recall": float(rng.random()),
        "f1": float(rng.random()),
        "accuracy": float(rng.uniform(0.9, 1)),
        "n": float(ROWS),
        "positives": 200.0,
    }
    if pr_auc is not None:
        values["pr_auc"] = pr_auc
    metrics = [Metric(f"eval.{k}", v, 0, 0) for k, v in values.items()]
    metrics += [Metric("loss", float(rng.random()), 0, step) for step in range(5)]
    tags = {"modeler.model_type": "LogisticRegression", "modeler.task": "binary",
            "modeler.eval_source": "validation_data", "modeler.threshold": "0.5"}  # fmt: skip
    run = client.create_run(exp_id, run_name=f"LogisticRegression-{i:05d}", tags=tags)
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=metrics, params=[Param("C", str(rng.random()))])
    client.set_terminated(run_id)
    return run_id, pr_auc


def _ceiling(reports: list[Any]) -> float:
    """Other runs rank below every evaluated one, so the ten best all have files."""
    return min(float(r.metrics["pr_auc"]) for r in reports) - 0.01


def seed(client: Any, name: str, reports: list[Any], fillers: int) -> str:
    """Create experiment ``name`` with the evaluated runs and ``fillers`` others, through the
    REST API; returns the experiment id."""
    exp_id = client.create_experiment(name)
    ceiling = _ceiling(reports)
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda a: _seed_evaluated(client, exp_id, *a),
                      [(rep, i) for i, rep in enumerate(reports)]))  # fmt: skip
        list(pool.map(lambda i: _seed_filler(client, exp_id, i, ceiling), range(fillers)))
    return str(exp_id)


_RUN_TABLES = ("tags", "params", "metrics", "latest_metrics")


def clone(postgres_url: str, exp_id: str, copies: int, ceiling: float, limit: int) -> int:
    """Clone the experiment's LogisticRegression runs ``copies`` times each, in SQL: every
    column as MLflow wrote it, a new run id (md5 of source and copy number), name and start
    time, and a fresh ``eval.pr_auc`` below ``ceiling`` where the source had a number;
    ``limit`` clones at most."""
    import psycopg2

    if copies <= 0:
        return 0
    conn = psycopg2.connect(postgres_url.replace("+psycopg2", "", 1))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE clone_map AS SELECT r.run_uuid AS src, "
                "md5(r.run_uuid || ':' || g) AS dst, g, random() * %s AS pr_auc "
                "FROM runs r, generate_series(1, %s) g "
                "WHERE r.experiment_id = %s AND r.name LIKE 'LogisticRegression-%%' "
                "ORDER BY g, r.run_uuid LIMIT %s",
                (ceiling - 0.011, copies, int(exp_id), limit),
            )
            special = {
                "run_uuid": "m.dst",
                "name": "t.name || '-' || m.g",
                "start_time": "t.start_time + m.g",
                "end_time": "t.end_time + m.g",
                "artifact_uri": "replace(t.artifact_uri, t.run_uuid, m.dst)",
            }
            values = {
                "tags": "CASE WHEN t.key = 'mlflow.runName' THEN t.value || '-' || m.g "
                "ELSE t.value END",
                "metrics": "CASE WHEN t.key = 'eval.pr_auc' AND NOT t.is_nan THEN m.pr_auc "
                "ELSE t.value END",
            }
            values["latest_metrics"] = values["metrics"]
            for table in ("runs", *_RUN_TABLES):
                cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "AND table_schema = current_schema() ORDER BY ordinal_position",
                    (table,),
                )
                columns = [c for (c,) in cur.fetchall()]
                if table == "runs":
                    chosen = [special.get(c, f"t.{c}") for c in columns]
                else:  # the run id, the run name tag and eval.pr_auc change
                    chosen = [("m.dst" if c == "run_uuid" else values.get(table, "t.value")
                               if c == "value" else f"t.{c}") for c in columns]  # fmt: skip
                cur.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(chosen)} "
                    f"FROM {table} t JOIN clone_map m ON t.run_uuid = m.src"
                )
            cur.execute("SELECT count(*) FROM clone_map")
            (made,) = cur.fetchone()
    finally:
        conn.close()
    return int(made)


def truth_of(postgres_url: str, exp_id: str) -> dict[str, float | None]:
    """{run id: its eval.pr_auc} for every run of the experiment, read from PostgreSQL
    (None when the run lacks it, NaN when it holds NaN)."""
    import psycopg2

    conn = psycopg2.connect(postgres_url.replace("+psycopg2", "", 1))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT r.run_uuid, m.value, m.is_nan FROM runs r LEFT JOIN latest_metrics m "
                "ON m.run_uuid = r.run_uuid AND m.key = %s WHERE r.experiment_id = %s",
                (BY, int(exp_id)),
            )
            return {
                run_id: None if value is None else math.nan if is_nan else float(value)
                for run_id, value, is_nan in cur.fetchall()
            }
    finally:
        conn.close()


def true_top(truth: dict[str, float | None]) -> list[str]:
    ranked = [(v, k) for k, v in truth.items() if v is not None and not math.isnan(v)]
    return [k for _, k in sorted(ranked, reverse=True)[:TOP]]


# What ``modeler compare`` imports against a server (modeler.tracking.rest: no MLflow; the
# forked children import scipy.sparse and matplotlib for themselves).
CLI_IMPORTS = (
    "import click, numpy, pyarrow.parquet, requests, jinja2, scipy.sparse, modeler.cli, "
    "modeler.compare, modeler.evidence, modeler.report, modeler.tracking.rest"
)


def count_downloads() -> dict[str, int]:
    """Wrap compare's artifact download to count files per run."""
    import modeler.compare as cmp

    counts: dict[str, int] = {}
    original = cmp._download

    def counted(fetch: Any, run: Any, path: str, dst: Path) -> Path:
        counts[run.info.run_id] = counts.get(run.info.run_id, 0) + 1
        return original(fetch, run, path, dst)

    cmp._download = counted  # type: ignore[assignment]
    return counts


# compare's steps in the calling process (the paired bootstrap, the page's points and the
# figures with their PNGs run in forked children meanwhile; _log_report also waits for the PNGs)
PHASES = ("_select_top", "_load", "_write", "_log_report")


def time_phases() -> dict[str, list[float]]:
    """Wrap compare's steps to collect their seconds, per call (the last call is last)."""
    import modeler.compare as cmp

    seconds: dict[str, list[float]] = {}
    for name in PHASES:
        original = getattr(cmp, name)

        def timed(*args: Any, _f: Any = original, _name: str = name, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                seconds.setdefault(_name, []).append(time.perf_counter() - t0)

        setattr(cmp, name, timed)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--api-runs", type=int, default=200, help="others through the API")
    args = parser.parse_args(argv)
    from mlflow import MlflowClient

    from modeler import accu
    from modeler.server import start_stack

    root = Path(tempfile.mkdtemp(prefix="modeler-at-size-"))
    started = time.perf_counter()
    stack = start_stack(root / "stack", port=0)
    print(f"stack up in {time.perf_counter() - started:.0f} s: {stack}")
    failed = wrong = False
    pg_url = stack.postgres_url
    try:
        if pg_url is None:
            raise SystemExit("this bench needs PostgreSQL (.ci/setup-system.sh installs it)")
        client = MlflowClient(stack.tracking_uri)
        started = time.perf_counter()
        reports = _evaluations()
        print(f"{EVALUATED} evaluations on {ROWS:,} rows built in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        truths: dict[str, dict[str, float | None]] = {}
        others = max(0, min(args.api_runs, args.runs - EVALUATED))
        for label, fillers in (("large", others), ("small", 0)):
            started = time.perf_counter()
            exp_id = seed(client, f"at-size-{label}", reports, fillers)
            took = time.perf_counter() - started
            n = EVALUATED + fillers
            print(f"seeded {label}: {n:,} runs through the REST API in {took:.1f} s "
                  f"({n / took:.1f} runs/s)")  # fmt: skip
            if label == "large" and fillers:
                started = time.perf_counter()
                copies = math.ceil((args.runs - EVALUATED - fillers) / fillers)
                made = clone(pg_url, exp_id, copies, _ceiling(reports),
                             args.runs - EVALUATED - fillers)  # fmt: skip
                print(f"  + {made:,} clones of those {fillers} in SQL in "
                      f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            truths[label] = truth_of(pg_url, exp_id)
        lacking = sum(v is None for v in truths["large"].values())
        nan = sum(v is not None and math.isnan(v) for v in truths["large"].values())
        print(f"large: {len(truths['large']):,} runs; {lacking:,} lack {BY}, {nan} hold NaN\n")

        os.environ["MLFLOW_TRACKING_URI"] = stack.tracking_uri
        downloads = count_downloads()
        steps = time_phases()
        step_times: dict[str, dict[str, list[float]]] = {"large": {}, "small": {}}
        times: dict[tuple[str, str], list[float]] = {}

        def time_api(label: str) -> float:
            accu.set_tracking(stack.tracking_uri, f"at-size-{label}")
            downloads.clear()
            steps.clear()
            t0 = time.perf_counter()
            report = accu.compare(experiment=f"at-size-{label}", top=TOP, by=BY,
                                  output_dir=root / f"report-{time.perf_counter_ns()}")  # fmt: skip
            took = time.perf_counter() - t0
            for name, values in steps.items():
                step_times[label].setdefault(name, []).append(sum(values))
            nonlocal wrong
            want = true_top(truths[label])
            if report.run_ids != want:
                wrong = True
                print(f"  ! {label}: compare chose {report.run_ids}, the ten best are {want}")
            if sorted(downloads) != sorted(want):
                wrong = True
                print(f"  ! {label}: artifacts of {len(downloads)} runs downloaded")
            return took

        def time_cli(label: str) -> float:
            t0 = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "modeler.cli", "compare", "--experiment",
                 f"at-size-{label}", "--top", str(TOP), "--by", BY,
                 "--out", str(root / f"cli-{time.perf_counter_ns()}")],
                capture_output=True, text=True, timeout=300, cwd=root,
                env={**os.environ, "MODELER_TEST_MODE": "0"},
            )  # fmt: skip
            took = time.perf_counter() - t0
            if done.returncode != 0:
                nonlocal wrong
                wrong = True
                print(f"  ! modeler compare failed: {done.stderr[-800:]}")
            return took

        def time_search(label: str) -> float:
            exp = client.get_experiment_by_name(f"at-size-{label}")
            assert exp is not None
            t0 = time.perf_counter()
            client.search_runs([exp.experiment_id], filter_string=f"metrics.`{BY}` > -1e308",
                               order_by=[f"metrics.`{BY}` DESC"], max_results=TOP + 20)  # fmt: skip
            return time.perf_counter() - t0

        def time_imports(label: str) -> float:
            """The floor of any command: a fresh interpreter importing what compare needs."""
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", CLI_IMPORTS], check=True)
            return time.perf_counter() - t0

        timers = {"search": time_search, "accu.compare": time_api,
                  "modeler compare": time_cli, "  its imports": time_imports}  # fmt: skip
        for what, fn in timers.items():
            fn("large")  # warm-up
            for r in range(ROUNDS):
                for label in ("large", "small") if r % 2 == 0 else ("small", "large"):
                    times.setdefault((what, label), []).append(fn(label))
        print(f"{'':18}{'large':>8}{'small':>8}{'ratio':>7}   (median of {ROUNDS}, seconds)")
        for what in ("search", "accu.compare", "modeler compare", "  its imports"):
            large = statistics.median(times[(what, "large")])
            small = statistics.median(times[(what, "small")])
            timed = what in ("accu.compare", "modeler compare")
            verdict = "" if not timed else (" ok" if large <= TARGET_S else " OVER 2 s")
            print(f"{what:18}{large:8.2f}{small:8.2f}{large / small:7.2f}{verdict}")
        print("accu.compare's steps (median s):", end="")
        for name in PHASES:
            large = statistics.median(step_times["large"].get(name, [0.0]))
            small = statistics.median(step_times["small"].get(name, [0.0]))
            print(f" {name.strip('_')} {large:.2f}/{small:.2f}", end="")
        print(" (large/small)")
        print(f"\nartifacts downloaded by the last accu.compare: {len(downloads)} runs, "
              f"{sum(downloads.values())} files; every compare chose the seeded ten best in "
              f"order and downloaded only theirs: {'no' if wrong else 'yes'}")  # fmt: skip
        failed |= wrong
    finally:
        accu.set_tracking(None, None)
        stack.stop(purge=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
