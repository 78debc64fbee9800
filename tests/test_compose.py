"""docker-compose.yml, .env.example and the Dockerfiles, checked by reading them and by a real
Compose implementation.

Docker cannot run on these machines (FACTS.md), but Debian's ``docker-compose`` (1.29, installed
by .ci/setup-system.sh) validates a file against the Compose schema and interpolates ``.env``
with ``docker-compose config``, which needs no engine. The same topology runs without Docker in
tests/test_server.py.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# ${VAR}, ${VAR:-default}, ${VAR:?message}; "$${VAR}" is the container's own variable.
COMPOSE_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ROOT_USER|ACCESS_KEY")
# Variables Compose reads itself, not through ${...} in the file.
COMPOSE_OWN = {"COMPOSE_PROJECT_NAME"}


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
    assert words[words.index("--workers") + 1] == "$${MLFLOW_WORKERS}"
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
    assert set(env_example) - used == COMPOSE_OWN, "variables in .env.example that nothing uses"


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


def test_server_settings_match_modeler_server(compose, env_example):
    """docker-compose.yml and ``modeler server`` apply the same measured settings."""
    from modeler.server import DEFAULT_WORKERS, POOL_SETTINGS

    env = compose["services"]["mlflow"]["environment"]
    assert env["MLFLOW_WORKERS"] == f"${{MLFLOW_WORKERS:-{DEFAULT_WORKERS}}}"
    assert env_example["MLFLOW_WORKERS"] == str(DEFAULT_WORKERS)
    assert {k: env[k] for k in POOL_SETTINGS} == POOL_SETTINGS


# --- a real Compose implementation ------------------------------------------------------------
@pytest.fixture(scope="module")
def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.skip("docker-compose is not installed (.ci/setup-system.sh installs Debian's)")
    return path


def _config(docker_compose: str, env_file: Path) -> subprocess.CompletedProcess:
    """``docker-compose config`` on the repository's file with ``env_file`` as its .env; the
    environment holds nothing else, so only the file decides."""
    return subprocess.run(
        [docker_compose, "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"),
         "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent)},
    )  # fmt: skip


def _filled_env(env_example: dict[str, str], tmp_path: Path, **changes: str | None) -> Path:
    values = {k: ("s3cret-" + k.lower())[:40] if v == "change-me" else v
              for k, v in env_example.items()}  # fmt: skip
    for key, value in changes.items():
        if value is None:
            values.pop(key)
        else:
            values[key] = value
    path = tmp_path / "compose.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_docker_compose_accepts_the_file_and_resolves_env(docker_compose, env_example, tmp_path):
    done = _config(docker_compose, _filled_env(env_example, tmp_path, MLFLOW_WORKERS="6"))
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == {"postgres", "minio", "minio-init", "mlflow", "jupyter"}
    mlflow = resolved["services"]["mlflow"]
    assert mlflow["environment"]["MLFLOW_WORKERS"] == "6"
    assert mlflow["environment"]["POSTGRES_PASSWORD"] == "s3cret-postgres_password"
    assert mlflow["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    ports = {str(p.get("published")) if isinstance(p, dict) else p.split(":")[-2]
             for p in mlflow["ports"]}  # fmt: skip
    assert ports == {"5000"}
    # "$$" is left to the container's shell (config prints it escaped again, as a file)
    assert '--workers "$${MLFLOW_WORKERS}"' in " ".join(mlflow["command"])


def test_docker_compose_refuses_a_missing_secret_by_name(docker_compose, env_example, tmp_path):
    done = _config(docker_compose, _filled_env(env_example, tmp_path, POSTGRES_PASSWORD=None))
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in done.stderr


def test_docker_compose_refuses_an_invalid_file(docker_compose, env_example, tmp_path):
    """The check is real: the same Compose rejects a file that breaks its schema."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((REPO / "docker-compose.yml").read_text().replace(
        "    restart: unless-stopped\n", "    restart: [unless-stopped]\n", 1))  # fmt: skip
    done = subprocess.run(
        [docker_compose, "-f", str(broken), "--env-file",
         str(_filled_env(env_example, tmp_path)), "config", "-q"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode != 0
    assert "restart" in done.stderr
