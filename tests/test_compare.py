"""compare(): selection, table, figures and the HTML report, on runs made by the autolog code.

The runs are made once per module (fits and store set-up cost seconds); each test compares
them into its own folder. Comparisons never change the model runs, only add report runs.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from modeler import accu
from modeler.compare import MAX_RUNS, compare, lower_is_better
from modeler.errors import CompareError, ModelerWarning, RunNotFoundError

COSTS = {"fn": 100.0, "fp": 5.0}


class Runs:
    """The module's store and its runs by role."""

    def __init__(self, tracking, client) -> None:
        self.tracking = tracking
        self.client = client
        self.by_role: dict[str, object] = {}

    def __getitem__(self, role: str):
        return self.by_role[role]

    def add(self, role: str) -> None:
        exp = self.client.get_experiment_by_name(accu.tracking().experiment)
        newest = self.client.search_runs(
            [exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
        )[0]
        self.by_role[role] = newest

    def run(self, role: str):
        return self.client.get_run(self[role].info.run_id)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Experiment "cmp": 3 runs with costs (one registered as m/1), GaussianNB without costs,
    a fit without validation data; experiment "other": GaussianNB on a rarer validation set."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("compare-store")
    X, y = make_classification(
        n_samples=900, n_features=6, weights=[0.9], flip_y=0.03, class_sep=0.8, random_state=0
    )
    X_fit, y_fit, X_val, y_val = X[:500], y[:500], X[500:], y[500:]
    rare = np.flatnonzero((y_val == 0) | (np.arange(len(y_val)) % 3 == 0))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        accu.set_tracking(None, "cmp")
        tracking = accu.tracking()
        out = Runs(tracking, MlflowClient(tracking_uri=tracking.uri))
        try:
            accu.autolog(validation=(X_val, y_val), costs=COSTS, log_models=False)
            LogisticRegression(C=0.001).fit(X_fit, y_fit)
            out.add("lr_weak")
            DecisionTreeClassifier(max_depth=3, random_state=0).fit(X_fit, y_fit)
            out.add("tree")
            accu.autolog(validation=(X_val, y_val), costs=COSTS, register_model="m")
            LogisticRegression(C=1.0).fit(X_fit, y_fit)
            out.add("lr_registered")
            accu.autolog(validation=(X_val, y_val), log_models=False)
            GaussianNB().fit(X_fit, y_fit)
            out.add("nb")
            accu.autolog(log_models=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ModelerWarning)
                LogisticRegression().fit(X_fit, y_fit)
            out.add("no_validation")
            accu.set_tracking(None, "other")
            accu.autolog(validation=(X_val[rare], y_val[rare]), log_models=False)
            GaussianNB(var_smoothing=1e-3).fit(X_fit, y_fit)
            out.add("nb_other")
        finally:
            accu.autolog(disable=True)
            accu.set_tracking(None, None)
    return out


def ids(runs: Runs, *roles: str) -> list[str]:
    return [runs[r].info.run_id for r in roles]


def names(runs: Runs, *roles: str) -> list[str]:
    return [runs[r].info.run_name for r in roles]


def run_compare(runs: Runs, tmp_path: Path, selection=None, **options):
    options.setdefault("output_dir", tmp_path / "out")
    return compare(selection, tracking=runs.tracking, **options)


# --- selection --------------------------------------------------------------------------------
def test_select_by_ids_in_order_with_exact_logged_values(runs, tmp_path):
    roles = ("nb", "lr_weak", "tree")
    report = run_compare(runs, tmp_path, ids(runs, *roles), log_report=False)
    table = report.table
    assert table["Run"].tolist() == names(runs, *roles)
    assert table["Model Version"].tolist() == names(runs, *roles)
    assert report.run_ids == ids(runs, *roles)
    columns = {
        "AUC": "eval.roc_auc",
        "PR-AUC": "eval.pr_auc",
        "Precision": "eval.precision",
        "Recall": "eval.recall",
        "F1-score": "eval.f1",
        "Cost": "eval.cost",
        "Optimal threshold": "eval.cost_optimal_threshold",
        "Cost at optimal": "eval.cost_at_optimal",
        "Savings": "eval.savings",
    }
    expected = [
        "Model Version",
        "Run",
        "Sampling",
        *list(columns)[:5],
        "Threshold",
        *list(columns)[5:],
    ]
    assert list(table.columns) == expected
    for i, role in enumerate(roles):
        metrics = runs.run(role).data.metrics
        for col, key in columns.items():
            if key in metrics:
                assert table[col][i] == metrics[key], (role, col)  # exact, not approx
            else:
                assert np.isnan(table[col][i]), (role, col)
        assert table["Threshold"][i] == 0.5


def test_select_by_names_model_versions_and_registry_uri(runs, tmp_path):
    registered = runs["lr_registered"].info.run_name
    version = f"{registered}_1"
    assert runs.run("lr_registered").data.tags["modeler.model_version"] == version
    selection = [version, runs["tree"].info.run_name, "models:/m/1", registered]
    report = run_compare(runs, tmp_path, selection, log_report=False)
    # the version, the registry URI and the run name are one run: listed once, first place kept
    assert report.table["Model Version"].tolist() == [version, runs["tree"].info.run_name]
    assert report.table["Run"].tolist() == [registered, runs["tree"].info.run_name]


def test_a_single_string_and_duplicates(runs, tmp_path):
    (run_id,) = ids(runs, "tree")
    report = run_compare(runs, tmp_path, run_id, log_report=False)
    assert report.run_ids == [run_id]
    report = run_compare(
        runs, tmp_path, [run_id, run_id, runs["tree"].info.run_name], log_report=False
    )
    assert report.run_ids == [run_id]


def test_runs_of_two_experiments_mix_and_show_both_baselines(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "nb", "nb_other"), log_report=False)
    assert len(report.table) == 2
    ax_pr, _ = report.figure.axes
    baselines = [ln for ln in ax_pr.lines if ln.get_label().startswith("no skill")]
    assert len(baselines) == 2  # the validation sets have different positive rates
    assert any("positive rates" in note for note in report.notes)


@pytest.mark.parametrize(
    ("by", "descending"), [("eval.pr_auc", True), ("eval.roc_auc", True), ("eval.fp", False)]
)
def test_top_runs_of_an_experiment(runs, tmp_path, by, descending):
    report = run_compare(runs, tmp_path, experiment="cmp", top=3, by=by, log_report=False)
    exp_runs = [runs.run(r) for r in ("lr_weak", "tree", "lr_registered", "nb")]
    expected = sorted(exp_runs, key=lambda r: r.data.metrics[by], reverse=descending)[:3]
    values = [r.data.metrics[by] for r in expected]
    got = [runs.client.get_run(i).data.metrics[by] for i in report.run_ids]
    assert got == values


def test_experiment_selection_never_picks_comparison_runs(runs, tmp_path):
    from mlflow.entities import Metric

    exp_id = runs["tree"].info.experiment_id
    fake = runs.client.create_run(exp_id, tags={"modeler.comparison": "true"})
    # it would rank first if comparison runs were eligible
    runs.client.log_batch(fake.info.run_id, metrics=[Metric("eval.pr_auc", 2.0, 0, 0)])
    runs.client.set_terminated(fake.info.run_id)
    report = run_compare(runs, tmp_path, experiment="cmp", log_report=True)
    assert fake.info.run_id not in report.run_ids
    assert report.run_id not in report.run_ids
    assert len(report.table) == 4  # the fit without validation data has no eval.pr_auc
    again = run_compare(runs, tmp_path, experiment="cmp", output_dir=tmp_path / "again")
    assert again.run_ids == report.run_ids


@pytest.mark.parametrize(
    ("metric", "lower"),
    [
        ("val_loss", True),
        ("eval.cost_at_optimal", True),
        ("eval.fn", True),
        ("rmse", True),
        ("brier_score", True),
        ("eval.pr_auc", False),
        ("eval.savings", False),
        ("eval.f1", False),
    ],
)
def test_metric_direction(metric, lower):
    assert lower_is_better(metric) is lower


def test_more_than_ten_runs_is_an_error_after_removing_duplicates(runs, tmp_path):
    eleven = [f"{i:032x}" for i in range(MAX_RUNS + 1)]
    with pytest.raises(CompareError, match=r"at most 10 runs; 11 were given"):
        run_compare(runs, tmp_path, eleven)
    # twelve ids of which ten are distinct pass the limit (and then are not found)
    with pytest.raises(RunNotFoundError):
        run_compare(runs, tmp_path, eleven[:10] + eleven[:2])
    with pytest.raises(CompareError, match="from 1 to 10; got 11"):
        run_compare(runs, tmp_path, experiment="cmp", top=11)


@pytest.mark.parametrize(
    "missing",
    ["0123456789abcdef0123456789abcdef", "keras-NOPE", "models:/m/99", "models:/nope/1"],
)
def test_unknown_run_is_named(runs, tmp_path, missing):
    selection = [runs["tree"].info.run_id, missing]
    with pytest.raises(RunNotFoundError, match=re.escape(repr(missing))):
        run_compare(runs, tmp_path, selection)


def test_unknown_model_version_suffix_is_not_found(runs, tmp_path):
    version = f"{runs['lr_registered'].info.run_name}_7"
    with pytest.raises(RunNotFoundError, match=re.escape(version)):
        run_compare(runs, tmp_path, [version])


def test_neither_runs_nor_experiment_explains_both_forms(runs, tmp_path):
    with pytest.raises(CompareError, match=r"runs .*experiment"):
        run_compare(runs, tmp_path, None)
    with pytest.raises(CompareError, match="experiment 'nope' not found"):
        run_compare(runs, tmp_path, experiment="nope")
    with pytest.raises(CompareError, match="not both"):
        run_compare(runs, tmp_path, ids(runs, "tree"), experiment="cmp")
    with pytest.raises(CompareError, match=r"no run of experiment 'cmp' has metric 'eval\.nope'"):
        run_compare(runs, tmp_path, experiment="cmp", by="eval.nope")


# --- skipped runs -----------------------------------------------------------------------------
def test_runs_without_curves_are_skipped_with_a_reason(runs, tmp_path):
    from modeler.tracking.writer import RunWriter

    # a binary run whose metrics were logged but whose eval/curves.json never was
    writer = RunWriter.start(runs.tracking, "scores", tags={"modeler.task": "binary"})
    writer.log_metrics({"eval.roc_auc": 0.7, "eval.pr_auc": 0.2}, flush=True)
    writer.end()
    selection = [runs["no_validation"].info.run_id, writer.run_id, runs["tree"].info.run_id]
    report = run_compare(runs, tmp_path, selection, log_report=False)
    assert report.run_ids == [runs["tree"].info.run_id]
    skipped = dict(report.skipped)
    assert "no evaluation" in skipped[runs["no_validation"].info.run_name]
    assert "eval/curves.json" in skipped[writer.run_name]
    assert "skipped" in report.to_text()
    with pytest.raises(CompareError, match="no run left to compare"):
        run_compare(runs, tmp_path, selection[:2])


# --- table, best, costs -----------------------------------------------------------------------
def test_best_of_each_column_is_marked(runs, tmp_path):
    roles = ("lr_weak", "tree", "lr_registered", "nb")
    report = run_compare(runs, tmp_path, ids(runs, *roles), log_report=False)
    table = report.table
    for col, higher in [("AUC", True), ("PR-AUC", True), ("F1-score", True), ("Cost", False)]:
        i = table[col].idxmax() if higher else table[col].idxmin()
        assert report.best[col] == table["Model Version"][i]
    assert "Threshold" not in report.best and "Run" not in report.best
    text = report.to_text()
    best_line = next(ln for ln in text.splitlines() if ln.startswith(report.best["PR-AUC"]))
    assert f"{table['PR-AUC'].max():.4f}*" in best_line
    assert "(* best in column)" in text


def test_cost_columns_and_cheapest_model(runs, tmp_path):
    roles = ("lr_weak", "tree", "lr_registered")
    report = run_compare(runs, tmp_path, ids(runs, *roles), log_report=False)
    table = report.table
    at_optimal = [runs.run(r).data.metrics["eval.cost_at_optimal"] for r in roles]
    assert table["Cost at optimal"].tolist() == at_optimal
    cheapest = table["Model Version"][int(np.argmin(at_optimal))]
    assert report.cheapest == cheapest == report.best["Cost at optimal"]
    assert report.best["Savings"] == report.table["Model Version"][table["Savings"].idxmax()]
    assert f"cheapest: {cheapest}" in report.to_text()
    (ax,) = report.cost_figure.axes
    assert len(ax.lines) == 2 * len(roles)  # each run's curve and its optimum
    assert (tmp_path / "out" / "cost_comparison.png").stat().st_size > 0
    html = report.html_path.read_text()
    assert "cheapest" in html and html.count("data:image/png;base64,") == 2


def test_without_costs_there_are_no_cost_columns(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "nb", "nb_other"), log_report=False)
    assert "Cost" not in report.table.columns
    assert report.cheapest is None and report.cost_figure is None
    assert not (tmp_path / "out" / "cost_comparison.png").exists()


# --- figures and files ------------------------------------------------------------------------
def test_figure_has_pr_and_roc_overlays_one_colour_per_run(runs, tmp_path):
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    roles = ("lr_weak", "tree", "lr_registered", "nb")
    report = run_compare(runs, tmp_path, ids(runs, *roles), log_report=False)
    ax_pr, ax_roc = report.figure.axes
    assert len(ax_roc.lines) == len(roles) + 1  # + chance diagonal
    assert len(ax_pr.lines) == len(roles) + 1  # + no-skill baseline (one positive rate)
    run_colors = [to_hex(ln.get_color()) for ln in ax_roc.lines[: len(roles)]]
    assert run_colors == [to_hex(c) for c in colormaps["tab10"].colors[: len(roles)]]
    assert [to_hex(ln.get_color()) for ln in ax_pr.lines[: len(roles)]] == run_colors
    labels = [t.get_text() for t in ax_roc.get_legend().get_texts()]
    assert all("AUC" in label for label in labels[: len(roles)])
    assert all("AP" in t.get_text() for t in ax_pr.get_legend().get_texts()[: len(roles)])
    assert report.figure.canvas.__class__.__name__ == "FigureCanvasAgg"


def test_report_files_and_self_contained_html(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "lr_weak", "nb"), log_report=False)
    out = tmp_path / "out"
    assert report.html_path == out / "report.html"
    for name in ("report.html", "comparison.png", "table.csv"):
        assert (out / name).stat().st_size > 0
    html = report.html_path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower()
    assert "data:image/png;base64," in html
    for name in names(runs, "lr_weak", "nb"):
        assert name in html
    assert html.count('class="num best"') >= 5  # AUC, PR-AUC, Precision, Recall, F1 at least
    csv = pd.read_csv(out / "table.csv")
    pd.testing.assert_frame_equal(csv, report.table, check_exact=True)


def test_default_output_dir_is_under_reports(runs, tmp_path):
    report = compare(ids(runs, "tree"), tracking=runs.tracking, log_report=False)
    assert report.html_path.parent.parent == tmp_path / "reports"
    assert re.fullmatch(r"compare-\d{8}-\d{6}(-\d+)?", report.html_path.parent.name)
    second = compare(ids(runs, "tree"), tracking=runs.tracking, log_report=False)
    assert second.html_path != report.html_path  # same second: a folder of its own


# --- the report run ---------------------------------------------------------------------------
def test_report_is_logged_as_a_comparison_run(runs, tmp_path):
    roles = ("nb_other", "tree")  # the first run's experiment gets the report
    report = run_compare(runs, tmp_path, ids(runs, *roles))
    assert report.run_id is not None
    run = runs.client.get_run(report.run_id)
    assert run.info.run_name.startswith("comparison-") and len(run.info.run_name) == 11 + 32
    assert run.info.experiment_id == runs["nb_other"].info.experiment_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["modeler.comparison"] == "true"
    assert run.data.params["runs"] == ",".join(ids(runs, *roles))
    assert run.data.params["n_runs"] == "2"
    artifacts = {f.path for f in runs.client.list_artifacts(report.run_id)}
    assert {"report.html", "comparison.png", "table.csv"} <= artifacts


def test_a_failure_to_log_the_report_is_a_warning(runs, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    def refuse(*args, **kwargs):
        raise RuntimeError("store is read-only")

    monkeypatch.delenv("MODELER_TEST_MODE")
    monkeypatch.setattr(MlflowClient, "create_run", refuse)
    with pytest.warns(ModelerWarning, match="store is read-only"):
        report = run_compare(runs, tmp_path, ids(runs, "tree"))
    assert report.run_id is None and report.html_path.exists()


def test_accu_compare_and_the_cli(runs, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from modeler.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", runs.tracking.uri)
    report = accu.compare(names(runs, "tree", "nb"), output_dir=tmp_path / "facade")
    assert report.table["Run"].tolist() == names(runs, "tree", "nb")
    result = CliRunner().invoke(
        main, ["compare", *ids(runs, "tree", "nb"), "--out", str(tmp_path / "cli")]
    )
    assert result.exit_code == 0, result.output
    assert runs["tree"].info.run_name in result.output
    assert f"report: {tmp_path / 'cli' / 'report.html'}" in result.output
    result = CliRunner().invoke(main, ["compare"])
    assert result.exit_code == 2 and "nothing to compare" in result.output


# --- a remote server with proxied artifacts ---------------------------------------------------
@pytest.mark.server
def test_compare_through_an_mlflow_server(mlflow_server, tmp_path):
    from modeler.config import resolve_tracking
    from modeler.tracking.evaluate import log_evaluation
    from modeler.tracking.writer import RunWriter

    tracking = resolve_tracking(mlflow_server.url, "compare-remote")
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)
    run_ids = []
    for signal in (1.0, 3.0):
        scores = 1 / (1 + np.exp(-(rng.normal(-2, 1, 2000) + signal * y)))
        writer = RunWriter.start(tracking, "scores")
        log_evaluation(writer, y, scores, costs=COSTS)
        writer.end()
        run_ids.append(writer.run_id)
    report = compare(run_ids, tracking=tracking, output_dir=tmp_path / "out")
    assert report.run_ids == run_ids and not report.skipped
    assert report.cost_figure is not None and report.cheapest is not None
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.url)
    assert client.get_run(run_ids[1]).info.artifact_uri.startswith("mlflow-artifacts:")
    artifacts = {f.path for f in client.list_artifacts(report.run_id)}
    assert {"report.html", "comparison.png", "table.csv", "cost_comparison.png"} <= artifacts
