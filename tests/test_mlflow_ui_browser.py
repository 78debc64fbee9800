"""What a user sees in MLflow 3.17's own UI, checked in Debian's Chromium through Playwright.

An ``mlflow server`` on a temporary SQLite store (127.0.0.1) holds five autologged fits
(scikit-learn and imbalanced-learn, with costs, on one validation set: curve histories, short
names, scores.parquet, everything the writer logs) and one comparison report of them. Then, at
a 1400 x 1000 window with MLflow's default panels:

- the chart view of the models' experiment shows the ``eval.pr_curve`` chart with one line per
  run, each in its run's colour;
- the runs table lists the models only, with their names whole at the default column width;
- the report opens inside MLflow's artifact viewer (a sandboxed iframe), fits its width and
  its threshold control works there.

Screenshots are written to the test's folder (``chart-view.png``, ``runs.png``,
``artifact-view.png``) to look at when a test fails.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest
from test_report_browser import browser  # noqa: F401  (the session's Chromium)

WINDOW = {"width": 1400, "height": 1000}
LOAD_S = 60  # the UI's first load in a fresh browser profile can take a while on two cores


@pytest.fixture(scope="module")
def ui(mlflow_server, tmp_path_factory):
    """Five autologged scikit-learn / imbalanced-learn fits with costs on one validation set,
    on the server, and a comparison of them."""
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline
    from imblearn.under_sampling import RandomUnderSampler
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier

    from modeler import accu
    from modeler.compare import compare

    name = f"ui-fraud-{time.time_ns()}"
    X, y = make_classification(
        n_samples=6000, n_features=8, weights=[0.96], flip_y=0.01, class_sep=0.9, random_state=0
    )
    X_fit, y_fit, X_val, y_val = X[:3000], y[:3000], X[3000:], y[3000:]
    amounts = np.random.default_rng(0).lognormal(4.0, 1.0, len(y_val))
    models = [
        LogisticRegression(C=0.01),
        Pipeline([("down", RandomUnderSampler(random_state=0)),
                  ("rf", RandomForestClassifier(n_estimators=30, random_state=0))]),
        GaussianNB(),
        DecisionTreeClassifier(max_depth=3, random_state=0),
        Pipeline([("smote", SMOTE(random_state=0)), ("lr", LogisticRegression())]),
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("ui-fits"))  # the runs' journals go here
        accu.set_tracking(mlflow_server.url, name)
        try:
            accu.autolog(
                validation=(X_val, y_val), costs={"fn": amounts, "fp": 5.0}, log_models=False
            )
            for model in models:
                model.fit(X_fit, y_fit)
            accu.wait()
            tracking = accu.tracking()
        finally:
            accu.autolog(disable=True)
            accu.set_tracking(None, None)
    client = MlflowClient(mlflow_server.url)
    exp_id = client.get_experiment_by_name(name).experiment_id
    runs = client.search_runs([exp_id], order_by=["attributes.start_time ASC"])
    assert len(runs) == len(models), [r.info.run_name for r in runs]
    run_ids = [r.info.run_id for r in runs]
    report = compare(run_ids, tracking=tracking, output_dir=tmp_path_factory.mktemp("ui-report"))
    assert report.evidence.paired, report.evidence.reason  # one validation set: paired
    return {
        "url": mlflow_server.url,
        "experiment_id": exp_id,
        "run_ids": run_ids,
        "names": [r.info.run_name for r in runs],
        "report": report,
    }


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport=WINDOW)
    p = context.new_page()
    p.set_default_timeout(LOAD_S * 1000)
    yield p
    context.close()


def _rgb(css: str) -> tuple[int, int, int]:
    """``rgb(31, 119, 180)`` or ``#1f77b4`` as a tuple."""
    css = css.strip()
    if css.startswith("#"):
        return tuple(int(css[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    parts = css[css.index("(") + 1 : css.index(")")].split(",")
    return tuple(int(float(v)) for v in parts[:3])  # type: ignore[return-value]


def _run_colours(page, names: list[str]) -> dict[str, tuple[int, int, int]]:
    """Each run's colour, from the swatch beside its name in the runs table."""
    found = page.evaluate(
        """names => Object.fromEntries(names.map(n => {
              const a = Array.from(document.querySelectorAll('a')).find(e => e.textContent === n);
              let row = a, sw = null;
              for (let k = 0; k < 8 && row && !sw; k++) {
                row = row.parentElement;
                sw = row.querySelector('[data-testid="experiment-view-table-run-color"]');
              }
              return [n, sw ? getComputedStyle(sw).backgroundColor : null];
           }))""",
        names,
    )
    assert all(found.values()), found
    return {n: _rgb(c) for n, c in found.items()}


@pytest.mark.server
@pytest.mark.browser
def test_chart_view_overlays_each_runs_pr_curve(ui, page, tmp_path):
    from PIL import Image

    page.goto(f"{ui['url']}/#/experiments/{ui['experiment_id']}/runs?compareRunsMode=CHART")
    page.get_by_placeholder("Search metric charts").fill("eval.pr_curve")
    card = page.locator(
        '[data-testid="experiment-view-compare-runs-card"]', has_text="eval.pr_curve"
    )
    card.wait_for()
    lines = card.locator(".scatterlayer path.js-line")
    colours = _run_colours(page, ui["names"])
    # MLflow picks a run's colour from its id: two runs may share one
    runs_by_colour = Counter(colours.values())
    deadline = time.time() + LOAD_S
    while True:  # the histories arrive after the card
        by_colour: dict[tuple[int, int, int], set[str]] = {}
        for stroke, path in lines.evaluate_all(
            "ps => ps.map(p => [getComputedStyle(p).stroke, p.getAttribute('d')])"
        ):
            # MLflow may draw a line twice, on top of itself: count distinct paths
            by_colour.setdefault(_rgb(stroke), set()).add(path)
        lines_by_colour = {c: len(paths) for c, paths in by_colour.items()}
        if lines_by_colour == runs_by_colour or time.time() > deadline:
            break
        time.sleep(0.5)
    # one line per run, each in its run's colour, and several colours on the chart
    assert lines_by_colour == runs_by_colour
    assert len(runs_by_colour) >= 3, runs_by_colour
    # each line is a curve of 1,001 steps: precision falls from ~1 as recall (step) grows
    assert "Step" in card.inner_text()
    shot = tmp_path / "chart-view.png"
    card.screenshot(path=str(shot))
    page.screenshot(path=str(tmp_path / "chart-view-page.png"))
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    for run, rgb in colours.items():
        near = (np.abs(pixels - rgb).max(axis=1) <= 12).sum()
        assert near > 40, f"{run}'s colour {rgb} is barely on the chart ({near} pixels)"


@pytest.mark.server
@pytest.mark.browser
def test_runs_table_lists_the_models_only(ui, page):
    page.goto(f"{ui['url']}/#/experiments/{ui['experiment_id']}/runs")
    for name in ui["names"]:
        page.get_by_role("link", name=name, exact=True).wait_for()
    # the comparison report went to the companion experiment, not among the models
    assert "comparison-" not in page.locator("body").inner_text()
    assert page.get_by_text(f"{len(ui['names'])} matching runs").count() == 1


@pytest.mark.server
@pytest.mark.browser
def test_runs_table_shows_whole_run_names(ui, page, tmp_path):
    page.goto(f"{ui['url']}/#/experiments/{ui['experiment_id']}/runs")
    for name in ui["names"]:
        page.get_by_role("link", name=name, exact=True).wait_for()
    page.screenshot(path=str(tmp_path / "runs.png"))
    widths = page.evaluate(
        """names => names.map(n => {
              const a = Array.from(document.querySelectorAll('a')).find(e => e.textContent === n);
              const range = document.createRange(); range.selectNodeContents(a);
              // the text's own width against the part of the cell that shows it
              let shown = a.getBoundingClientRect().right;
              for (let e = a.parentElement, k = 0; e && k < 6; e = e.parentElement, k++) {
                shown = Math.min(shown, e.getBoundingClientRect().right);
              }
              return [n, range.getBoundingClientRect().right, shown];
           })""",
        ui["names"],
    )
    cut = {name: round(text - shown) for name, text, shown in widths if text > shown + 0.5}
    assert not cut, f"names cut off in the runs table (by px): {cut}"


@pytest.mark.server
@pytest.mark.browser
def test_report_works_inside_mlflows_artifact_view(ui, page, tmp_path):
    report = ui["report"]
    run = f"#/experiments/{report.experiment_id}/runs/{report.run_id}"
    page.goto(f"{ui['url']}/{run}/artifacts/report.html")
    frame_el = page.locator("iframe").first
    frame_el.wait_for()
    assert frame_el.get_attribute("sandbox") == "allow-scripts"  # scripts only: no network
    deadline = time.time() + LOAD_S
    frame = None
    while frame is None and time.time() < deadline:
        frame = next((f for f in page.frames if f.url.startswith("blob:")), None)
        time.sleep(0.2)
    assert frame is not None, [f.url for f in page.frames]
    frame.wait_for_selector("body[data-ready=true]")
    page.screenshot(path=str(tmp_path / "artifact-view.png"))
    width = frame.evaluate("document.documentElement.clientWidth")
    assert 300 < width < WINDOW["width"]  # the viewer's pane, not the window
    fits = frame.evaluate(
        "() => { const w = document.querySelector('.table-wrap');"
        " return [w.scrollWidth, w.clientWidth]; }"
    )
    assert fits[0] <= fits[1], f"the table overflows the viewer ({fits[0]} > {fits[1]} px)"
    assert frame.evaluate("document.documentElement.scrollWidth") <= width
    charts = frame.evaluate(
        "() => ['chart-pr', 'chart-roc', 'chart-cost'].map(id => Chart.getChart(id).data.datasets"
        ".filter(d => d.run !== null).length)"
    )
    assert charts == [len(ui["names"])] * 3
    # the threshold control works in the sandbox: flag everything, every fraud is caught
    slider = frame.locator('.card[data-run="0"] input[type=range]')
    slider.focus()
    page.keyboard.press("Home")
    fn = frame.locator('.card[data-run="0"] td.fn').inner_text()
    tn = frame.locator('.card[data-run="0"] td.tn').inner_text()
    assert fn == "0" and tn == "0"
    page.keyboard.press("End")
    tp = frame.locator('.card[data-run="0"] td.tp').inner_text()
    assert tp == "0"
