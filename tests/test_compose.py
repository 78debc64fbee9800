"""docker-compose.yml, .env.example and the Dockerfiles, checked by reading them.

Docker cannot run on these machines (FACTS.md); the same topology runs without Docker in
tests/test_server.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# ${VAR}, ${VAR:-default}, ${VAR:?message}; "$${VAR}" is the container's own variable.
COMPOSE_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ROOT_USER|ACCESS_KEY")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (REPO / "docker-compose.yml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not KEY=value"
            values[key.strip()] = value.strip()
    return values


def _command(service: dict) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def _condition(compose, service, dependency) -> str:
    return compose["services"][service]["depends_on"][dependency]["condition"]


def test_services_and_images(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "minio", "minio-init", "mlflow", "jupyter"}
    assert services["postgres"]["image"] == "postgres:16"
    assert "minio/minio:" in services["minio"]["image"]
    assert "minio/mc:" in services["minio-init"]["image"]
    assert services["mlflow"]["build"]["dockerfile"] == "docker/mlflow.Dockerfile"
    assert services["jupyter"]["build"]["dockerfile"] == "docker/notebook.Dockerfile"


def test_dependencies_wait_for_health_and_the_bucket(compose):
    assert _condition(compose, "minio-init", "minio") == "service_healthy"
    assert _condition(compose, "mlflow", "postgres") == "service_healthy"
    assert _condition(compose, "mlflow", "minio-init") == "service_completed_successfully"
    assert _condition(compose, "jupyter", "mlflow") == "service_healthy"
    assert compose["services"]["minio-init"]["restart"] == "no"


def test_health_checks(compose):
    services = compose["services"]
    for name in ("postgres", "minio", "mlflow"):
        assert "test" in services[name]["healthcheck"], name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/health" in " ".join(services["mlflow"]["healthcheck"]["test"])


def test_volumes_are_named_and_persistent(compose):
    services = compose["services"]
    assert set(compose["volumes"]) == {"postgres-data", "minio-data"}
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "minio-data:/data" in services["minio"]["volumes"]
    mounts = services["jupyter"]["volumes"]
    assert any(m.startswith("./notebooks:") for m in mounts)
    assert (REPO / "notebooks").is_dir()


def test_published_ports(compose):
    def container_ports(service: str) -> set[int]:
        return {int(p.rsplit(":", 1)[1]) for p in compose["services"][service].get("ports", [])}

    assert container_ports("mlflow") == {5000}
    assert container_ports("jupyter") == {8888}
    assert container_ports("minio") == {9000, 9001}
    # The database is reachable only from inside the compose network.
    assert container_ports("postgres") == set()
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("${PUBLISH_ADDRESS:-127.0.0.1}:"), port


def test_mlflow_server_command(compose):
    service = compose["services"]["mlflow"]
    script = _command(service)
    assert "postgresql+psycopg2://" in script
    assert "postgres:5432" in script
    # The store URI reaches mlflow through its envvar, which `mlflow server` reads.
    assert "export MLFLOW_BACKEND_STORE_URI=" in script
    words = shlex.split(script[script.index("exec mlflow server") :].replace("\\\n", " "))
    assert words[:3] == ["exec", "mlflow", "server"]
    assert words[words.index("--artifacts-destination") + 1].startswith("s3://")
    assert "--serve-artifacts" in words
    assert words[words.index("--host") + 1] == "0.0.0.0"
    assert words[words.index("--port") + 1] == "5000"
    assert words[words.index("--app-name") + 1] == "basic-auth"
    env = service["environment"]
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    for var in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD",
                "MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_AUTH_CONFIG_PATH"):  # fmt: skip
        assert env[var], var
    assert "database_uri" in script  # the auth user store lives in PostgreSQL too
    assert "mlflow" in env["MLFLOW_SERVER_ALLOWED_HOSTS"]  # jupyter calls http://mlflow:5000


def test_jupyter_points_at_the_server(compose):
    env = compose["services"]["jupyter"]["environment"]
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["MLFLOW_TRACKING_USERNAME"].startswith("${")
    assert env["MLFLOW_TRACKING_PASSWORD"].startswith("${")
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_every_secret_is_required_from_env(compose_text):
    for name, op, _rest in COMPOSE_VAR.findall(compose_text):
        if SECRET_NAME.search(name):
            assert op == ":?", f"${{{name}}} must be ${{{name}:?...}}: no default secret"


def test_every_variable_is_in_env_example(compose_text, env_example):
    used = {name for name, _op, _rest in COMPOSE_VAR.findall(compose_text)}
    assert used, "the compose file reads nothing from .env?"
    assert used - set(env_example) == set()
    assert set(env_example) - used == set(), "variables in .env.example that nothing uses"


def test_env_example_holds_placeholders_only(env_example):
    for key, value in env_example.items():
        if SECRET_NAME.search(key):
            assert value == "change-me", f"{key} must be the placeholder change-me"
        # Nothing that looks like a generated key or an AWS access key id.
        assert not re.search(r"[A-Za-z0-9+/]{20,}", value), f"{key} looks like a secret"
        assert not re.match(r"(AKIA|ASIA)[A-Z0-9]{12,}", value), key


def test_env_file_is_ignored_by_git():
    lines = (REPO / ".gitignore").read_text().splitlines()
    assert ".env" in [line.strip() for line in lines]


@pytest.mark.parametrize("dockerfile", ["docker/mlflow.Dockerfile", "docker/notebook.Dockerfile"])
def test_dockerfiles_copy_files_that_exist(dockerfile):
    text = (REPO / dockerfile).read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in ("COPY", "ADD") and not any(w.startswith("--from") for w in words):
            sources = [w for w in words[1:-1] if not w.startswith("--")]
            for source in sources:
                assert (REPO / source).exists(), f"{dockerfile}: COPY {source}: no such file"


def test_mlflow_image_matches_the_server_the_tests_run():
    text = (REPO / "docker/mlflow.Dockerfile").read_text()
    assert '"mlflow[auth]>=3.17.2,<3.18"' in text  # [auth]: basic auth needs Flask-WTF
    assert "psycopg2-binary" in text
    assert "boto3" in text


def test_notebook_image_installs_modeler_with_tensorflow():
    text = (REPO / "docker/notebook.Dockerfile").read_text()
    assert re.search(r'pip install "\.\[tensorflow\]"', text)
    assert "jupyterlab" in text
