"""The run layout of docs/run-layout.md, checked from outside on real runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from modeler import layout

DOC = Path(__file__).resolve().parents[1] / "docs" / "run-layout.md"
OPS = (
    "batch",
    "inputs",
    "artifacts",
    "name",
    "evaluate",
    "evaluated",
    "model_snapshot",
    "model",
    "model_failed",
    "returned",
    "end",
)


def test_the_page_documents_every_tag_and_journal_operation():
    text = DOC.read_text()
    tags = [
        v
        for k, v in vars(layout).items()
        if k.isupper() and isinstance(v, str) and v.startswith("modeler.")
    ]
    assert len(tags) > 10
    missing = [t for t in tags if f"`{t}`" not in text and t != layout.LEGACY_OUTBOX_ID]
    assert missing == []
    documented = set(re.findall(r"^\| `(\w+)`(?: / `(\w+)`)? \|", text, re.M))
    assert set(OPS) <= {name for pair in documented for name in pair if name}
    for name in (layout.JOURNAL_RUN, layout.JOURNAL_OPS, layout.JOURNAL_PROGRESS):
        assert f"`{name}`" in text


def test_replay_knows_exactly_the_documented_operations():
    import inspect

    from modeler.tracking import replay

    source = inspect.getsource(replay)
    handled = set(re.findall(r'kind == "(\w+)"', source)) | set(replay.LOCAL_OPS) | {"batch"}
    assert handled - {"register"} == set(OPS)  # "register": modeler 0.1 outboxes only


@pytest.fixture
def run(autolog):
    X, y = make_classification(n_samples=4000, n_features=6, weights=[0.95], random_state=3)
    amounts = np.random.default_rng(0).lognormal(4, 1, 1000)
    store = autolog(
        validation=(X[3000:], y[3000:]), costs={"fn": amounts, "fp": 5.0}, tags={"team": "fraud"}
    )
    LogisticRegression().fit(X[:3000], y[:3000])
    return store, store.only_run()


def test_an_autologged_run_has_the_documented_layout(run):
    store, run = run
    tags = run.data.tags
    assert tags[layout.MODEL_TYPE] == "LogisticRegression"
    assert tags[layout.TASK] == "binary" and tags[layout.EVAL_SOURCE] == "validation"
    assert tags[layout.THRESHOLD] == "0.5" and tags["team"] == "fraud"
    assert run.info.run_name == f"LogReg-{tags[layout.JOURNAL_ID][:4].upper()}"
    metrics = run.data.metrics
    for name in (*layout.HEADLINE, *layout.COUNTS, *layout.COST):
        assert layout.metric(name) in metrics, name
    for name in ("roc_auc", "pr_auc", "cost", "savings", "decision_threshold"):
        low, high = metrics[f"eval.{name}.ci_low"], metrics[f"eval.{name}.ci_high"]
        assert low <= high, name
    pr = store.metric_history(run.info.run_id, layout.metric(layout.PR_CURVE))
    roc = store.metric_history(run.info.run_id, layout.metric(layout.ROC_CURVE))
    assert [s for s, _ in pr] == list(range(1001)) and [s for s, _ in roc] == list(range(1001))
    assert all(0 <= v <= 1 for _, v in pr + roc)
    files = {a.path for a in store.client.list_artifacts(run.info.run_id, "eval")}
    for path in (
        layout.CURVES_PATH,
        layout.COST_CURVE_PATH,
        layout.SCORES_PATH,
        layout.UNCERTAINTY_PATH,
        "eval/roc.png",
        "eval/pr.png",
        "eval/confusion_matrix.png",
        "eval/cost_curve.png",
    ):
        assert path in files, path
