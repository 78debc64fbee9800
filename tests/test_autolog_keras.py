"""accu.autolog with Keras: one fit = one complete run, on a real SQLite store in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

keras = pytest.importorskip("keras")

from modeler import accu  # noqa: E402
from modeler.errors import ModelerWarning  # noqa: E402


def make_data(n=1200, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = ((x[:, 0] + 0.8 * rng.normal(size=n)) > 1.3).astype("float32")
    return x, y


def binary_model(d=6, seed=0, activation="sigmoid", units=1):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(4, activation="relu"),
            keras.layers.Dense(units, activation=activation),
        ]
    )
    loss = "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"
    if activation is None:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    return model


def expected(y, scores, threshold=0.5, sample_weight=None):
    pred = (scores >= threshold).astype(int)
    kw = {"sample_weight": sample_weight}
    return {
        "eval.roc_auc": roc_auc_score(y, scores, **kw),
        "eval.pr_auc": average_precision_score(y, scores, **kw),
        "eval.precision": precision_score(y, pred, pos_label=1, zero_division=0, **kw),
        "eval.recall": recall_score(y, pred, pos_label=1, zero_division=0, **kw),
        "eval.f1": f1_score(y, pred, pos_label=1, zero_division=0, **kw),
    }


def assert_metrics(run, y, scores, **kw):
    for key, value in expected(y, scores, **kw).items():
        assert run.data.metrics[key] == pytest.approx(value, abs=1e-9), key


def test_validation_data_tuple_metrics_equal_sklearn(autolog):
    store = autolog()
    x, y = make_data()
    model = binary_model()
    history = model.fit(
        x[:900], y[:900], validation_data=(x[900:], y[900:]), epochs=3, batch_size=128, verbose=0
    )
    run = store.only_run()
    assert run.info.status == "FINISHED"
    # a short readable name; its suffix starts the full id kept in a tag
    journal_id = run.data.tags["modeler.journal_id"]
    assert len(journal_id) == 32
    assert run.info.run_name == f"keras-{journal_id[:4].upper()}"
    assert run.data.tags["modeler.eval_source"] == "validation_data"
    assert run.data.tags["modeler.task"] == "binary"
    assert run.data.tags["modeler.model_type"] == "keras"
    scores = model.predict(x[900:], verbose=0).ravel()
    assert_metrics(run, y[900:], scores)
    assert run.data.metrics["eval.n"] == 300
    assert run.data.metrics["eval.positives"] == y[900:].sum()
    # per-epoch metrics: every key of the Keras logs, step = epoch
    assert store.metric_history(run.info.run_id, "loss") == [
        (i, pytest.approx(v, rel=1e-6)) for i, v in enumerate(history.history["loss"])
    ]
    assert len(store.metric_history(run.info.run_id, "val_loss")) == 3
    params = run.data.params
    assert params["epochs"] == "3" and params["batch_size"] == "128"
    assert params["epochs_run"] == "3" and params["optimizer"] == "Adam"
    assert float(params["optimizer.learning_rate"]) == pytest.approx(0.01)
    assert params["loss"] == "binary_crossentropy"
    assert int(params["total_params"]) == model.count_params()


def test_sample_weight_in_validation_data(autolog):
    store = autolog()
    x, y = make_data()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, size=300)
    model = binary_model()
    model.fit(x[:900], y[:900], validation_data=(x[900:], y[900:], sw), epochs=1, verbose=0)
    run = store.only_run()
    scores = model.predict(x[900:], verbose=0).ravel()
    assert_metrics(run, y[900:], scores, sample_weight=sw)


def test_validation_split_uses_the_exact_slice_keras_held_out(autolog):
    store = autolog()
    x, y = make_data(n=1003)
    model = binary_model()
    model.fit(x, y, validation_split=0.3, epochs=2, batch_size=64, verbose=0)
    run = store.only_run()
    at = int(np.floor(1003 * 0.7))  # Keras holds out the last fraction, before shuffling
    assert run.data.tags["modeler.eval_source"] == "validation_split"
    assert run.data.metrics["eval.n"] == 1003 - at
    assert_metrics(run, y[at:], model.predict(x[at:], verbose=0).ravel())


def test_tf_data_validation_uses_every_batch(autolog):
    import tensorflow as tf

    store = autolog()
    x, y = make_data()
    val = tf.data.Dataset.from_tensor_slices((x[900:], y[900:])).batch(32)  # 10 batches
    train = tf.data.Dataset.from_tensor_slices((x[:900], y[:900])).batch(64)
    model = binary_model()
    model.fit(train, validation_data=val, epochs=2, verbose=0)  # fit(dataset), no y
    run = store.only_run()
    assert run.data.tags["modeler.eval_source"] == "dataset"
    assert run.data.metrics["eval.n"] == 300
    assert_metrics(run, y[900:], model.predict(x[900:], verbose=0).ravel())


def test_generator_validation_uses_every_batch(autolog):
    store = autolog()
    x, y = make_data()

    def batches():
        for i in range(900, 1200, 50):
            yield x[i : i + 50], y[i : i + 50]

    model = binary_model()
    model.fit(x[:900], y[:900], validation_data=batches(), epochs=1, verbose=0)
    run = store.only_run()
    assert run.data.metrics["eval.n"] == 300
    assert_metrics(run, y[900:], model.predict(x[900:], verbose=0).ravel())


@pytest.mark.parametrize("epochs", [1, 3])
def test_an_endless_generator_is_evaluated_on_one_pass_of_validation_steps(autolog, epochs):
    """Keras pulls batches ahead of the pass it validates on; the run holds exactly one pass
    (validation_steps batches), once each."""
    store = autolog()
    x, y = make_data()

    def endless():
        while True:
            for i in range(900, 1200, 50):
                yield x[i : i + 50], y[i : i + 50]

    model = binary_model()
    model.fit(
        x[:900], y[:900], validation_data=endless(), validation_steps=6, epochs=epochs, verbose=0
    )
    run = store.only_run()
    assert run.data.metrics["eval.n"] == 300
    assert run.data.metrics["eval.positives"] == y[900:].sum()
    assert_metrics(run, y[900:], model.predict(x[900:], verbose=0).ravel())


def test_a_multi_output_model_is_named_in_a_warning_not_skipped_silently(autolog):
    store = autolog()
    x, y = make_data()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(4, activation="relu")(inputs)
    outputs = [keras.layers.Dense(1, activation="sigmoid")(hidden) for _ in range(2)]
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=["binary_crossentropy", "binary_crossentropy"])
    with pytest.warns(ModelerWarning, match=r"has no eval\.\* metrics: multi-output model"):
        model.fit(
            x[:900],
            [y[:900], 1 - y[:900]],
            validation_data=(x[900:], [y[900:], 1 - y[900:]]),
            epochs=1,
            verbose=0,
        )
    run = store.only_run()
    assert run.data.tags["modeler.eval_skipped"] == "multi-output model"
    assert not [k for k in run.data.metrics if k.startswith("eval.")]


def test_no_validation_means_no_eval_metrics_and_one_warning(autolog):
    store = autolog()
    x, y = make_data()
    with pytest.warns(ModelerWarning, match="no validation data"):
        binary_model().fit(x, y, epochs=1, verbose=0)
    run = store.only_run()
    assert run.data.tags["modeler.eval_source"] == "none"
    assert not [k for k in run.data.metrics if k.startswith("eval.")]
    assert "loss" in run.data.metrics


def test_early_stopping_curves_are_those_of_the_restored_model(autolog):
    store = autolog()
    x, y = make_data(n=2000)
    xv, yv = x[1500:], y[1500:]
    model = binary_model()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # a high learning rate makes the later epochs worse, so restoring matters
    model.optimizer.learning_rate.assign(0.3)
    model.fit(
        x[:1500],
        y[:1500],
        validation_data=(xv, yv),
        epochs=12,
        batch_size=32,
        callbacks=[stop],
        verbose=0,
    )
    run = store.only_run()
    scores = model.predict(xv, verbose=0).ravel()  # the model as returned: best weights
    assert_metrics(run, yv, scores)
    curves = store.artifact_json(run.info.run_id, "eval/curves.json")
    assert curves["roc"]["auc"] == pytest.approx(roc_auc_score(yv, scores), abs=1e-9)


def test_curves_json_schema_and_point_bound(autolog):
    store = autolog()
    x, y = make_data(n=6000)
    model = binary_model()
    model.fit(x[:1000], y[:1000], validation_data=(x[1000:], y[1000:]), epochs=1, verbose=0)
    run = store.only_run()
    curves = store.artifact_json(run.info.run_id, "eval/curves.json")
    assert curves["schema"] == 1 and curves["task"] == "binary"
    assert curves["n"] == 5000 and curves["threshold"] == 0.5
    assert curves["positives"] == int(y[1000:].sum())
    for name, keys in {
        "roc": ("fpr", "tpr", "thresholds"),
        "pr": ("recall", "precision", "thresholds"),
    }.items():
        lengths = {len(curves[name][k]) for k in keys}
        assert len(lengths) == 1 and 2 <= lengths.pop() <= 1000
    arts = {a.path for a in store.client.list_artifacts(run.info.run_id, "eval")}
    assert {"eval/curves.json", "eval/roc.png", "eval/pr.png", "eval/confusion_matrix.png"} <= arts
    assert "model_summary.txt" in {a.path for a in store.client.list_artifacts(run.info.run_id)}


def test_two_fits_two_runs_and_disable_restores_fit(autolog):
    original = keras.Model.fit
    store = autolog()
    accu.autolog()  # twice: no double wrapping
    x, y = make_data()
    a, b = binary_model(seed=1), binary_model(seed=2)
    b.fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    a.fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    assert len(store.runs()) == 2
    assert keras.Model.fit is not original
    accu.autolog(disable=True)
    assert keras.Model.fit is original
    a.fit(x, y, epochs=1, verbose=0)
    assert len(store.runs()) == 2


def test_user_started_run_is_used(autolog):
    import mlflow

    store = autolog()
    x, y = make_data()
    mlflow.set_tracking_uri(store.uri)
    exp = mlflow.set_experiment("mine")
    with mlflow.start_run(run_name="my-run") as run:
        binary_model().fit(x, y, validation_split=0.25, epochs=1, verbose=0)
    mlflow.set_tracking_uri(None)
    runs = store.client.search_runs([exp.experiment_id])
    assert [r.info.run_id for r in runs] == [run.info.run_id]
    assert "eval.roc_auc" in runs[0].data.metrics and runs[0].info.status == "FINISHED"


def test_callbacks_untouched_history_returned_and_user_errors_propagate(autolog):
    store = autolog()
    x, y = make_data()
    callbacks = [keras.callbacks.TerminateOnNaN()]
    history = binary_model().fit(
        x, y, validation_split=0.2, epochs=1, verbose=0, callbacks=callbacks
    )
    assert isinstance(history, keras.callbacks.History)
    assert len(callbacks) == 1
    with pytest.raises(ValueError, match="cardinality"):
        binary_model().fit(x, y[:10], epochs=1, verbose=0)
    statuses = sorted(r.info.status for r in store.runs())
    assert statuses == ["FAILED", "FINISHED"]


def test_logging_failure_never_fails_the_fit(autolog, monkeypatch):
    from modeler.tracking import evaluate as evaluation_module

    monkeypatch.setenv("MODELER_TEST_MODE", "0")
    store = autolog()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(evaluation_module, "build", broken)
    x, y = make_data()
    with pytest.warns(ModelerWarning, match="disk full"):
        history = binary_model().fit(x, y, validation_split=0.2, epochs=2, verbose=0)
        accu.wait()  # the run is finished in the background; its warnings show on wait
    assert len(history.epoch) == 2
    run = store.only_run()
    assert run.info.status == "FINISHED"
    assert "disk full" in run.data.tags["modeler.logging_error"]


def test_logging_failure_is_raised_in_test_mode(autolog, monkeypatch):
    from modeler.tracking import evaluate as evaluation_module

    autolog()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(evaluation_module, "build", broken)
    x, y = make_data()
    with pytest.raises(RuntimeError, match="disk full"):
        binary_model().fit(x, y, validation_split=0.2, epochs=1, verbose=0)


def test_model_logged_loadable_and_registered(autolog):
    import mlflow

    store = autolog(register_model="fraud-net")
    x, y = make_data()
    model = binary_model()
    model.fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    run = store.only_run()
    assert run.data.tags["modeler.model_version"] == f"{run.info.run_name}_1"
    mlflow.set_tracking_uri(store.uri)
    try:
        loaded = mlflow.keras.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose(
        loaded.predict(x[:20], verbose=0), model.predict(x[:20], verbose=0), rtol=1e-5
    )


def test_softmax_two_columns_is_binary(autolog):
    store = autolog()
    x, y = make_data()
    model = binary_model(units=2, activation="softmax")
    model.fit(x[:900], y[:900], validation_data=(x[900:], y[900:]), epochs=1, verbose=0)
    run = store.only_run()
    assert run.data.tags["modeler.task"] == "binary"
    assert_metrics(run, y[900:], model.predict(x[900:], verbose=0)[:, 1])


def test_logits_are_scored_through_a_sigmoid(autolog):
    from scipy.special import expit

    store = autolog()
    x, y = make_data()
    model = binary_model(activation=None)
    model.fit(x[:900], y[:900], validation_data=(x[900:], y[900:]), epochs=1, verbose=0)
    run = store.only_run()
    assert run.data.tags["modeler.score_transform"] == "sigmoid"
    assert_metrics(run, y[900:], expit(model.predict(x[900:], verbose=0).ravel()))


def test_multiclass_and_regression_do_not_crash(autolog):
    store = autolog()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 5)).astype("float32")
    y3 = np.digitize(x[:, 0], [-0.5, 0.5])
    keras.utils.set_random_seed(0)
    clf = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    clf.compile("adam", "sparse_categorical_crossentropy")
    clf.fit(x, y3, validation_split=0.3, epochs=1, verbose=0)
    reg = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    reg.compile("adam", "mse")
    yr = 3 * x[:, 1] + 0.1
    reg.fit(x, yr, validation_split=0.3, epochs=1, verbose=0)
    multi, regr = store.runs()
    assert multi.data.tags["modeler.task"] == "multiclass"
    curves = store.artifact_json(multi.info.run_id, "eval/curves.json")
    assert curves["task"] == "multiclass" and curves["classes"] == ["0", "1", "2"]
    proba = clf.predict(x[420:], verbose=0)
    assert multi.data.metrics["eval.roc_auc"] == pytest.approx(
        roc_auc_score(y3[420:], proba, multi_class="ovr", average="macro"), abs=1e-9
    )
    assert regr.data.tags["modeler.task"] == "regression"
    pred = reg.predict(x[420:], verbose=0).ravel()
    assert regr.data.metrics["eval.mae"] == pytest.approx(np.abs(pred - yr[420:]).mean(), rel=1e-6)
    assert {"eval.rmse", "eval.r2"} <= set(regr.data.metrics)


def test_background_finishing_returns_early_and_loses_nothing(autolog, monkeypatch):
    """With test mode off, the end of the run is written on a thread; the next fit waits."""
    monkeypatch.setenv("MODELER_TEST_MODE", "0")
    store = autolog()
    x, y = make_data()
    model = binary_model()
    model.fit(x[:900], y[:900], validation_data=(x[900:], y[900:]), epochs=1, verbose=0)
    first_scores = model.predict(x[900:], verbose=0).ravel()
    model.fit(x[:900], y[:900], validation_data=(x[900:], y[900:]), epochs=1, verbose=0)
    first, second = store.runs()  # runs() waits, as accu.compare does
    assert first.info.status == second.info.status == "FINISHED"
    assert_metrics(first, y[900:], first_scores)  # the model as the first fit returned it
    assert_metrics(second, y[900:], model.predict(x[900:], verbose=0).ravel())
    for run in (first, second):
        arts = {a.path for a in store.client.list_artifacts(run.info.run_id)}
        assert {"eval", "model_summary.txt"} <= arts


def test_nan_losses_are_logged_and_odd_labels_are_named_not_hidden(autolog, monkeypatch):
    """Edge cases of a real fit, each named in the run (tag + one warning), none silent."""
    monkeypatch.setenv("MODELER_TEST_MODE", "0")
    store = autolog()
    x, _ = make_data()
    y3 = np.arange(len(x)) % 3  # labels {0, 1, 2} against one sigmoid output
    model = binary_model()

    def diverging(y_true, y_pred):  # NaN loss and NaN gradients: the weights become NaN
        return keras.ops.mean(keras.ops.log(y_pred - 2.0))

    model.compile(optimizer="adam", loss=diverging)
    with pytest.warns(ModelerWarning) as caught:
        history = model.fit(
            x[:900], y3[:900] > 0, validation_data=(x[900:], y3[900:]), epochs=3, verbose=0
        )
        accu.wait()
    run = store.only_run()
    assert run.info.status == "FINISHED"
    losses = store.metric_history(run.info.run_id, "loss")
    assert [s for s, _ in losses] == [0, 1, 2]  # every point kept...
    assert all(np.isnan(v) for _, v in losses)  # ...as the NaN it was
    assert np.isnan(history.history["loss"]).all()
    named = ("modeler.task_mismatch", "modeler.scores_invalid")
    problems = {k for k in run.data.tags if k in named}
    assert problems, run.data.tags  # named in a tag...
    said = run.data.tags[problems.pop()]
    assert any(said[:30] in str(w.message) for w in caught)  # ...and one warning
    assert "modeler.model_missing" not in run.data.tags  # a custom loss does not lose the model


def test_our_predictions_cause_no_tensorflow_retracing_warning():
    """TensorFlow counts traces per Python function, which every Keras model's predict shares:
    one prediction with each of five new models warns "5 out of the last 5 calls ... triggered
    tf.function retracing". Ours counts per model, and gives model.predict's exact outputs."""
    if keras.config.backend() != "tensorflow":
        pytest.skip("the retracing warning is TensorFlow's; other backends have none")
    import logging

    from modeler.tracking.keras import predict

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    x, _ = make_data(n=300)
    records = Records()
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addHandler(records)
    try:
        for seed in range(6):
            model = binary_model(seed=seed)
            out = predict(model, x)
            assert np.array_equal(out, model.predict(x, batch_size=2048, verbose=0))
        ours = [m for m in records.messages if "retracing" in m]
        for seed in range(6):  # the same loop with model.predict alone: TensorFlow warns
            binary_model(seed=seed).predict(x, batch_size=2048, verbose=0)
        bare = [m for m in records.messages if "retracing" in m]
    finally:
        tf_logger.removeHandler(records)
    assert ours == []
    if not bare:
        pytest.skip("this TensorFlow does not warn about retracing in a loop of models")


def test_logged_model_has_the_signature_of_the_users_rows_and_mlflow_stays_quiet(autolog):
    """A DataFrame is described as Keras reads it (its numpy dtype); a fit fed by a generator
    without validation falls back on the model's declared input; MLflow never warns that the
    model has no signature."""
    import logging

    import mlflow
    import pandas as pd

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    records = Records()
    saver = logging.getLogger("mlflow.keras.save")
    saver.addHandler(records)
    store = autolog()
    x, y = make_data()
    frame = pd.DataFrame(x.astype("float64"), columns=[f"f{i}" for i in range(6)])

    def batches():
        for i in range(0, 900, 100):
            yield x[i : i + 100], y[i : i + 100]

    try:
        binary_model().fit(frame, y, validation_split=0.25, epochs=1, verbose=0)
        with pytest.warns(ModelerWarning, match="no validation data"):
            binary_model().fit(batches(), epochs=1, verbose=0)
    finally:
        saver.removeHandler(records)
    assert not [m for m in records.messages if "signature" in m]
    from_frame, from_generator = store.runs()
    mlflow.set_tracking_uri(store.uri)
    try:
        signatures = [
            mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model").signature
            for run in (from_frame, from_generator)
        ]
    finally:
        mlflow.set_tracking_uri(None)
    (frame_input,) = signatures[0].inputs.inputs
    assert (frame_input.type, frame_input.shape) == (np.dtype("float64"), (-1, 6))
    (declared_input,) = signatures[1].inputs.inputs
    assert (declared_input.type, declared_input.shape) == (np.dtype("float32"), (-1, 6))
    for signature in signatures:
        (output,) = signature.outputs.inputs
        assert (output.type, output.shape) == (np.dtype("float32"), (-1, 1))
