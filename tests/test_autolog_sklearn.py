"""accu.autolog with scikit-learn and imbalanced-learn, on a real SQLite store in tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.svm import LinearSVC

from modeler import accu
from modeler.errors import EvaluationError, ModelerWarning, OptionError


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=1500, n_features=8, weights=[0.93], flip_y=0.02, random_state=0
    )
    return X[:1000], y[:1000], X[1000:], y[1000:]


def test_logistic_regression_run_metrics_equal_sklearn(autolog, data):
    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    clf = LogisticRegression(C=0.5, max_iter=500).fit(X, y)
    run = store.only_run()
    assert run.info.run_name.startswith("LogReg-")  # short enough for the runs table
    assert run.data.tags["modeler.eval_source"] == "validation"
    assert run.data.tags["modeler.score_source"] == "predict_proba"
    assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "500"
    scores = clf.predict_proba(Xv)[:, 1]
    m = run.data.metrics
    assert m["eval.roc_auc"] == pytest.approx(roc_auc_score(yv, scores), abs=1e-9)
    assert m["eval.pr_auc"] == pytest.approx(average_precision_score(yv, scores), abs=1e-9)
    assert m["eval.f1"] == pytest.approx(f1_score(yv, scores >= 0.5, zero_division=0), abs=1e-9)


def test_random_forest_is_one_run_not_one_per_tree(autolog, data):
    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    run = store.only_run()
    assert run.data.params["n_estimators"] == "5"
    assert "eval.roc_auc" in run.data.metrics


def test_linear_svc_auc_not_inverted(autolog, data):
    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    svc = LinearSVC(C=0.1).fit(X, y)
    run = store.only_run()
    assert run.data.tags["modeler.score_source"].startswith("decision_function")
    expected = roc_auc_score(yv, svc.decision_function(Xv))
    assert expected > 0.5
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(expected, abs=1e-9)
    # threshold 0.5 on the sigmoid is the model's own cut: same hard labels as predict
    assert run.data.metrics["eval.tp"] == int(((svc.predict(Xv) == 1) & (yv == 1)).sum())


@pytest.mark.parametrize(
    ("model", "labels", "positive"),
    [
        (LinearSVC(C=0.1), {0: -1, 1: 1}, "1"),  # the SVM convention
        (LogisticRegression(max_iter=500), {0: "legit", 1: "fraud"}, "fraud"),  # the rarer
        (LogisticRegression(max_iter=500), {0: "a_ok", 1: "z_fraud"}, "z_fraud"),
    ],
)
def test_labels_other_than_0_1_are_scored_for_the_positive_class(
    autolog, data, model, labels, positive
):
    X, y, Xv, yv = data
    relabel = np.vectorize(labels.get, otypes=[object if positive != "1" else int])
    store = autolog(validation=(Xv, relabel(yv)))
    model.fit(X, relabel(y))
    run = store.only_run()
    assert run.data.tags["modeler.task"] == "binary"
    assert run.data.tags["modeler.positive_class"] == positive
    column = list(model.classes_).index(labels[1])
    if hasattr(model, "predict_proba"):
        scores = model.predict_proba(Xv)[:, column]
    else:
        scores = model.decision_function(Xv) * (1 if column == 1 else -1)
    m = run.data.metrics
    assert m["eval.roc_auc"] == pytest.approx(roc_auc_score(yv, scores), abs=1e-9)
    assert m["eval.pr_auc"] == pytest.approx(average_precision_score(yv, scores), abs=1e-9)
    assert m["eval.positives"] == yv.sum()
    # accu.evaluate takes the same labels and gives the same numbers
    assert accu.evaluate(model, Xv, relabel(yv), prefix="test")["pr_auc"] == pytest.approx(
        m["eval.pr_auc"]
    )


def test_labels_a_classifier_never_saw_are_named_not_a_regression(autolog, data):
    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv * 0.9))
    LogisticRegression(max_iter=500).fit(X, y)
    run = store.only_run()
    assert run.data.tags["modeler.task"] == "unsupported"
    assert "eval.rmse" not in run.data.metrics and "eval.roc_auc" not in run.data.metrics
    assert run.data.tags["modeler.task_mismatch"].startswith(
        "labels hold values [0.0, 0.9] but the model is a classifier of classes ['0', '1']"
    )


def test_imblearn_pipeline_records_sampler_params_and_counts(autolog, data):
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline

    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    pipe = Pipeline(
        [("smote", SMOTE(k_neighbors=3, random_state=0)), ("clf", LogisticRegression(max_iter=500))]
    )
    pipe.fit(X, y)
    run = store.only_run()
    assert run.info.run_name.startswith("LogReg-smote-")  # named after its final estimator
    assert run.data.params["smote__k_neighbors"] == "3"
    assert run.data.params["clf__max_iter"] == "500"
    sampling = json.loads(run.data.tags["modeler.sampling"])
    assert sampling["method"] == "SMOTE"
    n0, n1 = int((y == 0).sum()), int((y == 1).sum())
    assert sampling["before"] == {"0": n0, "1": n1}
    assert sampling["after"] == {"0": n0, "1": n0}


def test_resample_then_fit_records_sampling(autolog, data):
    from modeler.imbalance import resample

    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    LogisticRegression(max_iter=500).fit(X, y)  # baseline on the original data: no tag
    X_res, y_res = resample(X, y, method="down", random_state=0)
    LogisticRegression(max_iter=500).fit(X_res, y_res)
    baseline, down = store.runs()
    assert "modeler.sampling" not in baseline.data.tags
    sampling = json.loads(down.data.tags["modeler.sampling"])
    assert sampling["method"] == "down"
    assert sampling["after"] == {"0": int((y == 1).sum()), "1": int((y == 1).sum())}


def test_a_run_left_without_evaluation_is_named_once_at_the_next_wait(autolog, data):
    X, y, _, _ = data
    store = autolog()
    LogisticRegression(max_iter=500).fit(X, y)
    with pytest.warns(ModelerWarning, match=r"has no eval\.\* metrics") as caught:
        accu.wait()
    run = store.only_run()
    assert sum(run.info.run_name in str(w.message) for w in caught) == 1
    assert run.data.tags["modeler.eval_source"] == "none"


def test_evaluate_attaches_to_the_models_run_and_scores_make_their_own(autolog, data):
    import mlflow

    X, y, Xv, yv = data
    store = autolog()
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = LogisticRegression(max_iter=500).fit(X, y)
        metrics = accu.evaluate(clf, Xv, yv)
        accu.wait()
    # it was evaluated after all: no warning says its run has no eval.* metrics
    assert not [w for w in caught if "no eval.* metrics" in str(w.message)]
    run = store.only_run()
    assert run.data.tags["modeler.eval_source"] == "explicit"
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(metrics["roc_auc"])
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(yv, clf.predict_proba(Xv)[:, 1]))
    scores = clf.predict_proba(Xv)[:, 1]
    accu.evaluate(scores, None, yv, threshold=0.3)
    runs = store.runs()
    assert len(runs) == 2 and runs[1].info.run_name.startswith("scores-")
    assert runs[1].data.tags["modeler.threshold"] == "0.3"
    mlflow.set_tracking_uri(store.uri)
    try:
        loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose(loaded.predict_proba(Xv), clf.predict_proba(Xv))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"threshold": "0.5"}, OptionError, "threshold"),
        ({"threshold": 1.5}, EvaluationError, "threshold"),
        ({"log_models": "yes"}, OptionError, "log_models"),
        ({"validation": [1, 2, 3]}, OptionError, "validation"),
        ({"register_model": 3}, OptionError, "register_model"),
    ],
)
def test_autolog_option_errors(store, options, error, match):
    with pytest.raises(error, match=match):
        accu.autolog(**options)


def test_labels_held_as_objects_or_text_given_with_scores(store, data):
    _, _, _, yv = data
    scores = np.linspace(0.0, 1.0, len(yv))
    as_objects = (yv == 1).astype(object)  # True/False as Python objects, as pandas holds them
    metrics = accu.evaluate(scores, None, as_objects)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(yv, scores), abs=1e-12)
    text = np.where(yv == 1, "fraud", "ok")  # which one the scores are for is not known here
    with pytest.raises(EvaluationError, match=r"labels are text \['fraud', 'ok'\]"):
        accu.evaluate(scores, None, text)


def test_non_binary_labels_and_bad_scores_are_clear_errors(store, data):
    _, _, _, yv = data
    with pytest.raises(EvaluationError, match="2"):
        accu.evaluate(np.full(len(yv), 0.5), None, np.where(yv == 1, 2, 0) + (yv == 0) * 1)
    bad = np.full(len(yv), 0.5)
    bad[3] = np.nan
    with pytest.raises(EvaluationError, match="NaN"):
        accu.evaluate(bad, None, yv)


def test_test_set_evaluation_beside_validation_and_by_run_id(autolog, data):
    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    clf = LogisticRegression().fit(X, y)
    (run,) = store.runs()
    # a copy of the model (e.g. loaded back) is attached by run id; test.* keeps eval.* intact
    metrics = accu.evaluate(clf, X[:200], y[:200], run_id=run.info.run_id, prefix="test")
    (after,) = store.runs()
    assert after.data.metrics["eval.roc_auc"] == run.data.metrics["eval.roc_auc"]
    assert after.data.metrics["test.roc_auc"] == pytest.approx(
        roc_auc_score(y[:200], clf.predict_proba(X[:200])[:, 1]), abs=1e-9
    )
    assert metrics["n"] == 200 and after.data.tags["modeler.test_source"] == "explicit"
    assert {"test/curves.json", "eval/curves.json"} <= {
        a.path for d in ("eval", "test") for a in store.client.list_artifacts(run.info.run_id, d)
    }
    with pytest.raises(OptionError, match="prefix"):
        accu.evaluate(clf, Xv, yv, prefix="Test Set")


def test_a_test_evaluation_confirms_the_runs_decision_and_never_picks_one(autolog):
    import mlflow

    X, y = make_classification(n_samples=6000, n_features=8, weights=[0.95], random_state=4)
    amounts = np.random.default_rng(1).lognormal(4, 1.2, len(y))
    costs = {"fn": amounts[3000:4500], "fp": 5.0}
    store = autolog(validation=(X[3000:4500], y[3000:4500]), costs=costs)
    clf = LogisticRegression(max_iter=500).fit(X[:3000], y[:3000])
    (run,) = store.runs()
    decision = run.data.metrics["eval.decision_threshold"]
    Xt, yt, at = X[4500:], y[4500:], amounts[4500:]
    test_costs = {"fn": at, "fp": 5.0}
    accu.evaluate(clf, Xt, yt, prefix="test", costs=test_costs)
    (after,) = store.runs()
    assert after.info.run_id == run.info.run_id  # the model's own run, no new one
    assert after.data.metrics["test.decision_threshold"] == pytest.approx(decision)
    assert after.data.metrics["eval.decision_threshold"] == decision  # unchanged
    scores = clf.predict_proba(Xt)[:, 1]
    flagged = scores >= decision
    expected = at[(yt == 1) & ~flagged].sum() + 5.0 * np.sum((yt == 0) & flagged)
    assert after.data.metrics["test.cost_at_decision"] == pytest.approx(expected, rel=1e-6)
    # a model loaded back from MLflow is recognised as the run's model
    mlflow.set_tracking_uri(store.uri)
    try:
        loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    accu.evaluate(loaded, Xt, yt, prefix="holdout", costs=test_costs)
    (again,) = store.runs()
    assert again.data.metrics["holdout.decision_threshold"] == pytest.approx(decision)
    # threshold= given: that one, still never the test set's own optimum
    accu.evaluate(clf, Xt, yt, prefix="check", costs=test_costs, threshold=0.3)
    (last,) = store.runs()
    assert last.data.metrics["check.decision_threshold"] == pytest.approx(0.3)


def test_autologs_per_row_costs_stay_with_the_validation_rows(autolog):
    """Amounts of the validation rows never price other rows by position, even when the test
    set has as many rows; a column name carries over, since each frame has its own."""
    import pandas as pd

    X, y = make_classification(n_samples=4500, n_features=6, weights=[0.95], random_state=5)
    amounts = np.random.default_rng(2).lognormal(4, 1.2, len(y))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(amount=amounts)
    val, test = frame.iloc[1500:3000], frame.iloc[3000:]  # as many rows each
    store = autolog(validation=(val, y[1500:3000]), costs={"fn": amounts[1500:3000], "fp": 5.0})
    clf = LogisticRegression(max_iter=500).fit(frame.iloc[:1500], y[:1500])
    with pytest.warns(ModelerWarning, match=r"costs give 'fn' one value per validation row"):
        accu.evaluate(clf, test, y[3000:], prefix="test")
    (run,) = store.runs()
    assert "eval.cost_at_decision" in run.data.metrics  # the validation rows' own amounts
    assert "test.cost_at_decision" not in run.data.metrics and "test.pr_auc" in run.data.metrics
    # a column name prices each set's rows with their own amounts
    accu.autolog(validation=(val, y[1500:3000]), costs={"fn": "amount", "fp": 5.0})
    clf = LogisticRegression(max_iter=500).fit(frame.iloc[:1500], y[:1500])
    accu.evaluate(clf, test, y[3000:], prefix="test")
    decision = store.runs()[-1].data.metrics["eval.decision_threshold"]
    flagged = clf.predict_proba(test)[:, 1] >= decision
    yt = y[3000:]
    expected = amounts[3000:][(yt == 1) & ~flagged].sum() + 5.0 * np.sum((yt == 0) & flagged)
    assert store.runs()[-1].data.metrics["test.cost_at_decision"] == pytest.approx(expected)


def test_tracking_uri_from_the_environment_stays_for_every_fit(monkeypatch, tmp_path, data):
    import os

    from mlflow.tracking import MlflowClient

    X, y, Xv, yv = data
    uri = f"sqlite:///{tmp_path / 'team.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    accu.autolog(validation=(Xv, yv))
    try:
        for c in (0.1, 1.0, 10.0):
            LogisticRegression(C=c).fit(X, y)
        accu.wait()
    finally:
        accu.autolog(disable=True)
    assert os.environ["MLFLOW_TRACKING_URI"] == uri
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("modeler").experiment_id])
    assert len(runs) == 3
    # artifacts beside the database, not in ./mlruns of whatever folder the notebook ran in
    assert all(r.info.artifact_uri.startswith((tmp_path / "artifacts").as_uri()) for r in runs)


def test_mlflow_set_experiment_in_the_notebook_does_not_break_logging(autolog, data):
    import mlflow
    from mlflow.tracking import fluent

    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    mlflow.set_tracking_uri(store.uri)
    mlflow.set_experiment("something-else")
    try:
        LogisticRegression().fit(X, y)
    finally:
        fluent._active_experiment_id = None
        mlflow.set_tracking_uri(None)
    run = store.only_run()
    assert run.info.status == "FINISHED" and "modeler.logging_error" not in run.data.tags
    models = store.client.search_logged_models([run.info.experiment_id])
    assert [m.name for m in models if m.source_run_id == run.info.run_id] == ["model"]


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        (np.array([]), np.array([]), "empty"),
        (np.full(5, 0.5), np.array([0, 1, 0, 1]), "5 rows but the labels have 4"),
        (np.array([0.1, np.inf, 0.3, 0.9]), np.array([0, 1, 0, 1]), "infinite"),
    ],
)
def test_bad_validation_data_is_a_clear_error(store, scores, labels, match):
    with pytest.raises(EvaluationError, match=match):
        accu.evaluate(scores, None, labels)


def test_bad_costs_are_clear_errors(store, data):
    from modeler.errors import CostError

    _, _, Xv, yv = data
    with pytest.raises(CostError, match="negative"):
        accu.autolog(validation=(Xv, yv), costs={"fn": -1.0, "fp": 5.0})
    with pytest.raises(CostError, match=str(len(yv))):
        accu.autolog(validation=(Xv, yv), costs={"fn": np.ones(3), "fp": 5.0})
    with pytest.raises(OptionError, match="costs"):
        accu.autolog(costs=[100, 5])


def test_a_test_evaluation_of_a_model_no_run_is_known_for_says_it_makes_a_new_run(autolog, data):
    """Loaded back while autolog was off (a fresh notebook): its run is not known, and the
    warning says where the numbers went and how to put them on its run."""
    import mlflow

    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    LogisticRegression(max_iter=500).fit(X, y)
    (run,) = store.runs()
    accu.autolog(disable=True)
    mlflow.set_tracking_uri(store.uri)
    try:
        loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    with pytest.warns(ModelerWarning, match=r"makes a new run, at threshold 0\.5.*pass run_id="):
        accu.evaluate(loaded, Xv, yv, prefix="test")
    runs = store.runs()
    assert len(runs) == 2 and "test.pr_auc" in runs[1].data.metrics
    accu.evaluate(loaded, Xv, yv, prefix="test", run_id=run.info.run_id)  # as the warning says
    on_its_run = store.client.get_run(run.info.run_id).data
    assert on_its_run.metrics["test.pr_auc"] == pytest.approx(runs[1].data.metrics["test.pr_auc"])
    assert len(store.runs()) == 2  # no third run


def test_a_run_of_the_users_own_in_another_store_is_named_once(
    autolog, data, tmp_path, monkeypatch
):
    """MLflow's tracking URI never set: the user's ``mlflow.start_run()`` run is in MLflow's
    default store (./mlflow.db), not modeler's (./mlruns/mlflow.db). Said once."""
    import warnings

    import mlflow

    X, y, Xv, yv = data
    store = autolog(validation=(Xv, yv))
    mlflow.set_tracking_uri(None)

    def fit_in_own_run(**run) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mlflow.start_run(**run):
                LogisticRegression(max_iter=500).fit(X, y)
        return [str(w.message) for w in caught if "mlflow.start_run() run is in" in str(w.message)]

    import mlflow.tracking.fluent as fluent

    monkeypatch.setattr(fluent, "_active_experiment_id", None)  # another test's set_experiment
    try:
        (said,) = fit_in_own_run()
        assert "mlflow.db" in said and store.uri in said and "mlflow.set_tracking_uri" in said
        assert fit_in_own_run() == []  # once per pair of stores
        mlflow.set_tracking_uri(store.uri)  # as the warning says
        assert fit_in_own_run(experiment_id=store.client.create_experiment("mine")) == []
    finally:
        mlflow.set_tracking_uri(None)
    (mine,) = store.runs("mine")
    assert "eval.pr_auc" in mine.data.metrics


@pytest.mark.parametrize(
    ("what", "error", "match"),
    [
        ("no rows", EvaluationError, r"validation data is empty: expected at least one row"),
        ("not a model", OptionError, r"takes a fitted model .* got str 'model'"),
        ("not fitted", EvaluationError, r"LogisticRegression is not fitted yet: call fit"),
    ],
)
def test_what_evaluate_cannot_score_is_named_and_makes_no_run(store, data, what, error, match):
    X, y, Xv, yv = data
    fitted = LogisticRegression(max_iter=500).fit(X, y)
    model, rows, labels = {
        "no rows": (fitted, Xv[:0], yv[:0]),
        "not a model": ("model", Xv, yv),
        "not fitted": (LogisticRegression(), Xv, yv),
    }[what]
    with pytest.raises(error, match=match):
        accu.evaluate(model, rows, labels)
    assert store.runs() == []
