"""PR and ROC curves as metric histories, so MLflow's own chart view overlays runs' curves.

MLflow draws a metric history as a line of (step, value) points, and its chart view overlays
the runs selected. A curve becomes a history on a fixed grid of 1,001 steps:

- ``pr_curve``: step = recall in thousandths (0..1000), value = interpolated precision at
  that recall, the highest precision reached at any recall >= it (the usual interpolation, a
  non-increasing line);
- ``roc_curve``: step = false-positive rate in thousandths (0..1000), value = the best
  true-positive rate reached at any false-positive rate <= it (a non-decreasing line).

    >>> h = curve_histories(binary_core([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]))
    >>> h["roc_curve"][500], h["pr_curve"][1000]
    ((500, 1.0), (1000, 0.6666666666666666))
"""

from __future__ import annotations

import numpy as np

from modeler.evaluation.metrics import BinaryCore

STEPS = 1000
# A grid point equal to a curve point up to rounding (45/45000 against 1/1000) counts as reached.
EPS = 1e-12


def pr_history(precision: np.ndarray, recall: np.ndarray) -> list[tuple[int, float]]:
    """Interpolated precision at recall 0, 0.001, ..., 1 from a full precision-recall curve."""
    order = np.argsort(recall, kind="stable")
    rec, prec = np.asarray(recall, float)[order], np.asarray(precision, float)[order]
    best_right = np.maximum.accumulate(prec[::-1])[::-1]  # max precision at recall >= r
    grid = np.arange(STEPS + 1) / STEPS
    idx = np.searchsorted(rec, grid - EPS, side="left")
    values = np.where(idx < len(rec), best_right[np.minimum(idx, len(rec) - 1)], 0.0)
    return [(int(k), float(v)) for k, v in enumerate(values)]


def roc_history(fpr: np.ndarray, tpr: np.ndarray) -> list[tuple[int, float]]:
    """Best true-positive rate at false-positive rate 0, 0.001, ..., 1 from a full ROC curve."""
    order = np.argsort(fpr, kind="stable")
    f, t = np.asarray(fpr, float)[order], np.asarray(tpr, float)[order]
    best_left = np.maximum.accumulate(t)  # max TPR at FPR <= f
    grid = np.arange(STEPS + 1) / STEPS
    idx = np.searchsorted(f, grid + EPS, side="right") - 1
    values = np.where(idx >= 0, best_left[np.maximum(idx, 0)], 0.0)
    return [(int(k), float(v)) for k, v in enumerate(values)]


def curve_histories(core: BinaryCore) -> dict[str, list[tuple[int, float]]]:
    """``{"pr_curve": [...], "roc_curve": [...]}`` from full-resolution curves; empty when the
    labels hold one class only (both curves are undefined then)."""
    if core.roc is None or core.pr is None:
        return {}
    fpr, tpr, _ = core.roc
    precision, recall, _ = core.pr
    return {"pr_curve": pr_history(precision, recall), "roc_curve": roc_history(fpr, tpr)}
