"""Shared fixtures. Tests never touch ../shared, networks beyond 127.0.0.1, or the user's store."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MODELER_TEST_MODE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

pytest_plugins = ["fixtures.s3", "fixtures.servers", "fixtures.stores"]


@pytest.fixture(scope="session")
def _store_templates(tmp_path_factory):
    """One folder for the cached empty MLflow store, shared by every test's own cache."""
    return tmp_path_factory.mktemp("store-templates")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, _store_templates):
    """Each test runs in its own folder with no tracking or cache settings from outside."""
    for var in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_EXPERIMENT_ID",  # mlflow.set_experiment() in a test sets it for later ones
        "AWS_ENDPOINT_URL",
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELER_CACHE_DIR", str(tmp_path / "cache"))
    # A new SQLite store is a copy of the empty one MLflow's migrations built once (2-3 s each)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "stores").symlink_to(_store_templates, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    from modeler.state import SESSION

    SESSION.clear()
    yield
    SESSION.clear()
