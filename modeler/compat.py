"""Accuinsight+ Modeler entry points, so existing notebooks run with one changed import.

>>> from modeler.compat import accuinsight     # was: from Accuinsight.Lifecycle.tensorflow ...
>>> accu = accuinsight()
>>> accu.get_file("data.json")                                        # doctest: +SKIP
>>> accu.autolog(run_nickname_input="smote-v2", tag="fraud model")   # doctest: +SKIP
>>> model.fit(x, y, validation_data=(xv, yv))                         # doctest: +SKIP
>>> with accu.add_experiment(clf, X_val, y_val) as exp:              # doctest: +SKIP
...     exp.log_params("C")
...     exp.log_metrics("accuracy", 0.93)
...     exp.log_tag("logistic regression, SMOTE")

Every call form of the original notebook API (Accuinsight 3.x, ``Accuinsight/Lifecycle``:
``ML.py``, ``tensorflow.py`` and ``common.py``) is accepted with the original's meaning; the
README's table lists each and what differs. Keywords and methods that have no meaning here
(SHAP monitoring, deployment runtimes, Slack/mail alarms) are accepted with one warning. The
object also offers everything :data:`modeler.accu` offers (``compare``, ``evaluate``, ``wait``,
``set_tracking``, ``sync``...), so a notebook needs only one of them.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from numbers import Real
from pathlib import Path, PurePosixPath
from typing import Any

from modeler.errors import OptionError, RunNotFoundError

_README = "see the README, 'Coming from Accuinsight+ Modeler'"
_AVERAGES = ("micro", "macro", "weighted")
_NO_META = (
    "modeler reports precision, recall and F1 of the positive class (label 1), the numbers "
    "that matter on imbalanced data, so a multi-class average does not apply"
)
_ADD_EXPERIMENT_FORMS = (
    "add_experiment(model, X_val, y_val), add_experiment(model, nickname, X_val, y_val), "
    "add_experiment(model, X_train, y_train, X_val, y_val) or "
    "add_experiment(model, nickname, X_train, y_train, X_val, y_val)"
)


class _Unset:
    """A keyword the caller did not pass (so it earns no warning)."""

    def __repr__(self) -> str:
        return "<not given>"


UNSET: Any = _Unset()


def _warn(message: str, stacklevel: int = 3) -> None:
    """Warn at the user's call: ``stacklevel`` 3 from a method the user called."""
    warnings.warn(f"modeler.compat: {message} ({_README})", UserWarning, stacklevel=stacklevel)


def _ignored(call: str, given: dict[str, Any], why: str) -> None:
    """One warning naming every keyword of ``call`` that was given but has no effect here
    (``False``, "don't", is what happens here anyway: not named)."""
    shown = [f"{k}={v!r}" for k, v in given.items() if v is not UNSET and v is not False]
    if shown:
        verb = "has" if len(shown) == 1 else "have"
        _warn(f"{call}: {', '.join(shown)} {verb} no effect here: {why}", stacklevel=4)


def _check_average(name: str, value: Any) -> None:
    """As the original: only 'micro', 'macro' or 'weighted' (then ignored, with a warning)."""
    if value is not UNSET and value not in _AVERAGES:
        raise OptionError(f"{name} must be one of {', '.join(map(repr, _AVERAGES))}; got {value!r}")


class ExperimentRun:
    """What ``with accu.add_experiment(...) as exp`` gives: choose params, add metrics, a tag.

    Nothing is written until the block ends; then the model's run gets the evaluation on the
    validation data and everything chosen here (``run_id`` is set then).
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self.run_id: str | None = None
        self.selected_params: list[str] = []
        self.params: dict[str, Any] = {}
        self.metrics: list[tuple[dict[str, Any], int]] = []
        self.tags: dict[str, str] = {}

    def log_params(self, param: str | Mapping[str, Any] | None = None) -> None:
        """Select one of the model's parameters by name (``exp.log_params("C")``), as in the
        original; or log values: ``exp.log_params({"features": "v2"})``.

        Raises:
            OptionError: the model has no parameter of that name (the known ones are listed).
        """
        if param is None:
            return
        if isinstance(param, Mapping):
            self.params.update({str(k): v for k, v in param.items()})
            return
        if not isinstance(param, str):
            raise OptionError(
                "log_params takes the name of one of the model's parameters (str) or a dict "
                f"of values; got {type(param).__name__}"
            )
        known = model_params(self._model)
        if param not in known:
            kind = type(self._model).__name__
            listed = ", ".join(map(repr, sorted(known))) if known else "none (no get_params())"
            raise OptionError(
                f"log_params({param!r}): {kind} has no parameter {param!r}; its parameters are "
                f"{listed}. To log another value, pass a dict: log_params({{{param!r}: value}})"
            )
        if param not in self.selected_params:
            self.selected_params.append(param)
        self.params[param] = known[param]

    def log_metrics(
        self, metric_name: str | Mapping[str, Any], defined_metric: Any = None, step: int = 0
    ) -> None:
        """``exp.log_metrics("accuracy", 0.93)`` as in the original, or a dict of metrics.

        Raises:
            OptionError: the name is not a string or the value is not a number.
        """
        if isinstance(metric_name, Mapping):
            values = dict(metric_name)
        elif isinstance(metric_name, str) and metric_name.strip():
            values = {metric_name: defined_metric}
        else:
            raise OptionError(
                "log_metrics takes a metric name and its value, log_metrics('accuracy', 0.93), "
                f"or a dict; got {metric_name!r}"
            )
        for name, value in values.items():
            item = getattr(value, "item", None)
            number = item() if callable(item) and getattr(value, "ndim", 1) == 0 else value
            if isinstance(number, bool) or not isinstance(number, Real):
                raise OptionError(
                    f"log_metrics({name!r}, ...): the value must be a number; got {value!r} "
                    f"({type(value).__name__})"
                )
        self.metrics.append((values, int(step)))

    def log_tag(self, description: str, value: Any = UNSET) -> None:
        """``exp.log_tag("model description")`` as in the original (the run's description), or
        a tag: ``exp.log_tag("owner", "risk-team")``."""
        if value is UNSET:
            self.tags.update(description_tags(description))
        else:
            self.tags[str(description)] = str(value)


def model_params(model: Any) -> dict[str, Any]:
    """The names a model's parameters can be selected by: ``get_params()``, and for a
    ``Pipeline`` also the last step's own names (as the original did)."""
    get = getattr(model, "get_params", None)
    if not callable(get):
        return {}
    params = dict(get(deep=True))
    steps = getattr(model, "steps", None)
    if steps:
        last = steps[-1][1]
        if hasattr(last, "get_params"):
            params.update(last.get_params(deep=True))
    return params


def description_tags(description: Any) -> dict[str, str]:
    """The original's ``tag`` / ``log_tag`` text: a tag, and MLflow's run description."""
    text = str(description)
    return {"modeler.tag": text, "mlflow.note.content": text}


class accuinsight:  # the original's name, so notebooks keep their import line
    """The original notebook object, backed by :data:`modeler.accu` (one object, one session).

    >>> accu = accuinsight()
    >>> accu.compare(experiment="fraud", top=5).table              # doctest: +SKIP
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from modeler import accu

        self._accu = accu
        self._storage: Any = None  # the last set_storage() without a file, for get_file()
        self._warned: set[str] = set()
        self.save_path: str | None = None  # the original's: where get_file put the data
        self.target_name: str | None = None  # the original's: the export's label column
        from modeler.tracking.autolog import hooks_of
        from modeler.tracking.sklearn import watch_samplers

        watch_samplers(hooks_of(accu))  # the lab resamples before it calls autolog
        if args or kwargs:
            _warn(f"accuinsight() takes no arguments; {len(args) + len(kwargs)} ignored")

    # --- data ------------------------------------------------------------------------------
    def get_file(
        self,
        storage_json_file_name: str | None = None,
        *,
        source: Any = None,
        as_path: bool = False,
        cache_dir: str | None = None,
        refresh: bool = False,
    ) -> Any:
        """Load the export named by a descriptor JSON and return it as a DataFrame.

        ``get_file("data.json")`` as in the original; with no argument, the storage given to
        :meth:`set_storage` just before. ``accu.save_path`` is then the local file and
        ``accu.target_name`` the label column the export names (Accuinsight's ``target``).
        """
        from modeler.data.files import load_file

        chosen = source if source is not None else storage_json_file_name
        if chosen is None:
            chosen = self._storage
        if chosen is None:
            raise OptionError(
                "get_file needs the descriptor JSON path (storage_json_file_name), or a "
                "set_storage(...) call before it"
            )
        loaded = load_file(
            chosen,
            read=not as_path,
            cache_dir=cache_dir,
            refresh=refresh,
            session=self._accu.session,
        )
        self.save_path = str(loaded.path)
        self.target_name = loaded.descriptor.label if loaded.descriptor is not None else None
        return loaded.path if as_path else loaded.frame

    def set_storage(
        self,
        storage_json_file_name: str | None = None,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
        bucket_name: str | None = None,
        endpoint_url: str | None = None,
        hdfs_uri: str | None = None,
        file_path: str | None = None,
        target: str | None = None,
        save_json: bool = False,
        save_path: str | None = None,
        save_credentials: bool = False,
        **fields: Any,
    ) -> str | None:
        """Say where the data is, as the original did; returns the descriptor written, if any.

        >>> accu.set_storage(target="isFraud", bucket_name="fraud", file_path="exports/tx.csv",
        ...                  endpoint_url="http://minio:9000", save_json=True)  # doctest: +SKIP
        'runs/storage-info-json/20261201-01-s3-connection-info.json'

        ``target`` is the label column (Accuinsight's meaning) or ``local``/``s3``;
        ``file_path`` the file's path or S3 key. With ``save_json=True`` (and ``save_path``, a
        name under ``runs/storage-info-json/``) the descriptor is written there; keys only with
        ``save_credentials=True``. Without it, ``get_file()`` uses this storage. modeler's own
        form works too: ``set_storage("data.json", target="s3", bucketName=..., ...)``.
        """
        from modeler.data.descriptor import describe, save_descriptor

        if fields:  # modeler's form: camelCase fields and the descriptor's path
            path = storage_json_file_name or fields.pop("path", None) or save_path
            if path is None:
                raise OptionError("set_storage with descriptor fields needs the JSON file's path")
            if target is not None:
                fields["target"] = target
            return self._accu.set_storage(path, save_credentials=save_credentials, **fields)
        if hdfs_uri is not None:
            raise OptionError(
                "set_storage(hdfs_uri=...): HDFS is not supported; export the data to S3 "
                "(bucket_name=, file_path=) or to a local file (file_path=)"
            )
        if target is None:
            raise OptionError(
                "set_storage needs target=: the label column's name (as in Accuinsight), "
                "or 'local' / 's3'"
            )
        if not isinstance(file_path, str) or not file_path.strip("/ "):
            raise OptionError(
                f"set_storage needs file_path=: the data file's path, or its S3 key; "
                f"got {file_path!r}"
            )
        if save_path is not None and not save_json:
            raise OptionError("set_storage: save_path is used only with save_json=True")
        export: dict[str, Any] = {
            "target": target,
            "filePath": file_path,
            "fileName": PurePosixPath(file_path.rstrip("/")).name,
            "bucketName": bucket_name,
            "region": region,
            "endpointUrl": endpoint_url,
        }
        keys: dict[str, Any] = {"myAccessKey": access_key, "mySecretKey": secret_key}
        path = storage_json_file_name
        if path is None and save_json:
            path = str(_json_path(save_path, "s3" if bucket_name else "local"))
        # kept in memory, keys included, for get_file() (saving warns about the endpoint)
        self._storage = describe("set_storage(...)", warn=path is None, **export, **keys)
        if path is None:
            return None
        save_descriptor(path, **export, **keys, save_credentials=save_credentials)
        return str(path)

    # --- runs --------------------------------------------------------------------------------
    def autolog(
        self,
        run_nickname_input: str | None = None,
        tag: Any = None,
        best_weights: bool = False,
        model_monitor: Any = UNSET,
        runtime: Any = UNSET,
        f1_average_in: Any = UNSET,
        recall_average_in: Any = UNSET,
        **options: Any,
    ) -> None:
        """Log every later Keras or scikit-learn ``fit`` (once is enough); the nickname and the
        tag (the run's description) go on each run. ``options`` are :func:`modeler.accu.autolog`'s
        (``validation=``, ``costs=``, ``threshold=``...)."""
        if not isinstance(best_weights, bool):
            raise OptionError(f"best_weights must be True or False; got {best_weights!r}")
        _check_average("f1_average_in", f1_average_in)
        _check_average("recall_average_in", recall_average_in)
        if options.get("disable"):
            self._accu.autolog(**options)
            return
        if best_weights:
            _warn(
                "autolog(best_weights=True) does not change your model: add "
                "keras.callbacks.EarlyStopping(monitor=..., restore_best_weights=True) to fit, "
                "and the evaluation uses the weights fit returns"
            )
        _ignored(
            "autolog",
            {"model_monitor": model_monitor, "runtime": runtime},
            "SHAP monitoring and deployment runtimes are not part of modeler "
            "(register a model with register_model='name')",
        )
        _ignored(
            "autolog",
            {"f1_average_in": f1_average_in, "recall_average_in": recall_average_in},
            _NO_META,
        )
        tags = dict(options.pop("tags", None) or {})
        if run_nickname_input:
            tags["modeler.nickname"] = str(run_nickname_input)
        if isinstance(tag, Mapping):
            tags.update({str(k): str(v) for k, v in tag.items()})
        elif tag is not None:
            tags.update(description_tags(tag))
        self._accu.autolog(tags=tags or None, **options)

    @contextmanager
    def add_experiment(
        self,
        model: Any,
        *args: Any,
        model_monitor: Any = UNSET,
        runtime: Any = UNSET,
        f1_average_in: Any = UNSET,
        recall_average_in: Any = UNSET,
    ) -> Iterator[ExperimentRun]:
        """The model's run, evaluated on the validation data when the block ends.

        ``add_experiment(model, X_val, y_val)``, with a nickname first
        (``add_experiment(model, "v2", X_val, y_val)``) and/or the training data before the
        validation data, as in the original. If autolog logged this model's ``fit``, that run
        gets the evaluation and what the block chose (one run per model); otherwise a new run
        with the model's parameters.
        """
        nickname, X_val, y_val = _experiment_args(args)
        _check_average("f1_average_in", f1_average_in)
        _check_average("recall_average_in", recall_average_in)
        _ignored(
            "add_experiment",
            {"model_monitor": model_monitor, "runtime": runtime},
            "SHAP monitoring and deployment runtimes are not part of modeler",
        )
        _ignored(
            "add_experiment",
            {"f1_average_in": f1_average_in, "recall_average_in": recall_average_in},
            _NO_META,
        )
        experiment = ExperimentRun(model)
        with self._validating_on(X_val, y_val):
            yield experiment
        experiment.run_id = self._write_experiment(model, nickname, X_val, y_val, experiment)

    @contextmanager
    def _validating_on(self, X_val: Any, y_val: Any) -> Iterator[None]:
        """A scikit-learn ``fit`` inside the block is evaluated on the block's validation data
        (so no warning says its run lacks eval.* metrics, which the block adds)."""
        import dataclasses

        from modeler.tracking.autolog import hooks_of

        hooks = hooks_of(self._accu)
        saved = swapped = hooks.options
        if dataclasses.is_dataclass(saved) and getattr(saved, "validation", True) is None:
            swapped = hooks.options = dataclasses.replace(saved, validation=(X_val, y_val))
        try:
            yield
        finally:
            if hooks.options is swapped:  # unless autolog() was called again in the block
                hooks.options = saved

    def _write_experiment(
        self, model: Any, nickname: str | None, X_val: Any, y_val: Any, exp: ExperimentRun
    ) -> str | None:
        from modeler.evaluation.metrics import check_threshold
        from modeler.tracking.autolog import (
            evaluate_into,
            flavor_of,
            hooks_of,
            model_type_of,
            writer_of,
        )
        from modeler.tracking.writer import RunWriter

        hooks = hooks_of(self._accu)
        earlier = writer_of(hooks, model)
        hooks.evaluated(earlier)  # it is evaluated here: nothing to warn about
        tracking = self._accu.tracking()
        if earlier is not None:  # the autologged fit's run: one run per model
            writer = RunWriter.attach(tracking, to=earlier)
            if nickname:
                writer.set_tags({"modeler.nickname": nickname})
                if earlier.owned and not earlier.run_name.startswith(f"{nickname}-"):
                    writer.rename(f"{nickname}-{earlier.run_name}")  # as the nickname names runs
        else:
            tags = dict(hooks.options.tags)
            if nickname:
                tags["modeler.nickname"] = nickname
            writer = RunWriter.start(tracking, model_type_of(model), tags=tags)
            writer.log_params(model_params(model))
            flavor = flavor_of(model)
            if flavor is not None and hooks.options.log_models:
                with writer.guard("model"):  # as the model is now, like an autologged fit
                    writer.freeze_model(flavor, model)
        _remember(hooks, writer)
        status = "FINISHED"
        try:
            evaluate_into(
                hooks,
                writer,
                model,
                X_val,
                y_val,
                threshold=check_threshold(hooks.options.threshold),
            )
            writer.log_params(exp.params)
            for values, step in exp.metrics:
                writer.log_metrics(values, step=step)
            tags = dict(exp.tags)
            if exp.selected_params:
                tags["modeler.selected_params"] = ",".join(exp.selected_params)
            writer.set_tags(tags)
        except BaseException:
            status = "FAILED"
            raise
        finally:
            writer.end(status)
        return writer.run_id

    def model_evaluation(
        self,
        run_name: str | None = None,
        run_nickname_input: str | None = None,
        x_validation: Any = None,
        y_validation: Any = None,
        f1_average_in: Any = UNSET,
        recall_average_in: Any = UNSET,
    ) -> dict[str, float]:
        """Evaluate a logged model again on new data, as a run of its own (as the original).

        >>> accu.model_evaluation("LogisticRegression-5A5C...", x_validation=X_test,
        ...                       y_validation=y_test)                      # doctest: +SKIP

        ``run_name`` is a run name, run id or model version (``<run name>_<version>``); the
        new run has the tag ``modeler.evaluates`` with the evaluated run's id.
        """
        from modeler.evaluation.metrics import check_threshold
        from modeler.tracking.autolog import evaluate_into, hooks_of
        from modeler.tracking.writer import RunWriter

        _check_average("f1_average_in", f1_average_in)
        _check_average("recall_average_in", recall_average_in)
        _ignored(
            "model_evaluation",
            {"f1_average_in": f1_average_in, "recall_average_in": recall_average_in},
            _NO_META,
        )
        if run_name is None or x_validation is None or y_validation is None:
            raise OptionError(
                "model_evaluation needs run_name=, x_validation= and y_validation= "
                "(the logged model's run, and the data to evaluate it on)"
            )
        self._accu.wait()
        run, model = _load_logged_model(self._accu.tracking(), str(run_name))
        hooks = hooks_of(self._accu)
        tags = {**hooks.options.tags, "modeler.evaluates": run.info.run_id}
        if run_nickname_input:
            tags["modeler.nickname"] = str(run_nickname_input)
        model_type = run.data.tags.get("modeler.model_type", type(model).__name__)
        writer = RunWriter.start(self._accu.tracking(), model_type, tags=tags)
        _remember(hooks, writer)
        status = "FINISHED"
        try:
            return evaluate_into(
                hooks,
                writer,
                model,
                x_validation,
                y_validation,
                threshold=check_threshold(hooks.options.threshold),
            )
        except BaseException:
            status = "FAILED"
            raise
        finally:
            writer.end(status)

    def get_current_run_id(self) -> str | None:
        """The id of the latest run made in this session (autolog, add_experiment...)."""
        return self._accu.get_current_run_id()

    def get_current_run_meta(self) -> dict[str, Any] | None:
        """``{"run_id": ...}`` of the latest run, or None before any run (the original's dict
        held its console's bookkeeping; MLflow has the rest)."""
        run_id = self.get_current_run_id()
        return None if run_id is None else {"run_id": run_id}

    # --- everything modeler.accu offers ----------------------------------------------------
    def set_tracking(self, uri: str | None = None, experiment: str | None = None) -> str:
        """Use ``uri`` / ``experiment`` for later runs (see :meth:`modeler.accu.set_tracking`)."""
        return self._accu.set_tracking(uri, experiment)

    def tracking(self) -> Any:
        """The resolved tracking store and experiment for the next run."""
        return self._accu.tracking()

    def evaluate(self, model: Any, X: Any, y: Any, **options: Any) -> dict[str, float]:
        """Evaluate ``model`` on held-out data and attach it to the model's run."""
        return self._accu.evaluate(model, X, y, **options)

    def evaluate_spark(self, df: Any, *, label_col: str, score_col: str, **options: Any) -> Any:
        """Evaluate scores held in a Spark DataFrame without collecting it, and log it."""
        return self._accu.evaluate_spark(df, label_col=label_col, score_col=score_col, **options)

    def compare(self, runs: Any = None, **options: Any) -> Any:
        """Compare up to ten runs: PR/ROC overlays, a metrics table, one HTML report."""
        return self._accu.compare(runs, **options)

    def wait(self) -> None:
        """Block until runs still being finished in the background are completely written."""
        self._accu.wait()

    def sync(self) -> list[str]:
        """Upload runs whose process ended before they reached the store."""
        return self._accu.sync()

    # --- the original's alarms, SHAP and deployment settings: no meaning here ---------------
    def _no_meaning(self, call: str, why: str) -> None:
        if call not in self._warned:
            self._warned.add(call)
            _warn(f"{call} has no effect here: {why}", stacklevel=4)

    def set_features(self, feature_names: Any = None) -> None:
        """Accepted: feature names served SHAP monitoring, which modeler does not do."""
        self._no_meaning("set_features()", "feature names served SHAP monitoring")

    def set_data(self, data: Any = None) -> None:
        """Accepted: the data served SHAP monitoring, which modeler does not do."""
        self._no_meaning("set_data()", "the data served SHAP monitoring")

    def unset_data(self) -> None:
        self._no_meaning("unset_data()", "the data served SHAP monitoring")

    def set_slack(self, *args: Any, **kwargs: Any) -> None:
        """Accepted: modeler sends no Slack messages."""
        self._no_meaning("set_slack()", "modeler sends no Slack messages")

    def unset_slack(self) -> None:
        self._no_meaning("unset_slack()", "modeler sends no Slack messages")

    def set_mail(self, *args: Any, **kwargs: Any) -> None:
        """Accepted: modeler sends no mail."""
        self._no_meaning("set_mail()", "modeler sends no mail")

    def unset_mail(self) -> None:
        self._no_meaning("unset_mail()", "modeler sends no mail")

    def send_message(self, message: Any = None, thresholds: Any = None) -> None:
        """Accepted: alarm messages went to the Accuinsight console, which modeler replaces
        with MLflow."""
        if message is not None and thresholds is not None:
            raise OptionError("send_message takes message= or thresholds=, not both")
        self._no_meaning("send_message()", "alarms went to the Accuinsight console")

    def unset_message(self) -> None:
        self._no_meaning("unset_message()", "alarms went to the Accuinsight console")

    def set_user_id(self, user_id: Any = None) -> None:
        """Accepted: MLflow records the user who made each run itself."""
        self._no_meaning("set_user_id()", "MLflow records the user of each run itself")

    def unset_user_id(self) -> None:
        self._no_meaning("unset_user_id()", "MLflow records the user of each run itself")

    def set_current_notebook(self) -> None:
        """Accepted: MLflow records the source of each run itself."""
        self._no_meaning("set_current_notebook()", "MLflow records each run's source itself")


def _experiment_args(args: tuple[Any, ...]) -> tuple[str | None, Any, Any]:
    """(nickname, X_val, y_val) from the original's 2- to 5-argument forms (after the model)."""
    if len(args) not in (2, 3, 4, 5):
        raise OptionError(
            f"add_experiment takes {_ADD_EXPERIMENT_FORMS}; got {len(args) + 1} arguments"
        )
    nickname = None
    if len(args) in (3, 5):
        nickname, args = args[0], args[1:]
        if not isinstance(nickname, str):
            raise OptionError(
                f"add_experiment: with {len(args) + 2} arguments the second is the run's "
                f"nickname (a str); got {type(nickname).__name__}. The forms are "
                f"{_ADD_EXPERIMENT_FORMS}"
            )
    # the training data (4 and 5 argument forms) served SHAP monitoring only
    return (nickname or None), args[-2], args[-1]


def _remember(hooks: Any, writer: Any) -> None:
    """Make ``writer``'s run the session's latest (``get_current_run_id``)."""
    hooks.last_writer = writer


def _json_path(save_path: str | None, kind: str) -> Path:
    """Where the original's ``save_json=True`` put a descriptor: ``runs/storage-info-json/``."""
    folder = Path("runs") / "storage-info-json"
    if save_path is not None:
        return Path(save_path) if Path(save_path).is_absolute() else folder / save_path
    stamp = datetime.date.today().strftime("%Y%m%d")
    taken = sum(1 for p in folder.glob(f"{stamp}-*")) if folder.is_dir() else 0
    return folder / f"{stamp}-{taken + 1:02d}-{kind}-connection-info.json"


def _load_logged_model(tracking: Any, ident: str) -> tuple[Any, Any]:
    """The run named ``ident`` (id, name or ``<name>_<version>``) and its logged model."""
    import re

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking.uri)
    run = None
    try:
        run = client.get_run(ident)
    except MlflowException:
        exp = client.get_experiment_by_name(tracking.experiment)
        ids = [exp.experiment_id] if exp is not None else []
        versioned = re.fullmatch(r"(.+)_(\d+)", ident)
        for name in [ident] + ([versioned[1]] if versioned else []):
            quoted = name.replace("'", "\\'")
            found = client.search_runs(ids, f"attributes.run_name = '{quoted}'", max_results=1)
            if found:
                run = found[0]
                break
    if run is None:
        raise RunNotFoundError(
            f"model_evaluation: no run {ident!r} (id, run name or model version) in "
            f"experiment {tracking.experiment!r}"
        )
    import tempfile

    import mlflow.artifacts

    # MLflow 3 keeps a run's model as a logged model ("models:/<id>"); older runs, in "model/"
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    if outputs:
        uri = client.get_logged_model(outputs[-1].model_id).artifact_location
    else:
        uri = f"runs:/{run.info.run_id}/model"
    # downloaded with the store's URI, not the process-wide one a notebook may have set
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=uri,
        dst_path=tempfile.mkdtemp(prefix="modeler-model-"),
        tracking_uri=tracking.uri,
    )
    if run.data.tags.get("modeler.model_type") == "keras":
        import mlflow.keras

        return run, mlflow.keras.load_model(local)
    import mlflow.sklearn

    return run, mlflow.sklearn.load_model(local)
