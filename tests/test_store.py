"""A new embedded store: built by MLflow's migrations once, then copied from the cached result."""

from __future__ import annotations

import sqlite3
import time

from modeler.tracking.store import open_client, template_path


def _schema(db):
    con = sqlite3.connect(db)
    try:
        tables = con.execute(
            "select type, name, sql from sqlite_master where name not like 'sqlite_%' order by 1, 2"
        ).fetchall()
        version = con.execute("select version_num from alembic_version").fetchall()
    finally:
        con.close()
    return tables, version


def test_a_store_copied_from_the_template_is_the_one_migrations_build(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELER_CACHE_DIR", str(tmp_path / "own-cache"))  # no template yet
    template = template_path()
    assert not template.exists()
    built = tmp_path / "first" / "mlflow.db"
    open_client(f"sqlite:///{built}")
    assert template.is_file()

    monkeypatch.chdir(tmp_path / "first")
    start = int(time.time() * 1000)
    copied = tmp_path / "second" / "mlflow.db"
    client = open_client(f"sqlite:///{copied}")
    assert _schema(copied) == _schema(built)
    default = client.get_experiment("0")  # made for this store, not carried over
    assert default.name == "Default"
    assert default.artifact_location == str(tmp_path / "first" / "mlruns" / "0")
    assert default.creation_time >= start
    exp = client.create_experiment("fraud")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "eval.pr_auc", 0.5)
    assert client.get_run(run.info.run_id).data.metrics == {"eval.pr_auc": 0.5}
    assert [p.name for p in template.parent.iterdir()] == [template.name]  # no spare files


def test_a_damaged_template_is_replaced_and_the_store_still_made(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELER_CACHE_DIR", str(tmp_path / "own-cache"))
    template = template_path()
    template.parent.mkdir(parents=True)
    template.write_bytes(b"not a database" * 100)
    db = tmp_path / "store" / "mlflow.db"
    client = open_client(f"sqlite:///{db}")
    assert client.get_experiment("0").name == "Default"
    assert _schema(template) == _schema(db)  # rebuilt from the migrations
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db", "mlflow.db.lock"]
