"""Where runs go: tracking URI, experiment and cache directory.

Resolution order (ARCHITECTURE.md, contract 1): an explicit argument, then the environment
(``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``, ``MODELER_CACHE_DIR``), then the
embedded default, which needs no server::

    >>> from modeler.config import resolve_tracking
    >>> resolve_tracking().uri                       # doctest: +SKIP
    'sqlite:////home/me/project/mlruns/mlflow.db'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modeler.errors import ConfigError

DEFAULT_EXPERIMENT = "modeler"
STORE_DIR = "mlruns"
_SCHEMES = (
    "sqlite",
    "http",
    "https",
    "postgresql",
    "postgresql+psycopg2",
    "mysql",
    "file",
    "databricks",
    "mssql",
)


@dataclass(frozen=True)
class Tracking:
    """A resolved tracking store.

    ``artifact_location`` is set for the embedded store only: experiments modeler creates there
    keep their artifacts in ``<store_dir>/artifacts``.
    """

    uri: str
    experiment: str
    store_dir: Path | None = None

    @property
    def embedded(self) -> bool:
        return self.store_dir is not None

    @property
    def journal_home(self) -> Path:
        """Where runs are journaled before they reach the store: the embedded store's
        folder, the folder of a SQLite database, else ``<cwd>/mlruns``."""
        if self.store_dir is not None:
            return self.store_dir
        if self.uri.startswith("sqlite:///"):
            db = Path(self.uri[len("sqlite:///") :].split("?", 1)[0])
            if db.name and db.name != ":memory:":
                return db.parent.resolve()
        return embedded_store_dir()

    @property
    def artifact_location(self) -> str | None:
        """Where experiments modeler creates keep artifacts: beside a SQLite database."""
        if self.store_dir is not None:
            return (self.store_dir / "artifacts").as_uri()
        if self.uri.startswith("sqlite:///"):
            db = Path(self.uri[len("sqlite:///") :])
            return (db.parent.resolve() / "artifacts").as_uri() if db.name else None
        return None  # a server decides (e.g. --artifacts-destination)


def embedded_store_dir(cwd: Path | None = None) -> Path:
    """The embedded store's folder, ``<cwd>/mlruns`` (created on first use by the writer)."""
    return (cwd or Path.cwd()).resolve() / STORE_DIR


def resolve_tracking(uri: str | None = None, experiment: str | None = None) -> Tracking:
    """Resolve the store: argument > environment > embedded SQLite store under ``./mlruns``.

    >>> resolve_tracking("http://mlflow:5000", "fraud").uri
    'http://mlflow:5000'
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or None
    experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    if not isinstance(experiment, str) or not experiment.strip():
        raise ConfigError(f"experiment name must be a non-empty string; got {experiment!r}")
    if uri is None:
        store = embedded_store_dir()
        return Tracking(f"sqlite:///{store / 'mlflow.db'}", experiment, store)
    if not isinstance(uri, str):
        raise ConfigError(f"tracking URI must be a string; got {type(uri).__name__}")
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"tracking URI {uri!r} has an unsupported scheme {scheme or '(none)'!r}; "
            "expected one of http://, https://, sqlite:///, postgresql+psycopg2://, file://"
        )
    return Tracking(uri, experiment, None)


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Download cache: argument > ``MODELER_CACHE_DIR`` > ``$XDG_CACHE_HOME/modeler``.

    Falls back to ``~/.cache/modeler``.
    """
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("MODELER_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "modeler"


def request_timeout() -> float:
    """Seconds one tracking request may take (``MODELER_HTTP_TIMEOUT``, default 5)."""
    raw = os.environ.get("MODELER_HTTP_TIMEOUT", "5")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"MODELER_HTTP_TIMEOUT must be a number of seconds; got {raw!r}"
        ) from None
    if value <= 0:
        raise ConfigError(f"MODELER_HTTP_TIMEOUT must be > 0; got {raw!r}")
    return value


def test_mode() -> bool:
    """True when ``MODELER_TEST_MODE=1``: logging errors are raised instead of swallowed."""
    return os.environ.get("MODELER_TEST_MODE", "").lower() in ("1", "true", "yes")
