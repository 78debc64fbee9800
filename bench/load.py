"""The team's tracking stack under load: N clients training at once, then faults under load.

    .venv/bin/python bench/load.py                        # N = 2, 4, 8 and faults: ~10 min
    .venv/bin/python bench/load.py --clients 2 --runs 2   # a short look
    .venv/bin/python bench/load.py --workers 2            # another server setting

Starts the ``modeler server`` topology on 127.0.0.1 (``modeler.server.start_stack``: a private
PostgreSQL cluster, a moto S3 endpoint, ``mlflow server`` with ``--workers W`` serving the
artifacts). For each N, N client processes start together (a barrier after their imports) and
each makes ``--runs`` autologged scikit-learn runs one after another (LogisticRegression and
RandomForest in turn, 20,000 rows, 3% positives); every second client also makes one Keras run
(3 epochs). Side by side in the same stack, alternating which goes first:

- ``modeler``: ``accu.autolog(validation=...)``; a run is complete when ``accu.wait()``
  returns with its journal gone (uploaded);
- ``mlflow``: ``mlflow.sklearn.autolog()`` (and ``mlflow.keras.autolog()``), which ends its
  run inside ``fit``.

Printed per N and variant: runs/s (runs over the time from the barrier to the last run
complete), p50/p95 of ``fit`` and of the time from ``fit`` returning to its run complete,
errors; then the counts on the server: runs by status, metric points (and duplicates: two
points of one key at one step), artifacts in S3, logged models, and whether every run of a
kind holds the same content (``nothing lost, nothing duplicated``).

``--faults``: the modeler variant at the largest N again, while the harness kills the mlflow
server (SIGKILL to all its workers) and starts it again once a quarter of the fits returned,
then restarts PostgreSQL (fast shutdown, 3 s down) at half. Clients go on training; what their
uploader could not send waits in their journals and ``modeler sync`` (run once the clients
ended, as a user would) completes it. The same counts are checked, and every run must match
the content of a run of its kind from the fault-free load. The MLflow variant under the same
faults is shown beside it. ``--json PATH`` writes everything measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROWS, POSITIVE_RATE, EPOCHS = 20_000, 0.03, 3
CLIENT_TIMEOUT_S = 600.0
MAX_FITS_UNDER_FAULTS = 60


# --- the client: one user's process ------------------------------------------------------------
def _data() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=ROWS, n_features=20, n_informative=8, weights=[1 - POSITIVE_RATE],
        flip_y=0.005, random_state=0,
    )  # fmt: skip
    x = x.astype("float32")
    split = int(ROWS * 0.7)
    return x[:split], y[:split], x[split:], y[split:]


def _estimator(k: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if k % 2 == 0:
        return LogisticRegression(max_iter=300)
    return RandomForestClassifier(n_estimators=30, max_depth=8, n_jobs=1, random_state=0)


def _keras_model(keras: Any, width: int) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((width,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    return model


def _journals() -> int:
    folder = Path("mlruns/journal")
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.is_dir() and p.name != "damaged")


def client(spec: dict[str, Any]) -> None:
    """One user: imports, waits for the barrier, then fits one after another.

    Writes ``result.json`` in its folder (the working directory) and appends a line to
    ``progress`` after each fit returns.
    """
    import warnings

    import numpy as np  # noqa: F401  (imported before the barrier, like everything heavy)

    x, y, xv, yv = _data()
    keras = None
    if spec["keras"]:
        import keras  # type: ignore[no-redef]
    variant = spec["variant"]
    if variant == "modeler":
        from modeler import accu

        accu.set_tracking(spec["uri"], spec["experiment"])
        accu.autolog(validation=(xv, yv))
    else:
        import mlflow

        mlflow.set_tracking_uri(spec["uri"])
        mlflow.set_experiment(spec["experiment"])
        mlflow.sklearn.autolog()
        if keras is not None:
            mlflow.keras.autolog()
    # A fixed number of fits, or (under faults) fits until the harness says stop.
    stop = Path(spec["stop"]) if spec.get("stop") else None
    count = MAX_FITS_UNDER_FAULTS if stop else spec["runs"]
    jobs: list[tuple[str, Any]] = [("sklearn", k) for k in range(count)]
    if keras is not None:
        jobs.insert(min(len(jobs), 2 if stop else len(jobs) // 2), ("keras", None))
    Path("ready").write_text("")
    go = Path(spec["go"])
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)

    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kind, k in jobs:
            if stop is not None and stop.exists():
                break
            started = time.time()
            try:
                if kind == "keras":
                    model = _keras_model(keras, x.shape[1])
                    model.fit(x, y, validation_data=(xv, yv), epochs=EPOCHS, batch_size=512,
                              verbose=0)  # fmt: skip
                    name = "keras"
                else:
                    est = _estimator(k)
                    est.fit(x, y)
                    name = type(est).__name__
            except Exception as exc:  # the fit itself failed: count it, go on
                errors.append(f"{kind} fit: {type(exc).__name__}: {exc}"[:300])
                continue
            returned = time.time()
            with open("progress", "a") as fh:
                fh.write(f"{name}\n")
            complete = True
            if variant == "modeler":
                accu.wait()
                complete = _journals() == 0
            done = time.time()
            runs.append(
                {
                    "kind": name,
                    "fit_s": returned - started,
                    "complete_s": done - returned if complete else None,
                    "complete_at": done if complete else None,
                }
            )
        warned = [str(w.message)[:300] for w in caught if "Warning" in w.category.__name__]
    result = {
        "runs": runs,
        "errors": errors,
        "warnings": warned,
        "left_in_journal": _journals() if variant == "modeler" else 0,
    }
    Path("result.json").write_text(json.dumps(result))


# --- the harness ---------------------------------------------------------------------------------
def _client_env(uri: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "AWS_")) and k != "MODELER_TEST_MODE"
    }
    env.update(
        {
            "MODELER_TEST_MODE": "0",  # as users run: background upload, warnings
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "MPLBACKEND": "Agg",
            "PYTHONPATH": str(REPO),
        }
    )
    return env


class Phase:
    """N clients of one variant against one experiment, started together."""

    def __init__(
        self,
        root: Path,
        uri: str,
        variant: str,
        n: int,
        runs: int,
        tag: str,
        until_stop: bool = False,
        keras: bool = True,
    ) -> None:
        self.root = root / f"{tag}-{variant}-n{n}"
        self.stop = self.root / "stop" if until_stop else None
        self.keras = keras
        self.uri = uri
        self.variant = variant
        self.n = n
        self.runs = runs
        self.experiment = f"load-{tag}-{variant}-n{n}"
        self.folders = [self.root / f"client-{i}" for i in range(n)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.go = self.root / "go"
        self.t_go = 0.0
        self.t_end = 0.0

    @property
    def fits_expected(self) -> int:
        """Fits the clients will make (under faults: have made, once they ended)."""
        if self.stop is not None:
            return self.fits_done()
        return sum(self.runs + (i % 2 if self.keras else 0) for i in range(self.n))

    def fits_done(self) -> int:
        total = 0
        for folder in self.folders:
            try:
                total += len((folder / "progress").read_text().splitlines())
            except OSError:
                pass
        return total

    def start(self) -> None:
        env = _client_env(self.uri)
        for i, folder in enumerate(self.folders):
            folder.mkdir(parents=True)
            spec = {
                "variant": self.variant,
                "uri": self.uri,
                "experiment": self.experiment,
                "runs": self.runs,
                "keras": self.keras and i % 2 == 1,
                "go": str(self.go),
                "stop": str(self.stop) if self.stop else None,
            }
            with open(folder / "client.log", "wb") as log:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "client", json.dumps(spec)],
                        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                    )
                )  # fmt: skip
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while not all((f / "ready").exists() for f in self.folders):
            if any(p.poll() not in (None, 0) for p in self.procs):
                bad = next(f for f, p in zip(self.folders, self.procs, strict=True) if p.poll())
                raise SystemExit(f"a client died before the barrier: {bad / 'client.log'}")
            if time.monotonic() > deadline:
                raise SystemExit(f"clients not ready after {CLIENT_TIMEOUT_S:.0f} s: {self.root}")
            time.sleep(0.1)
        self.t_go = time.time()
        self.go.write_text("")

    def join(self) -> list[dict[str, Any]]:
        results = []
        for folder, proc in zip(self.folders, self.procs, strict=True):
            try:
                proc.wait(timeout=CLIENT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            try:
                results.append(json.loads((folder / "result.json").read_text()))
            except (OSError, ValueError):
                tail = (folder / "client.log").read_text(errors="replace")[-1500:]
                results.append({"runs": [], "errors": [f"client exited {proc.returncode}: {tail}"],
                                "warnings": [], "left_in_journal": None})  # fmt: skip
        ends = [r["complete_at"] for res in results for r in res["runs"] if r["complete_at"]]
        self.t_end = max(ends, default=time.time())
        return results

    def sync(self) -> list[dict[str, Any]]:
        """``modeler sync`` in every client folder that still holds journals: per folder its
        exit code, the runs it synced and the lines that were not ``synced ...``."""
        outputs = []
        for folder in self.folders:
            if not (folder / "mlruns" / "journal").is_dir() or not any(
                p.name != "damaged" for p in (folder / "mlruns" / "journal").iterdir()
            ):
                continue
            done = subprocess.run(
                [sys.executable, "-m", "modeler.cli", "sync"],
                cwd=folder, env=_client_env(self.uri), capture_output=True, text=True,
                timeout=CLIENT_TIMEOUT_S,
            )  # fmt: skip
            lines = done.stdout.splitlines()
            outputs.append(
                {
                    "client": folder.name,
                    "exit": done.returncode,
                    "synced": sum(line.startswith("synced ") for line in lines),
                    "other": [line for line in lines if not line.startswith("synced ")][:5],
                }
            )
        return outputs


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarize(phase: Phase, results: list[dict[str, Any]]) -> dict[str, Any]:
    runs = [r for res in results for r in res["runs"]]
    complete = [r for r in runs if r["complete_s"] is not None]
    fit = [r["fit_s"] for r in runs]
    lag = [r["complete_s"] for r in complete]
    total = [r["fit_s"] + r["complete_s"] for r in complete]
    span = phase.t_end - phase.t_go
    return {
        "variant": phase.variant,
        "clients": phase.n,
        "experiment": phase.experiment,
        "fits": len(runs),
        "complete_in_client": len(complete),
        "runs_per_s": len(complete) / span if span > 0 and complete else 0.0,
        "span_s": span,
        "fit_p50": _pct(fit, 50),
        "fit_p95": _pct(fit, 95),
        "lag_p50": _pct(lag, 50),
        "lag_p95": _pct(lag, 95),
        "run_p50": _pct(total, 50),
        "run_p95": _pct(total, 95),
        "errors": [e for res in results for e in res["errors"]],
        "warnings": [w for res in results for w in res["warnings"]],
        "left_in_journal": sum(res["left_in_journal"] or 0 for res in results),
    }


# --- counting what the server holds ---------------------------------------------------------
def count(stack: Any, experiment: str) -> dict[str, Any]:
    """Runs, metric points, artifacts and models of ``experiment``, read from PostgreSQL and
    S3 directly (not through the server under test)."""
    import boto3
    import psycopg2

    conn = psycopg2.connect(stack.postgres_url.replace("+psycopg2", "", 1))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT experiment_id FROM experiments WHERE name = %s", (experiment,))
            row = cur.fetchone()
            if row is None:
                return {"runs": {}, "experiment_id": None}
            exp_id = str(row[0])
            cur.execute(
                "SELECT run_uuid, name, status FROM runs WHERE experiment_id = %s", (exp_id,)
            )
            runs = {rid: {"name": name, "status": status} for rid, name, status in cur.fetchall()}
            ids = list(runs)
            cur.execute(
                "SELECT run_uuid, key, count(*), count(DISTINCT step) FROM metrics "
                "WHERE run_uuid = ANY(%s) GROUP BY run_uuid, key",
                (ids,),
            )
            for rid, key, points, steps in cur.fetchall():
                runs[rid].setdefault("metrics", {})[key] = (points, steps)
            cur.execute(
                "SELECT run_uuid, key, value FROM tags WHERE run_uuid = ANY(%s) AND key IN "
                "('modeler.journal_id', 'modeler.logging_error', 'modeler.model_missing', "
                "'modeler.recovered', 'modeler.journal_truncated', 'modeler.model_type')",
                (ids,),
            )
            for rid, key, value in cur.fetchall():
                runs[rid].setdefault("tags", {})[key] = value
            cur.execute("SELECT run_uuid, count(*) FROM params WHERE run_uuid = ANY(%s) "
                        "GROUP BY run_uuid", (ids,))  # fmt: skip
            for rid, n in cur.fetchall():
                runs[rid]["params"] = n
            cur.execute(
                "SELECT source_run_id, model_id FROM logged_models WHERE experiment_id = %s",
                (int(exp_id),),
            )
            models: dict[str, list[str]] = {}
            for rid, model_id in cur.fetchall():
                models.setdefault(rid, []).append(model_id)
    finally:
        conn.close()
    creds = stack.s3_credentials
    s3 = boto3.client(
        "s3", endpoint_url=stack.s3_endpoint, region_name="us-east-1",
        aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
    )  # fmt: skip
    files: dict[str, list[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.bucket, Prefix=f"{exp_id}/"
    ):
        for obj in page.get("Contents", []):
            parts = obj["Key"].split("/")  # <exp>/<run>/artifacts/... or <exp>/models/<m>/...
            owner = parts[2] if parts[1] == "models" else parts[1]
            files.setdefault(owner, []).append("/".join(parts[3:]))
    for rid, run in runs.items():
        run["models"] = sorted(models.get(rid, []))
        run["artifacts"] = sorted(files.get(rid, []))
        run["model_files"] = sorted(f for m in run["models"] for f in files.get(m, []))
    return {"experiment_id": exp_id, "runs": runs}


def _kind(run: dict[str, Any]) -> str:
    """modeler's model type tag, else (MLflow's runs) the first word of the run name."""
    return str(run.get("tags", {}).get("modeler.model_type") or str(run["name"]).split("-")[0])


def signature(run: dict[str, Any]) -> dict[str, Any]:
    """What every run of one kind must hold alike (ids and timings left out)."""
    return {
        "metrics": dict(sorted(run.get("metrics", {}).items())),
        "params": run.get("params", 0),
        "artifacts": run["artifacts"],
        "models": len(run["models"]),
        "model_files": run["model_files"],
    }


def check(counted: dict[str, Any], expected_runs: int, variant: str,
          reference: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """Nothing lost, nothing duplicated: problems found (empty when all is well)."""
    runs = counted["runs"]
    problems: list[str] = []
    if len(runs) != expected_runs:
        problems.append(f"{len(runs)} runs on the server, {expected_runs} fits made")
    statuses: dict[str, int] = {}
    for run in runs.values():
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    if statuses.get("FINISHED", 0) != len(runs):
        problems.append(f"statuses {statuses}")
    points = sum(p for run in runs.values() for p, _ in run.get("metrics", {}).values())
    repeated: dict[str, int] = {}
    for run in runs.values():
        for key, (p, s) in run.get("metrics", {}).items():
            if p > s:
                repeated[key] = repeated.get(key, 0) + p - s
    notes: list[str] = []
    if repeated:
        message = f"{sum(repeated.values())} metric points repeat a step: {repeated}"
        # MLflow's Keras autolog logs validation_loss once more at the last epoch's step
        (problems if variant == "modeler" else notes).append(message)
    models = sum(len(run["models"]) for run in runs.values())
    if models != len(runs):
        problems.append(f"{models} logged models for {len(runs)} runs")
    artifacts = sum(len(run["artifacts"]) + len(run["model_files"]) for run in runs.values())
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for run in runs.values():
        by_kind.setdefault(_kind(run), []).append(run)
    if variant == "modeler":
        journal_ids = {run.get("tags", {}).get("modeler.journal_id") for run in runs.values()}
        if None in journal_ids or len(journal_ids) != len(runs):
            problems.append(f"{len(journal_ids)} distinct journal ids for {len(runs)} runs")
        for run in runs.values():
            for tag in ("modeler.logging_error", "modeler.model_missing"):
                if tag in run.get("tags", {}):
                    problems.append(f"{run['name']}: {tag}={run['tags'][tag][:200]}")
        for kind, group in by_kind.items():
            want = (reference or {}).get(kind) or signature(group[0])
            odd = [r["name"] for r in group if signature(r) != want]
            if odd:
                problems.append(f"{len(odd)} {kind} runs differ from the others: {odd[:3]}")
    return {
        "runs": len(runs),
        "statuses": statuses,
        "metric_points": points,
        "artifacts": artifacts,
        "models": models,
        "recovered": sum("modeler.recovered" in r.get("tags", {}) for r in runs.values()),
        "problems": problems,
        "notes": notes,
        "signatures": {kind: signature(group[0]) for kind, group in by_kind.items()},
    }


# --- faults ------------------------------------------------------------------------------------
def inject_faults(stack: Any, phase: Phase, log: list[str]) -> threading.Thread:
    """While the clients train: once each made a fit, kill the mlflow server (every worker,
    SIGKILL) and start it again; after N more fits, restart PostgreSQL (3 s down); after N
    more, tell the clients to stop. Each event is logged with its time since the barrier."""

    def more_fits(n: int) -> None:
        target = phase.fits_done() + n
        while phase.fits_done() < target and any(p.poll() is None for p in phase.procs):
            time.sleep(0.1)

    def say(what: str) -> None:
        log.append(f"{time.time() - phase.t_go:6.1f} s  {what} (fits returned so far: "
                   f"{phase.fits_done()})")  # fmt: skip

    def run() -> None:
        try:
            more_fits(phase.n)
            say("mlflow server killed (SIGKILL, every worker)")
            stack.server.stop(kill=True)
            time.sleep(2.0)
            stack.server.start()
            say("mlflow server answers again")
            more_fits(phase.n)
            say("PostgreSQL stopping (fast shutdown), down for 3 s")
            stack.postgres.restart(down_for=3.0)
            say("PostgreSQL up again")
            more_fits(phase.n)
        finally:
            if phase.stop is not None:
                phase.stop.write_text("")
                say("clients told to stop")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- main ----------------------------------------------------------------------------------------
Measured = tuple[dict[str, Any], dict[str, Any], list[str]]


def run_phase(
    stack: Any, root: Path, variant: str, n: int, runs: int, tag: str, faults: bool = False
) -> Measured:
    phase = Phase(root, stack.tracking_uri, variant, n, runs, tag, until_stop=faults)
    phase.start()
    events: list[str] = []
    injector = inject_faults(stack, phase, events) if faults else None
    results = phase.join()
    if injector is not None:
        injector.join(timeout=300)
        stack.server.start()  # no-op unless the load ended before the restart
        stack.postgres.start()
    summary = summarize(phase, results)
    summary["synced"] = phase.sync() if variant == "modeler" else []
    summary["synced_runs"] = sum(out["synced"] for out in summary["synced"])
    counted = {"expected": phase.fits_expected, "counted": count(stack, phase.experiment)}
    return summary, counted, events


def _fmt(x: float | None) -> str:
    return "    -" if x is None or x != x else f"{x:5.2f}"


def print_row(s: dict[str, Any], c: dict[str, Any]) -> None:
    print(
        f"{s['variant']:8} {s['clients']:>2} {s['runs_per_s']:6.2f} "
        f"{_fmt(s['fit_p50'])} {_fmt(s['fit_p95'])} {_fmt(s['lag_p50'])} {_fmt(s['lag_p95'])} "
        f"{_fmt(s['run_p50'])} {_fmt(s['run_p95'])} {len(s['errors']):>4}  "
        f"{c['runs']:>3}/{c.get('expected', c['runs']):<3} {c['metric_points']:>7} "
        f"{c['artifacts']:>5} {c['models']:>4}  {'ok' if not c['problems'] else 'PROBLEMS'}"
    )
    for problem in c["problems"][:8]:
        print(f"    ! {problem}")
    for note in c.get("notes", []):
        print(f"    ({note})")
    for error in s["errors"][:3]:
        print(f"    error: {error[:200]}")


HEADER = (
    "variant   N runs/s fit50 fit95 lag50 lag95 run50 run95 errs  runs    points  arts mods\n"
    "                   (s: fit = fit call; lag = fit return -> run complete; run = both)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="2,4,8", help="comma-separated N (default 2,4,8)")
    parser.add_argument("--runs", type=int, default=3, help="scikit-learn runs per client")
    parser.add_argument("--workers", type=int, default=None, help="mlflow server workers")
    parser.add_argument("--faults", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--variants", default="modeler,mlflow")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    args = parser.parse_args(argv)
    from modeler.server import DEFAULT_WORKERS, start_stack

    workers = args.workers or DEFAULT_WORKERS
    clients = [int(n) for n in args.clients.split(",")]
    variants = args.variants.split(",")
    out: dict[str, Any] = {"workers": workers, "runs_per_client": args.runs, "phases": []}
    root = Path(tempfile.mkdtemp(prefix="modeler-load-"))
    started = time.monotonic()
    print(f"stack: private PostgreSQL + moto S3 + mlflow server --workers {workers} (in {root})")
    stack = start_stack(root / "stack", port=0, private_postgres=True, workers=workers)
    failed = False
    reference: dict[str, dict[str, Any]] = {}
    try:
        print(f"{args.runs} scikit-learn runs per client, + 1 Keras run on every 2nd client\n")
        print(HEADER)
        for i, n in enumerate(clients):
            order = variants if i % 2 == 0 else variants[::-1]
            for variant in order:
                summary, counted, _ = run_phase(stack, root, variant, n, args.runs, "load")
                checked = check(counted["counted"], counted["expected"], variant)
                checked["expected"] = counted["expected"]
                if variant == "modeler" and not checked["problems"]:
                    reference.update(checked["signatures"])
                print_row(summary, checked)
                failed |= bool(checked["problems"]) and variant == "modeler"
                out["phases"].append({"summary": summary, "check": checked})
        if args.faults:
            n = max(clients)
            print(f"\nfaults under load, N={n}: the mlflow server killed, then PostgreSQL "
                  "restarted, while the clients train")  # fmt: skip
            print(HEADER)
            for variant in variants:
                summary, counted, events = run_phase(
                    stack, root, variant, n, args.runs, "faults", faults=True
                )
                checked = check(counted["counted"], counted["expected"], variant, reference)
                checked["expected"] = counted["expected"]
                print_row(summary, checked)
                for event in events:
                    print(f"    {event}")
                if variant == "modeler":
                    by_sync = summary["synced_runs"]
                    print(
                        f"    runs uploaded by their own process (background retries): "
                        f"{summary['fits'] - by_sync}/{summary['fits']}; by `modeler sync` "
                        f"afterwards: {by_sync} (of which finished from the journal, the process "
                        f"having ended first: {checked['recovered']})"
                    )
                    for done in summary["synced"]:
                        print(f"    modeler sync in {done['client']}: exit {done['exit']}, "
                              f"{done['synced']} synced {done['other']}")  # fmt: skip
                    failed |= bool(checked["problems"]) or any(d["exit"] for d in summary["synced"])
                out["phases"].append({"summary": summary, "check": checked, "faults": events})
    finally:
        stack.stop(purge=True)
    print(f"\ntotal {time.monotonic() - started:.0f} s; client folders kept in {root}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "client":
        client(json.loads(sys.argv[2]))
    else:
        sys.exit(main())
