"""Faults under load, short: clients train while the mlflow server is killed and PostgreSQL
restarts; afterwards every run is on the server, complete and once (issue 16).

The load comes from ``bench/load.py`` (its client processes and fault schedule, run as users
do: ``MODELER_TEST_MODE=0``, background upload); what the server holds is counted here, straight
from PostgreSQL and S3. The long version, with Keras clients and N = 2, 4, 8, is the bench.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SKLEARN_KINDS = {"LogisticRegression", "RandomForestClassifier"}  # modeler.model_type
CURVE_POINTS = 1001  # eval.pr_curve / eval.roc_curve: recall or FPR in thousandths, 0..1000


def _bench():
    spec = importlib.util.spec_from_file_location("bench_load", REPO / "bench" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory):
    """The stack with a PostgreSQL cluster of its own, so restarting it disturbs nobody."""
    from modeler.server import find_postgres_bin, start_stack

    if find_postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed here (CI installs it with .ci/setup-system.sh)")
    if shutil.which("runuser") is None:
        pytest.skip("runuser is missing: a private cluster cannot run as the postgres user")
    stack = start_stack(tmp_path_factory.mktemp("load"), port=0, private_postgres=True, workers=2)
    yield stack
    stack.stop(purge=True)


def _server_side(stack, experiment: str) -> dict[str, dict]:
    """Per run of ``experiment``: name, status, metric (points, distinct steps) per key,
    tags of interest, logged models and S3 artifact paths."""
    import boto3
    import psycopg2

    conn = psycopg2.connect(stack.postgres_url.replace("+psycopg2", "", 1))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT experiment_id FROM experiments WHERE name = %s", (experiment,))
            (exp_id,) = cur.fetchone()
            cur.execute("SELECT run_uuid, name, status FROM runs WHERE experiment_id = %s",
                        (exp_id,))  # fmt: skip
            runs = {r: {"name": n, "status": s, "metrics": {}, "tags": {}, "models": 0}
                    for r, n, s in cur.fetchall()}  # fmt: skip
            cur.execute(
                "SELECT run_uuid, key, count(*), count(DISTINCT step) FROM metrics "
                "WHERE run_uuid = ANY(%s) GROUP BY run_uuid, key",
                (list(runs),),
            )
            for run_id, key, points, steps in cur.fetchall():
                runs[run_id]["metrics"][key] = (points, steps)
            cur.execute("SELECT run_uuid, key, value FROM tags WHERE run_uuid = ANY(%s) "
                        "AND key LIKE 'modeler.%%'", (list(runs),))  # fmt: skip
            for run_id, key, value in cur.fetchall():
                runs[run_id]["tags"][key] = value
            cur.execute("SELECT source_run_id, count(*) FROM logged_models "
                        "WHERE experiment_id = %s GROUP BY source_run_id", (exp_id,))  # fmt: skip
            for run_id, n in cur.fetchall():
                runs[run_id]["models"] = n
    finally:
        conn.close()
    creds = stack.s3_credentials
    s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint, region_name="us-east-1",
                      aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.bucket, Prefix=f"{exp_id}/") for o in page.get("Contents", [])]  # fmt: skip
    for run_id, run in runs.items():
        prefix = f"{exp_id}/{run_id}/artifacts/"
        run["artifacts"] = sorted(k[len(prefix) :] for k in keys if k.startswith(prefix))
    return runs


def test_every_run_is_complete_once_after_server_and_database_restarts(private_stack):
    bench = _bench()
    stack = private_stack
    root = Path(stack.root).parent / "clients"
    phase = bench.Phase(root, stack.tracking_uri, "modeler", n=2, runs=0, tag="faults",
                        until_stop=True, keras=False)  # fmt: skip
    phase.start()
    events: list[str] = []
    injector = bench.inject_faults(stack, phase, events)
    results = phase.join()
    injector.join(timeout=300)
    assert not injector.is_alive()
    stack.server.start()
    synced = phase.sync()

    # the faults happened while the clients trained: fits returned after each of them
    fits = phase.fits_done()
    parsed = [re.match(r"^\s*[\d.]+ s  (.+?) \(fits returned so far: (\d+)\)$", e) for e in events]
    assert all(parsed), events
    assert [m.group(1) for m in parsed] == [
        "mlflow server killed (SIGKILL, every worker)",
        "mlflow server answers again",
        "PostgreSQL stopping (fast shutdown), down for 3 s",
        "PostgreSQL up again",
        "clients told to stop",
    ], events
    restarted_at = int(parsed[3].group(2))
    assert fits >= restarted_at + 2, events
    assert all(not r["errors"] for r in results), [r["errors"] for r in results]
    made = sum(len(r["runs"]) for r in results)
    assert made == fits

    # modeler sync left nothing behind, nothing was set aside as damaged
    assert all(out["exit"] == 0 for out in synced), synced
    for folder in phase.folders:
        journal = folder / "mlruns" / "journal"
        left = [p.name for p in journal.iterdir()] if journal.is_dir() else []
        assert left == [], (folder, left)

    runs = _server_side(stack, phase.experiment)
    names = sorted(r["name"] for r in runs.values())
    assert len(runs) == fits, names  # nothing lost, no run twice
    assert len({r["tags"].get("modeler.journal_id") for r in runs.values()}) == fits
    assert {r["status"] for r in runs.values()} == {"FINISHED"}
    assert {r["tags"].get("modeler.model_type") for r in runs.values()} == SKLEARN_KINDS, names
    by_kind: dict[str, list[dict]] = {}
    for run in runs.values():
        assert "modeler.logging_error" not in run["tags"], run["tags"]
        assert "modeler.model_missing" not in run["tags"], run["tags"]
        assert run["models"] == 1, (run["name"], run["models"])
        for key, (points, steps) in run["metrics"].items():
            assert points == steps, f"{run['name']}: {key} repeats a step"
            expected = CURVE_POINTS if key in ("eval.pr_curve", "eval.roc_curve") else 1
            assert points == expected, (run["name"], key, points)
        assert {"eval.pr_auc", "eval.roc_auc", "eval.pr_curve"} <= set(run["metrics"])
        assert "eval/curves.json" in run["artifacts"], run["artifacts"]
        by_kind.setdefault(run["tags"]["modeler.model_type"], []).append(run)
    for kind, group in by_kind.items():  # runs of one model on one data set hold the same
        shapes = {(tuple(sorted(r["metrics"].items())), tuple(r["artifacts"])) for r in group}
        assert len(shapes) == 1, f"{kind} runs differ: {[r['name'] for r in group]}"
