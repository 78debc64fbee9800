"""Curve data for ``eval/curves.json``: ROC and precision-recall, thinned to a bounded size.

AUCs come from the full data; only the point lists are thinned (``thin_curve``), so the file
stays the same size whatever the number of rows::

    >>> metrics, curves = evaluate_binary([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> curves["roc"]["auc"] == metrics["roc_auc"]
    True

Conventions of the payload (schema 1):

- Thresholds follow the metrics' rule: a row is flagged when ``score >= threshold``.
- scikit-learn starts the ROC curve at an infinite threshold (flag nothing). JSON has no
  infinity, so that point gets ``nextafter(max(score), inf)``: the smallest float above every
  score, which flags nothing just the same.
- scikit-learn's PR curve has one threshold fewer than points: its last point (recall 0,
  precision 1) is again "flag nothing", so ``pr.thresholds`` is padded at the end with that
  same value. All three PR lists then have equal length.
- An undefined AUC (y_true holds one class only) is ``null``, with empty point lists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modeler.errors import EvaluationError, OptionError
from modeler.evaluation.metrics import (
    BinaryCore,
    binary_core,
    check_multiclass,
    check_regression,
)

SCHEMA = 1


# --- thinning ---------------------------------------------------------------------------------
def check_max_points(max_points: Any) -> int:
    """``max_points`` as an int >= 2.

    >>> check_max_points(1000)
    1000
    """
    if isinstance(max_points, bool) or not isinstance(max_points, int | np.integer):
        raise OptionError(f"max_points must be an int >= 2; got {max_points!r}")
    if max_points < 2:
        raise OptionError(f"max_points must be an int >= 2; got {max_points}")
    return int(max_points)


def _turning_points(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the first, last and every interior point where the path bends or reverses."""
    dx, dy = np.diff(x), np.diff(y)
    cross = dx[:-1] * dy[1:] - dy[:-1] * dx[1:]
    dot = dx[:-1] * dx[1:] + dy[:-1] * dy[1:]
    # A point on a straight run (cross == 0, going on forward) adds nothing to the drawing.
    # Repeated points have dot == 0 and go too; a reversal (dot < 0) is a corner and stays.
    interior = np.flatnonzero((cross != 0) | (dot < 0) | np.isnan(cross)) + 1
    return np.concatenate(([0], interior, [len(x) - 1]))


def lttb(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Largest-Triangle-Three-Buckets: indices of ``n_out`` points that keep the visual shape.

    The interior is cut into ``n_out - 2`` buckets of equal point counts; from each bucket the
    point making the largest triangle with the point kept before it and the next bucket's mean.
    Bucket means are computed at once; the loop is over buckets only (O(n) work in numpy).
    """
    n = len(x)
    edges = np.floor(np.linspace(1, n - 1, n_out - 1)).astype(np.int64)  # bucket b: edges[b:b+2]
    sizes = np.diff(edges)
    mean_x = np.add.reduceat(x[1:-1], edges[:-1] - 1) / sizes
    mean_y = np.add.reduceat(y[1:-1], edges[:-1] - 1) / sizes
    # The bucket after the last one is the last point itself.
    next_x = np.append(mean_x[1:], x[-1])
    next_y = np.append(mean_y[1:], y[-1])
    kept = np.empty(n_out, dtype=np.int64)
    kept[0], kept[-1] = 0, n - 1
    a = 0
    for b in range(n_out - 2):
        lo, hi = edges[b], edges[b + 1]
        xa, ya = x[a], y[a]
        area = np.abs((xa - next_x[b]) * (y[lo:hi] - ya) - (xa - x[lo:hi]) * (next_y[b] - ya))
        a = lo + int(np.argmax(area))
        kept[b + 1] = a
    return kept


def thin_curve(x: Any, y: Any, max_points: int = 1000) -> np.ndarray:
    """Indices of at most ``max_points`` points that keep a curve's shape, in order.

    First and last points are always kept. Points on straight runs are dropped first (exact
    collinearity, so a staircase keeps all its corners); if more than ``max_points`` remain,
    Largest-Triangle-Three-Buckets picks the ones that carry the shape. O(n).

    >>> thin_curve([0, 1, 2, 3], [0, 1, 2, 2])
    array([0, 2, 3])
    """
    max_points = check_max_points(max_points)
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    if len(xs) != len(ys):
        raise EvaluationError(f"x and y must have the same length; got {len(xs)} and {len(ys)}")
    if len(xs) <= 2:
        return np.arange(len(xs))
    kept = _turning_points(xs, ys)
    if len(kept) > max_points:
        kept = kept[lttb(xs[kept], ys[kept], max_points)]
    return kept


# --- binary -----------------------------------------------------------------------------------
def _floats(values: np.ndarray) -> list[float | None]:
    """Plain floats for JSON; a non-finite value becomes None (null), which JSON can carry."""
    arr = np.asarray(values, dtype=np.float64)
    if np.isfinite(arr).all():
        return arr.tolist()
    return [v if np.isfinite(v) else None for v in arr.tolist()]


def _auc(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _curve_payload(core: BinaryCore, max_points: int) -> tuple[dict, dict]:
    """The "roc" and "pr" entries of a payload from one ``binary_core`` result."""
    roc_auc, pr_auc = _auc(core.metrics["roc_auc"]), _auc(core.metrics["pr_auc"])
    if core.roc is None or core.pr is None:
        return (
            {"fpr": [], "tpr": [], "thresholds": [], "auc": roc_auc},
            {"recall": [], "precision": [], "thresholds": [], "auc": pr_auc},
        )
    flag_nothing = float(np.nextafter(core.max_score, np.inf))
    fpr, tpr, roc_thr = core.roc
    roc_thr = np.where(np.isinf(roc_thr), flag_nothing, roc_thr)
    keep = thin_curve(fpr, tpr, max_points)
    roc = {
        "fpr": _floats(fpr[keep]),
        "tpr": _floats(tpr[keep]),
        "thresholds": _floats(roc_thr[keep]),
        "auc": roc_auc,
    }
    precision, recall, pr_thr = core.pr
    pr_thr = np.append(pr_thr, flag_nothing)
    keep = thin_curve(recall, precision, max_points)
    pr = {
        "recall": _floats(recall[keep]),
        "precision": _floats(precision[keep]),
        "thresholds": _floats(pr_thr[keep]),
        "auc": pr_auc,
    }
    return roc, pr


def evaluate_binary(
    y_true: Any,
    scores: Any,
    *,
    threshold: float = 0.5,
    max_points: int = 1000,
    sample_weight: Any = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics and the curves.json payload of a binary model, sharing one sort and one pass.

    >>> metrics, curves = evaluate_binary([0, 1, 1], [0.2, 0.9, 0.4], threshold=0.5)
    >>> metrics["recall"], curves["positives"], len(curves["roc"]["fpr"]) <= 1000
    (0.5, 2, True)
    """
    max_points = check_max_points(max_points)
    core = binary_core(y_true, scores, threshold=threshold, sample_weight=sample_weight)
    return core.metrics, binary_payload(core, threshold, max_points=max_points)


def binary_payload(core: BinaryCore, threshold: float, *, max_points: int = 1000) -> dict:
    """The curves.json payload of a ``binary_core`` result (no second sort of the scores).

    >>> binary_payload(binary_core([0, 1], [0.3, 0.8]), 0.5)["roc"]["auc"]
    1.0
    """
    roc, pr = _curve_payload(core, check_max_points(max_points))
    return {
        "schema": SCHEMA,
        "task": "binary",
        "n": int(core.metrics["n"]),
        "positives": int(core.metrics["positives"]),
        "threshold": float(threshold),
        "roc": roc,
        "pr": pr,
    }


def binary_curves(
    y_true: Any,
    scores: Any,
    *,
    threshold: float = 0.5,
    max_points: int = 1000,
    sample_weight: Any = None,
) -> dict[str, Any]:
    """The curves.json payload of a binary model (see the module docstring for conventions).

    >>> binary_curves([0, 1], [0.3, 0.8])["roc"]["auc"]
    1.0
    """
    return evaluate_binary(
        y_true, scores, threshold=threshold, max_points=max_points, sample_weight=sample_weight
    )[1]


# --- multi-class ------------------------------------------------------------------------------
def _class_names(classes: Any, k: int) -> list[str]:
    names = [str(i) for i in range(k)] if classes is None else [str(c) for c in classes]
    if len(names) != k:
        raise EvaluationError(f"classes must name the {k} columns of proba; got {len(names)}")
    if len(set(names)) != k:
        raise EvaluationError(f"classes must be distinct; got {names}")
    return names


def _macro_roc(cores: list[BinaryCore], aucs: list[float], max_points: int) -> dict:
    """Per-class TPR interpolated on the union of FPRs, then averaged (scikit-learn's example)."""
    rocs = [c.roc for c in cores if c.roc is not None]
    if not rocs:
        return {"fpr": [], "tpr": [], "auc": None}
    grid = np.unique(np.concatenate([r[0] for r in rocs]))
    mean_tpr = np.mean([np.interp(grid, r[0], r[1]) for r in rocs], axis=0)
    keep = thin_curve(grid, mean_tpr, max_points)
    return {"fpr": _floats(grid[keep]), "tpr": _floats(mean_tpr[keep]), "auc": _auc(_mean(aucs))}


def _macro_pr(cores: list[BinaryCore], aps: list[float], max_points: int) -> dict:
    """Per-class precision as the step function average precision integrates, then averaged."""
    prs = [c.pr for c in cores if c.pr is not None]
    if not prs:
        return {"recall": [], "precision": [], "auc": None}
    grid = np.unique(np.concatenate([p[1] for p in prs]))[::-1]  # recall from 1 down to 0
    steps = []
    for precision, recall, _ in prs:
        rec_up, prec_up = recall[::-1], precision[::-1]
        # At recall r, the point average_precision_score uses: the first one reaching >= r.
        idx = np.minimum(np.searchsorted(rec_up, grid, side="left"), len(rec_up) - 1)
        steps.append(prec_up[idx])
    mean_prec = np.mean(steps, axis=0)
    keep = thin_curve(grid, mean_prec, max_points)
    return {
        "recall": _floats(grid[keep]),
        "precision": _floats(mean_prec[keep]),
        "auc": _auc(_mean(aps)),
    }


def _mean(values: list[float]) -> float:
    kept = [v for v in values if not np.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def multiclass_curves(
    y_true: Any, proba: Any, classes: Any = None, *, max_points: int = 1000
) -> dict[str, Any]:
    """The curves.json payload of a multi-class model: one-vs-rest, micro and macro averages.

    Class names become strings (JSON keys). Macro AUCs are the means of the per-class AUCs
    (classes absent from y_true left out), equal to ``multiclass_metrics``' roc_auc / pr_auc;
    the macro curves are drawn as in scikit-learn's ROC example.

    >>> proba = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]
    >>> c = multiclass_curves([0, 1, 2], proba, ["a", "b", "c"])
    >>> c["classes"], c["macro"]["roc"]["auc"]
    (['a', 'b', 'c'], 1.0)
    """
    max_points = check_max_points(max_points)
    y, p = check_multiclass(y_true, proba)
    names = _class_names(classes, p.shape[1])
    cores = [binary_core(y == k, p[:, k]) for k in range(p.shape[1])]
    per_class = {}
    for name, core in zip(names, cores, strict=True):
        roc, pr = _curve_payload(core, max_points)
        per_class[name] = {"roc": roc, "pr": pr}
    onehot = (y[:, None] == np.arange(p.shape[1])[None, :]).ravel()
    micro_roc, micro_pr = _curve_payload(binary_core(onehot, p.ravel()), max_points)
    rocs = [c.metrics["roc_auc"] for c in cores]
    aps = [c.metrics["pr_auc"] for c in cores]
    return {
        "schema": SCHEMA,
        "task": "multiclass",
        "n": len(y),
        "classes": names,
        "per_class": per_class,
        "micro": {"roc": micro_roc, "pr": micro_pr},
        "macro": {
            "roc": _macro_roc(cores, rocs, max_points),
            "pr": _macro_pr(cores, aps, max_points),
        },
    }


# --- regression -------------------------------------------------------------------------------
def regression_payload(y_true: Any, y_pred: Any, max_points: int = 1000) -> dict[str, Any]:
    """The curves.json payload of a regression: a sample of (true, predicted) pairs.

    The sample is deterministic (a fixed seed) and keeps the rows' order; at most
    ``max_points`` pairs.

    >>> regression_payload([1.0, 2.0], [1.1, 1.9])["y_pred"]
    [1.1, 1.9]
    """
    max_points = check_max_points(max_points)
    y, pred = check_regression(y_true, y_pred)
    idx = np.arange(len(y))
    if len(y) > max_points:
        idx = np.sort(np.random.default_rng(0).choice(len(y), max_points, replace=False))
    return {
        "schema": SCHEMA,
        "task": "regression",
        "n": len(y),
        "y_true": _floats(y[idx]),
        "y_pred": _floats(pred[idx]),
    }
