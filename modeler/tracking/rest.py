"""The part of ``MlflowClient`` that ``compare`` uses, over an MLflow server's REST API.

A fresh interpreter spends 1.9-3 s here importing ``mlflow`` (its GenAI, data and entity
modules), longer than ``modeler compare`` may take in all. Against an ``http(s)://`` server the
comparison needs a dozen documented endpoints (``/api/2.0/mlflow/...`` and the artifact proxy
``/api/2.0/mlflow-artifacts/...``), which ``requests`` reaches in 0.08 s of imports::

    >>> client = RestClient("http://127.0.0.1:5000")                     # doctest: +SKIP
    >>> run = client.search_runs(["1"], max_results=1)[0]                 # doctest: +SKIP
    >>> run.info.run_name, run.data.metrics["eval.pr_auc"]                # doctest: +SKIP
    ('LogReg-smote-B579', 0.81)

Methods and the objects they return have the names and fields of MLflow's (``run.info.run_id``,
``run.data.metrics``...). Credentials come from the URL or MLflow's own variables
(``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD``, ``_TOKEN``, ``_INSECURE_TLS``,
``_SERVER_CERT_PATH``, ``_CLIENT_CERT_PATH``). Artifacts behind the server's proxy
(``mlflow-artifacts:``) and on local paths are moved here; any other store (``s3://`` without
the proxy, ``gs://``...) through MLflow's own artifact repositories.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
_MAX_PAGE = 1000


def usable(uri: str) -> bool:
    """True when ``RestClient`` can serve this tracking URI: an http(s) server without a custom
    MLflow auth plugin (``MLFLOW_TRACKING_AUTH``).

    >>> usable("http://127.0.0.1:5000"), usable("sqlite:///mlflow.db")
    (True, False)
    """
    return urlparse(uri).scheme in ("http", "https") and not os.environ.get("MLFLOW_TRACKING_AUTH")


class RestError(Exception):
    """An error answer of the server (``error_code`` as MLflow names it) or no answer."""

    def __init__(self, message: str, error_code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status = status


# --- what the methods return: MLflow's field names ------------------------------------------
@dataclass
class RunInfo:
    run_id: str
    run_name: str
    experiment_id: str
    artifact_uri: str
    status: str = ""
    lifecycle_stage: str = "active"
    start_time: int | None = None


@dataclass
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    info: RunInfo
    data: RunData


@dataclass
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"
    artifact_location: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelVersion:
    name: str
    version: str
    run_id: str


@dataclass(frozen=True)
class Param:
    key: str
    value: str


def _pairs(items: Any) -> dict[str, str]:
    return {item["key"]: item.get("value", "") for item in items or []}


def _run(raw: dict) -> Run:
    info, data = raw.get("info", {}), raw.get("data", {})
    return Run(
        info=RunInfo(
            run_id=info.get("run_id") or info.get("run_uuid", ""),
            run_name=info.get("run_name", ""),
            experiment_id=str(info.get("experiment_id", "")),
            artifact_uri=info.get("artifact_uri", ""),
            status=info.get("status", ""),
            lifecycle_stage=info.get("lifecycle_stage", "active"),
            start_time=int(info["start_time"]) if "start_time" in info else None,
        ),
        data=RunData(
            # JSON carries NaN and infinities as the strings "NaN", "Infinity", "-Infinity"
            metrics={m["key"]: float(m.get("value", "NaN")) for m in data.get("metrics", [])},
            params=_pairs(data.get("params")),
            tags=_pairs(data.get("tags")),
        ),
    )


def _experiment(raw: dict) -> Experiment:
    return Experiment(
        experiment_id=str(raw.get("experiment_id", "")),
        name=raw.get("name", ""),
        lifecycle_stage=raw.get("lifecycle_stage", "active"),
        artifact_location=raw.get("artifact_location", ""),
        tags=_pairs(raw.get("tags")),
    )


def _view(view_type: Any) -> str:
    """MLflow's ViewType (an int) or its name, as the API spells it; default active only."""
    names = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}
    if view_type is None:
        return "ACTIVE_ONLY"
    return names.get(view_type, str(view_type)) if isinstance(view_type, int) else str(view_type)


class RestClient:
    """``MlflowClient``'s search, experiment, run and artifact calls that compare makes."""

    def __init__(self, tracking_uri: str, timeout: float | None = None) -> None:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        from modeler.config import request_timeout

        self.base = tracking_uri.rstrip("/")
        self.timeout = timeout if timeout is not None else request_timeout()
        self.session = requests.Session()
        retries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"))
        retry = Retry(
            total=retries,
            backoff_factor=float(os.environ.get("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")),
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=None,  # every method, as MLflow's own client retries
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if user and password:
            self.session.auth = (user, password)
        elif token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            self.session.verify = False
        elif os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            self.session.verify = os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
        if os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
            self.session.cert = os.environ["MLFLOW_TRACKING_CLIENT_CERT_PATH"]
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact URI, from create_run

    # --- transport ----------------------------------------------------------------------------
    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        """The server's answer; RestError (named ``what``) when there is none or it says no."""
        import requests

        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise RestError(f"{what}: no answer ({type(exc).__name__})") from exc
        if resp.status_code >= 400:
            code, message = "", resp.text[:300]
            try:
                body = resp.json()
                code, message = body.get("error_code", ""), body.get("message", message)
            except ValueError:
                pass
            raise RestError(
                f"{what}: {resp.status_code} {code} {message}".strip(), code, resp.status_code
            )
        return resp

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> dict:
        resp = self._request(
            method, self.base + API + endpoint, f"{method} {API}{endpoint}", **kwargs
        )
        return resp.json() if resp.content else {}

    # --- experiments --------------------------------------------------------------------------
    def search_experiments(self, view_type: Any = None, max_results: int | None = None) -> list:
        found: list[Experiment] = []
        token = None
        while True:
            body: dict[str, Any] = {"view_type": _view(view_type), "max_results": _MAX_PAGE}
            if token:
                body["page_token"] = token
            page = self._call("POST", "/experiments/search", json=body)
            found += [_experiment(e) for e in page.get("experiments", [])]
            token = page.get("next_page_token")
            if not token or (max_results is not None and len(found) >= max_results):
                return found[:max_results] if max_results is not None else found

    def get_experiment(self, experiment_id: str) -> Experiment:
        raw = self._call("GET", "/experiments/get", params={"experiment_id": experiment_id})
        return _experiment(raw["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            raw = self._call("GET", "/experiments/get-by-name", params={"experiment_name": name})
        except RestError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or exc.status == 404:
                return None
            raise
        return _experiment(raw["experiment"])

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict | None = None
    ) -> str:
        body: dict[str, Any] = {"name": name, "tags": _tag_list(tags)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._call("POST", "/experiments/create", json=body)["experiment_id"])

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", "/experiments/restore", json={"experiment_id": experiment_id})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        body = {"experiment_id": experiment_id, "key": key, "value": value}
        self._call("POST", "/experiments/set-experiment-tag", json=body)

    # --- runs ---------------------------------------------------------------------------------
    def search_runs(
        self,
        experiment_ids: list[str],
        filter_string: str = "",
        run_view_type: Any = None,
        max_results: int = _MAX_PAGE,
        order_by: list[str] | None = None,
    ) -> list[Run]:
        """One page of up to ``max_results`` runs (at most 1,000, as MLflow's client)."""
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "run_view_type": _view(run_view_type),
            "max_results": min(int(max_results), _MAX_PAGE),
            "order_by": list(order_by or []),
        }
        return [_run(r) for r in self._call("POST", "/runs/search", json=body).get("runs", [])]

    def create_run(
        self, experiment_id: str, run_name: str | None = None, tags: dict | None = None
    ) -> Run:
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "start_time": int(time.time() * 1000),
            "tags": _tag_list(tags),
        }
        if run_name:
            body["run_name"] = run_name
        run = _run(self._call("POST", "/runs/create", json=body)["run"])
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run

    def log_batch(self, run_id: str, metrics=(), params=(), tags=()) -> None:  # type: ignore[no-untyped-def]
        body = {
            "run_id": run_id,
            "metrics": [
                {"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}
                for m in metrics
            ],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        self._call("POST", "/runs/log-batch", json=body)

    def set_terminated(self, run_id: str, status: str = "FINISHED") -> None:
        body = {"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)}
        self._call("POST", "/runs/update", json=body)

    # --- registry -----------------------------------------------------------------------------
    def get_model_version(self, name: str, version: str) -> ModelVersion:
        raw = self._call(
            "GET", "/model-versions/get", params={"name": name, "version": str(version)}
        )
        mv = raw["model_version"]
        return ModelVersion(mv.get("name", name), str(mv.get("version")), mv.get("run_id", ""))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        raw = self._call("GET", "/registered-models/alias", params={"name": name, "alias": alias})
        mv = raw["model_version"]
        return ModelVersion(mv.get("name", name), str(mv.get("version")), mv.get("run_id", ""))

    # --- artifacts ----------------------------------------------------------------------------
    def _proxied(self, artifact_uri: str, path: str) -> str | None:
        """The artifact proxy's URL of file ``path`` under an ``mlflow-artifacts:`` URI of this
        server, or None for other URIs."""
        parsed = urlparse(artifact_uri)
        if parsed.scheme != "mlflow-artifacts":
            return None
        base = self.base
        if parsed.netloc:  # mlflow-artifacts://host:port/path names its own server
            base = f"{urlparse(self.base).scheme}://{parsed.netloc}"
        root = quote(parsed.path if parsed.path.startswith("/") else "/").rstrip("/")
        return f"{base}{ARTIFACTS_API}{root}/{quote(path)}"

    def download_artifact(self, artifact_uri: str, path: str, local_path: str) -> None:
        """Copy the file ``path`` of the artifact root ``artifact_uri`` to ``local_path``."""
        url = self._proxied(artifact_uri, path)
        if url is not None:
            resp = self._request("GET", url, f"download of {path}")
            Path(local_path).write_bytes(resp.content)
        elif urlparse(artifact_uri).scheme in ("", "file"):
            shutil.copyfile(_local(artifact_uri) / path, local_path)
        else:
            _repository(artifact_uri, self.base)._download_file(path, local_path)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Upload one file to the run's artifact root (or ``artifact_path`` inside it)."""
        artifact_uri = self._artifact_uris.get(run_id) or self._run_artifact_uri(run_id)
        name = Path(local_path).name
        inside = f"{artifact_path.strip('/')}/{name}" if artifact_path else name
        url = self._proxied(artifact_uri, inside)
        if url is not None:
            with open(local_path, "rb") as handle:
                self._request("PUT", url, f"upload of {inside}", data=handle)
        elif urlparse(artifact_uri).scheme in ("", "file"):
            target = _local(artifact_uri) / inside
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local_path, target)
        else:
            _repository(artifact_uri, self.base).log_artifact(local_path, artifact_path)

    def _run_artifact_uri(self, run_id: str) -> str:
        raw = self._call("GET", "/runs/get", params={"run_id": run_id})
        uri = _run(raw["run"]).info.artifact_uri
        self._artifact_uris[run_id] = uri
        return uri


def _tag_list(tags: dict | None) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in (tags or {}).items()]


def _local(artifact_uri: str) -> Path:
    parsed = urlparse(artifact_uri)
    return Path(unquote(parsed.path) if parsed.scheme == "file" else artifact_uri)


def _repository(artifact_uri: str, tracking_uri: str) -> Any:
    """MLflow's own repository for stores this module does not move files for."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(artifact_uri, tracking_uri=tracking_uri)
