"""Time how long the comparison report takes to open in headless Chromium.

    .venv/bin/python bench/report_load.py

Writes 10 runs evaluated on the same 1,000,000 rows (~0.2% positives, per-row amounts as
costs) and 10 runs on 10,000 rows to an embedded SQLite store in a temporary folder, each with
what the writer logs (``build_report``: intervals, decision threshold, curve histories,
curves.json, cost_curve.json, scores.parquet), then writes one report per set
(``compare(..., log_report=False)``) and opens each in Debian's Chromium through Playwright,
alternating, 5 times after one warm-up, each in a fresh browser context (no cache).

Prints, per set, the median time from navigation start to the load event (target <= 2 s for
the 1M set) and to the page's own "ready" mark (charts drawn, controls built), the report's
size (target <= 5 MB), and the 1M/10k ratio (about 1: the page holds at most ~2,000 operating
points a run, whatever the rows behind them).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from compare import RUNS, fraud_like, log_run  # bench/compare.py: the same runs

SIZES = {"1M": 1_000_000, "10k": 10_000}
ROUNDS = 5
TARGET_S = 2.0
TARGET_MB = 5.0
CHROMIUM = "/usr/bin/chromium"
FLAGS = [  # FACTS.md: what works for headless Chromium here
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def write_report(root: Path, label: str, n: int) -> Path:
    """Ten runs on the same ``n`` rows, compared into ``root/<label>/report.html``."""
    from mlflow.tracking import MlflowClient

    from modeler.compare import compare
    from modeler.config import resolve_tracking

    tracking = resolve_tracking(f"sqlite:///{root / 'mlflow.db'}", f"load-{label}")
    client = MlflowClient(tracking.uri)
    exp_id = client.create_experiment(tracking.experiment, tracking.artifact_location)
    y, _, amounts = fraud_like(n, seed=0)
    run_ids = [
        log_run(client, exp_id, y, fraud_like(n, seed=i, y=y)[1], amounts) for i in range(RUNS)
    ]
    report = compare(run_ids, tracking=tracking, output_dir=root / label, log_report=False)
    assert len(report.table) == RUNS and report.evidence.paired
    return report.html_path


def open_once(browser, path: Path) -> tuple[float, float]:
    """Seconds from navigation start to the load event, and to the page's ready mark."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector("body[data-ready=true]")
    load, ready = page.evaluate(
        """() => [performance.getEntriesByType('navigation')[0].loadEventEnd,
                  Number(document.body.getAttribute('data-ready-ms'))]"""
    )
    context.close()
    return load / 1000, ready / 1000


def main() -> None:
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="modeler-bench-report-"))
    try:
        pages = {}
        for label, n in SIZES.items():
            started = time.perf_counter()
            pages[label] = write_report(root, label, n)
            print(
                f"{label}: {RUNS} runs of {n:,} rows and their report in "
                f"{time.perf_counter() - started:.1f} s"
            )
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            for path in pages.values():  # warm-up: the browser's first page
                open_once(browser, path)
            times: dict[str, list[tuple[float, float]]] = {label: [] for label in SIZES}
            for _ in range(ROUNDS):  # alternate, so drifts in machine load hit both alike
                for label, path in pages.items():
                    times[label].append(open_once(browser, path))
            browser.close()
        print(f"\nreport of {RUNS} runs in headless Chromium, median of {ROUNDS} (seconds)")
        print(f"{'':<10} {'load event':>10} {'ready':>7} {'size MB':>8}   targets: load <= "
              f"{TARGET_S} s, size <= {TARGET_MB} MB")  # fmt: skip
        loads = {}
        for label, path in pages.items():
            load = statistics.median(t[0] for t in times[label])
            ready = statistics.median(t[1] for t in times[label])
            size = path.stat().st_size / 1e6
            loads[label] = load
            ok = "ok" if load <= TARGET_S and size <= TARGET_MB else "OVER"
            print(f"{label + ' rows':<10} {load:10.3f} {ready:7.3f} {size:8.2f}   {ok}")
        print(f"ratio 1M/10k (load event): {loads['1M'] / loads['10k']:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
