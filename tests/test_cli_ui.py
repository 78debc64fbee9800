"""``modeler ui`` stopped by Ctrl-C or SIGTERM stops the MLflow server and all its workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fixtures.s3 import free_port


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) of a live process, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return int(fields[1]), int(fields[2])


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _group(pgid: int) -> list[int]:
    return [pid for pid in _pids() if (_stat(pid) or (0, 0))[1] == pgid]


def _start_ui(tmp_path: Path, port: int) -> subprocess.Popen:
    # the installed `modeler` command, in a session of its own like a shell job: the test can
    # signal its whole group
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("modeler")), "ui", "--port", str(port)],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_stopping_modeler_ui_stops_the_server_and_its_workers(tmp_path, how):
    port = free_port()
    ui = _start_ui(tmp_path, port)
    try:
        started = _wait_for(lambda: _answers(port) or ui.poll() is not None, 120)
        assert started and ui.poll() is None, ui.stdout.read().decode() if ui.stdout else ""
        servers = [pid for pid in _pids() if (_stat(pid) or (0, 0))[0] == ui.pid]
        assert len(servers) == 1
        server_group = _stat(servers[0])[1]
        assert server_group != os.getpgid(ui.pid)  # the server has a group of its own
        assert len(_group(server_group)) >= 1
        # it serves the embedded store of the folder it was started in
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=10"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "experiments" in json.load(response)
        assert (tmp_path / "mlruns" / "mlflow.db").exists()

        if how == "ctrl-c":  # the terminal sends SIGINT to the foreground job's group
            os.killpg(ui.pid, signal.SIGINT)
        else:
            ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0
        assert f"MLflow UI on http://127.0.0.1:{port}" in ui.stdout.read().decode()
        assert not _answers(port)
        assert _wait_for(lambda: _group(server_group) == [], 10), _group(server_group)
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
        ui.wait()


def test_a_busy_port_is_named_before_any_server_starts(tmp_path):
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        ui = _start_ui(tmp_path, port)
        try:
            output, _ = ui.communicate(timeout=60)
        finally:
            if ui.poll() is None:
                os.killpg(ui.pid, signal.SIGKILL)
    assert ui.returncode == 2  # mlflow ui itself exits 0 when it cannot listen
    assert f"error: 127.0.0.1:{port} cannot be used" in output.decode()
    assert "--port" in output.decode()
