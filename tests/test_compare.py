"""compare(): selection, table, evidence, the companion experiment and the HTML report.

The runs are logged once per module through the MLflow client, in the run layout the writer
follows (eval.* metrics and intervals, eval/curves.json, eval/cost_curve.json,
eval/scores.parquet, the eval.pr_curve / eval.roc_curve histories), so these tests do not
depend on how the writer is built. Each test compares them into its own folder; comparisons
never change the model runs, only add report runs in the companion experiment.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeler import accu
from modeler.compare import MAX_RUNS, compare, lower_is_better
from modeler.errors import CompareError, EvaluationError, ModelerWarning, RunNotFoundError
from modeler.evaluation.cost import parse_costs

COSTS = {"fn": 100.0, "fp": 5.0}


# --- logging runs in the run layout, through the MLflow client ---------------------------------
def fraud_scores(n: int, signal: float, seed: int, rate: float = 0.05):
    """Labels and sigmoid scores with some signal (a different model per ``signal``)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.int8)
    logits = rng.normal(-2.5, 1.2, n) + signal * y
    return y, (1 / (1 + np.exp(-logits))).astype(np.float32)


def log_scored_run(
    client,
    experiment_id: str,
    y,
    scores,
    *,
    name: str | None = None,
    costs: dict | None = None,
    threshold: float = 0.5,
    store_scores: bool = True,
    intervals: bool = True,
    histories: bool = True,
    tags: dict | None = None,
    resamples: int = 200,
) -> str:
    """One evaluated run as the writer logs it, through the MLflow client; returns its id.

    The evaluation is the writer's own (``modeler.evaluation.report.build_report``: metrics
    with intervals, the decision threshold, curve histories, the eval/ files); only the upload
    is done here, so these tests do not depend on how the writer uploads.
    """
    from mlflow.entities import Metric, RunTag

    from modeler.evaluation.report import build_report

    rep = build_report(
        np.asarray(y), np.asarray(scores), threshold=threshold, costs=costs, resamples=resamples
    )
    run = client.create_run(experiment_id, run_name=name)
    run_id = run.info.run_id
    values = {
        f"eval.{k}": float(v)
        for k, v in rep.metrics.items()
        if np.isfinite(v) and (intervals or not k.endswith((".ci_low", ".ci_high")))
    }
    ms = [Metric(k, v, 0, 0) for k, v in values.items()]
    if histories:
        for key, points in rep.histories.items():
            ms += [Metric(f"eval.{key}", v, 0, int(step)) for step, v in points]
    all_tags = {**rep.tags, **(tags or {})}
    for i in range(0, len(ms), 1000):
        client.log_batch(
            run_id,
            metrics=ms[i : i + 1000],
            tags=[RunTag(k, v) for k, v in all_tags.items()] if i == 0 else [],
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "eval"
        folder.mkdir()
        for file, data in rep.files.items():
            if file == "scores.parquet" and not store_scores:
                continue
            (folder / file).write_bytes(data)
        client.log_artifacts(run_id, str(folder), "eval")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def brute_paired(
    labels, scores, *, metric, costs=None, thresholds=None, resamples, seed, weights=None
):
    """A reference ``paired``: resample rows jointly, score every run on each resample."""
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)

    def value(name, idx):
        s = scores[name][idx]
        if metric == "pr_auc":
            return average_precision_score(y[idx], s)
        flagged = s >= thresholds[name]
        yy = y[idx]
        fn = np.broadcast_to(np.asarray(costs.fn, dtype=float), y.shape)[idx]
        return float((fn * (yy == 1) * ~flagged).sum() + costs.fp * ((yy == 0) & flagged).sum())

    full = np.arange(len(y))
    point = {name: value(name, full) for name in scores}
    better = max if metric == "pr_auc" else min
    best = better(point, key=point.get)
    boots = {name: [] for name in scores}
    for _ in range(resamples):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        b = value(best, idx)
        for name in scores:
            boots[name].append(value(name, idx) - b)
    out = {}
    for name in scores:
        low, high = np.percentile(boots[name], [2.5, 97.5])
        out[name] = {
            "diff": point[name] - point[best],
            "ci_low": float(low),
            "ci_high": float(high),
            "best": name == best,
            "value": point[name],
        }
    return out


class Runs:
    """The module's store, its runs by role, and the shared validation rows."""

    def __init__(self, tracking, client) -> None:
        self.tracking = tracking
        self.client = client
        self.ids: dict[str, str] = {}

    def __getitem__(self, role: str):
        return self.client.get_run(self.ids[role])

    def run(self, role: str):
        return self[role]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Experiment "cmp": three runs with costs on the same rows (one registered as m/1), one
    without costs, one with no evaluation; experiment "other": a run on a rarer validation set."""
    from mlflow.tracking import MlflowClient

    from modeler.config import resolve_tracking

    root = tmp_path_factory.mktemp("compare-store")
    tracking = resolve_tracking(f"sqlite:///{root / 'mlflow.db'}", "cmp")
    client = MlflowClient(tracking_uri=tracking.uri)
    exp = client.create_experiment("cmp", artifact_location=tracking.artifact_location)
    other = client.create_experiment("other", artifact_location=tracking.artifact_location)
    out = Runs(tracking, client)
    n = 3000
    rng = np.random.default_rng(7)
    y = (rng.random(n) < 0.05).astype(np.int8)

    def model(signal: float) -> np.ndarray:  # scores of one model on the shared rows
        return (1 / (1 + np.exp(-(rng.normal(-2.5, 1.2, n) + signal * y)))).astype(np.float32)

    weak, tree, strong, nb = model(1.0), model(2.0), model(3.0), model(1.5)
    out.y = y
    out.scores = {"lr_weak": weak, "tree": tree, "lr_registered": strong}
    out.ids["lr_weak"] = log_scored_run(
        client, exp, y, weak, name="LogisticRegression-none-1A2B", costs=COSTS
    )
    out.ids["tree"] = log_scored_run(
        client,
        exp,
        y,
        tree,
        name="DecisionTree-smote-3C4D",
        costs=COSTS,
        tags={"modeler.sampling": json.dumps({"method": "smote"})},
    )
    out.ids["lr_registered"] = log_scored_run(
        client, exp, y, strong, name="LogisticRegression-none-5E6F", costs=COSTS
    )
    client.create_registered_model("m")
    client.create_model_version(
        "m", f"runs:/{out.ids['lr_registered']}/model", out.ids["lr_registered"]
    )
    client.set_tag(
        out.ids["lr_registered"], "modeler.model_version", "LogisticRegression-none-5E6F_1"
    )
    out.ids["nb"] = log_scored_run(client, exp, y, nb, name="GaussianNB-none-7A8B", intervals=False)
    run = client.create_run(
        exp, run_name="LogisticRegression-none-9C0D", tags={"modeler.eval_source": "none"}
    )
    client.set_terminated(run.info.run_id)
    out.ids["no_validation"] = run.info.run_id
    y2, s2 = fraud_scores(1500, 1.5, seed=5, rate=0.02)
    out.ids["nb_other"] = log_scored_run(
        client, other, y2, s2, name="GaussianNB-none-1F2E", intervals=False
    )
    return out


def ids(runs: Runs, *roles: str) -> list[str]:
    return [runs.ids[r] for r in roles]


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
        "Decision threshold": "eval.decision_threshold",
        "Cost": "eval.cost",
        "Cost at decision": "eval.cost_at_decision",
        "Optimal threshold": "eval.cost_optimal_threshold",
        "Cost at optimal": "eval.cost_at_optimal",
        "Savings": "eval.savings",
    }
    values = [c for c in table.columns if not c.endswith((" low", " high", " like best"))]
    assert values == [
        "Model Version",
        "Run",
        "Sampling",
        *list(columns)[:5],
        "Threshold",
        *list(columns)[5:],
        "PR-AUC vs best",  # the same rows: paired; nb has no costs, so no paired cost
    ]
    for i, role in enumerate(roles):
        metrics = runs.run(role).data.metrics
        for col, key in columns.items():
            if key in metrics:
                assert table[col][i] == metrics[key], (role, col)  # exact, not approx
            else:
                assert np.isnan(table[col][i]), (role, col)
            # each interval sits right after its value
            if f"{col} low" in table.columns:
                at = list(table.columns).index(col)
                assert list(table.columns)[at + 1 : at + 3] == [f"{col} low", f"{col} high"]
                for end in ("low", "high"):
                    logged = metrics.get(f"{key}.ci_{end}", np.nan)
                    assert table[f"{col} {end}"][i] == logged or np.isnan(logged), (role, col)
        assert table["Threshold"][i] == 0.5
    # nb logged no intervals and no costs; the others logged both
    assert np.isnan(table["PR-AUC low"][0]) and not np.isnan(table["PR-AUC low"][1])
    assert np.isnan(table["Cost at decision"][0]) and not np.isnan(table["Cost at decision"][2])
    assert table["Sampling"].tolist() == ["not recorded", "not recorded", "smote"]


def test_select_by_names_model_versions_and_registry_uri(runs, tmp_path):
    registered = runs["lr_registered"].info.run_name
    version = f"{registered}_1"
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
    # a report run of modeler 0.1, kept among the models: it would rank first if eligible
    fake = runs.client.create_run(exp_id, tags={"modeler.comparison": "true"})
    runs.client.log_batch(fake.info.run_id, metrics=[Metric("eval.pr_auc", 2.0, 0, 0)])
    runs.client.set_terminated(fake.info.run_id)
    try:
        report = run_compare(runs, tmp_path, experiment="cmp", log_report=True)
        assert fake.info.run_id not in report.run_ids
        assert report.run_id not in report.run_ids
        assert len(report.table) == 4  # the fit without validation data has no eval.pr_auc
        again = run_compare(runs, tmp_path, experiment="cmp", output_dir=tmp_path / "again")
        assert again.run_ids == report.run_ids
    finally:
        runs.client.delete_run(fake.info.run_id)


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


def test_run_colours_are_matplotlibs_tab10():
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    from modeler.compare import TAB10

    assert list(TAB10) == [to_hex(c) for c in colormaps["tab10"].colors]


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
    selection = [runs.ids["tree"], missing]
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
    from mlflow.entities import Metric

    exp_id = runs["tree"].info.experiment_id
    # a binary run whose metrics were logged but whose eval/curves.json never was
    bare = runs.client.create_run(exp_id, run_name="bare", tags={"modeler.task": "binary"})
    runs.client.log_batch(bare.info.run_id, metrics=[Metric("eval.pr_auc", 0.2, 0, 0)])
    runs.client.set_terminated(bare.info.run_id)
    try:
        selection = [runs.ids["no_validation"], bare.info.run_id, runs.ids["tree"]]
        report = run_compare(runs, tmp_path, selection, log_report=False)
        assert report.run_ids == [runs.ids["tree"]]
        skipped = dict(report.skipped)
        assert "no evaluation" in skipped[runs["no_validation"].info.run_name]
        assert "eval/curves.json" in skipped["bare"]
        assert "skipped" in report.to_text()
        with pytest.raises(CompareError, match="no run left to compare"):
            run_compare(runs, tmp_path, selection[:2])
    finally:
        runs.client.delete_run(bare.info.run_id)


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
    assert "(* best in column" in text
    # a column with one value for every run is said once, under the table
    assert "precision, recall and F1 at threshold 0.5" in text
    assert "Threshold" not in text.splitlines()[0] and "Sampling" in text.splitlines()[0]


def test_intervals_sit_beside_their_values(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "lr_weak", "nb"), log_report=False)
    table = report.table
    logged = runs.run("lr_weak").data.metrics
    assert table["PR-AUC low"][0] == logged["eval.pr_auc.ci_low"]
    assert table["PR-AUC high"][0] == logged["eval.pr_auc.ci_high"]
    assert np.isnan(table["PR-AUC low"][1])  # nb logged no interval
    line = next(
        ln for ln in report.to_text().splitlines() if ln.startswith(names(runs, "lr_weak")[0])
    )
    assert f"[{logged['eval.pr_auc.ci_low']:.4f}, {logged['eval.pr_auc.ci_high']:.4f}]" in line
    html = report.html_path.read_text()
    assert (
        f"{logged['eval.pr_auc.ci_low']:.3f}\u2009–\u2009{logged['eval.pr_auc.ci_high']:.3f}"
        in html
    )


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
    assert "cheapest" in html and 'id="chart-cost"' in html


def test_without_costs_there_are_no_cost_columns(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "nb", "nb_other"), log_report=False)
    assert "Cost" not in report.table.columns
    assert report.cheapest is None and report.cost_figure is None
    assert not (tmp_path / "out" / "cost_comparison.png").exists()
    assert 'id="chart-cost"' not in report.html_path.read_text()


# --- evidence: paired differences on shared rows ----------------------------------------------
def test_runs_on_the_same_rows_are_paired(runs, tmp_path):
    roles = ("lr_weak", "tree", "lr_registered")
    report = run_compare(runs, tmp_path, ids(runs, *roles), log_report=False)
    ev = report.evidence
    assert ev.paired, ev.reason
    table = report.table
    versions = table["Model Version"].tolist()
    # the reference on the same rows: each run's difference to the best, with its interval
    costs = parse_costs(COSTS, n=len(runs.y))
    decisions = {
        v: table["Decision threshold"][i] if not np.isnan(table["Decision threshold"][i]) else 0.5
        for i, v in enumerate(versions)
    }
    scores = {v: runs.scores[r].astype(np.float64) for v, r in zip(versions, roles, strict=True)}
    for metric, col in (("pr_auc", "PR-AUC vs best"), ("cost", "Cost vs best")):
        expected = brute_paired(
            runs.y, scores, metric=metric, costs=costs, thresholds=decisions, resamples=400, seed=1
        )
        for i, v in enumerate(versions):
            assert table[col][i] == pytest.approx(expected[v]["diff"], abs=1e-9), (metric, v)
            assert bool(table[f"{col} like best"][i]) == (
                expected[v]["best"] or expected[v]["ci_low"] <= 0 <= expected[v]["ci_high"]
            ), (metric, v)
            # the interval agrees with the brute-force one up to bootstrap noise
            width = expected[v]["ci_high"] - expected[v]["ci_low"]
            for end in ("low", "high"):
                got, want = table[f"{col} {end}"][i], expected[v][f"ci_{end}"]
                assert abs(got - want) <= 0.3 * width + 1e-9, (metric, v, end, got, want)
    # the weakest model is clearly behind the best in PR-AUC
    weak = versions.index(names(runs, "lr_weak")[0])
    assert table["PR-AUC vs best high"][weak] < 0 and not table["PR-AUC vs best like best"][weak]
    assert "~" not in report.to_text().splitlines()[2 + weak]
    html = report.html_path.read_text()
    assert "Δ PR-AUC" in html and "paired bootstrap" in html


def test_forked_and_in_process_reports_are_the_same(runs, tmp_path, monkeypatch):
    """The evidence, the page's points and the PNGs are made in forked children where fork is
    used; a machine without fork gets the same report from threads."""
    from mlflow.tracking import MlflowClient

    from modeler import forked

    selection = ids(runs, "lr_weak", "tree", "lr_registered")
    here = run_compare(runs, tmp_path, selection, log_report=False)
    other_way = not forked.can_fork()
    monkeypatch.setattr(forked, "can_fork", lambda: other_way)
    there = run_compare(runs, tmp_path, selection, output_dir=tmp_path / "other", log_report=True)
    pd.testing.assert_frame_equal(here.table, there.table)
    assert here.evidence == there.evidence and here.evidence.paired
    assert _page_data(here) == _page_data(there)
    for name in ("comparison.png", "cost_comparison.png"):
        assert (here.output_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (there.output_dir / name).stat().st_size > 10_000
    artifacts = {f.path for f in MlflowClient(runs.tracking.uri).list_artifacts(there.run_id)}
    assert {"report.html", "comparison.png", "cost_comparison.png", "table.csv"} <= artifacts


def test_a_failure_after_loading_leaves_no_child_and_no_folder(runs, tmp_path, monkeypatch):
    """The child that draws is forked before the store is asked (when matplotlib is not
    imported yet): a comparison that fails later stops it and removes its folder."""
    import sys

    import modeler.compare as cmp
    from modeler import forked

    prepared = []
    real_prepare = forked.prepare

    def prepare(*args, **kwargs):
        prepared.append(real_prepare(*args, **kwargs))
        return prepared[-1]

    def broken_table(*args, **kwargs):
        raise RuntimeError("table broke")

    jobs = []
    real_start = forked.Ready.start

    def start(self, *args, **kwargs):
        jobs.append(real_start(self, *args, **kwargs))
        jobs.append(jobs[-1]._pid)
        return jobs[-2]

    monkeypatch.setattr(forked, "prepare", prepare)
    monkeypatch.setattr(forked.Ready, "start", start)
    monkeypatch.delitem(sys.modules, "matplotlib.figure")  # as in a fresh `modeler compare`
    monkeypatch.setattr(cmp, "_table", broken_table)
    folders = set(Path(tempfile.gettempdir()).glob("modeler-compare-png-*"))
    with pytest.raises(RuntimeError, match="table broke"):
        run_compare(runs, tmp_path, ids(runs, "tree", "lr_weak"), log_report=False)
    assert len(prepared) == 1 and prepared[0]._pid is None  # given its call: drawing
    (job, pid) = jobs
    assert pid is not None and job._pid is None  # stopped and reaped
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert set(Path(tempfile.gettempdir()).glob("modeler-compare-png-*")) == folders


def test_runs_on_different_rows_are_not_paired(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "nb", "nb_other"), log_report=False)
    assert not report.evidence.paired
    assert "evaluated on different data" in report.evidence.reason
    assert not any(c.endswith("vs best") for c in report.table.columns)
    assert "different data" in report.to_text()
    html = report.html_path.read_text()
    assert "different data" in html and "Δ PR-AUC" not in html


def _scored_runs(y, amounts, scores_by_run, *, fp=60.0):
    """One evaluation-only run per score array (accu.evaluate on the embedded store)."""
    ids = []
    for scores in scores_by_run:
        accu.evaluate(scores, None, y, costs={"fn": amounts, "fp": fp})
        ids.append(accu.get_current_run_id())
    accu.wait()
    return ids


def test_paired_costs_equal_the_logged_costs_when_scores_tie_at_the_threshold(store, tmp_path):
    """Scorecards give many rows the same score; the decision threshold is one of them. The
    stored scores are float32 (0.7 rounds down): the paired costs must flag those rows too."""
    rng = np.random.default_rng(60)
    n = 3000
    y = (rng.random(n) < 0.05).astype(int)
    amounts = np.round(rng.lognormal(4.0, 1.0, n), 2)
    steps = np.clip(np.round(rng.normal(0.3 + 0.4 * y, 0.2) * 10) / 10, 0.0, 1.0)
    other = np.clip(np.round(rng.normal(0.35 + 0.35 * y, 0.2) * 10) / 10, 0.0, 1.0)
    ids = _scored_runs(y, amounts, [steps, other])
    report = accu.compare(ids, output_dir=tmp_path / "out")
    assert report.evidence.paired
    logged = {rid: store.client.get_run(rid).data.metrics["eval.cost_at_decision"] for rid in ids}
    assert report.evidence.values["cost"] == pytest.approx(logged, rel=1e-9)
    cheapest = min(ids, key=logged.get)
    assert report.table["Model Version"][ids.index(cheapest)] == report.cheapest


def test_a_run_tied_with_the_best_is_marked_like_it_in_the_text_table(store, tmp_path):
    rng = np.random.default_rng(62)
    y = (rng.random(2000) < 0.05).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    ids = _scored_runs(y, rng.lognormal(4.0, 1.0, 2000), [scores, scores.copy()])
    report = accu.compare(ids, output_dir=tmp_path / "out")
    assert report.table["PR-AUC vs best like best"].tolist() == [True, True]
    (best,) = [k for k, r in report.evidence.rows["pr_auc"].items() if r.best]
    names = dict(zip(report.run_ids, report.table["Model Version"], strict=True))
    twin = next(k for k in report.run_ids if k != best)
    lines = report.to_text().splitlines()
    line = {k: next(ln for ln in lines if ln.startswith(names[k])) for k in report.run_ids}
    assert "0.0000 [0.0000, 0.0000] ~" in line[twin]  # tied: like the best, though diff is 0
    assert "~" not in line[best]


def test_costs_over_different_validation_data_name_no_cheapest(store, tmp_path):
    rng = np.random.default_rng(61)
    y = (rng.random(3000) < 0.05).astype(int)
    amounts = rng.lognormal(4.0, 1.0, 3000)
    scores = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    ids = _scored_runs(y, amounts, [scores]) + _scored_runs(
        y[:1500], amounts[:1500], [scores[:1500]]
    )
    report = accu.compare(ids, output_dir=tmp_path / "out")
    assert report.cheapest is None
    assert not any(col in report.best for col in ("Cost at decision", "Savings", "Cost"))
    assert "PR-AUC" in report.best  # other columns are still marked
    note = "costs are totals over different validation data"
    assert note in report.to_text() and note in report.html_path.read_text()
    assert "cheapest: " not in report.to_text()


def test_runs_without_stored_scores_are_not_paired(runs, tmp_path):
    exp_id = runs["tree"].info.experiment_id
    old = log_scored_run(
        runs.client, exp_id, runs.y, runs.scores["tree"], name="old", store_scores=False
    )
    try:
        report = run_compare(runs, tmp_path, [runs.ids["tree"], old], log_report=False)
        assert not report.evidence.paired
        assert "no eval/scores.parquet for old" in report.evidence.reason
        assert not any(c.endswith("vs best") for c in report.table.columns)
    finally:
        runs.client.delete_run(old)


# --- the report's operating points ------------------------------------------------------------
def _page_data(report) -> dict:
    html = report.html_path.read_text()
    raw = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    return json.loads(raw.group(1))


def test_operating_points_are_exact_against_brute_force(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "tree", "lr_weak"), log_report=False)
    data = _page_data(report)
    y = runs.y
    for entry, role in zip(data["runs"], ("tree", "lr_weak"), strict=True):
        assert entry["exact"]
        s = runs.scores[role].astype(np.float64)
        rng = np.random.default_rng(0)
        for i in rng.choice(len(entry["t"]), 25, replace=False):
            t = entry["t"][i]
            flagged = s >= t
            assert entry["tp"][i] == int((flagged & (y == 1)).sum())
            assert entry["fp"][i] == int((flagged & (y == 0)).sum())
            cost = 100.0 * ((y == 1) & ~flagged).sum() + 5.0 * ((y == 0) & flagged).sum()
            assert entry["cost"][i] == pytest.approx(cost, rel=1e-9)
        assert entry["t"] == sorted(entry["t"])
        assert entry["tp"][-1] == 0 and entry["fp"][-1] == 0  # the last point flags nothing
    tree = data["runs"][0]
    decision = runs.run("tree").data.metrics["eval.decision_threshold"]
    assert tree["decision"] == decision
    # the decision threshold's own point is kept: it flags exactly the rows scoring >= it
    s = runs.scores["tree"].astype(np.float64)
    kept = min(t for t in tree["t"] if t >= decision)
    assert kept == float(s[s >= decision].min())
    # and its cost there is the run's logged cost at decision
    i = tree["t"].index(kept)
    assert tree["cost"][i] == pytest.approx(runs.run("tree").data.metrics["eval.cost_at_decision"])


def test_operating_points_keep_marks_when_thinned():
    from modeler.report import operating_points

    rng = np.random.default_rng(3)
    y = (rng.random(50_000) < 0.02).astype(int)
    s = rng.random(50_000)
    ops = operating_points(
        y, s, fn_cost=rng.random(50_000) * 100, fp_cost=1.0, marks=(0.5, 0.1234), max_points=600
    )
    assert len(ops["t"]) <= 600 + 3
    for mark in (0.5, 0.1234):
        expected = s[s >= mark].min()  # the point that flags exactly {score >= mark}
        assert expected in ops["t"]
    assert s.max() < ops["t"][-1]  # flag nothing
    assert s.min() == ops["t"][0]  # flag everything
    optimum = int(np.argmin(ops["cost"]))
    full = operating_points(y, s, fn_cost=1, fp_cost=1, max_points=10**9)
    assert len(full["t"]) == len(np.unique(s)) + 1
    # weights count rows: two copies of a row equal one row of weight 2
    w = operating_points([1, 0, 0], [0.9, 0.2, 0.2], weight=[1, 2, 2])
    d = operating_points([1, 0, 0, 0, 0], [0.9, 0.2, 0.2, 0.2, 0.2])
    assert w["tp"] == d["tp"] and w["fp"] == d["fp"]
    assert optimum >= 0


@pytest.mark.parametrize(
    ("labels", "scores", "options", "match"),
    [
        ([0, 1], [0.1], {}, "equal length"),
        ([], [], {}, "non-empty"),
        ([0, 2], [0.1, 0.2], {}, "labels must be 0 or 1"),
        ([0, 1], [0.1, np.nan], {}, "scores must be finite"),
        ([0, 1], [0.1, 0.2], {"weight": [1.0]}, "weight must be one number or one value per row"),
        ([0, 1], [0.1, 0.2], {"fn_cost": [1.0, np.inf]}, "fn cost must be finite"),
    ],
)
def test_operating_points_reject_bad_input(labels, scores, options, match):
    from modeler.report import operating_points

    with pytest.raises(EvaluationError, match=match):
        operating_points(labels, scores, **options)


def test_points_from_curves_for_runs_without_scores():
    from modeler.evaluation import binary_curves
    from modeler.evaluation.cost import cost_curve, parse_costs
    from modeler.report import points_from_curves

    y, s = fraud_scores(2000, 2.0, seed=9)
    s = s.astype(np.float64)
    curves = binary_curves(y, s)
    ops = points_from_curves(curves, cost_curve(y, s, parse_costs(COSTS, n=len(y))))
    assert not ops["exact"]
    for t, tp, fp in zip(ops["t"], ops["tp"], ops["fp"], strict=True):
        flagged = s >= t
        assert tp == pytest.approx(((y == 1) & flagged).sum())
        assert fp == pytest.approx(((y == 0) & flagged).sum())
    with pytest.raises(EvaluationError, match="differ in length"):
        points_from_curves(
            {"n": 2, "positives": 1, "roc": {"fpr": [0], "tpr": [0, 1], "thresholds": [1]}}
        )


# --- files and the HTML -----------------------------------------------------------------------
def test_report_files_and_self_contained_html(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "lr_weak", "nb"), log_report=False)
    out = tmp_path / "out"
    assert report.html_path == out / "report.html"
    for name in ("report.html", "comparison.png", "table.csv"):
        assert (out / name).stat().st_size > 0
    html = report.html_path.read_text()
    # nothing is fetched: no src/href to another place, no CDN, no source-map lookup
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "sourceMappingURL" not in html
    assert html.count("<script") == 3  # data, Chart.js, the page's code
    assert "Chart.js v4.6.1" in html
    for name in names(runs, "lr_weak", "nb"):
        assert name in html
    assert len(re.findall(r'class="num p\d best"', html)) >= 5  # AUC, PR-AUC, Prec., Recall, F1
    csv = pd.read_csv(out / "table.csv")
    pd.testing.assert_frame_equal(csv, report.table, check_exact=True)


def test_table_csv_is_what_pandas_writes(runs, tmp_path):
    report = run_compare(runs, tmp_path, ids(runs, "tree", "lr_weak", "nb"), log_report=False)
    written = (report.output_dir / "table.csv").read_text(encoding="utf-8")
    assert written == report.table.to_csv(index=False)
    assert report.table.columns.tolist() == report.rows.columns
    assert report.table["Model Version"].tolist() == [
        row["Model Version"] for row in report.rows.rows
    ]


def test_names_with_markup_are_escaped(runs, tmp_path):
    exp_id = runs["tree"].info.experiment_id
    y, s = fraud_scores(500, 2.0, seed=11)
    odd = log_scored_run(
        runs.client, exp_id, y, s, name="</script><img src=x onerror=alert(1)>", intervals=False
    )
    try:
        report = run_compare(runs, tmp_path, [odd], log_report=False)
        html = report.html_path.read_text()
        assert "<img src=x" not in html
        assert _page_data(report)["runs"][0]["label"] == "</script><img src=x onerror=alert(1)>"
    finally:
        runs.client.delete_run(odd)


def test_vendored_chartjs_is_the_npm_file(tmp_path):
    import hashlib
    from importlib.resources import files

    from modeler import report as rep

    data = (files("modeler") / "templates" / rep.CHARTJS_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == rep.CHARTJS_SHA256
    assert data.startswith(b"/*!\n * Chart.js v4.6.1")
    assert (
        (files("modeler") / "templates" / "chart.js.LICENSE.md")
        .read_text()
        .startswith("The MIT License")
    )


def test_report_size_for_ten_runs_stays_under_5_mb(runs, tmp_path):
    exp_id = runs["tree"].info.experiment_id
    rng = np.random.default_rng(5)
    y = (rng.random(60_000) < 0.01).astype(np.int8)
    made = []
    try:
        for k in range(MAX_RUNS):
            s = (1 / (1 + np.exp(-(rng.normal(-3, 1.3, len(y)) + (1 + 0.3 * k) * y)))).astype(
                np.float32
            )
            made.append(
                log_scored_run(
                    runs.client,
                    exp_id,
                    y,
                    s,
                    name=f"big-{k}",
                    costs=COSTS,
                    histories=False,
                    intervals=False,
                )
            )
        report = run_compare(runs, tmp_path, made, log_report=False)
        size = report.html_path.stat().st_size
        assert size <= 5 * 1024 * 1024, size
        assert all(len(r["t"]) <= 2100 for r in _page_data(report)["runs"])
    finally:
        for run_id in made:
            runs.client.delete_run(run_id)


def test_default_output_dir_is_under_reports(runs, tmp_path):
    report = compare(ids(runs, "tree"), tracking=runs.tracking, log_report=False)
    assert report.html_path.parent.parent == tmp_path / "reports"
    assert re.fullmatch(r"compare-\d{8}-\d{6}(-\d+)?", report.html_path.parent.name)
    second = compare(ids(runs, "tree"), tracking=runs.tracking, log_report=False)
    assert second.html_path != report.html_path  # same second: a folder of its own


# --- the report run, in the companion experiment ----------------------------------------------
def test_report_run_goes_to_a_companion_experiment_linked_both_ways(runs, tmp_path):
    roles = ("nb_other", "tree")  # the first run's experiment is the home of the report
    before = {r.info.run_id for r in runs.client.search_runs([runs["nb_other"].info.experiment_id])}
    report = run_compare(runs, tmp_path, ids(runs, *roles))
    assert report.run_id is not None
    run = runs.client.get_run(report.run_id)
    home = runs.client.get_experiment(runs["nb_other"].info.experiment_id)
    companion = runs.client.get_experiment(run.info.experiment_id)
    assert companion.name == "other/comparisons" and report.experiment_id == companion.experiment_id
    assert home.tags["modeler.comparisons_experiment"] == "other/comparisons"
    assert companion.tags["modeler.models_experiment"] == "other"
    assert companion.tags["modeler.models_experiment_id"] == home.experiment_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["modeler.comparison"] == "true"
    assert run.data.tags["modeler.compared_runs"] == ",".join(ids(runs, *roles))
    assert run.data.params["runs"] == ",".join(ids(runs, *roles))
    assert run.data.params["n_runs"] == "2"
    assert (
        f"#/experiments/{home.experiment_id}/runs/{runs.ids['nb_other']}"
        in run.data.tags["mlflow.note.content"]
    )
    assert re.fullmatch(r"comparison-2-runs-[0-9A-F]{6}", run.info.run_name)
    artifacts = {f.path for f in runs.client.list_artifacts(report.run_id)}
    assert {"report.html", "comparison.png", "table.csv"} <= artifacts
    # the models' experiment holds the models only
    after = {r.info.run_id for r in runs.client.search_runs([home.experiment_id])}
    assert after == before
    # a second report reuses the companion
    again = run_compare(runs, tmp_path, ids(runs, *roles), output_dir=tmp_path / "again")
    assert again.experiment_id == report.experiment_id
    assert f"report run: {again.run_id}" in again.to_text()


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


@pytest.mark.parametrize("where", ["afile", "afile/sub", 5])
def test_an_output_folder_that_cannot_be_made_is_named_before_the_store_is_asked(
    tmp_path, monkeypatch, where
):
    (tmp_path / "afile").write_text("")
    monkeypatch.chdir(tmp_path)
    # a store that does not answer: the folder is refused before any request
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    expected = "must be a folder path; got 5" if where == 5 else r"afile.*expected a folder"
    with pytest.raises(CompareError, match=expected):
        accu.compare(["run-a", "run-b"], output_dir=where)


def test_the_cli_names_an_output_folder_it_cannot_make(runs, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from modeler.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", runs.tracking.uri)
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(
        main, ["compare", *ids(runs, "tree", "nb"), "--out", str(tmp_path / "afile" / "sub")]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith("error: output_dir ") and "inside the file" in result.output


# --- a remote server with proxied artifacts ---------------------------------------------------
@pytest.mark.server
def test_compare_through_an_mlflow_server(mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    from modeler.config import resolve_tracking

    tracking = resolve_tracking(mlflow_server.url, "compare-remote")
    client = MlflowClient(mlflow_server.url)
    exp = client.get_experiment_by_name("compare-remote")
    exp_id = exp.experiment_id if exp else client.create_experiment("compare-remote")
    y, _ = fraud_scores(2000, 1.0, seed=0)
    run_ids = []
    for signal in (1.0, 3.0):
        _, s = fraud_scores(2000, signal, seed=int(signal))
        s = np.where(y == 1, np.maximum(s, 0.3), s)
        run_ids.append(log_scored_run(client, exp_id, y, s, costs=COSTS, name=f"remote-{signal}"))
    report = compare(run_ids, tracking=tracking, output_dir=tmp_path / "out")
    assert report.run_ids == run_ids and not report.skipped
    assert report.cost_figure is not None and report.cheapest is not None
    assert client.get_run(run_ids[1]).info.artifact_uri.startswith("mlflow-artifacts:")
    assert all(r["exact"] for r in _page_data(report)["runs"])  # scores.parquet came through
    artifacts = {f.path for f in client.list_artifacts(report.run_id)}
    assert {"report.html", "comparison.png", "table.csv", "cost_comparison.png"} <= artifacts
    assert client.get_experiment(report.experiment_id).name == "compare-remote/comparisons"


def test_no_stray_warnings(runs, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelerWarning)
        run_compare(runs, tmp_path, ids(runs, "tree", "lr_weak"), log_report=False)


def test_autologged_runs_compare_with_exact_points_and_evidence(tmp_path):
    """The writer's own runs (accu.autolog on the embedded store), compared end to end."""
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    X, y = make_classification(
        n_samples=4000, n_features=6, weights=[0.95], flip_y=0.01, random_state=1
    )
    X_fit, y_fit, X_val, y_val = X[:2000], y[:2000], X[2000:], y[2000:]
    accu.set_tracking(None, "auto")
    try:
        accu.autolog(validation=(X_val, y_val), costs=COSTS, log_models=False)
        LogisticRegression(C=0.05).fit(X_fit, y_fit)
        GaussianNB().fit(X_fit, y_fit)
        accu.wait()
    finally:
        accu.autolog(disable=True)
    report = accu.compare(experiment="auto", output_dir=tmp_path / "auto")
    assert len(report.table) == 2 and not report.skipped
    assert report.evidence.paired, report.evidence.reason
    assert {"PR-AUC vs best", "Cost vs best"} <= set(report.table.columns)
    client = MlflowClient(accu.tracking().uri)
    for entry, run_id in zip(_page_data(report)["runs"], report.run_ids, strict=True):
        assert entry["exact"]  # from the run's eval/scores.parquet
        metrics = client.get_run(run_id).data.metrics
        # the page's point at the decision threshold costs what the run logged there
        assert entry["decision"] == metrics["eval.decision_threshold"]
        at = min(t for t in entry["t"] if t >= entry["decision_at"])
        cost = entry["cost"][entry["t"].index(at)]
        assert cost == pytest.approx(metrics["eval.cost_at_decision"], rel=1e-6)
    home = client.get_experiment_by_name("auto")
    assert client.get_run(report.run_id).info.experiment_id != home.experiment_id
    assert len(client.search_runs([home.experiment_id])) == 2  # models only
