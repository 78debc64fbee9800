"""The comparison report opened in headless Chromium: it renders offline, charts and table.

Chromium is Debian's package (/usr/bin/chromium). As root (CI) the session installs it when
missing; otherwise the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [  # FACTS.md: what works for headless screenshots here
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary, installed with apt-get when missing and running as root."""
    path = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if path:
        return path
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed (CI installs it as root: apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    path = shutil.which("chromium") or CHROMIUM
    assert Path(path).exists(), "apt-get installed chromium but the binary is missing"
    return path


def _browser(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def report(store, tmp_path):
    """A comparison of four runs with costs, written through the run writer."""
    from modeler.compare import compare
    from modeler.tracking.evaluate import log_evaluation
    from modeler.tracking.writer import RunWriter

    rng = np.random.default_rng(1)
    y = (rng.random(5000) < 0.03).astype(int)
    amounts = rng.lognormal(4.0, 1.0, len(y))
    run_ids = []
    for signal in (0.5, 1.5, 2.5, 3.5):
        scores = 1 / (1 + np.exp(-(rng.normal(-3, 1, len(y)) + signal * y)))
        writer = RunWriter.start(store.tracking, "scores")
        log_evaluation(writer, y, scores, costs={"fn": amounts, "fp": 5.0})
        writer.end()
        run_ids.append(writer.run_id)
    return compare(run_ids, tracking=store.tracking, output_dir=tmp_path / "report")


@pytest.mark.browser
def test_report_renders_in_headless_chromium(chromium, report, tmp_path):
    from PIL import Image

    url = report.html_path.resolve().as_uri()
    shot = tmp_path / "report.png"
    done = _browser(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1400,1800", url)
    assert shot.exists() and shot.stat().st_size > 0, done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 1800)
    pixels = np.asarray(image).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    assert len(colours) > 200, "the page looks blank"
    # the first runs' curve colours (tab10 blue and orange) are on screen: the charts rendered
    for rgb in ((31, 119, 180), (255, 127, 14)):
        near = np.abs(pixels.astype(int) - rgb).max(axis=1) <= 8
        assert near.sum() > 200, f"no chart pixels of colour {rgb}"
    # the table's highlighted best cells (#dafbe1) are on screen too
    assert (np.abs(pixels.astype(int) - (0xDA, 0xFB, 0xE1)).max(axis=1) <= 2).sum() > 500

    dom = _browser(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in report.table["Run"]:
        assert name in dom.stdout
    assert dom.stdout.count("<img") == 2  # PR/ROC and cost charts
    assert 'id="metrics"' in dom.stdout
