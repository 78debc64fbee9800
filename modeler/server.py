"""The self-hosted stack without Docker: PostgreSQL, an S3 endpoint and ``mlflow server``.

The same topology as ``docker-compose.yml``, started from the machine's own binaries, for tests
and for users without Docker::

    >>> from modeler.server import start_stack
    >>> with start_stack(Path("mlflow-server"), port=5000) as stack:   # doctest: +SKIP
    ...     os.environ["MLFLOW_TRACKING_URI"] = stack.tracking_uri
    ...     ...                                                          # fits log to the server

It writes under ``root``: ``mlflow-server.log`` (the server's log), ``postgres/`` (a private
PostgreSQL cluster, when not root) or ``mlflow.db`` (the SQLite fallback). POSIX only: every
process runs in its own session so that stopping it also stops its workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modeler.errors import ConfigError, TrackingError

Log = Callable[[str], None]

_SERVER_EXTRA = "pip install 'modeler[server]'"
# Fixed, fake keys: moto accepts any, and real credentials must never be sent to a test endpoint.
_MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "modeler-moto",
    "AWS_SECRET_ACCESS_KEY": "modeler-moto",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# A unix socket path may not exceed 107 bytes; pytest's tmp paths can come close.
_MAX_SOCKET_DIR = 80
# Server settings, from bench/load.py (README, "A shared tracking server"); docker-compose.yml
# applies the same. gunicorn's sync workers answer one request each at a time, so a worker
# never needs more than one connection per store (tracking, model registry): a small pool
# per worker keeps workers x stores x (pool + overflow) far below PostgreSQL's 100
# connections, and pre-ping (MLflow's default) replaces connections a database restart cut.
DEFAULT_WORKERS = 4
POOL_SETTINGS = {
    "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "2",
    "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": "2",
    "MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE": "1800",
}


# --- processes and ports ------------------------------------------------------------------
def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now, e.g. ``free_port() -> 41873``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _tail(path: Path, lines: int = 25, secrets_: Sequence[str] = ()) -> str:
    """The last lines of a log file, with any secret masked, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    for secret in secrets_:
        if secret:
            text = text.replace(secret, "****")
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _stop_group(proc: subprocess.Popen[bytes], *, kill: bool = False, timeout: float = 15) -> None:
    """Stop a process started with ``start_new_session=True`` and all of its children.

    SIGTERM first so gunicorn and PostgreSQL shut down cleanly; SIGKILL after ``timeout``.
    """
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    # Workers may outlive their master by a moment; they share its process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _spawn(cmd: Sequence[str], log_path: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {cmd[0]}\n".encode())
        log.flush()
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )


def _wait_http(
    url: str,
    proc: subprocess.Popen[bytes],
    *,
    what: str,
    timeout: float,
    log_path: Path,
    secrets_: Sequence[str] = (),
) -> None:
    """Poll ``url`` until it answers 2xx; raise TrackingError with the log tail otherwise."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TrackingError(
                f"{what} exited with status {proc.returncode} before answering {url}; "
                f"last lines of {log_path}:\n{_tail(log_path, secrets_=secrets_)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.25)
    _stop_group(proc)
    raise TrackingError(
        f"{what} did not answer {url} within {timeout:.0f} s ({last}); "
        f"last lines of {log_path}:\n{_tail(log_path, secrets_=secrets_)}"
    )


def _mask(url: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:****@host``."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:****@{host}"


# --- mlflow server ------------------------------------------------------------------------
class MlflowServer:
    """One ``mlflow server`` process (gunicorn, job execution off) that can stop and start again.

    The port stays the same across restarts, so clients keep their URI::

        >>> server = MlflowServer("sqlite:///tmp/m.db", "file:///tmp/art", log_path=Path("s.log"))
        >>> server.start().url                                            # doctest: +SKIP
        'http://127.0.0.1:41873'
        >>> server.stop(kill=True); server.start()                          # doctest: +SKIP

    Args:
        backend_store_uri: where runs go (``sqlite:///...`` or ``postgresql+psycopg2://...``);
            passed through the environment so that a password never shows in ``ps``.
        artifacts_destination: where the server stores artifacts it serves (``s3://bucket``,
            ``file:///dir``).
        log_path: the server's stdout and stderr, appended to on every start.
        port: 0 picks a free port once; the same port is reused by later starts.
        workers: gunicorn worker processes (each answers one request at a time); two for a
            test server, ``DEFAULT_WORKERS`` in :func:`start_stack` (``modeler server``).
        env: extra environment for the server (S3 endpoint and credentials); the database
            pool settings of ``POOL_SETTINGS`` apply unless given here or in the environment.
    """

    def __init__(
        self,
        backend_store_uri: str,
        artifacts_destination: str,
        *,
        log_path: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        workers: int = 2,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifacts_destination = artifacts_destination
        self.log_path = Path(log_path)
        self.host = host
        self.port = port or free_port(host)
        self.workers = workers
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The tracking URI, e.g. ``http://127.0.0.1:5000``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _secrets(self) -> list[str]:
        password = self.backend_store_uri.partition("://")[2].rpartition("@")[0].partition(":")[2]
        return [password] if password else []

    def start(self) -> MlflowServer:
        """Start the server (no-op if it runs) and wait until ``/health`` answers.

        Raises:
            TrackingError: the port is taken, or the server exited or stayed silent past
                ``startup_timeout``; the message ends with the last lines of its log.
        """
        if self.running:
            return self
        if port_in_use(self.port, self.host):
            raise TrackingError(
                f"cannot start mlflow server: port {self.port} on {self.host} is already in use"
            )
        env = {
            **POOL_SETTINGS,
            **os.environ,
            **self.env,
            "MLFLOW_BACKEND_STORE_URI": self.backend_store_uri,
            # Job execution adds a huey consumer per worker: 14 processes and 2.7 GB (FACTS.md).
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--artifacts-destination", self.artifacts_destination,
            "--serve-artifacts",
            "--host", self.host,
            "--port", str(self.port),
            "--workers", str(self.workers),
            # gunicorn answers a request in ~5 ms where the default uvicorn took ~50 ms.
            "--gunicorn-opts", "--log-level warning",
        ]  # fmt: skip
        self._proc = _spawn(cmd, self.log_path, env)
        _wait_http(
            f"{self.url}/health",
            self._proc,
            what=f"mlflow server on port {self.port}",
            timeout=self.startup_timeout,
            log_path=self.log_path,
            secrets_=self._secrets(),
        )
        return self

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server and its workers; ``kill=True`` sends SIGKILL, as a crash would."""
        if self._proc is not None:
            _stop_group(self._proc, kill=kill)
            self._proc = None
            # Workers leave a moment after their master; a restart needs the port back.
            deadline = time.monotonic() + 10
            while port_in_use(self.port, self.host) and time.monotonic() < deadline:
                time.sleep(0.1)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"MlflowServer({self.url}, {_mask(self.backend_store_uri)}, {state})"


# --- PostgreSQL ---------------------------------------------------------------------------
def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest ``/usr/lib/postgresql/*/bin``)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_available() -> bool:
    """True when this machine can run PostgreSQL: binaries, plus pg_ctlcluster when root."""
    if _is_root():
        return shutil.which("pg_ctlcluster") is not None or find_postgres_bin() is not None
    return find_postgres_bin() is not None


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(cmd: Sequence[str], *, what: str, stdin: str | None = None, **kw: object) -> str:
    try:
        done = subprocess.run(  # type: ignore[call-overload]
            list(cmd), input=stdin, capture_output=True, text=True, timeout=120, **kw
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TrackingError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        raise TrackingError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass
class Postgres:
    """A PostgreSQL database for one stack.

    ``mode`` is ``"system"`` (root: a role and database in the machine's cluster) or
    ``"local"`` (a private cluster under ``<root>/postgres`` run by this user).
    """

    url: str
    mode: str
    database: str
    data_dir: Path | None = None
    bin_dir: Path | None = None
    cluster: tuple[str, str, int] | None = None  # (version, name, port) of the system cluster
    port: int | None = None  # of a local cluster: kept across restarts, so the URL stays valid
    run_as: str | None = None  # the user a local cluster runs as (``postgres`` when we are root)

    def stop(self) -> None:
        """Stop a local cluster; the system cluster is the machine's and keeps running."""
        pid_file = self.data_dir / "postmaster.pid" if self.data_dir else None
        if self.mode == "local" and self.bin_dir and pid_file and pid_file.exists():
            _run(
                [*_as_user(self.run_as), str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                 "-m", "fast", "-w", "stop"],
                what="pg_ctl stop",
                cwd="/",
            )  # fmt: skip

    def start(self) -> None:
        """Start a local cluster again on its port (after :meth:`stop`); no-op if it runs."""
        if self.mode != "local" or self.data_dir is None or self.bin_dir is None:
            raise TrackingError(f"{self!r}: only a private cluster can be started and stopped")
        if (self.data_dir / "postmaster.pid").exists():
            return
        _pg_ctl_start(self.bin_dir, self.data_dir, int(self.port or 0), self.run_as)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop a private cluster (fast shutdown: sessions are cut), stay down ``down_for``
        seconds, start it again on the same port: what a database restart does to a server.

            >>> stack.postgres.restart(down_for=3)                       # doctest: +SKIP

        Raises:
            TrackingError: this is the machine's cluster, which other users share.
        """
        if self.mode != "local":
            raise TrackingError(
                f"{self!r} is a database in the machine's cluster; restarting it would cut "
                "everyone using that cluster: start the stack with private_postgres=True"
            )
        self.stop()
        time.sleep(down_for)
        self.start()

    def drop(self) -> None:
        """Delete the data: the role and database (system) or the cluster folder (local)."""
        if self.mode == "system" and self.cluster:
            sql = (
                f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE);\n'
                f'DROP ROLE IF EXISTS "{self.database}";\n'
            )
            _psql_as_postgres(self.cluster[2], sql)
        elif self.data_dir is not None:
            self.stop()
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def __repr__(self) -> str:
        return f"Postgres({self.mode}, {_mask(self.url)})"


def _psql_as_postgres(port: int, sql: str) -> str:
    # SQL (and so any password) goes through stdin, never the command line.
    return _run(
        ["su", "postgres", "-c", f"psql -X -q -At -v ON_ERROR_STOP=1 -p {int(port)} -d postgres"],
        what="psql as the postgres user",
        stdin=sql,
        cwd="/",
    )


def _system_cluster() -> tuple[str, str, int]:
    """(version, name, port) of the machine's cluster, started if it was down."""
    out = _run(["pg_lsclusters", "--no-header"], what="pg_lsclusters")
    rows = [line.split() for line in out.splitlines() if line.strip()]
    if not rows:
        bin_dir = find_postgres_bin()
        version = bin_dir.parent.name if bin_dir else "15"
        _run(["pg_createcluster", version, "main", "--start"], what="pg_createcluster")
        return _system_cluster()
    rows.sort(key=lambda r: float(r[0]) if r[0].replace(".", "").isdigit() else 0.0)
    version, name, port, status = rows[-1][:4]
    if status != "online":
        _run(["pg_ctlcluster", version, name, "start"], what=f"pg_ctlcluster {version} {name}")
    return version, name, int(port)


def _database_name(root: Path) -> str:
    # One database per stack folder: a restart in the same folder finds its runs again,
    # and two folders (two test sessions) never share a store.
    return "modeler_" + hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]


def start_postgres(root: Path, *, private: bool = False, log: Log | None = None) -> Postgres:
    """Start or reuse PostgreSQL and return a database owned by a role with a fresh password.

    As root: the machine's cluster (``pg_ctlcluster`` starts it when down), a role and a
    database named after ``root`` (created idempotently with ``su postgres -c psql``), and a
    new random password on each call. Otherwise, or with ``private=True``: ``initdb`` into
    ``<root>/postgres/data`` once, then ``pg_ctl start`` on a free 127.0.0.1 port with its unix
    socket inside ``root`` (as root: run as the ``postgres`` user, since initdb refuses root,
    in a temp folder of its own that ``<root>/postgres/cluster`` names).
    Only a private cluster can be restarted (:meth:`Postgres.restart`) without touching
    anyone else's databases.

        >>> start_postgres(Path("stack")).url                                # doctest: +SKIP
        'postgresql+psycopg2://modeler_1a2b3c4d5e:...@127.0.0.1:5432/modeler_1a2b3c4d5e'

    Raises:
        ConfigError: PostgreSQL is not installed here.
        TrackingError: a PostgreSQL command failed; the message names it.
    """
    root = Path(root).resolve()
    say = log or (lambda _msg: None)
    if not postgres_available():
        raise ConfigError(
            "PostgreSQL is not installed: no pg_ctlcluster and no /usr/lib/postgresql/*/bin/initdb"
        )
    if _is_root() and shutil.which("pg_ctlcluster") and not private:
        version, name, port = _system_cluster()
        db = _database_name(root)
        password = secrets.token_hex(16)  # hex: safe inside a URL without quoting
        _psql_as_postgres(
            port,
            "DO $$ BEGIN\n"
            f"  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{db}') THEN\n"
            f"    ALTER ROLE \"{db}\" LOGIN PASSWORD '{password}';\n"
            f"  ELSE CREATE ROLE \"{db}\" LOGIN PASSWORD '{password}'; END IF;\n"
            "END $$;\n"
            f'SELECT \'CREATE DATABASE "{db}" OWNER "{db}"\' '
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{db}')\\gexec\n",
        )
        say(f"PostgreSQL: database {db} in the system cluster {version}/{name} on port {port}")
        return Postgres(
            url=f"postgresql+psycopg2://{db}:{password}@127.0.0.1:{port}/{db}",
            mode="system",
            database=db,
            cluster=(version, name, port),
        )
    return _start_local_postgres(root, say)


def _as_user(user: str | None) -> list[str]:
    """The command prefix that runs a PostgreSQL binary as ``user`` (none: as ourselves)."""
    return ["runuser", "-u", user, "--"] if user else []


def _pg_ctl_start(bin_dir: Path, data: Path, port: int, user: str | None) -> None:
    base = data.parent
    # pg_ctl hands -o to a shell, hence the quoting; an empty list means TCP only.
    sockets = shlex.quote(str(base)) if len(str(base)) <= _MAX_SOCKET_DIR else "''"
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets}"
    _run(
        [*_as_user(user), str(bin_dir / "pg_ctl"), "-D", str(data), "-l",
         str(base / "postgres.log"), "-w", "-t", "60", "-o", opts, "start"],
        what=f"pg_ctl start (log: {base / 'postgres.log'})",
        cwd="/",
    )  # fmt: skip


def _give_to(user: str, path: Path) -> None:
    """Let ``user`` own ``path`` and everything in it."""
    import pwd

    entry = pwd.getpwnam(user)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid)


def _cluster_home(root: Path, user: str | None) -> Path:
    """Where a private cluster lives: ``<root>/postgres``, or, run as another user, a folder
    of its own in the temp dir that ``<root>/postgres/cluster`` points to (``root``'s parents
    may be private to us, and pytest resets its base folder to 0700 at each session start)."""
    base = root / "postgres"
    if user is None:
        return base
    pointer = base / "cluster"
    if pointer.exists():
        home = Path(pointer.read_text().strip())
        if home.is_dir():
            return home
    import tempfile

    base.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="modeler-postgres-"))
    _give_to(user, home)
    pointer.write_text(str(home))
    return home


def _start_local_postgres(root: Path, say: Log) -> Postgres:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise ConfigError("PostgreSQL is not installed: no initdb found")
    user = "postgres" if _is_root() else None
    base = _cluster_home(root, user)
    data = base / "data"
    pw_file = base / "password"
    base.mkdir(parents=True, exist_ok=True)
    if not (data / "PG_VERSION").exists():
        pw_file.write_text(secrets.token_hex(16))
        pw_file.chmod(0o600)
        if user:
            _give_to(user, base)
        _run(
            [*_as_user(user), str(bin_dir / "initdb"), "-D", str(data), "-U", "modeler",
             f"--pwfile={pw_file}", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
             "-E", "UTF8"],
            what=f"initdb {data}",
            cwd="/",
        )  # fmt: skip
    password = pw_file.read_text().strip()
    port = free_port()
    _pg_ctl_start(bin_dir, data, port, user)
    import psycopg2

    conn = psycopg2.connect(
        host="127.0.0.1", port=port, user="modeler", password=password, dbname="postgres"
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'mlflow'")
            if cur.fetchone() is None:
                cur.execute("CREATE DATABASE mlflow")
    finally:
        conn.close()
    say(f"PostgreSQL: private cluster in {data} on port {port}")
    return Postgres(
        url=f"postgresql+psycopg2://modeler:{password}@127.0.0.1:{port}/mlflow",
        mode="local",
        database="mlflow",
        data_dir=data,
        bin_dir=bin_dir,
        port=port,
        run_as=user,
    )


# --- S3 -----------------------------------------------------------------------------------
def _s3_client(endpoint: str, credentials: Mapping[str, str] | None = None):  # -> S3Client
    import boto3
    from botocore.config import Config

    creds = credentials or {}
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
        region_name=creds.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}),
    )


def ensure_bucket(endpoint: str, bucket: str, credentials: Mapping[str, str] | None = None) -> None:
    """Create ``bucket`` at ``endpoint`` unless it exists (credentials default to the env).

    Raises:
        ConfigError: no credentials were found.
        TrackingError: the endpoint refused or did not answer.
    """
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    client = _s3_client(endpoint, credentials)
    try:
        client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise TrackingError(f"S3 bucket {bucket!r} at {endpoint}: {code or exc}") from None
    except NoCredentialsError:
        raise ConfigError(
            f"no S3 credentials for {endpoint}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE)"
        ) from None
    except BotoCoreError as exc:
        raise TrackingError(f"S3 endpoint {endpoint} did not answer: {exc}") from None
    try:
        client.create_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        raise TrackingError(f"cannot create S3 bucket {bucket!r} at {endpoint}: {exc}") from None


def start_moto(log_path: Path, *, port: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``moto_server`` on 127.0.0.1 in its own session; returns (process, endpoint URL).

    moto keeps objects in memory: they are gone once it stops. It is for tests and trials;
    for real use pass any S3 URL (MinIO, AWS) as ``s3_endpoint`` to :func:`start_stack`.
    """
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise ConfigError(f"moto is needed for a local S3 endpoint: {_SERVER_EXTRA}") from None
    port = port or free_port()
    proc = _spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path,
        {**os.environ, **_MOTO_CREDENTIALS},
    )
    endpoint = f"http://127.0.0.1:{port}"
    _wait_http(f"{endpoint}/moto-api/", proc, what="moto S3 server", timeout=30, log_path=log_path)
    return proc, endpoint


# --- the stack ----------------------------------------------------------------------------
@dataclass
class Stack:
    """A running stack: ``tracking_uri`` is what clients use.

    ``postgres_url`` is None when the stack fell back to SQLite; its password is masked in
    ``repr``. ``s3_credentials`` are the keys the server uses (fake ones for moto).
    """

    root: Path
    server: MlflowServer
    s3_endpoint: str
    bucket: str
    postgres: Postgres | None = None
    s3_credentials: dict[str, str] = field(default_factory=dict)
    _moto: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def tracking_uri(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def postgres_url(self) -> str | None:
        return self.postgres.url if self.postgres else None

    @property
    def backend_store_uri(self) -> str:
        return self.server.backend_store_uri

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    def stop(self, *, purge: bool = False) -> None:
        """Stop mlflow, moto and a private PostgreSQL; ``purge=True`` also drops the database."""
        self.server.stop()
        if self._moto is not None:
            _stop_group(self._moto)
            self._moto = None
        if self.postgres is not None:
            if purge:
                self.postgres.drop()
            else:
                self.postgres.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"Stack({self.tracking_uri}, backend={_mask(self.backend_store_uri)}, "
            f"artifacts=s3://{self.bucket} at {self.s3_endpoint})"
        )


def start_stack(
    root: Path,
    *,
    port: int = 5000,
    s3_endpoint: str | None = None,
    bucket: str = "mlflow",
    postgres: bool = True,
    private_postgres: bool = False,
    workers: int = DEFAULT_WORKERS,
    startup_timeout: float = 90.0,
    log: Log | None = None,
) -> Stack:
    """Start PostgreSQL, an S3 endpoint and ``mlflow server`` between them.

    With ``s3_endpoint=None`` a moto server on 127.0.0.1 stands in for S3 (in memory: the
    artifacts go when it stops, so it suits tests and trials); for real use pass any S3 URL
    (MinIO, Ceph, AWS), with credentials in the usual ``AWS_*`` variables. Without PostgreSQL
    on the machine, or with ``postgres=False``, the store is SQLite at ``<root>/mlflow.db``.

        >>> stack = start_stack(Path("mlflow-server"), port=5000)               # doctest: +SKIP
        >>> stack.tracking_uri
        'http://127.0.0.1:5000'
        >>> stack.stop()

    Args:
        root: folder for the server log, a private PostgreSQL cluster or the SQLite file.
        port: the server's port on 127.0.0.1; 0 picks a free one.
        s3_endpoint: an S3 URL, or None for a local moto server.
        bucket: the artifact bucket, created if missing.
        postgres: False forces the SQLite store.
        private_postgres: a cluster of the stack's own under ``root`` even as root, which
            ``stack.postgres.restart()`` may restart (the bench and tests of faults use it).
        workers: the mlflow server's gunicorn workers.
        startup_timeout: seconds the server may take to answer ``/health``.
        log: called with one line per step (``print`` in the CLI); the SQLite fallback is a
            warning when no ``log`` is given.

    Raises:
        ConfigError: psycopg2, moto or boto3 is missing (``pip install 'modeler[server]'``).
        TrackingError: a part failed to start; the message names it and quotes its log.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)
    # Checked before PostgreSQL and moto start, so a busy port fails in milliseconds.
    if port and port_in_use(port):
        raise TrackingError(f"cannot start mlflow server: port {port} on 127.0.0.1 is in use")
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise ConfigError(f"boto3 is needed for the S3 artifact store: {_SERVER_EXTRA}") from None

    pg: Postgres | None = None
    if postgres and postgres_available():
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise ConfigError(f"psycopg2 is needed for PostgreSQL: {_SERVER_EXTRA}") from None
        pg = start_postgres(root, private=private_postgres, log=say)
        backend = pg.url
    else:
        backend = f"sqlite:///{root / 'mlflow.db'}"
        reason = "postgres=False" if not postgres else "PostgreSQL is not installed here"
        message = f"{reason}: using SQLite at {root / 'mlflow.db'} as the backend store"
        if log is None and postgres:
            warnings.warn(message, stacklevel=2)
        say(message)

    moto_proc = None
    try:
        if s3_endpoint is None:
            moto_proc, s3_endpoint = start_moto(root / "moto.log")
            credentials = dict(_MOTO_CREDENTIALS)
            say(f"S3: moto on {s3_endpoint} (in memory: artifacts are lost when it stops)")
        else:
            credentials = {}
            say(f"S3: {s3_endpoint}")
        ensure_bucket(s3_endpoint, bucket, credentials)
        server = MlflowServer(
            backend,
            f"s3://{bucket}",
            log_path=root / "mlflow-server.log",
            port=port,
            workers=workers,
            env={"MLFLOW_S3_ENDPOINT_URL": s3_endpoint, **credentials},
            startup_timeout=startup_timeout,
        )
        stack = Stack(root, server, s3_endpoint, bucket, pg, credentials, moto_proc)
        server.start()
    except BaseException:
        if moto_proc is not None:
            _stop_group(moto_proc)
        if pg is not None:
            pg.stop()
        raise
    return stack


def serve(
    root: Path = Path("mlflow-server"),
    *,
    port: int = 5000,
    s3_endpoint: str | None = None,
    bucket: str = "mlflow",
    postgres: bool = True,
    echo: Log = print,
) -> None:
    """``modeler server``: start the stack, print how to use it, block until Ctrl-C.

        >>> serve(Path("mlflow-server"), port=5000)                          # doctest: +SKIP
        MLflow tracking server: http://127.0.0.1:5000
        ...
        export MLFLOW_TRACKING_URI=http://127.0.0.1:5000

    Raises:
        TrackingError: a part failed to start, or the server died while serving.
    """
    stack = start_stack(root, port=port, s3_endpoint=s3_endpoint, bucket=bucket,
                        postgres=postgres, log=echo)  # fmt: skip
    try:
        echo(f"MLflow tracking server: {stack.tracking_uri}")
        echo(f"  backend store: {_mask(stack.backend_store_uri)}")
        echo(f"  artifacts:     s3://{bucket} at {stack.s3_endpoint}")
        echo(f"  server log:    {stack.log_path}")
        echo("Point notebooks and scripts at it:")
        echo(f"  export MLFLOW_TRACKING_URI={stack.tracking_uri}")
        echo("  or, in Python: accu.set_tracking(uri=" + repr(stack.tracking_uri) + ")")
        echo("Press Ctrl-C to stop.")
        with contextlib.suppress(KeyboardInterrupt), _interrupt_on_term():
            while stack.server.running:
                time.sleep(1)
            raise TrackingError(
                f"mlflow server stopped unexpectedly; last lines of {stack.log_path}:\n"
                + _tail(stack.log_path, secrets_=stack.server._secrets())
            )
    finally:
        stack.stop()
        echo("Stopped.")


@contextlib.contextmanager
def _interrupt_on_term() -> Iterator[None]:
    """Treat SIGTERM and SIGHUP like Ctrl-C while serving.

    The servers run in sessions of their own, so a ``kill`` or a closed terminal that ended
    only this process would leave them running; this way ``serve`` stops them first.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
