"""The Accuinsight-compatible entry points: existing notebooks with one changed import."""

from __future__ import annotations

import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from modeler.compat import accuinsight
from modeler.errors import OptionError


@pytest.fixture
def accu(store):
    legacy = accuinsight()
    yield legacy
    legacy.autolog(disable=True)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=800, n_features=6, weights=[0.9], random_state=1)
    return X[:600], y[:600], X[600:], y[600:]


def test_autolog_nickname_and_tag_go_on_every_run(accu, store, data):
    X, y, Xv, yv = data
    accu.autolog(
        run_nickname_input="baseline-v1", tag="fraud", best_weights=True, validation=(Xv, yv)
    )
    LogisticRegression().fit(X, y)
    LogisticRegression(C=0.1).fit(X, y)  # no second autolog() needed
    runs = store.runs()
    assert len(runs) == 2
    for run in runs:
        assert run.data.tags["modeler.nickname"] == "baseline-v1"
        assert run.data.tags["modeler.tag"] == "fraud"
    assert accu.get_current_run_id() == runs[-1].info.run_id


def test_add_experiment_logs_extras_and_the_evaluation(accu, store, data):
    X, y, Xv, yv = data
    clf = LogisticRegression().fit(X, y)
    with accu.add_experiment(clf, Xv, yv) as run:
        run.log_params({"features": "v2"})
        run.log_metrics({"business_value": 12.5})
        run.log_tag("owner", "risk-team")
    logged = store.client.get_run(accu.get_current_run_id())
    assert logged.info.run_id == run.run_id and logged.info.status == "FINISHED"
    assert logged.data.params["features"] == "v2"
    assert logged.data.metrics["business_value"] == 12.5
    assert logged.data.tags["owner"] == "risk-team"
    assert logged.data.metrics["eval.roc_auc"] == pytest.approx(
        roc_auc_score(yv, clf.predict_proba(Xv)[:, 1]), abs=1e-9
    )


def test_fit_inside_add_experiment_uses_that_run(accu, store, data):
    X, y, Xv, yv = data
    accu.autolog()
    clf = LogisticRegression()
    with accu.add_experiment(clf, Xv, yv), pytest.warns(UserWarning):
        clf.fit(X, y)
    (run,) = store.runs()
    assert "C" in run.data.params and "eval.roc_auc" in run.data.metrics


def test_bad_arguments_are_clear(accu):
    with pytest.raises(OptionError, match="best_weights"):
        accu.autolog(best_weights="yes")
    with pytest.raises(OptionError, match="storage_json_file_name"):
        accu.get_file()
