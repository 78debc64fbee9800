"""The Accuinsight-compatible entry points: existing notebooks with one changed import.

The call forms are those of the original package (Accuinsight 3.x, ``Accuinsight/Lifecycle``:
``ML.py``, ``tensorflow.py``, ``common.py``); each test says which form it exercises.
"""

from __future__ import annotations

import inspect
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modeler.accu import Accu
from modeler.compat import ExperimentRun, accuinsight
from modeler.errors import DescriptorError, InvalidNameError, OptionError


@pytest.fixture
def accu(store):
    legacy = accuinsight()
    yield legacy
    legacy.autolog(disable=True)


@pytest.fixture
def plain():
    """For calls that fail or warn before anything reaches a store."""
    return accuinsight()


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=800, n_features=6, weights=[0.9], random_state=1)
    return X[:600], y[:600], X[600:], y[600:]


def recorded(call):
    """Run ``call``; return its warnings' messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


# --- autolog(run_nickname_input, tag, best_weights, model_monitor, runtime, f1/recall_average_in)
def test_autolog_nickname_and_description_go_on_every_run(accu, store, data):
    X, y, Xv, yv = data
    accu.autolog(run_nickname_input="baseline-v1", tag="fraud, no sampling", validation=(Xv, yv))
    LogisticRegression().fit(X, y)
    LogisticRegression(C=0.1).fit(X, y)  # no second autolog() needed
    runs = store.runs()
    assert len(runs) == 2
    for run in runs:
        assert run.data.tags["modeler.nickname"] == "baseline-v1"
        assert run.info.run_name.startswith("baseline-v1")
        assert run.data.tags["mlflow.note.content"] == "fraud, no sampling"  # the description
        assert run.data.tags["modeler.tag"] == "fraud, no sampling"
    assert accu.get_current_run_id() == runs[-1].info.run_id
    from modeler import accu as modeler_accu

    assert modeler_accu.get_current_run_id() == runs[-1].info.run_id  # one session, one answer


def test_autolog_keywords_without_meaning_warn_once(accu):
    messages = recorded(
        lambda: accu.autolog(model_monitor=True, runtime=True, f1_average_in="macro")
    )
    assert len(messages) == 2, messages
    assert "model_monitor=True, runtime=True have no effect here" in messages[0]
    assert "f1_average_in='macro' has no effect here" in messages[1]
    assert "positive class" in messages[1]
    assert recorded(lambda: accu.autolog(run_nickname_input="x")) == []  # defaults: silent
    # spelled out as False ("don't"): that is what happens here, so nothing to say
    assert recorded(lambda: accu.autolog(model_monitor=False, runtime=False)) == []
    (best,) = recorded(lambda: accu.autolog(best_weights=True))
    assert "EarlyStopping" in best and "restore_best_weights=True" in best


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"best_weights": "yes"}, "best_weights must be True or False; got 'yes'"),
        ({"f1_average_in": "binary"}, "f1_average_in must be one of 'micro', 'macro', 'weighted'"),
        ({"recall_average_in": None}, "recall_average_in must be one of"),
    ],
)
def test_autolog_bad_arguments_are_named(plain, kwargs, match):
    with pytest.raises(OptionError, match=match):
        plain.autolog(**kwargs)


# --- add_experiment: the original's order (fit, then add_experiment) is one run per model -----
def test_add_experiment_after_an_autologged_fit_attaches_to_its_run(accu, store, data):
    X, y, Xv, yv = data
    accu.autolog()
    clf = LogisticRegression(C=0.5).fit(X, y)
    accuracy = accuracy_score(yv, clf.predict(Xv))
    with accu.add_experiment(clf, Xv, yv) as exp:
        exp.log_params("C")
        exp.log_params("max_iter")
        exp.log_metrics("accuracy", accuracy)
        exp.log_tag("binary fraud, logistic regression")
    (run,) = store.runs()  # one run per model, not one for fit and one for add_experiment
    assert exp.run_id == run.info.run_id == accu.get_current_run_id()
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "0.5" and "solver" in run.data.params  # autolog's params
    assert run.data.tags["modeler.selected_params"] == "C,max_iter"
    assert run.data.metrics["accuracy"] == pytest.approx(accuracy)
    assert run.data.tags["mlflow.note.content"] == "binary fraud, logistic regression"
    assert run.data.tags["modeler.eval_source"] == "explicit"
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(
        roc_auc_score(yv, clf.predict_proba(Xv)[:, 1]), abs=1e-9
    )
    assert run.data.metrics["eval.n"] == len(yv)


def test_a_nickname_given_to_add_experiment_starts_the_autologged_runs_name(accu, store, data):
    X, y, Xv, yv = data
    accu.autolog()
    clf = LogisticRegression().fit(X, y)
    with accu.add_experiment(clf, "lr-nick", Xv, yv) as exp:
        exp.log_params("C")
    (run,) = store.runs()
    assert run.info.run_name.startswith("lr-nick-LogReg-")
    assert run.data.tags["modeler.nickname"] == "lr-nick"


def test_the_labs_resampling_before_autolog_is_recorded_and_never_another_runs(accu, store):
    """The lab resamples first (by hand and with SMOTE, both to twice the majority class), then
    turns logging on; SMOTE's record goes to the fit on SMOTE's output, even as a copy."""
    import json

    from imblearn.over_sampling import SMOTE

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4))
    y = (X[:, 0] + rng.normal(size=3000) > 2.2).astype(int)
    Xt, yt, Xv, yv = X[:2000], y[:2000], X[2000:], y[2000:]
    legit, fraud = np.flatnonzero(yt == 0), np.flatnonzero(yt == 1)
    up = np.concatenate([legit, rng.choice(fraud, size=len(legit), replace=True)])
    X_sm, y_sm = SMOTE(random_state=0).fit_resample(Xt, yt)
    assert len(y_sm) == len(up)  # the same row count: rows alone cannot tell them apart
    accu.autolog(run_nickname_input="up", validation=(Xv, yv))
    LogisticRegression(max_iter=500).fit(Xt[up], yt[up])
    accu.autolog(run_nickname_input="smote", validation=(Xv, yv))
    LogisticRegression(max_iter=500).fit(X_sm.copy(), y_sm.copy())
    by_hand, smote = store.runs()
    assert "modeler.sampling" not in by_hand.data.tags
    assert json.loads(smote.data.tags["modeler.sampling"])["method"] == "SMOTE"
    assert smote.info.run_name.startswith("smote-LogReg-smote-")
    accu.autolog()  # a plain autolog() drops the nickname (disable=True keeps it, as before)


@pytest.mark.parametrize("form", [2, 3, 4, 5])
def test_add_experiment_forms_of_the_original(accu, store, data, form):
    X, y, Xv, yv = data
    clf = LogisticRegression().fit(X, y)  # no autolog: add_experiment makes the run
    args = {
        2: (Xv, yv),
        3: ("smote-v2", Xv, yv),
        4: (X, y, Xv, yv),
        5: ("smote-v2", X, y, Xv, yv),
    }[form]
    with accu.add_experiment(clf, *args):
        pass
    (run,) = store.runs()
    # always the last pair is the validation data, never the training data
    assert run.data.metrics["eval.n"] == len(yv)
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(
        roc_auc_score(yv, clf.predict_proba(Xv)[:, 1]), abs=1e-9
    )
    assert run.data.params["C"] == "1.0"  # a run of its own gets the model's parameters
    nickname = run.data.tags.get("modeler.nickname")
    assert nickname == ("smote-v2" if form in (3, 5) else None)
    assert run.info.run_name.startswith("smote-v2") == (form in (3, 5))
    if form == 2:  # and the model, as it was when the block began
        import mlflow

        mlflow.set_tracking_uri(store.uri)
        try:
            logged = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
        finally:
            mlflow.set_tracking_uri(None)
        np.testing.assert_allclose(logged.predict_proba(Xv), clf.predict_proba(Xv))


def test_fit_inside_add_experiment_is_one_run_and_no_warning_says_otherwise(accu, store, data):
    X, y, Xv, yv = data
    accu.autolog()
    clf = LogisticRegression()

    def block():
        with accu.add_experiment(clf, Xv, yv):
            clf.fit(X, y)

    messages = recorded(block)
    assert not [m for m in messages if "eval.*" in m], messages
    (run,) = store.runs()
    assert "C" in run.data.params
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(
        roc_auc_score(yv, clf.predict_proba(Xv)[:, 1]), abs=1e-9
    )
    LogisticRegression().fit(X, y)  # after the block: autolog's own settings again
    assert "modeler.eval_source" in store.runs()[-1].data.tags
    assert store.runs()[-1].data.tags["modeler.eval_source"] == "none"


def test_log_params_selects_a_parameter_by_name(accu, store, data):
    X, y, Xv, yv = data
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=2.0)).fit(X, y)
    with accu.add_experiment(pipe, Xv, yv) as exp:
        exp.log_params("C")  # the last step's own name, as the original allowed
        exp.log_params({"features": "v2"})  # modeler's form: a value of your own
        with pytest.raises(OptionError) as info:
            exp.log_params("learning_rate")
    text = str(info.value)
    assert "Pipeline has no parameter 'learning_rate'" in text
    assert "'C'" in text and "'logisticregression__C'" in text  # the known names are listed
    run = store.only_run()
    assert run.data.params["C"] == "2.0" and run.data.params["features"] == "v2"
    assert run.data.tags["modeler.selected_params"] == "C"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda a, m, Xv, yv: a.add_experiment(m, Xv), "add_experiment takes .* got 2 arguments"),
        (
            lambda a, m, Xv, yv: a.add_experiment(m, 7, Xv, yv),
            r"the second is the run's nickname \(a str\); got int",
        ),
        (
            lambda a, m, Xv, yv: a.add_experiment(m, Xv, yv, f1_average_in="binary"),
            "f1_average_in must be one of",
        ),
    ],
    ids=["too-few", "bad-nickname", "bad-average"],
)
def test_add_experiment_bad_arguments_are_named(plain, data, call, match):
    X, y, Xv, yv = data
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(OptionError, match=match), call(plain, clf, Xv, yv):
        pass


def test_constructor_arguments_and_odd_log_params_are_named(plain, data):
    (message,) = recorded(lambda: accuinsight("workspace-1"))
    assert "accuinsight() takes no arguments; 1 ignored" in message
    X, y, _, _ = data
    clf = LogisticRegression().fit(X, y)
    exp = ExperimentRun(clf)
    with pytest.raises(OptionError, match=r"name of one of the model's parameters .* got int"):
        exp.log_params(3)
    exp.log_params(None)  # the original ignored it too
    assert exp.params == {} and exp.selected_params == []


def test_log_metrics_and_log_tag_forms(accu, store, data):
    X, y, Xv, yv = data
    clf = LogisticRegression().fit(X, y)

    def block():
        with accu.add_experiment(clf, Xv, yv, model_monitor=True, runtime=False) as exp:
            exp.log_metrics("F1-score", 0.5)
            exp.log_metrics({"business_value": 12.5})
            exp.log_tag("owner", "risk-team")
            with pytest.raises(OptionError, match="the value must be a number; got 'high'"):
                exp.log_metrics("quality", "high")
            with pytest.raises(OptionError, match="takes a metric name and its value"):
                exp.log_metrics(3, 0.5)

    (message,) = recorded(block)  # one warning for the keywords without meaning here
    assert "model_monitor=True has no effect here" in message  # runtime=False: nothing to say
    run = store.only_run()
    assert run.data.metrics["F1-score"] == 0.5 and run.data.metrics["business_value"] == 12.5
    assert run.data.tags["owner"] == "risk-team"
    assert "quality" not in run.data.metrics


def test_model_evaluation_evaluates_a_logged_model_as_a_run_of_its_own(accu, store, data):
    X, y, Xv, yv = data
    accu.autolog()
    clf = LogisticRegression().fit(X, y)
    accu.wait()
    (trained,) = store.runs()
    metrics = accu.model_evaluation(
        trained.info.run_name, "re-check", x_validation=Xv[:100], y_validation=yv[:100]
    )
    runs = store.runs()
    assert len(runs) == 2
    again = runs[-1]
    assert again.data.tags["modeler.evaluates"] == trained.info.run_id
    assert again.data.tags["modeler.nickname"] == "re-check"
    expected = roc_auc_score(yv[:100], clf.predict_proba(Xv[:100])[:, 1])
    assert metrics["roc_auc"] == pytest.approx(expected, abs=1e-9)
    assert again.data.metrics["eval.roc_auc"] == pytest.approx(expected, abs=1e-9)
    from modeler.errors import RunNotFoundError

    with pytest.raises(RunNotFoundError, match="no run 'nope'"):
        accu.model_evaluation("nope", x_validation=Xv, y_validation=yv)
    with pytest.raises(OptionError, match="needs run_name=, x_validation= and y_validation="):
        accu.model_evaluation(trained.info.run_name)


# --- one object ------------------------------------------------------------------------------
def test_the_compat_object_offers_everything_accu_offers():
    public = [n for n, v in inspect.getmembers(Accu) if callable(v) and not n.startswith("_")]
    assert {"compare", "evaluate", "wait", "set_tracking", "sync", "get_current_run_id"} <= set(
        public
    )
    for name in public:
        assert callable(getattr(accuinsight, name, None)), name
        theirs = inspect.signature(getattr(Accu, name)).parameters
        ours = inspect.signature(getattr(accuinsight, name)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in ours.values())
        for param in theirs:  # every keyword accu takes works here too
            assert param in ours or takes_any, (name, param)


def test_methods_without_meaning_warn_once_each(plain):
    messages = recorded(
        lambda: [
            plain.set_slack("https://hooks.slack.com/x"),
            plain.set_slack("https://hooks.slack.com/y"),
            plain.send_message("done"),
            plain.set_features(["amount"]),
            plain.set_user_id("me"),
            plain.set_mail({"to": "a@b"}),
        ]
    )
    assert len(messages) == 5, messages
    assert "set_slack() has no effect here" in messages[0]
    with pytest.raises(OptionError, match="not both"):
        plain.send_message("x", thresholds=0.9)


# --- get_file / set_storage ------------------------------------------------------------------
def test_set_storage_then_get_file_as_the_original(accu, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"amount": [1.0, 2.0], "isFraud": [0, 1]})
    (tmp_path / "exports").mkdir()
    frame.to_csv(tmp_path / "exports" / "tx.csv", index=False)

    assert accu.set_storage(target="isFraud", file_path="exports/tx.csv") is None
    pd.testing.assert_frame_equal(accu.get_file(), frame)  # no argument: the storage just set
    assert accu.target_name == "isFraud"
    assert accu.save_path == str(tmp_path / "exports" / "tx.csv")

    written = accu.set_storage(target="isFraud", file_path="exports/tx.csv", save_json=True)
    assert written.startswith("runs/storage-info-json/") and written.endswith(
        "-01-local-connection-info.json"
    )
    assert json.loads((tmp_path / written).read_text()) == {
        "target": "isFraud",
        "filePath": "exports/tx.csv",
        "fileName": "tx.csv",
    }
    second = accu.set_storage(target="isFraud", file_path="exports/tx.csv", save_json=True)
    assert second.endswith("-02-local-connection-info.json")
    named = accu.set_storage(
        target="isFraud", file_path="exports/tx.csv", save_json=True, save_path="mine.json"
    )
    assert named == "runs/storage-info-json/mine.json"
    pd.testing.assert_frame_equal(accu.get_file(storage_json_file_name=written), frame)
    # modeler's own form still works
    accu.set_storage("d.json", target="local", filePath="exports", fileName="tx.csv")
    pd.testing.assert_frame_equal(accu.get_file("d.json"), frame)
    accu.set_storage(path="e.json", target="local", filePath="exports", fileName="tx.csv")
    pd.testing.assert_frame_equal(accu.get_file(source="e.json"), frame)  # accu's keywords
    assert accu.target_name is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"file_path": "a.csv"}, OptionError, "needs target=: the label column's name"),
        ({"target": "y"}, OptionError, "needs file_path="),
        ({"target": "y", "hdfs_uri": "hdfs://nn:8020/a.csv"}, OptionError, "HDFS"),
        ({"target": "y", "file_path": "a.csv", "save_path": "x.json"}, OptionError, "save_json"),
        ({"fileName": "a.csv"}, OptionError, "with descriptor fields needs the JSON file's path"),
        ({"target": "s3", "file_path": "a.csv"}, DescriptorError, "'bucketName' is missing"),
        (
            {"target": "y", "file_path": "a.csv", "bucket_name": "my bucket"},
            InvalidNameError,
            "a space at position 3",
        ),
    ],
)
def test_set_storage_bad_arguments(plain, kwargs, error, match):
    with pytest.raises(error, match=match):
        plain.set_storage(**kwargs)


def test_get_file_needs_a_source(plain):
    with pytest.raises(OptionError, match="storage_json_file_name"):
        plain.get_file()
