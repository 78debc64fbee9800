"""Keras adapter: wraps ``keras.Model.fit`` so each fit is one run.

Thin on purpose: it finds the held-out data, streams per-epoch logs to the run writer, and after
``fit`` returns (best weights restored) hands predictions to :func:`log_evaluation`.

>>> accu.autolog()                     # doctest: +SKIP
>>> model.fit(x, y, validation_split=0.2, epochs=5)   # one run  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np

from modeler import layout
from modeler.errors import ModelerWarning
from modeler.tracking.hooks import Hooks, nested, nesting

FIT_SCALARS = (
    "batch_size",
    "epochs",
    "validation_split",
    "shuffle",
    "initial_epoch",
    "steps_per_epoch",
    "validation_steps",
    "validation_batch_size",
    "validation_freq",
    "verbose",
)


def _keras():
    import keras

    return keras


def patch(hooks: Hooks) -> None:
    """Wrap ``keras.Model.fit`` once (idempotent); ``hooks.restore()`` undoes it."""
    keras = _keras()
    model_cls = keras.Model
    if getattr(model_cls.fit, "__modeler_wrapped__", False):
        return
    original = model_cls.fit
    had_own = "fit" in model_cls.__dict__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        if not hooks.enabled or nesting.depth > 0:
            return original(self, *args, **kwargs)
        hooks.show_messages()  # what the uploader had to say about earlier runs
        bound = signature.bind(self, *args, **kwargs)
        return KerasFit(self, bound.arguments, hooks).run(original, args, kwargs)

    fit.__modeler_wrapped__ = True  # type: ignore[attr-defined]
    model_cls.fit = fit

    def restore() -> None:
        if had_own:
            model_cls.fit = original
        else:
            del model_cls.fit

    hooks.add_restore(restore)


class _Recorder:
    """Yields a validation generator's batches to Keras and keeps one complete pass.

    Keras reads a generator once (it peeks at the first batches to learn shapes, then chains
    them back), so the batches are recorded as Keras pulls them, not read again afterwards.
    Without ``validation_steps`` a pass ends with the generator: the last pass is kept. With
    it (an endless generator), Keras pulls ahead of the pass it validates on, by a number of
    batches that varies from run to run, and may read its peeked batches again: the first
    ``validation_steps`` batches the generator yielded are kept, one pass over a generator that
    cycles through the validation set, each batch once.
    """

    def __init__(self, generator: Any, steps: int | None = None) -> None:
        self.generator = generator
        self.steps = steps if isinstance(steps, int) and steps > 0 else None
        self.current: list[tuple[Any, Any, Any]] = []
        self.last: list[tuple[Any, Any, Any]] = []

    def __iter__(self):
        for batch in self.generator:
            if self.steps is None or len(self.current) < self.steps:
                self.current.append(_unpack(batch))
            yield batch

    def end_pass(self) -> None:
        if self.current and self.steps is None:
            self.last, self.current = self.current, []

    @property
    def batches(self) -> list[tuple[Any, Any, Any]]:
        return self.current or self.last


def _unpack(batch: Any) -> tuple[Any, Any, Any]:
    if isinstance(batch, tuple | list):
        x = batch[0]
        y = batch[1] if len(batch) > 1 else None
        sw = batch[2] if len(batch) > 2 else None
        return x, y, sw
    return batch, None, None


def _callback_class():
    keras = _keras()

    class ModelerCallback(keras.callbacks.Callback):
        """Sends each epoch's logs (step = epoch) to the run writer, batched."""

        def __init__(self, fit: KerasFit) -> None:
            super().__init__()
            self._fit = fit

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            with self._fit.writer.guard("epoch metrics"):
                self._fit.writer.log_metrics(logs, step=epoch)

        def on_test_end(self, logs=None):
            if self._fit.recorder is not None:  # keep only the latest validation pass
                self._fit.recorder.end_pass()

    return ModelerCallback


class KerasFit:
    """One wrapped ``fit`` call: run start, fit, evaluation, model, run end."""

    def __init__(self, model: Any, arguments: dict[str, Any], hooks: Hooks) -> None:
        self.model = model
        self.args = {k: v for k, v in arguments.items() if k != "self"}
        self.hooks = hooks
        self.writer: Any = None
        self.recorder: _Recorder | None = None
        self.skipped: str | None = None  # why the held-out data could not be evaluated
        self.eval_source = "none"
        self.eval_data: Any = None
        self.sample_x: Any = None  # a batch's inputs, for the signature of a dataset-fed model

    # --- the call -----------------------------------------------------------------------------
    def run(self, original: Any, args: tuple, kwargs: dict) -> Any:
        x, y = self.args.get("x"), self.args.get("y")
        self.writer = self.hooks.start_run(
            "keras",
            inputs=(x, y),
            labels=y,
            sampling="class_weight" if self.args.get("class_weight") else None,
        )
        if self.writer is None:
            return original(self.model, *args, **kwargs)
        call_kwargs = dict(self.args)
        with self.writer.guard("fit parameters"):
            self._log_fit_params()
        with self.writer.guard("validation data"):
            call_kwargs = self._prepare_validation(call_kwargs)
        with self.writer.guard("callback"):
            user = call_kwargs.get("callbacks")
            if user is None or isinstance(user, list | tuple):
                # a new list: the user's own list is not touched
                call_kwargs["callbacks"] = [*(user or []), _callback_class()(self)]
        try:
            with nested():
                history = original(self.model, **call_kwargs)
        except BaseException as exc:
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            self.hooks.finish(self.writer, status)
            raise
        self.hooks.remember(self.model, self.writer)
        if self.eval_source == "none":
            with self.writer.guard("tags"):
                self.writer.set_tags({"modeler.eval_source": "none"})
            warnings.warn(
                "modeler: this fit has no validation data, so the run has no eval.* "
                "metrics (pass validation_data= or validation_split=)",
                ModelerWarning,
                stacklevel=3,
            )
        # Before fit returns: the held-out scores and the model exactly as fit leaves them,
        # so load_weights() or another fit right after cannot change what the run records.
        self._freeze(history)
        if self.skipped is not None:
            warnings.warn(
                f"modeler: run {self.writer.run_name} has no eval.* metrics: {self.skipped} "
                "(tag modeler.eval_skipped)",
                ModelerWarning,
                stacklevel=3,
            )
        self.hooks.complete(self.writer)
        return history

    # --- before -----------------------------------------------------------------------------
    def _log_fit_params(self) -> None:
        params: dict[str, Any] = {k: self.args[k] for k in FIT_SCALARS if k in self.args}
        cw = self.args.get("class_weight")
        if cw is not None:
            params["class_weight"] = json.dumps(
                {str(k): float(v) for k, v in cw.items()}, sort_keys=True
            )
        callbacks = self.args.get("callbacks") or []
        if isinstance(callbacks, list | tuple):
            params["callbacks"] = ",".join(type(c).__name__ for c in callbacks) or None
            for c in callbacks:
                params.update(_callback_params(c))
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            params["optimizer"] = type(optimizer).__name__
            for key, value in optimizer.get_config().items():
                if key != "name":
                    params[f"optimizer.{key}"] = value
        loss = getattr(model, "loss", None)
        if loss is not None:
            params["loss"] = (
                loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
            )
        self.writer.log_params(params)

    def _prepare_validation(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Decide what the final evaluation runs on, without changing what Keras sees."""
        vd = kwargs.get("validation_data")
        split = kwargs.get("validation_split") or 0.0
        if vd is not None:
            if isinstance(vd, tuple | list):
                self.eval_source = "validation_data"
                self.eval_data = _unpack(tuple(vd))
            elif isinstance(vd, types.GeneratorType):
                self.eval_source = "dataset"
                self.recorder = _Recorder(vd, kwargs.get("validation_steps"))
                kwargs["validation_data"] = iter(self.recorder)
            else:  # tf.data.Dataset, keras PyDataset, other iterables Keras accepts
                self.eval_source = "dataset"
                self.eval_data = vd
        elif split:
            self.eval_source = "validation_split"
            self.eval_data = _split(
                kwargs.get("x"), kwargs.get("y"), kwargs.get("sample_weight"), float(split)
            )
        return kwargs

    # --- after -------------------------------------------------------------------------------
    def _freeze(self, history: Any) -> None:
        writer = self.writer
        with writer.guard("multi-process model"), _local_model(self.model) as local:
            if local is None:  # never touch a model spread over processes from one of them
                why = "the model spans several processes and could not be copied to this one"
                writer.set_tags(
                    {
                        "modeler.eval_source": self.eval_source,
                        "modeler.eval_skipped": why,
                        layout.MODEL_MISSING: why,
                    }
                )
                return
            self._freeze_model(history, local)

    def _freeze_model(self, history: Any, model: Any) -> None:
        writer = self.writer
        predicted = None
        with writer.guard("predictions"):
            predicted = self._predict(model)
        with writer.guard("model summary"):
            epochs_run = len(getattr(history, "epoch", []) or [])
            writer.log_params(
                {
                    "epochs_run": epochs_run,
                    "total_params": model.count_params(),
                    "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
                    "non_trainable_params": int(
                        sum(np.prod(w.shape) for w in model.non_trainable_weights)
                    ),
                }
            )
            lines: list[str] = []
            model.summary(print_fn=lambda line, *a, **k: lines.append(line))
            writer.log_files({"model_summary.txt": "\n".join(lines)})
        if predicted is not None:
            y, out, sw = predicted
            with writer.guard("evaluation"):
                self.hooks.snapshot(
                    writer,
                    y,
                    out,
                    sample_weight=sw,
                    frame=self.eval_frame(),
                    tags={"modeler.eval_source": self.eval_source},
                )
        signature = None
        with writer.guard("model signature"):
            signature = self._signature(model, predicted)
        self.hooks.freeze_model(writer, "keras", model, signature)

    def _predict(self, model: Any) -> tuple[Any, Any, Any] | None:
        """Labels, outputs and weights of the held-out data; None when there are none."""
        if self.recorder is not None or self.eval_source == "dataset":
            batches = (
                self.recorder.batches
                if self.recorder is not None  # what Keras read
                else _iterate(self.eval_data, self.args.get("validation_steps"))
            )
            result = _predict_batches(model, batches)
            if result is None:  # no batch at all
                return None
            y, out, sw, self.sample_x = result
        elif self.eval_data is not None:
            x, y, sw = self.eval_data
            out = predict(model, x)
        else:
            return None
        if y is None:  # batches without labels
            self._skip("validation batches have no labels")
            return None
        if isinstance(out, list | tuple | dict):
            self._skip(
                "multi-output model",
                "its outputs are not one classifier's scores; evaluate one output with "
                "accu.evaluate(model.predict(x)[i], None, y)",
            )
            return None
        return y, out, sw

    def _skip(self, why: str, hint: str = "") -> None:
        """No evaluation: ``why`` goes in the tag, and with ``hint`` in the warning."""
        self.skipped = f"{why} ({hint})" if hint else why
        self.writer.set_tags({"modeler.eval_source": self.eval_source, "modeler.eval_skipped": why})

    def eval_frame(self) -> Any:
        """The validation features when they are a DataFrame (for cost columns)."""
        if self.eval_data is not None and isinstance(self.eval_data, tuple):
            x = self.eval_data[0]
            return x if hasattr(x, "columns") else None
        return None

    def _signature(self, model: Any, predicted: tuple[Any, Any, Any] | None) -> Any:
        """MLflow's tensor signature: inputs as the user's rows are (dtype, columns), else as
        the model declares them; outputs from the predictions, else as declared. None only
        when neither data nor the model say (a subclassed model fed a dataset)."""
        from mlflow.models import ModelSignature, infer_signature

        # the user's own rows (a validation_split slice has been through Keras' conversion)
        given = self.eval_data[0] if self.eval_source == "validation_data" else None
        inputs = None
        for rows in (given, self.sample_x, self.args.get("x")):
            inputs = _input_rows(rows)
            if inputs is not None:
                break
        outputs = None
        if predicted is not None and isinstance(predicted[1], np.ndarray):
            outputs = predicted[1][:5]
        if inputs is not None:
            found = infer_signature(inputs, outputs)
            declared = _declared_schema(getattr(model, "outputs", None))
            if found.outputs is None and declared is not None:
                found = ModelSignature(found.inputs, declared)
            return found
        declared_inputs = _declared_schema(getattr(model, "inputs", None))
        if declared_inputs is None:
            return None
        return ModelSignature(declared_inputs, _declared_schema(getattr(model, "outputs", None)))


_TENSOR_MODULES = ("tensorflow", "jax", "jaxlib", "torch")


def _input_rows(x: Any) -> Any:
    """The first rows of ``x`` as numpy (a dict of them for named inputs), or None."""
    if x is None:
        return None
    try:
        if hasattr(x, "iloc"):  # pandas: Keras reads it as its numpy values
            return np.asarray(x.iloc[:5].to_numpy())
        if isinstance(x, dict):
            return {str(k): np.asarray(v[:5]) for k, v in x.items()}
        if isinstance(x, np.ndarray) or type(x).__module__.split(".")[0] in _TENSOR_MODULES:
            return np.asarray(x[:5])
    except Exception:  # an input form MLflow's signature cannot describe
        return None
    return None


def _declared_schema(tensors: Any) -> Any:
    """A tensor schema from a built model's symbolic inputs or outputs (``(None, 6)``)."""
    if not isinstance(tensors, list | tuple) or not tensors:
        return None
    from mlflow.types.schema import Schema, TensorSpec

    specs: list[Any] = []
    for t in tensors:
        shape = tuple(-1 if d is None else int(d) for d in t.shape)
        name = getattr(t, "name", None) if len(tensors) > 1 else None
        specs.append(TensorSpec(np.dtype(str(t.dtype)), shape, name))
    return Schema(specs)


def predict(model: Any, x: Any) -> Any:
    """Model outputs as ``model.predict`` gives them, so eval.* equals what users compute."""
    _own_tracing_count(model)
    return model.predict(x, batch_size=2048, verbose=0)


def _own_tracing_count(model: Any) -> None:
    """Give the model's compiled predict function a retracing counter of its own.

    TensorFlow counts traces per Python function, and Keras builds every model's predict
    function from the same one, so predicting once with each of five new models warns "5 out of
    the last 5 calls ... triggered tf.function retracing" though each traced once. Keyed by the
    function object, the count is this model's: the same compiled function, the same outputs,
    and a warning only when this model really retraces. No-op on other backends.
    """
    try:
        model.make_predict_function()
        function = model.predict_function
        if hasattr(function, "_key_for_call_stats"):  # a tf.function, not run_eagerly
            function._key_for_call_stats = function
    except Exception:  # a TensorFlow without this counter: its warning may show, nothing else
        pass


@contextmanager
def _local_model(model: Any) -> Iterator[Any]:
    """The model as this process can use it alone: itself, or, when its variables span the
    processes of a multi-process JAX job (``keras.distribution``), a copy on this process's own
    devices with the same weights (the model's own ``predict`` or ``save`` would wait for the
    other processes, which are not predicting). Yields None when no copy can be made."""
    keras = _keras()
    if keras.config.backend() != "jax" or keras.distribution.distribution() is None:
        yield model
        return
    import jax

    if jax.process_count() <= 1:
        yield model
        return
    spread = keras.distribution.distribution()
    keras.distribution.set_distribution(None)  # this thread only: Keras keeps it per thread
    try:
        local = None
        try:
            with _leaves_no_trace():
                local = keras.models.clone_model(model)
                local.set_weights(model.get_weights())  # replicated weights: read locally
                with suppress(Exception):  # a loss or metric that needs its code: uncompiled
                    local.compile_from_config(model.get_compile_config())
        except Exception:  # a subclassed model, a Keras without the state we must keep
            local = None
        yield local
    finally:
        keras.distribution.set_distribution(spread)


@contextmanager
def _leaves_no_trace() -> Iterator[None]:
    """Run code that builds layers without moving what the user's next model draws from.

    Building a copy takes seeds (initializers from Keras' global seed generator, Dropout's
    generators from Python's ``random``) and layer-name counters. In a multi-process job only
    the chief builds the copy, so without this the next model would start from other weights
    (and other variable names) on the chief than on the other processes.
    """
    import random

    from keras.src.backend.common import global_state  # raises ImportError if it moved

    seeds, names = "global_seed_generator", "object_name_uids"
    generator = global_state.get_global_attribute(seeds)
    counters = global_state.get_global_attribute(names)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    global_state.set_global_attribute(seeds, None)  # the copy draws from a generator of its own
    if counters is not None:
        global_state.set_global_attribute(names, counters.copy())
    try:
        yield
    finally:
        global_state.set_global_attribute(seeds, generator)
        global_state.set_global_attribute(names, counters)
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _callback_params(callback: Any) -> dict[str, Any]:
    """The settings users tune on EarlyStopping / ModelCheckpoint / ReduceLROnPlateau."""
    name = type(callback).__name__
    keys = (
        "monitor",
        "patience",
        "min_delta",
        "mode",
        "restore_best_weights",
        "save_best_only",
        "factor",
        "baseline",
        "start_from_epoch",
    )
    out = {}
    for key in keys:
        if key in vars(callback):
            value = vars(callback)[key]
            if isinstance(value, bool | int | float | str):
                out[f"{name}.{key}"] = value
    return out


def _split(x: Any, y: Any, sample_weight: Any, split: float) -> tuple[Any, Any, Any]:
    """The exact slice Keras holds out for ``validation_split``: the last fraction of x."""
    try:
        from keras.src.trainers.data_adapters.array_slicing import train_validation_split

        _, val = train_validation_split((x, y, sample_weight), validation_split=split)
        return tuple(val)  # type: ignore[return-value]
    except ImportError:  # a Keras without this helper: same rule as Keras 3.x
        import math

        n = len(y)
        at = math.floor(n * (1.0 - split))
        return x[at:], y[at:], None if sample_weight is None else sample_weight[at:]


def _iterate(data: Any, steps: int | None):
    """Every batch of a tf.data.Dataset / PyDataset / iterable (``steps`` caps infinite ones)."""
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not hasattr(data, "take"):
        count = len(data) if steps is None else min(steps, len(data))
        for i in range(count):
            yield _unpack(data[i])
        return
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            break
        yield _unpack(batch)


def _predict_batches(model: Any, batches: Any) -> tuple[Any, Any, Any, Any] | None:
    """Outputs for every batch, and the first batch's inputs; None without batches, ``y`` None
    when they have no labels."""
    ys, outs, sws = [], [], []
    first = None
    _own_tracing_count(model)
    host = _keras().config.backend() != "tensorflow"
    for x, y, sw in batches:
        if y is None:
            return None, None, None, None
        if host:  # tf.data batches on JAX / PyTorch: numpy, as Keras' own adapters pass them
            x = _keras().tree.map_structure(_to_numpy, x)
        if first is None:
            first = x
        outs.append(np.asarray(model.predict_on_batch(x)))
        ys.append(np.asarray(y))
        if sw is not None:
            sws.append(np.asarray(sw))
    if not ys:
        return None
    sw_all = np.concatenate(sws) if len(sws) == len(ys) else None
    return np.concatenate(ys), np.concatenate(outs), sw_all, first


def _to_numpy(value: Any) -> Any:
    return value.numpy() if type(value).__module__.startswith("tensorflow") else value
