"""scikit-learn / imbalanced-learn adapter: each outermost ``fit`` is one run.

>>> accu.autolog(validation=(X_val, y_val))       # doctest: +SKIP
>>> LogisticRegression().fit(X_train, y_train)    # one run  # doctest: +SKIP

Scores come from ``predict_proba`` (the positive column), else ``decision_function`` through a
sigmoid (same order, so AUCs are unchanged and 0.5 is the model's own cut), else ``predict``.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from modeler.tracking.hooks import Hooks, nested, nesting


def estimator_classes() -> list[type]:
    """Classifiers, regressors, pipelines and searches whose own ``fit`` we wrap."""
    from sklearn.utils import all_estimators

    classes = [cls for _, cls in all_estimators(type_filter=["classifier", "regressor"])]
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline

    classes += [Pipeline, GridSearchCV, RandomizedSearchCV]
    try:
        import imblearn.ensemble as ens
        from imblearn.pipeline import Pipeline as ImbPipeline

        classes += [ImbPipeline] + [getattr(ens, n) for n in ens.__all__]
    except ImportError:
        pass
    # wrap fit where it is defined (BaseForest.fit serves every forest), once per definition
    owners = [next((k for k in c.__mro__ if "fit" in k.__dict__), None) for c in classes]
    return [c for c in dict.fromkeys(owners) if c is not None]


def patch(hooks: Hooks) -> None:
    """Wrap ``fit`` of every estimator class (idempotent); ``hooks.restore()`` undoes it."""
    for cls in estimator_classes():
        original = cls.__dict__["fit"]
        if getattr(original, "__modeler_wrapped__", False):
            continue
        wrapped = _wrap(original, hooks)
        cls.fit = wrapped  # type: ignore[attr-defined]
        hooks.add_restore(functools.partial(setattr, cls, "fit", original))
    _patch_samplers(hooks)


def _wrap(original: Any, hooks: Hooks) -> Any:
    @functools.wraps(original)
    def fit(self, X, y=None, *args, **kwargs):
        if not hooks.enabled or nesting.depth > 0:
            return original(self, X, y, *args, **kwargs)
        hooks.show_messages()  # what the uploader had to say about earlier runs
        return SklearnFit(self, hooks).run(original, X, y, args, kwargs)

    fit.__modeler_wrapped__ = True  # type: ignore[attr-defined]
    return fit


def watch_samplers(hooks: Hooks) -> None:
    """Record imbalanced-learn resamplings from now on, before ``autolog`` (the lab resamples
    first, then turns logging on): now when imbalanced-learn is imported, else as it is."""
    import sys

    if "imblearn.base" in sys.modules:
        _patch_samplers(hooks)
    else:
        from modeler.tracking.import_hooks import after_import

        after_import("imblearn.base", lambda: _patch_samplers(hooks), key="modeler.samplers")


def _patch_samplers(hooks: Hooks) -> None:
    """Record class counts of every imbalanced-learn ``fit_resample`` (inside a fit, or not)."""
    try:
        from imblearn.base import BaseSampler
    except ImportError:
        return
    original = BaseSampler.__dict__["fit_resample"]
    if getattr(original, "__modeler_wrapped__", False):
        return

    @functools.wraps(original)
    def fit_resample(self, X, y, *args, **kwargs):
        X_res, y_res = original(self, X, y, *args, **kwargs)[:2]
        try:  # also before autolog is on: the next autologged fit on X_res says how it was made
            hooks.record_sampler(self, y, y_res, X_res)
        except Exception:  # bookkeeping only; never break the user's resampling
            pass
        return X_res, y_res

    fit_resample.__modeler_wrapped__ = True  # type: ignore[attr-defined]
    BaseSampler.fit_resample = fit_resample
    hooks.add_restore(functools.partial(setattr, BaseSampler, "fit_resample", original))


def flat_params(estimator: Any) -> dict[str, Any]:
    """``get_params(deep=True)``; nested estimators become their class name."""
    out: dict[str, Any] = {}
    for key, value in estimator.get_params(deep=True).items():
        if hasattr(value, "get_params") or callable(value):
            value = (
                type(value).__name__
                if hasattr(value, "get_params")
                else getattr(value, "__name__", type(value).__name__)
            )
        elif (
            isinstance(value, list | tuple)
            and value
            and hasattr(value[0], "__len__")
            and any(hasattr(v[-1], "get_params") for v in value if isinstance(v, tuple))
        ):
            value = [v[0] for v in value]  # Pipeline steps: their names
        out[key] = value
    return out


def positive_class(classes: Any, y: Any) -> Any:
    """The label scored as positive by a two-class model: 1 when it is a class, else the rarer
    class in ``y`` (fraud among "legit"/"fraud"), else ``classes[1]`` (scikit-learn's); None
    for other models.

    >>> positive_class(np.array([-1, 1]), [1, -1, -1]), positive_class(["fraud", "ok"], ["ok"])
    (np.int64(1), 'fraud')
    """
    if classes is None or len(classes) != 2:
        return None
    listed = list(classes)
    if any(_is_one(c) for c in listed):
        return next(c for c in listed if _is_one(c))
    try:
        counts = [int(np.sum(np.asarray(y) == c)) for c in listed]
    except Exception:  # labels that cannot be compared with the classes
        return listed[1]
    return listed[0] if counts[0] < counts[1] else listed[1]


def _is_one(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and value == 1


def model_scores(model: Any, X: Any, positive: Any) -> tuple[Any, dict[str, str], list[str] | None]:
    """Scores to evaluate (of class ``positive`` for a two-class model: ``positive_class``),
    the tag saying where they came from, and class names."""
    classes = getattr(model, "classes_", None)
    names = [str(c) for c in classes] if classes is not None else None
    if hasattr(model, "predict_proba") and classes is not None:
        try:
            proba = np.asarray(model.predict_proba(X))
        except (AttributeError, NotImplementedError):  # e.g. SVC(probability=False)
            proba = None
        if proba is not None:
            if len(classes) == 2:
                pos = list(classes).index(positive)
                return proba[:, pos], {"modeler.score_source": "predict_proba"}, names
            return proba, {"modeler.score_source": "predict_proba"}, names
    if hasattr(model, "decision_function") and classes is not None and len(classes) == 2:
        from scipy.special import expit

        d = np.asarray(model.decision_function(X), dtype=float).ravel()
        if list(classes).index(positive) == 0:
            d = -d  # decision_function scores classes_[1]; keep the positive class's side
        return expit(d), {"modeler.score_source": "decision_function (sigmoid)"}, names
    pred = np.asarray(model.predict(X))
    return pred, {"modeler.score_source": "predict"}, names


def scored(model: Any, X: Any, y: Any) -> tuple[Any, dict[str, str], list[str] | None, Any]:
    """``model_scores`` and the labels to evaluate them against: a two-class model's labels
    other than 0/1 (-1/1, "legit"/"fraud") become 1 for its positive class and 0 for the other,
    and the tag ``modeler.positive_class`` names it. Labels the model never saw stay as they
    are (the evaluation then says they do not fit)."""
    classes = getattr(model, "classes_", None)
    positive = positive_class(classes, y)
    scores, tags, names = model_scores(model, X, positive)
    if positive is None or classes is None or {*classes} <= {0, 1}:  # already 0/1 (or bool)
        return scores, tags, names, y
    try:
        labels = np.asarray(y)
        known = bool(np.isin(labels, np.asarray(classes)).all())
    except Exception:  # labels of a kind the classes cannot be compared with
        return scores, tags, names, y
    if not known:
        return scores, tags, names, y
    tags = {**tags, "modeler.positive_class": str(positive)}
    return scores, tags, names, (labels == positive).astype(np.int64)


class SklearnFit:
    """One wrapped ``fit``: run start, params, fit, evaluation, model, run end."""

    def __init__(self, estimator: Any, hooks: Hooks) -> None:
        self.estimator = estimator
        self.hooks = hooks
        self.writer: Any = None

    def run(self, original: Any, X: Any, y: Any, args: tuple, kwargs: dict) -> Any:
        est, hooks = self.estimator, self.hooks
        from modeler.tracking.naming import display_type

        self.writer = hooks.start_run(
            type(est).__name__, inputs=(X, y), labels=y, name_type=display_type(est)
        )
        if self.writer is None:
            return original(est, X, y, *args, **kwargs)
        writer = self.writer
        with writer.guard("parameters"):
            writer.log_params(flat_params(est))
        hooks.pipeline_samplings = []
        try:
            with nested():
                result = original(est, X, y, *args, **kwargs)
        except BaseException as exc:
            hooks.finish(writer, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise
        hooks.remember(est, writer)
        if hooks.options.validation is None:
            with writer.guard("tags"):
                writer.set_tags({"modeler.eval_source": "none"})
            hooks.note_unevaluated(writer, type(est).__name__)
        samplings = list(hooks.pipeline_samplings)
        # Before fit returns: validation scores and the estimator exactly as fit leaves it.
        self._freeze(samplings)
        hooks.complete(writer)
        return result

    def _freeze(self, samplings: list[dict[str, Any]]) -> None:
        writer, hooks = self.writer, self.hooks
        if samplings:
            with writer.guard("sampling"):
                writer.set_tags(
                    {
                        "modeler.sampling": json.dumps(
                            samplings[0] if len(samplings) == 1 else samplings
                        )
                    }
                )
                if writer.owned:
                    from modeler.tracking.naming import display_type, run_name

                    writer.rename(
                        run_name(
                            display_type(self.estimator),
                            writer.journal.id,
                            nickname=hooks.options.tags.get("modeler.nickname"),
                            sampling=samplings[0]["method"],
                        )
                    )
        if hooks.options.validation is not None:
            X_val, y_val = hooks.options.validation
            with writer.guard("evaluation"):
                scores, tags, names, labels = scored(self.estimator, X_val, y_val)
                hooks.snapshot(
                    writer,
                    labels,
                    scores,
                    frame=X_val if hasattr(X_val, "columns") else None,
                    classes=names,
                    tags={**tags, "modeler.eval_source": "validation"},
                )
        hooks.freeze_model(writer, "sklearn", self.estimator)


def log_model_evaluation(
    hooks: Hooks,
    writer: Any,
    model: Any,
    X: Any,
    y: Any,
    *,
    source: str,
    threshold: float | None = None,
    costs: Any = None,
    prefix: str = "eval",
    decision_threshold: float | None = None,
) -> dict[str, float]:
    """Score a fitted estimator on ``(X, y)`` and log the evaluation to ``writer``."""
    from modeler.tracking.evaluate import log_evaluation

    scores, tags, names, labels = scored(model, X, y)
    return log_evaluation(
        writer,
        labels,
        scores,
        threshold=hooks.options.threshold if threshold is None else threshold,
        costs=costs,  # as the caller resolved them (autolog.carried_costs)
        frame=X if hasattr(X, "columns") else None,
        classes=names,
        extra_tags={**tags, "modeler.eval_source": source},
        prefix=prefix,
        decision_threshold=decision_threshold,
    )
