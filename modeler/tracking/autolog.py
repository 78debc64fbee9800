"""``accu.autolog`` and ``accu.evaluate``.

>>> accu.autolog()            # every later Keras / scikit-learn fit is one run  # doctest: +SKIP
>>> accu.autolog(disable=True)  # the original fit methods are back             # doctest: +SKIP
>>> accu.evaluate(clf, X_test, y_test)  # a test-set evaluation on clf's run    # doctest: +SKIP
"""

from __future__ import annotations

import sys
import warnings
from numbers import Real
from typing import Any

from modeler.errors import ModelerWarning, OptionError
from modeler.tracking.hooks import Hooks

_FRAMEWORKS = ("keras", "sklearn")


def hooks_of(accu: Any) -> Hooks:
    """The accu object's one :class:`Hooks` (created on first use)."""
    hooks = getattr(accu, "_hooks", None)
    if hooks is None:
        hooks = Hooks(accu.session, accu.tracking)
        accu._hooks = hooks
    return hooks


def _check(name: str, value: Any, kind: Any, expected: str) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise OptionError(
            f"autolog option {name!r} must be {expected}; got {value!r} ({type(value).__name__})"
        )


def autolog(
    accu: Any,
    *,
    threshold: float = 0.5,
    log_models: bool = True,
    register_model: str | None = None,
    disable: bool = False,
    validation: tuple[Any, Any] | None = None,
    costs: Any = None,
    tags: dict[str, str] | None = None,
    experiment: str | None = None,
) -> None:
    """Turn logging on for every later fit (once is enough), or off with ``disable=True``."""
    _check("disable", disable, bool, "True or False")
    hooks = hooks_of(accu)
    if disable:
        hooks.enabled = False
        hooks.wait()
        hooks.restore()
        return
    _check("log_models", log_models, bool, "True or False")
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise OptionError(
            f"autolog option 'threshold' must be a number in [0, 1]; got "
            f"{threshold!r} ({type(threshold).__name__})"
        )
    from modeler.evaluation.metrics import check_threshold

    threshold = check_threshold(threshold)
    if register_model is not None:
        _check("register_model", register_model, str, "a model name (str) or None")
    if tags is not None:
        _check("tags", tags, dict, "a dict of str to str")
    if experiment is not None:
        _check("experiment", experiment, str, "an experiment name (str)")
        accu.set_tracking(accu._tracking[0], experiment)
    if validation is not None:
        if not isinstance(validation, tuple | list) or len(validation) != 2:
            raise OptionError(
                "autolog option 'validation' must be a pair (X_val, y_val); got "
                f"{type(validation).__name__}"
            )
        validation = (validation[0], validation[1])
    if costs is not None:
        from modeler.evaluation.cost import parse_costs

        n = len(validation[1]) if validation is not None else None
        if n is not None:  # check now, against the validation data, so errors come early
            parse_costs(
                costs, n=n, frame=validation[0] if hasattr(validation[0], "columns") else None
            )
        elif not isinstance(costs, dict):
            raise OptionError(
                f"autolog option 'costs' must be a dict like "
                f"{{'fn': 100.0, 'fp': 5.0}}; got {type(costs).__name__}"
            )
    from modeler.tracking.hooks import Options

    hooks.options = Options(
        threshold=threshold,
        log_models=log_models,
        register_model=register_model,
        validation=validation,
        costs=costs,
        tags={str(k): str(v) for k, v in (tags or {}).items()},
    )
    from modeler.tracking.distributed import is_chief

    chief = is_chief()  # a launcher variable that cannot be read raises here, before any patch
    hooks.enabled = True
    _install(hooks)
    if chief:  # other workers of a distributed job never touch the store or journals
        _warm_up(hooks)
        _recover(hooks)


def _warm_up(hooks: Hooks) -> None:
    """Open the store on a thread now, so the first fit does not wait for it (~1-2 s)."""
    import threading

    from modeler.tracking.store import connect

    def open_store() -> None:
        try:
            connect(hooks.tracking())
        except Exception:  # the first run will meet the same problem and handle it
            pass

    threading.Thread(target=open_store, name="modeler-warm-up", daemon=True).start()


def _recover(hooks: Hooks) -> None:
    """Complete, in the background, the runs that processes which ended left in this folder."""
    from modeler.tracking.recovery import adopt_orphans

    tracking = hooks.tracking()
    adopted, problems = adopt_orphans(tracking.journal_home, tracking.uri)
    if adopted:
        names = ", ".join(adopted[:5]) + (", ..." if len(adopted) > 5 else "")
        print(
            f"modeler: completing {len(adopted)} run(s) left by a process that ended ({names}) "
            "from their journals, in the background.",
            file=sys.stderr,
        )
    for problem in problems:
        print(f"modeler: {problem}", file=sys.stderr)


def _install(hooks: Hooks) -> None:
    """Patch frameworks already imported; patch the others when they are imported."""
    from modeler.tracking.store import mlflow_env_defaults

    mlflow_env_defaults()
    from mlflow.utils.import_hooks import register_post_import_hook

    for name in _FRAMEWORKS:
        if name in sys.modules:
            _patch(hooks, name)
        else:
            register_post_import_hook(lambda _m, n=name: _patch(hooks, n), name, overwrite=True)
    from modeler.tracking.loaders import patch_loaders

    patch_loaders(hooks)
    _quiet_progress_bars()


def _quiet_progress_bars() -> None:
    """MLflow imports ``tqdm.auto`` (via ``mlflow.genai``) the first time a model is saved; in
    a notebook without ipywidgets that import warns "IProgress not found" into the cell. It is
    imported here once, that warning silenced for this import only, so it never shows."""
    import warnings

    if "tqdm.auto" in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import tqdm.auto  # noqa: F401
        except ImportError:
            pass


def _patch(hooks: Hooks, framework: str) -> None:
    if not hooks.enabled or framework in hooks.patched:
        return
    if framework == "keras":
        from modeler.tracking import keras as adapter
    else:
        from modeler.tracking import sklearn as adapter  # type: ignore[no-redef]
    adapter.patch(hooks)
    hooks.patched.add(framework)


def evaluate(
    accu: Any,
    model: Any,
    X: Any,
    y: Any,
    *,
    threshold: float | None = None,
    costs: Any = None,
    run_id: str | None = None,
    prefix: str = "eval",
) -> dict[str, float]:
    """Evaluate ``model`` (or an array of scores) on held-out data and log it.

    The evaluation goes on ``run_id`` if given, else on the run that ``fit`` made for this
    model under autolog, else on a new evaluation-only run. ``prefix="test"`` logs
    ``test.*`` metrics and ``test/`` artifacts beside the run's ``eval.*``. Returns the
    metrics (without the prefix).
    """
    import re

    if not isinstance(prefix, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
        raise OptionError(
            f"evaluate prefix must be a lowercase name like 'eval' or 'test'; got {prefix!r}"
        )

    from modeler.evaluation.metrics import check_threshold
    from modeler.tracking.writer import RunWriter

    _check_model(model, y)  # before any run is made
    hooks = hooks_of(accu)
    from modeler.tracking.distributed import is_chief

    if not is_chief():  # a worker of a distributed job: the numbers, nothing written
        return _metrics_only(hooks, model, X, y, threshold=threshold, costs=costs)
    given = threshold
    threshold = check_threshold(hooks.options.threshold if threshold is None else threshold)
    is_scores = _is_scores(model)
    tracking = hooks.tracking()
    earlier = None if is_scores or run_id is not None else writer_of(hooks, model)
    if run_id is None and earlier is None and not is_scores:
        run_id = _loaded_from(hooks, model)  # mlflow.*.load_model("runs:/...", "models:/...")
    if run_id is not None:
        writer = RunWriter.attach(tracking, run_id)
    elif earlier is not None:
        writer = RunWriter.attach(tracking, to=earlier)
    else:
        model_type = "scores" if is_scores else model_type_of(model)
        if prefix != "eval":
            warnings.warn(
                f"modeler: no run is known for this {model_type} in this session (fitted or "
                "loaded with mlflow.*.load_model while accu.autolog() was on), so its "
                f"{prefix}.* evaluation makes a new run, at threshold {threshold}, not its own "
                "run's decision threshold; pass run_id= to add it to its run",
                ModelerWarning,
                stacklevel=3,
            )
        writer = RunWriter.start(tracking, model_type, tags=hooks.options.tags)
        hooks.last_writer = writer
    if prefix == "eval" and (earlier is not None or run_id is not None):
        from modeler.tracking.decision import has_evaluation

        if has_evaluation(tracking, earlier, run_id):
            # never overwrite the run's validation evaluation, the one comparisons read
            prefix = "test"
            warnings.warn(
                f"modeler: run {writer.run_name} already has its validation evaluation "
                "(eval.*); this one is logged beside it as test.* (pass prefix= to name it)",
                ModelerWarning,
                stacklevel=3,
            )
    decision = None
    if prefix != "eval":
        # no tuning on test: the run's decision threshold (or threshold=), never a new one
        from modeler.tracking.decision import decision_of

        chosen = None if given is not None else decision_of(tracking, earlier, run_id)
        decision = chosen if chosen is not None else threshold
    try:
        metrics = evaluate_into(
            hooks,
            writer,
            model,
            X,
            y,
            threshold=threshold,
            costs=costs,
            prefix=prefix,
            decision_threshold=decision,
        )
    except BaseException:
        writer.end("FAILED")
        raise
    writer.end("FINISHED")
    return metrics


def evaluate_into(
    hooks: Hooks,
    writer: Any,
    model: Any,
    X: Any,
    y: Any,
    *,
    threshold: float,
    costs: Any = None,
    prefix: str = "eval",
    decision_threshold: float | None = None,
) -> dict[str, float]:
    """Score ``model`` (or take an array of scores) on ``(X, y)`` and log it to ``writer``.

    ``decision_threshold``: use it for the cost decision instead of choosing one (a test
    evaluation)."""
    import numpy as np

    from modeler.tracking.evaluate import log_evaluation

    costs = carried_costs(hooks, X, y) if costs is None else costs
    frame = X if hasattr(X, "columns") else None
    tags = {"modeler.eval_source": "explicit"}
    if not _is_scores(model):
        hooks.evaluated(writer_of(hooks, model))
    if _is_scores(model) or _is_keras(model):
        outputs = np.asarray(model) if _is_scores(model) else predict_keras(model, X)
        return log_evaluation(
            writer,
            y,
            outputs,
            threshold=threshold,
            costs=costs,
            frame=frame,
            extra_tags=tags,
            prefix=prefix,
            decision_threshold=decision_threshold,
        )
    from modeler.tracking.sklearn import log_model_evaluation

    return log_model_evaluation(
        hooks,
        writer,
        model,
        X,
        y,
        source="explicit",
        threshold=threshold,
        costs=costs,
        prefix=prefix,
        decision_threshold=decision_threshold,
    )


def _metrics_only(
    hooks: Hooks, model: Any, X: Any, y: Any, *, threshold: Any, costs: Any
) -> dict[str, float]:
    import numpy as np

    from modeler.evaluation.metrics import check_threshold
    from modeler.tracking.evaluate import build, make_snapshot

    costs = carried_costs(hooks, X, y) if costs is None else costs  # y as given: its rows
    if _is_scores(model):
        outputs = np.asarray(model)
    elif _is_keras(model):
        outputs = predict_keras(model, X)
    else:
        from modeler.tracking.sklearn import scored

        outputs, _, _, y = scored(model, X, y)
    snap = make_snapshot(
        y,
        outputs,
        threshold=check_threshold(hooks.options.threshold if threshold is None else threshold),
        costs=costs,
        frame=X if hasattr(X, "columns") else None,
    )
    return dict(build(snap).metrics)


def carried_costs(hooks: Hooks, X: Any, y: Any) -> Any:
    """``autolog(costs=...)`` for an evaluation on ``(X, y)``: all of it on the validation
    rows themselves; on other rows only when it holds no value per validation row (numbers and
    column names do carry over), else None, with a warning: amounts of other rows, taken by
    position, would give another set's money."""
    import numpy as np

    costs = hooks.options.costs
    validation = hooks.options.validation
    if costs is None or (validation is not None and y is validation[1]):  # the same rows
        return costs
    per_row = sorted(
        str(k) for k, v in dict(costs).items() if not isinstance(v, str) and np.ndim(v) > 0
    )
    if not per_row:
        return costs
    warnings.warn(
        f"modeler: autolog's costs give {', '.join(map(repr, per_row))} one value per validation "
        "row; these rows are others, so this evaluation has no cost part: pass costs= for them "
        "(a column name in costs= carries over by itself)",
        ModelerWarning,
        stacklevel=5,  # accu.evaluate's caller
    )
    return None


def predict_keras(model: Any, X: Any) -> Any:
    from modeler.tracking.keras import predict

    return predict(model, X)


def writer_of(hooks: Hooks, model: Any) -> Any:
    """The run writer autolog used for ``model`` in this session, or None."""
    try:
        return hooks.runs.get(model)
    except TypeError:
        return None


def _loaded_from(hooks: Hooks, model: Any) -> str | None:
    try:
        return hooks.loaded.get(model)
    except TypeError:
        return None


def run_of(accu: Any, model: Any) -> str | None:
    """The id of the run autolog made for ``model`` in this session, or None."""
    writer = writer_of(hooks_of(accu), model)
    return writer.run_id if writer is not None else None


def flavor_of(model: Any) -> str | None:
    """``keras`` or ``sklearn`` when ``model`` can be saved as such, else None."""
    if _is_keras(model):
        return "keras"
    if hasattr(model, "fit") and hasattr(model, "get_params"):
        return "sklearn"
    return None


def _is_keras(model: Any) -> bool:
    return "keras" in sys.modules and isinstance(model, sys.modules["keras"].Model)


def _check_model(model: Any, y: Any) -> None:
    """Raise OptionError / EvaluationError for what ``evaluate`` cannot score: not a model nor
    scores, a scikit-learn model not fitted yet, no rows."""
    from modeler.errors import EvaluationError

    if not (_is_scores(model) or _is_keras(model)):
        if not any(hasattr(model, m) for m in ("predict_proba", "decision_function", "predict")):
            raise OptionError(
                "evaluate takes a fitted model (with predict_proba, decision_function or "
                f"predict) or an array of scores; got {type(model).__name__} {model!r:.60}"
            )
        if hasattr(model, "get_params") and hasattr(model, "fit"):  # scikit-learn's API
            from sklearn.exceptions import NotFittedError
            from sklearn.utils.validation import check_is_fitted

            try:
                check_is_fitted(model)
            except NotFittedError:
                raise EvaluationError(
                    f"{type(model).__name__} is not fitted yet: call fit before evaluate"
                ) from None
            except TypeError:  # not an estimator after all
                pass
    if y is not None and hasattr(y, "__len__") and len(y) == 0:
        raise EvaluationError("validation data is empty: expected at least one row, got 0")


def _is_scores(model: Any) -> bool:
    """An array of scores (numpy, list, pandas) given instead of a model."""
    import numpy as np

    return isinstance(model, np.ndarray | list | tuple) or hasattr(model, "to_numpy")


def model_type_of(model: Any) -> str:
    """The run-name prefix: ``keras`` for Keras models, else the class name."""
    return "keras" if _is_keras(model) else type(model).__name__
