"""The package as a user meets it: import cost, configuration, the `modeler` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import modeler
from modeler.cli import main
from modeler.config import cache_dir, resolve_tracking
from modeler.errors import ConfigError, ModelerError


def test_import_loads_no_heavy_framework():
    code = (
        "import sys, modeler; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow', 'boto3', 'sklearn', "
        "'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []
    assert modeler.__version__ and modeler.accu is not None


def test_tracking_resolution_order(monkeypatch, tmp_path):
    embedded = resolve_tracking()
    assert embedded.uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert embedded.artifact_location == (tmp_path / "mlruns" / "artifacts").as_uri()
    assert embedded.experiment == "modeler"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "fraud")
    env = resolve_tracking()
    assert (env.uri, env.experiment, env.embedded) == ("http://127.0.0.1:5999", "fraud", False)
    explicit = resolve_tracking("sqlite:///x.db", "mine")
    assert (explicit.uri, explicit.experiment) == ("sqlite:///x.db", "mine")


def test_accu_set_tracking_wins_over_environment(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    try:
        assert modeler.accu.set_tracking("sqlite:///other.db", "exp") == "sqlite:///other.db"
        assert modeler.accu.tracking().experiment == "exp"
    finally:
        modeler.accu.set_tracking(None, None)
    assert modeler.accu.tracking().uri == "http://127.0.0.1:5999"


@pytest.mark.parametrize(
    ("uri", "experiment", "match"),
    [
        ("ftp://host/store", None, "unsupported scheme 'ftp'"),
        ("mlruns", None, "unsupported scheme"),
        (None, "  ", "experiment name"),
    ],
)
def test_bad_tracking_settings_are_clear(uri, experiment, match):
    with pytest.raises(ConfigError, match=match):
        resolve_tracking(uri, experiment)


def test_cache_dir_resolution(monkeypatch, tmp_path):
    assert cache_dir(tmp_path / "c") == tmp_path / "c"
    monkeypatch.setenv("MODELER_CACHE_DIR", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    monkeypatch.delenv("MODELER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "modeler"


def test_errors_share_one_base():
    import modeler.errors as errors

    classes = [
        v
        for v in vars(errors).values()
        if isinstance(v, type) and issubclass(v, Exception) and not issubclass(v, Warning)
    ]
    assert all(issubclass(c, ModelerError) for c in classes)
    assert len(classes) >= 10


def test_cli_help_and_version():
    runner = CliRunner()
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "ui", "get-file", "compare", "server"):
        assert command in result.output
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and modeler.__version__ in version.output


def test_cli_prints_modeler_errors_as_one_line(tmp_path):
    result = CliRunner().invoke(main, ["get-file", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "missing.json" in result.output
    assert "Traceback" not in result.output


def test_cli_get_file_out_where_it_cannot_be_written(tmp_path):
    source = tmp_path / "tx.csv"
    source.write_text("amount,is_fraud\n1.5,0\n")
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(
        main, ["get-file", str(source), "--out", str(tmp_path / "afile" / "x.csv")]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith("error: --out ") and "afile" in result.output
    assert "expected a file path in a folder you can write to" in result.output
    # --out naming the source itself: the file is there already, and stays as it was
    same = CliRunner().invoke(main, ["get-file", str(source), "--out", str(source)])
    assert same.exit_code == 0 and same.output.strip() == str(source)
    assert source.read_text() == "amount,is_fraud\n1.5,0\n"


def test_cli_options_out_of_range_are_named(tmp_path):
    port = CliRunner().invoke(main, ["ui", "--port", "99999"])
    assert port.exit_code == 2 and "'--port': 99999 is not in the range" in port.output
    store = CliRunner().invoke(main, ["sync", "--store", str(tmp_path / "nowhere")])
    assert store.exit_code == 2 and "'--store'" in store.output and "does not exist" in store.output
