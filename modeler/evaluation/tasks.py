"""Which evaluation a model's raw outputs call for, and the scores to evaluate.

    >>> r = resolve_task([0, 1, 1], [[-2.0], [3.1], [0.4]])     # one unbounded output: logits
    >>> r.task, r.transform, r.scores.round(3).tolist()
    ('binary', 'sigmoid', [0.119, 0.957, 0.599])

Problems that a run survives are reported, not raised: labels that do not fit the outputs
(``task == "unsupported"``, with ``problem`` saying why) or outputs that are not finite numbers
(``problem`` set, no scores). Only empty data or a different number of outputs and labels raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modeler.errors import EvaluationError
from modeler.evaluation.metrics import check_binary_labels, infer_task

# Integer labels with at most this many distinct values are classes, not a regression target.
MAX_CLASSES = 50


@dataclass(frozen=True)
class Resolved:
    """The task, the outputs to evaluate, and what was done to them (or why nothing can be)."""

    task: str  # "binary" | "multiclass" | "regression" | "unsupported"
    outputs: np.ndarray  # binary: scores (n,) in [0, 1]; otherwise the outputs as given
    labels: np.ndarray
    transform: str  # "none" | "sigmoid"
    problem: str | None = None  # why nothing, or only counts, can be evaluated
    problem_tag: str | None = None  # the tag that names the problem

    @property
    def scores(self) -> np.ndarray:
        return self.outputs


def _squeeze(arr: np.ndarray) -> np.ndarray:
    return arr[:, 0] if arr.ndim == 2 and arr.shape[1] == 1 else arr


def _preview(values: np.ndarray, limit: int = 6) -> str:
    shown = ", ".join(repr(v.item()) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def _integer_classes(y: np.ndarray) -> np.ndarray | None:
    """The distinct labels when they look like classes (few integer values), else None."""
    if y.ndim != 1 or y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        return None
    if not np.isfinite(y).all():
        return None
    values = np.unique(y)
    if len(values) > MAX_CLASSES or not np.all(values == np.round(values)):
        return None
    return values


def _mismatch(outputs: np.ndarray, labels: np.ndarray, problem: str) -> Resolved:
    """Labels that do not fit the outputs: counts only, tagged ``modeler.task_mismatch``."""
    return Resolved("unsupported", outputs, labels, "none", problem, "modeler.task_mismatch")


def resolve_task(y_true: Any, outputs: Any, classes: Any = None) -> Resolved:
    """The task and the outputs to score; logits of a binary model go through a sigmoid.

    ``classes``: a classifier's class names, when the outputs are a classifier's (labels that
    are no classes, such as 0.9, then do not fit: they are not a regression target).

    Raises:
        EvaluationError: empty data, outputs that are not an array of numbers, or a different
            number of outputs and labels (nothing at all can be evaluated).
    """
    from scipy.special import expit

    try:
        y = np.asarray(y_true)
        out = np.asarray(outputs)
    except Exception as exc:  # ragged lists
        raise EvaluationError(f"labels and outputs must be arrays; got {exc}") from exc
    if out.ndim == 0 or len(out) == 0 or y.ndim == 0 or len(y) == 0:
        raise EvaluationError("validation data is empty: expected at least one row, got 0")
    if y.shape[0] != out.shape[0]:
        raise EvaluationError(
            f"model outputs have {out.shape[0]} rows but the labels have {y.shape[0]}: "
            "expected one prediction per label"
        )
    if out.dtype == bool or not np.issubdtype(out.dtype, np.number) or out.ndim > 2:
        raise EvaluationError(
            f"model outputs must be numbers of shape (n,) or (n, k); got dtype {out.dtype}, "
            f"shape {out.shape}"
        )
    y = _squeeze(y)
    if y.dtype.kind in "OUS":  # text, or Python objects
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            shown = _preview(np.unique(y.astype(str)))
            return _mismatch(
                _squeeze(out),
                y,
                (
                    f"labels are text {shown}: metrics need numbers, 0/1 for a binary model "
                    "(e.g. (y == 'fraud').astype(int)); no metrics, only counts"
                ),
            )
    flat = _squeeze(out).astype(np.float64)
    bad = ~np.isfinite(flat)
    if bad.any():
        first = int(np.flatnonzero(bad.ravel())[0])
        return Resolved(
            task="binary" if flat.ndim == 1 or flat.shape[1] == 2 else "multiclass",
            outputs=flat,
            labels=y,
            transform="none",
            problem=(
                f"{int(bad.sum())} of {bad.size} model outputs are NaN or infinite (the first "
                f"at flat index {first}; did training diverge?): no metrics, only counts"
            ),
            problem_tag="modeler.scores_invalid",
        )
    if y.ndim == 2 and y.shape[1] == 2 and flat.ndim == 1:  # one-hot labels, one score
        y = y[:, 1]
    task = infer_task(y, flat if flat.ndim == 1 else out)
    label_values = _integer_classes(y)
    if flat.ndim == 1 and task == "regression" and label_values is not None:
        binary_y = set(label_values.tolist()) <= {0, 1}
        if binary_y:
            # One unbounded output with 0/1 labels: logits, scored through a sigmoid.
            return Resolved("binary", expit(flat), y, "sigmoid")
        within = flat.min() >= 0.0 and flat.max() <= 1.0
        if within or len(label_values) <= 2:
            # Class labels against one score: a classifier's mistake, not a "regression".
            return _mismatch(
                flat,
                y,
                (
                    f"labels hold {len(label_values)} classes {_preview(label_values)} but "
                    f"the model gives one score per row"
                    + (" in [0, 1] (a sigmoid)" if within and classes is None else "")
                    + ": binary metrics need labels 0/1, multi-class metrics one output per "
                    "class (a softmax); no metrics, only counts"
                ),
            )
    if classes is not None and task == "regression":
        shown = _preview(np.unique(y)) if y.ndim == 1 else f"of shape {y.shape}"
        return _mismatch(
            flat,
            y,
            (
                f"labels hold values {shown} but the model is a classifier of classes "
                f"{list(classes)[:6]}: expected the labels it was trained on; no metrics, "
                "only counts"
            ),
        )
    if task == "multiclass":
        k = out.shape[1]
        if label_values is not None and (label_values.min() < 0 or label_values.max() >= k):
            return _mismatch(
                out,
                y,
                (
                    f"labels hold classes {_preview(label_values)} but the model has {k} outputs: "
                    f"expected class indices 0..{k - 1}; no metrics, only counts"
                ),
            )
    if task == "binary":
        try:
            labels = check_binary_labels(y)
        except EvaluationError as exc:
            return _mismatch(
                flat,
                y,
                f"{exc} for a binary model's scores; no metrics, only counts",
            )
        return Resolved("binary", flat if flat.ndim == 1 else flat[:, -1], labels, "none")
    return Resolved(task, out, y, "none")
