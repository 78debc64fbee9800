"""The interactive report in Debian's Chromium, driven by Playwright: offline, live, narrow.

Chromium is Debian's package (/usr/bin/chromium); Playwright drives it (``executable_path``),
no browser download. As root (CI) the session installs Chromium when missing; otherwise the
tests are skipped. Every number the page shows is checked against a brute-force count over
the same scores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_compare import log_scored_run

CHROMIUM = "/usr/bin/chromium"
FLAGS = [  # FACTS.md: what works for headless Chromium here (Playwright adds --headless)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
N = 4000


def chromium_path() -> str:
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


_SHARED: dict = {}


def shared_browser():
    """One headless Chromium under Playwright for the whole session, whichever module asks.

    Playwright's sync API allows one instance per thread; test modules that import the
    ``browser`` fixture get fixtures of their own, so they share this one object.
    """
    if "browser" not in _SHARED:
        import atexit

        sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'modeler[dev]'")
        path = chromium_path()
        pw = sync_api.sync_playwright().start()
        _SHARED["browser"] = pw.chromium.launch(executable_path=path, args=FLAGS, headless=True)

        def stop() -> None:
            _SHARED.pop("browser").close()
            pw.stop()

        atexit.register(stop)
    return _SHARED["browser"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium under Playwright, one for the session."""
    return shared_browser()


class Page:
    """A page with its console errors and every request it tried, for the offline check."""

    def __init__(self, browser, width: int = 1280, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None
        )
        self.page.on("request", lambda req: self.requests.append(req.url))

    def open(self, path: Path) -> Page:
        self.page.goto(path.resolve().as_uri(), wait_until="load")
        self.page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        return self

    def card(self, k: int) -> dict:
        """What run ``k``'s card shows, as numbers."""
        return self.page.evaluate(
            """k => {
              const c = document.querySelector(`.card[data-run="${k}"]`);
              const num = s => Number(c.querySelector(s).textContent.replace(/[,\u2248]/g, ''));
              return {
                t: Number(c.querySelector('.thr-value').getAttribute('data-threshold')),
                shown: c.querySelector('.thr-value').textContent,
                index: Number(c.getAttribute('data-index')),
                tp: num('td.tp'), fn: num('td.fn'), fp: num('td.fp'), tn: num('td.tn'),
                precision: num('dd.precision'), recall: num('dd.recall'), f1: num('dd.f1'),
                fpr: num('dd.fpr'), cost: c.querySelector('dd.cost') ? num('dd.cost') : null,
                constraint: c.querySelector('.at-constraint').textContent,
              };
            }""",
            k,
        )

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def page(browser):
    opened: list[Page] = []

    def make(width: int = 1280, height: int = 900) -> Page:
        p = Page(browser, width, height)
        opened.append(p)
        return p

    yield make
    for p in opened:
        p.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A comparison of three runs with per-row costs on the same 4,000 rows."""
    from mlflow.tracking import MlflowClient

    from modeler.compare import compare
    from modeler.config import resolve_tracking

    root = tmp_path_factory.mktemp("report-browser")
    tracking = resolve_tracking(f"sqlite:///{root / 'mlflow.db'}", "browser")
    client = MlflowClient(tracking.uri)

    rng = np.random.default_rng(1)
    y = (rng.random(N) < 0.04).astype(np.int8)
    amounts = rng.lognormal(4.0, 1.0, N)
    exp_id = client.create_experiment("browser", artifact_location=tracking.artifact_location)
    scores, run_ids = [], []
    for k, signal in enumerate((1.0, 2.0, 3.0)):
        s = (1 / (1 + np.exp(-(rng.normal(-3, 1, N) + signal * y)))).astype(np.float32)
        scores.append(s.astype(np.float64))
        run_ids.append(
            log_scored_run(
                client,
                exp_id,
                y,
                s,
                name=f"model-{k}",
                costs={"fn": amounts, "fp": 5.0},
            )
        )
    result = compare(run_ids, tracking=tracking, output_dir=root / "report", log_report=False)
    result.y, result.scores, result.amounts = y, scores, amounts
    result.metrics = [client.get_run(run_id).data.metrics for run_id in run_ids]
    return result


def names_in_table(p: Page) -> list[str]:
    cells = p.page.locator("#metrics tbody td.name")
    return [cells.nth(i).get_attribute("data-sort") for i in range(cells.count())]


def truth(report, k: int, t: float) -> dict:
    """Brute force: the confusion counts, rates and cost of run ``k`` at threshold ``t``."""
    y, s = report.y, report.scores[k]
    flagged = s >= t
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    fn, tn = int((y == 1).sum()) - tp, int((y == 0).sum()) - fp
    cost = float(report.amounts[(y == 1) & ~flagged].sum() + 5.0 * fp)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "cost": cost,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn),
        "fpr": fp / (fp + tn),
        "f1": 2 * tp / (2 * tp + fp + fn),
    }


def assert_card_matches(report, shown: dict, k: int) -> None:
    expected = truth(report, k, shown["t"])
    for key in ("tp", "fp", "fn", "tn"):
        assert shown[key] == expected[key], (key, shown, expected)
    for key, digits in (("precision", 4), ("recall", 4), ("f1", 4), ("fpr", 5)):
        if not np.isnan(expected[key]):
            assert shown[key] == pytest.approx(expected[key], abs=0.6 * 10**-digits), key
    assert shown["cost"] == pytest.approx(
        expected["cost"], abs=0.51 if expected["cost"] < 1000 else 1
    )


@pytest.mark.browser
def test_report_renders_offline_without_errors(page, report):
    p = page().open(report.html_path)
    assert p.errors == []
    # nothing but the file itself was requested: no CDN, no fonts, no source maps
    assert [u for u in p.requests if not u.startswith("file://")] == []
    drawn = p.page.evaluate(
        """() => ['chart-pr', 'chart-roc', 'chart-cost'].map(id => {
              const c = document.getElementById(id), d = c.getContext('2d')
                .getImageData(0, 0, c.width, c.height).data;
              let ink = 0;
              for (let i = 0; i < d.length; i += 4) {
                if (d[i + 3] > 0 && d[i] + d[i + 1] + d[i + 2] < 600) ink++;
              }
              return [Chart.getChart(c).data.datasets.filter(s => s.run !== null).length, ink];
            })"""
    )
    for curves, ink in drawn:
        assert curves == 3 and ink > 2000, drawn
    assert names_in_table(p) == ["model-0", "model-1", "model-2"]


@pytest.mark.browser
def test_threshold_control_changes_the_numbers_shown(page, report):
    p = page().open(report.html_path)
    others = [p.card(0), p.card(2)]
    start = p.card(1)
    decision = report_metrics(report, 1)["eval.decision_threshold"]
    assert start["shown"] == f"{float(f'{decision:.4g}')} (decision)"
    assert_card_matches(report, start, 1)
    assert start["cost"] == pytest.approx(report_metrics(report, 1)["eval.cost_at_decision"], abs=1)
    slider = p.page.locator('.card[data-run="1"] input[type=range]')
    slider.focus()
    p.page.keyboard.press("Home")  # the lowest threshold: flag everything
    low = p.card(1)
    assert low["tp"] == int(report.y.sum()) and low["fn"] == 0 and low["tn"] == 0
    assert_card_matches(report, low, 1)
    for _ in range(40):
        p.page.keyboard.press("ArrowRight")
    moved = p.card(1)
    assert moved["index"] == 40 and moved["t"] > low["t"]
    assert_card_matches(report, moved, 1)
    p.page.keyboard.press("End")  # flag nothing
    none = p.card(1)
    assert none["tp"] == 0 and none["fp"] == 0 and "flag nothing" in none["shown"]
    # the other runs did not move
    assert [p.card(0), p.card(2)] == others
    # the cost-optimum button lands on the run's logged optimum
    p.page.locator('.card[data-run="1"] button[data-jump=optimum]').click()
    best = p.card(1)
    metrics = report_metrics(report, 1)
    assert best["t"] == pytest.approx(metrics["eval.cost_optimal_threshold"])
    assert best["cost"] == pytest.approx(metrics["eval.cost_at_optimal"], abs=1)
    p.page.locator('.card[data-run="1"] button[data-jump=half]').click()
    half = p.card(1)
    assert half["shown"] == "0.5"
    assert_card_matches(report, {**half, "t": 0.5}, 1)
    assert p.errors == []


def report_metrics(report, k: int) -> dict:
    return report.metrics[k]


@pytest.mark.browser
def test_hover_shows_threshold_precision_recall_and_fpr(page, report):
    p = page().open(report.html_path)
    # a point of run 2's PR curve, by its place on the canvas, away from every marker and from
    # the other runs' curves (a click there picks whatever is nearest, as it should)
    spot = p.page.evaluate(
        """() => {
          const chart = Chart.getChart('chart-pr');
          const k = chart.data.datasets.findIndex(d => d.run === 2);
          const meta = chart.getDatasetMeta(k), box = chart.canvas.getBoundingClientRect();
          // every other thing drawn: markers (kept 15 px away), the other runs' curves (5 px)
          const near = (m) => chart.data.datasets[m].mark ? 15 : 5;
          const others = chart.data.datasets.flatMap((d, m) => m !== k && d.mark !== 'band'
            ? chart.getDatasetMeta(m).data.map(e => [e.x, e.y, near(m)]) : []);
          const fractions = [];
          for (let d = 0; d <= 0.35; d += 0.01) fractions.push(0.4 - d, 0.4 + d);
          for (const f of fractions) {
            const i = Math.floor(meta.data.length * f), e = meta.data[i];
            if (others.every(([x, y, r]) => Math.hypot(x - e.x, y - e.y) > r)) {
              return {x: box.left + e.x, y: box.top + e.y, index: chart.data.datasets[k].data[i].i};
            }
          }
          return null;
        }"""
    )
    assert spot is not None, "no point of the curve stands clear of the markers"
    p.page.mouse.move(spot["x"], spot["y"])
    tip = p.page.evaluate(
        """() => { const t = Chart.getChart('chart-pr').tooltip, d = t.dataPoints[0];
                   return {lines: t.body.map(b => b.lines).flat(), run: d.dataset.run,
                           i: d.raw.i}; }"""
    )
    k = tip["run"]
    exact_t = p.page.evaluate(
        "([k, i]) => JSON.parse(document.getElementById('report-data').textContent).runs[k].t[i]",
        [k, tip["i"]],
    )
    text = " ".join(tip["lines"])
    assert f"model-{k}" in text
    expected = truth(report, k, exact_t)
    shown_t = float(re.search(r"threshold ([0-9.e-]+)", text).group(1))
    assert shown_t == pytest.approx(exact_t, rel=1e-3)  # shown with 4 significant digits
    precision = float(re.search(r"precision ([0-9.]+)", text).group(1))
    recall = float(re.search(r"recall ([0-9.]+)", text).group(1))
    fpr = float(re.search(r"false-positive rate ([0-9.]+)", text).group(1))
    assert precision == pytest.approx(expected["precision"], abs=6e-5)
    assert recall == pytest.approx(expected["recall"], abs=6e-5)
    assert fpr == pytest.approx(expected["fpr"], abs=6e-6)
    # clicking the curve there sets that run's threshold to the point the tooltip showed
    before = p.card(k)
    moved = (
        f'document.querySelector(\'.card[data-run="{k}"]\').dataset.index != "{before["index"]}"'
    )
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):  # Chart.js handles pointer events once per animation frame, and
        p.page.mouse.click(spot["x"], spot["y"])  # headless Chromium may drop one in a busy frame
        try:
            p.page.wait_for_function(moved, timeout=2000)
            break
        except PlaywrightTimeout:
            continue
    clicked = p.card(k)
    assert clicked["index"] == tip["i"] != before["index"]
    assert clicked["t"] == exact_t
    assert_card_matches(report, clicked, k)


@pytest.mark.browser
def test_a_typed_constraint_marks_each_runs_operating_point(page, report):
    import json

    p = page().open(report.html_path)
    p.page.locator("#constraint-kind").select_option("recall")
    p.page.locator("#constraint-value").fill("0.8")
    data = json.loads(p.page.locator("#report-data").text_content())
    for k, run in enumerate(data["runs"]):
        t = np.asarray(run["t"])
        recall = np.asarray(run["tp"]) / run["P"]
        expected = t[recall >= 0.8].max()  # the highest stored threshold keeping recall >= 0.8
        shown = p.card(k)["constraint"]
        assert shown.startswith("recall ≥ 0.8: threshold ")
        assert float(shown.split("threshold ")[1].split(",")[0]) == pytest.approx(
            expected, rel=1e-3
        )
        assert truth(report, k, expected)["recall"] >= 0.8
    p.page.locator('.card[data-run="0"] button[data-jump=constraint]').click()
    assert p.card(0)["recall"] >= 0.8
    # a precision floor no run reaches is said so, not marked
    p.page.locator("#constraint-kind").select_option("precision")
    p.page.locator("#constraint-value").fill("1.01")
    assert "not reachable" in p.card(0)["constraint"]
    assert p.page.locator('.card[data-run="0"] button[data-jump=constraint]').is_disabled()


@pytest.mark.browser
def test_table_sorts_and_fits_a_narrow_viewer(page, report):
    p = page(width=600).open(report.html_path)
    fits = p.page.evaluate(
        "() => { const w = document.querySelector('.table-wrap');"
        " return [w.scrollWidth, w.clientWidth]; }"
    )
    assert fits[0] <= fits[1], fits
    assert p.page.locator("#hidden-columns").is_visible()  # says what it left out
    header = p.page.locator("#metrics th", has_text="PR-AUC").first
    header.click()
    order = names_in_table(p)
    pr = report.table.set_index("Model Version")["PR-AUC"]
    assert order == list(pr.sort_values(ascending=False).index)
    header.click()
    order = names_in_table(p)
    assert order == list(pr.sort_values(ascending=True).index)
    p.page.locator("#show-all").click()
    assert p.page.locator("#metrics th", has_text="Recall").is_visible()


@pytest.mark.browser
def test_cost_chart_shows_the_optimum_in_log_and_zoom(page, report):
    p = page().open(report.html_path)
    scale = p.page.evaluate("() => Chart.getChart('chart-cost').scales.y.type")
    assert scale == "logarithmic"
    p.page.locator("[data-cost-scale=zoom]").click()
    view = p.page.evaluate(
        "() => { const s = Chart.getChart('chart-cost').scales;"
        " return [s.y.min, s.y.max, s.x.min, s.x.max]; }"
    )
    optima = [report_metrics(report, k) for k in range(3)]
    for m in optima:  # every optimum inside the zoomed window
        assert view[0] <= m["eval.cost_at_optimal"] <= view[1]
        assert view[2] <= m["eval.cost_optimal_threshold"] <= view[3]
    flag_all = truth(report, 0, -1.0)["cost"]
    assert view[1] < flag_all  # the flat top of "flag everything" is cut away
