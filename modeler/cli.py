"""The ``modeler`` command.

$ modeler demo                       # the fraud example on the embedded store
$ modeler ui                         # the MLflow UI on the resolved store
$ modeler get-file data.json --out data.csv
$ modeler compare --experiment fraud --top 5 --by eval.pr_auc
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from modeler import __version__
from modeler.errors import DataError, ModelerError


class _Group(click.Group):
    """Prints a ModelerError as one clear line (exit 2) instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ModelerError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modeler")
def main() -> None:
    """Experiment tracking for classifiers on imbalanced data, on MLflow."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def ui(host: str, port: int) -> None:
    """Start the MLflow UI on the resolved tracking store (Ctrl-C or SIGTERM stops it all)."""
    from modeler.tracking.store import ui_command

    cmd, url = ui_command(host=host, port=port)
    _check_free(host, port)
    # MLflow's job runner (GenAI jobs; a huey consumer and four workers busy at start-up) is
    # not needed to browse runs: off unless asked for, as in `modeler server`
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    click.echo(f"MLflow UI on {url}  (Ctrl-C to stop)")
    code = serve_until_stopped(cmd)
    if code:
        sys.exit(code)


def _check_free(host: str, port: int) -> None:
    """Fail with a clear message when the port is taken (``mlflow ui`` exits 0 then)."""
    import socket

    from modeler.errors import ConfigError

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"{host}:{port} cannot be used ({exc.strerror}): is another `modeler ui` or "
                "MLflow server running? Pick another with --port"
            ) from None


def serve_until_stopped(cmd: list[str], grace: float = 10.0) -> int:
    """Run the server ``cmd`` until it exits, or until Ctrl-C, SIGTERM or SIGHUP reach us.

    >>> serve_until_stopped(["mlflow", "ui", "--port", "5000"])      # doctest: +SKIP

    The server runs in a process group of its own, so stopping it stops its workers too
    (``mlflow ui`` starts a uvicorn or gunicorn server with several): SIGTERM to the group,
    then, after ``grace`` seconds, SIGKILL to whatever is left. Returns the server's exit code
    if it ended by itself, 0 if we stopped it.
    """
    import signal
    import subprocess

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    stops = (signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, *stops)}
    for sig in stops:
        signal.signal(sig, stop)
    server = subprocess.Popen(cmd, start_new_session=True)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        # a second Ctrl-C must not cut the clean-up short: it is bounded by 2 * grace
        for sig in (signal.SIGINT, *stops):
            signal.signal(sig, signal.SIG_IGN)
        _stop_group(server, grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_group(server: Any, grace: float) -> None:
    """SIGTERM the server's process group; SIGKILL what is still there after ``grace`` s."""
    import os
    import signal
    import subprocess
    import time

    def alive() -> bool:
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # a pid reused by another user's process: not ours
            return False
        return True

    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=grace)
    deadline = time.monotonic() + grace  # workers may outlive their parent for a moment
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=grace)


@main.command()
@click.option("--rows", default=60_000, show_default=True, type=int, help="Rows of synthetic data.")
@click.option("--epochs", default=5, show_default=True, type=int)
@click.option("--experiment", default="fraud-demo", show_default=True)
@click.option(
    "--out",
    "out_dir",
    default="reports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
def demo(rows: int, epochs: int, experiment: str, out_dir: Path) -> None:
    """The fraud example: data, five models, comparison, cheapest model."""
    from modeler.demo import run_demo

    run_demo(rows=rows, epochs=epochs, experiment=experiment, out_dir=out_dir, echo=click.echo)


@main.command("get-file")
@click.argument("source")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Copy the file here (default: print the cached path).",
)
@click.option("--refresh", is_flag=True, help="Download again even if cached.")
def get_file_cmd(source: str, out: Path | None, refresh: bool) -> None:
    """Fetch SOURCE (descriptor JSON, s3://bucket/key, file:// URI or path) into the cache."""
    import shutil

    from modeler.data.files import get_file
    from modeler.data.names import check_local_path

    if out is not None:
        check_local_path(out, where="--out")
    path = get_file(source, as_path=True, refresh=refresh)
    if out is not None and out.resolve() != Path(path).resolve():  # else it is there already
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise DataError(
                f"--out {str(out)!r}: cannot write the file there ({exc.strerror or exc}{where}); "
                "expected a file path in a folder you can write to"
            ) from exc
    click.echo(str(path if out is None else out))


@main.command()
@click.argument("runs", nargs=-1)
@click.option("--experiment", default=None, help="Pick the top runs of this experiment.")
@click.option("--top", default=None, type=int, help="How many runs (at most 10).")
@click.option("--by", default="eval.pr_auc", show_default=True, help="Metric to rank by.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path))
def compare(
    runs: tuple[str, ...], experiment: str | None, top: int | None, by: str, out_dir: Path | None
) -> None:
    """Compare RUNS (ids, run names, model versions) or the top runs of an experiment."""
    from modeler import accu

    report = accu.compare(
        list(runs) or None, experiment=experiment, top=top, by=by, output_dir=out_dir
    )
    click.echo(report.to_text())
    click.echo(f"\nreport: {report.html_path}")


@main.command()
@click.option(
    "--store",
    "store_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Where journals wait, in <it>/journal (default: ./mlruns, or the folder of a "
    "sqlite:/// MLFLOW_TRACKING_URI).",
)
def sync(store_dir: Path | None) -> None:
    """Complete and upload runs left in the journal (a process that ended, a store that was
    down). Exits 1 while anything could not be synced."""
    from modeler.config import resolve_tracking
    from modeler.tracking.recovery import sync as sync_all

    tracking = resolve_tracking()
    result = sync_all(store_dir or tracking.journal_home, echo=click.echo, current=tracking.uri)
    if not result.ok:
        sys.exit(1)


@main.command()
@click.option(
    "--root",
    default="mlruns/server",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--s3-endpoint", default=None, help="S3 URL for artifacts (default: a local one).")
@click.option("--bucket", default="mlflow", show_default=True)
@click.option("--sqlite", is_flag=True, help="Use SQLite instead of PostgreSQL.")
def server(root: Path, port: int, s3_endpoint: str | None, bucket: str, sqlite: bool) -> None:
    """Run the team stack without Docker: PostgreSQL, S3 and an MLflow server."""
    from modeler.server import serve

    serve(root, port=port, s3_endpoint=s3_endpoint, bucket=bucket, postgres=not sqlite)


if __name__ == "__main__":  # pragma: no cover
    main()
