"""Metrics on held-out predictions: binary, multi-class and regression.

Pure functions on numpy arrays; they equal scikit-learn's metrics on the same inputs::

    >>> m = binary_metrics([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.6], threshold=0.5)
    >>> m["precision"], m["recall"], m["tp"]
    (0.5, 0.5, 1.0)

A score is flagged positive when ``score >= threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from modeler.errors import EvaluationError

Task = Literal["binary", "multiclass", "regression"]

BINARY_KEYS = (
    "roc_auc",
    "pr_auc",
    "precision",
    "recall",
    "f1",
    "accuracy",
    "tp",
    "fp",
    "tn",
    "fn",
    "n",
    "positives",
)


# --- validation -------------------------------------------------------------------------------
def _as_array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except Exception as exc:  # ragged lists, odd objects
        raise EvaluationError(f"{name} must be array-like; got {type(values).__name__}") from exc
    if arr.size == 0:
        raise EvaluationError(f"{name} must not be empty; got shape {arr.shape}")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad.ravel())[0])
        raise EvaluationError(
            f"{name} must be finite numbers; got {int(bad.sum())} NaN or infinite value(s), "
            f"the first at flat index {first}"
        )


def _as_float(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise EvaluationError(f"{name} must be numeric; got dtype {arr.dtype}")
    out = arr.astype(np.float64, copy=False)
    _check_finite(out, name)
    return out


def as_binary_scores(outputs: Any) -> np.ndarray:
    """Scores of the positive class from a binary model's outputs.

    Accepts shape (n,), (n, 1) (a sigmoid) or (n, 2) (a softmax; the positive class is column 1).

    >>> as_binary_scores([[0.9, 0.1], [0.2, 0.8]])
    array([0.1, 0.8])

    Raises:
        EvaluationError: another shape, an empty input, or NaN / infinite values.
    """
    arr = _as_float(_as_array(outputs, "scores"), "scores")
    if arr.ndim == 1:
        return arr
    if arr.ndim == 2 and arr.shape[1] in (1, 2):
        return np.ascontiguousarray(arr[:, -1])
    raise EvaluationError(
        f"scores must have shape (n,), (n, 1) or (n, 2) for a binary task; got {arr.shape}"
    )


def _distinct_preview(arr: np.ndarray, limit: int = 5) -> str:
    values = np.unique(arr.ravel())
    shown = ", ".join(repr(v.item()) for v in values[:limit])
    more = f", ... ({len(values)} distinct)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def check_binary_labels(y: Any) -> np.ndarray:
    """Labels as int64 in {0, 1}.

    Accepts bools, ints or 0.0/1.0 floats of shape (n,) or (n, 1), and one-hot labels of shape
    (n, 2) (the positive class is column 1), as Keras uses with a 2-unit softmax.

    >>> check_binary_labels([True, False, 1.0])
    array([1, 0, 1])

    Raises:
        EvaluationError: other values (listed) or another shape.
    """
    arr = _as_array(y, "y_true")
    if arr.ndim == 2 and arr.shape[1] == 2:
        arr = _one_hot_column(arr)
    elif arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim != 1:
        raise EvaluationError(f"y_true must have shape (n,) or (n, 1); got {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
        raise EvaluationError(
            f"y_true must hold binary labels 0/1 (or True/False); got values "
            f"{_distinct_preview(arr)}"
        )
    return arr.astype(np.int64)


def _one_hot_column(arr: np.ndarray) -> np.ndarray:
    ok = np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
    if not ok or not np.isin(arr, (0, 1)).all() or not (arr.sum(axis=1) == 1).all():
        raise EvaluationError(
            f"y_true of shape {arr.shape} must be one-hot rows (one 1 and one 0 each); "
            f"got values {_distinct_preview(arr)}"
        )
    return arr[:, 1]


def check_threshold(threshold: Any) -> float:
    """A decision threshold as a float in [0, 1].

    >>> check_threshold(0.3)
    0.3

    Raises:
        EvaluationError: not a number (bools included), NaN, or outside [0, 1].
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise EvaluationError(
            f"threshold must be a number in [0, 1]; got {type(threshold).__name__} {threshold!r}"
        )
    value = float(threshold)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise EvaluationError(f"threshold must be a number in [0, 1]; got {value!r}")
    return value


def _check_same_length(y: np.ndarray, other: np.ndarray, other_name: str) -> None:
    if len(y) != len(other):
        raise EvaluationError(
            f"y_true and {other_name} must have the same number of rows; "
            f"got {len(y)} and {len(other)}"
        )


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """Weights as float64 of shape (n,), finite and >= 0, or None.

    >>> check_sample_weight([1, 2], 2)
    array([1., 2.])
    """
    if sample_weight is None:
        return None
    w = _as_float(_as_array(sample_weight, "sample_weight"), "sample_weight").ravel()
    if len(w) != n:
        raise EvaluationError(f"sample_weight must have {n} values (one per row); got {len(w)}")
    if (w < 0).any():
        first = int(np.flatnonzero(w < 0)[0])
        raise EvaluationError(f"sample_weight must be >= 0; row {first} is {float(w[first])!r}")
    return w


def _is_binary_y(y: np.ndarray) -> bool:
    if y.dtype == bool:
        return True
    return np.issubdtype(y.dtype, np.number) and bool(np.isin(y, (0, 1)).all())


def infer_task(y_true: Any, outputs: Any) -> Task:
    """Which evaluation fits a model's outputs.

    - outputs with more than 2 columns: ``"multiclass"``;
    - outputs with 2 columns (a softmax): ``"binary"``;
    - one output per row, labels in {0, 1} and outputs within [0, 1]: ``"binary"``;
    - any other single output (non-binary targets, or binary targets with outputs outside
      [0, 1] such as logits): ``"regression"``.

    >>> infer_task([0, 1, 1], [0.2, 0.9, 0.6])
    'binary'
    """
    out = _as_array(outputs, "outputs")
    y = _as_array(y_true, "y_true")
    if out.ndim == 2 and out.shape[1] > 2:
        return "multiclass"
    if out.ndim == 2 and out.shape[1] == 2:
        return "binary"
    if out.ndim > 2 or (out.ndim == 2 and out.shape[1] != 1):
        raise EvaluationError(f"outputs must have shape (n,), (n, k); got {out.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    scores = _as_float(out, "outputs")
    if y.ndim == 1 and _is_binary_y(y) and scores.min() >= 0.0 and scores.max() <= 1.0:
        return "binary"
    return "regression"


# --- binary -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BinaryCore:
    """Everything computed once for binary metrics and curves (see ``binary_core``)."""

    metrics: dict[str, float]
    roc: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # fpr, tpr, thresholds
    pr: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # precision, recall, thresholds
    max_score: float


def binary_core(
    y_true: Any, scores: Any, *, threshold: float = 0.5, sample_weight: Any = None
) -> BinaryCore:
    """Validate once, sort once, then run scikit-learn's roc_curve and precision_recall_curve.

    Shared by ``binary_metrics`` and ``curves.evaluate_binary``. ``roc`` and ``pr`` are None
    when y_true holds one class only (both curves are undefined then).

    >>> binary_core([0, 1], [0.2, 0.7]).metrics["roc_auc"]
    1.0
    """
    from sklearn.metrics import auc, precision_recall_curve, roc_curve  # 1.5 s: on first use

    y = check_binary_labels(y_true)
    s = as_binary_scores(scores)
    _check_same_length(y, s, "scores")
    t = check_threshold(threshold)
    w = check_sample_weight(sample_weight, len(y))

    # A stable ascending sort here makes sklearn's own (stable) argsort a linear pass over
    # sorted data, and keeps tied scores in the order sklearn would use: same sums, same AUCs.
    order = np.argsort(s, kind="stable")
    ys, ss = y[order], s[order]
    ws = None if w is None else w[order]

    metrics = _confusion_metrics(ys, ss, ws, t)
    roc = pr = None
    if 0 < metrics["positives"] < metrics["n"]:
        roc = roc_curve(ys, ss, pos_label=1, sample_weight=ws)
        pr = precision_recall_curve(ys, ss, pos_label=1, sample_weight=ws)
        metrics["roc_auc"] = float(auc(roc[0], roc[1]))  # what roc_auc_score computes
        # What average_precision_score computes: a step function, no interpolation.
        metrics["pr_auc"] = float(-np.sum(np.diff(pr[1]) * np.asarray(pr[0])[:-1]))
    return BinaryCore(
        metrics={k: metrics[k] for k in BINARY_KEYS}, roc=roc, pr=pr, max_score=float(ss[-1])
    )


def _confusion_metrics(
    ys: np.ndarray, ss: np.ndarray, ws: np.ndarray | None, threshold: float
) -> dict[str, float]:
    cut = int(np.searchsorted(ss, threshold, side="left"))  # rows cut: are flagged
    if ws is None:  # exact integer counts
        tp, fn = float(ys[cut:].sum()), float(ys[:cut].sum())
        fp, tn = float(len(ys) - cut) - tp, float(cut) - fn
    else:
        pos_w, neg_w = ws * ys, ws * (1 - ys)
        tp, fn = float(pos_w[cut:].sum()), float(pos_w[:cut].sum())
        fp, tn = float(neg_w[cut:].sum()), float(neg_w[:cut].sum())
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else 0.0
    total = tp + fp + tn + fn
    return {
        "roc_auc": float("nan"),
        "pr_auc": float("nan"),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + tn) / total if total > 0 else 0.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "n": float(len(ys)),
        "positives": float(ys.sum()),
    }


def binary_metrics(
    y_true: Any, scores: Any, *, threshold: float = 0.5, sample_weight: Any = None
) -> dict[str, float]:
    """Binary metrics at a threshold; a row is predicted positive when ``score >= threshold``.

    Keys: roc_auc, pr_auc (average precision), precision, recall, f1 (positive class, 0.0 when
    undefined, like scikit-learn's ``zero_division=0``), accuracy, tp, fp, tn, fn, n, positives.
    With ``sample_weight``, tp/fp/tn/fn are weighted sums (as ``confusion_matrix`` gives) while
    n and positives stay row counts. roc_auc and pr_auc are NaN when y_true has one class only.

    >>> binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])["roc_auc"]
    0.75
    """
    return binary_core(y_true, scores, threshold=threshold, sample_weight=sample_weight).metrics


# --- multi-class ------------------------------------------------------------------------------
def check_multiclass(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    """Class indices (n,) and probabilities (n, k) for a multi-class evaluation.

    y_true holds int class indices 0..k-1, or one-hot rows of shape (n, k).

    >>> check_multiclass([0, 2], [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])[0]
    array([0, 2])
    """
    p = _as_float(_as_array(proba, "proba"), "proba")
    if p.ndim != 2 or p.shape[1] < 2:
        raise EvaluationError(f"proba must have shape (n, k) with k >= 2; got {p.shape}")
    k = p.shape[1]
    y = _as_array(y_true, "y_true")
    if y.ndim == 2 and y.shape[1] == k and k > 1:
        if not np.isin(y, (0, 1)).all() or not (y.sum(axis=1) == 1).all():
            raise EvaluationError(
                f"y_true of shape {y.shape} must be one-hot rows; got values {_distinct_preview(y)}"
            )
        y = np.argmax(y, axis=1)
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise EvaluationError(f"y_true must have shape (n,) or (n, {k}); got {y.shape}")
    numeric = np.issubdtype(y.dtype, np.number) and y.dtype != bool
    if not numeric or not np.isin(y, np.arange(k)).all():
        raise EvaluationError(
            f"y_true must hold class indices 0..{k - 1} (proba has {k} columns); got values "
            f"{_distinct_preview(y)}"
        )
    _check_same_length(y, p, "proba")
    return y.astype(np.int64), p


def _per_class_auc(y: np.ndarray, p: np.ndarray) -> tuple[list[float], list[float]]:
    """ROC AUC and average precision of each class, one-vs-rest (NaN for absent classes)."""
    rocs, aps = [], []
    for k in range(p.shape[1]):
        core = binary_core(y == k, p[:, k])
        rocs.append(core.metrics["roc_auc"])
        aps.append(core.metrics["pr_auc"])
    return rocs, aps


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if not np.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def multiclass_metrics(y_true: Any, proba: Any) -> dict[str, float]:
    """Macro-averaged metrics of a multi-class model; the prediction is the argmax.

    Keys: accuracy, precision, recall, f1 (macro, zero_division=0), roc_auc (macro one-vs-rest),
    pr_auc (macro average precision), n. A class absent from y_true is left out of the AUC means
    (scikit-learn would refuse); when every class is present they equal
    ``roc_auc_score(y, proba, multi_class="ovr")`` and ``average_precision_score``.

    >>> multiclass_metrics([0, 1, 2], [[.8, .1, .1], [.1, .8, .1], [.1, .1, .8]])["f1"]
    1.0
    """
    from sklearn.metrics import precision_recall_fscore_support

    y, p = check_multiclass(y_true, proba)
    pred = np.argmax(p, axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, pred, labels=np.arange(p.shape[1]), average="macro", zero_division=0
    )
    rocs, aps = _per_class_auc(y, p)
    return {
        "accuracy": float(np.mean(pred == y)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": _nanmean(rocs),
        "pr_auc": _nanmean(aps),
        "n": float(len(y)),
    }


# --- regression -------------------------------------------------------------------------------
def check_regression(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions as float64 (n,) arrays of equal length.

    >>> check_regression([1, 2], [[1.5], [2.0]])[1]
    array([1.5, 2. ])
    """
    y = _as_float(_as_array(y_true, "y_true"), "y_true")
    pred = _as_float(_as_array(y_pred, "y_pred"), "y_pred")
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or pred.ndim != 1:
        raise EvaluationError(
            f"y_true and y_pred must have shape (n,) or (n, 1); got {y.shape} and {pred.shape}"
        )
    _check_same_length(y, pred, "y_pred")
    return y, pred


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """MAE, RMSE and R² of a regression; r2 is NaN with fewer than 2 rows.

    >>> regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])["mae"]
    0.3333333333333333
    """
    from sklearn.metrics import r2_score

    y, pred = check_regression(y_true, y_pred)
    err = pred - y
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(r2_score(y, pred)) if len(y) >= 2 else float("nan"),
        "n": float(len(y)),
    }
