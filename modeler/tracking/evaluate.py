"""Final evaluation of a run: ``eval.*`` metrics and the ``eval/`` artifacts.

>>> log_evaluation(writer, y_val, model_outputs, threshold=0.5)      # doctest: +SKIP
{'roc_auc': 0.93, 'pr_auc': 0.81, ...}

Writes ``eval/curves.json`` (the one file ``compare`` reads), ``eval/roc.png``, ``eval/pr.png``,
``eval/confusion_matrix.png`` and, with costs, ``eval/cost_curve.json`` / ``eval/cost_curve.png``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from modeler.errors import EvaluationError

MAX_POINTS = 1000


def _squeeze(outputs: Any) -> np.ndarray:
    arr = np.asarray(outputs)
    return arr[:, 0] if arr.ndim == 2 and arr.shape[1] == 1 else arr


def resolve_task(y_true: Any, outputs: Any) -> tuple[str, np.ndarray, dict[str, str]]:
    """The task and the outputs to score; logits of a binary model go through a sigmoid."""
    from scipy.special import expit

    from modeler.evaluation import infer_task

    y = np.asarray(y_true)
    out = np.asarray(outputs)
    if out.ndim == 0 or len(out) == 0:
        raise EvaluationError("validation data is empty: expected at least one row, got 0")
    if y.shape[0] != out.shape[0]:
        raise EvaluationError(
            f"model outputs have {out.shape[0]} rows but the labels have {y.shape[0]}: "
            "expected one prediction per label"
        )
    task = infer_task(y, out)
    flat = _squeeze(out)
    labels = np.unique(y[~np.isnan(y)] if y.dtype.kind == "f" else y) if y.ndim == 1 else None
    binary_y = labels is not None and set(labels.tolist()) <= {0, 1} and len(labels) > 0
    if task == "regression" and binary_y and flat.ndim == 1 and np.isfinite(flat).all():
        # one unbounded output with 0/1 labels: logits, scored through a sigmoid
        return "binary", expit(flat.astype(float)), {"modeler.score_transform": "sigmoid"}
    if task == "regression" and labels is not None and len(labels) <= 2:
        from modeler.evaluation import check_binary_labels

        # two label values that are not 0/1: a clear error, not a "regression"
        check_binary_labels(y)
    return task, out, {}


def log_evaluation(
    writer: Any,
    y_true: Any,
    outputs: Any,
    *,
    threshold: float = 0.5,
    costs: Any = None,
    frame: Any = None,
    sample_weight: Any = None,
    classes: list[str] | None = None,
    extra_tags: dict[str, str] | None = None,
    prefix: str = "eval",
) -> dict[str, float]:
    """Compute the final evaluation once and write it to the run. Returns the metrics.

    ``prefix`` names the metrics (``<prefix>.roc_auc``) and the artifact folder; the
    default ``eval`` is what ``compare`` reads. Another prefix (``test``) keeps a second
    evaluation beside it, with tags ``modeler.<prefix>_source`` / ``modeler.<prefix>_threshold``.
    """
    from modeler.evaluation import check_threshold

    threshold = check_threshold(threshold)
    task, outputs, tags = resolve_task(y_true, outputs)
    tags = {
        **tags,
        **(extra_tags or {}),
        "modeler.task": task,
        "modeler.threshold": repr(threshold),
    }
    if prefix != "eval":
        tags = {
            k.replace("modeler.eval_", f"modeler.{prefix}_").replace(
                "modeler.threshold", f"modeler.{prefix}_threshold"
            ): v
            for k, v in tags.items()
            if k != "modeler.task"
        }
    with tempfile.TemporaryDirectory(prefix="modeler-eval-") as tmp:
        out = Path(tmp)
        if task == "binary":
            metrics = _binary(out, y_true, outputs, threshold, costs, frame, sample_weight)
        elif task == "multiclass":
            metrics = _multiclass(out, y_true, outputs, classes)
        else:
            metrics = _regression(out, y_true, outputs)
        writer.set_tags(tags)
        writer.log_metrics({f"{prefix}.{k}": v for k, v in metrics.items()}, flush=True)
        writer.log_dir(out, prefix)
    return metrics


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload), encoding="utf-8")


def _binary(out, y_true, outputs, threshold, costs, frame, sample_weight):
    from modeler.evaluation import as_binary_scores, check_binary_labels, evaluate_binary, plots

    scores = as_binary_scores(outputs)
    labels = check_binary_labels(y_true)
    metrics, curves = evaluate_binary(
        labels, scores, threshold=threshold, max_points=MAX_POINTS, sample_weight=sample_weight
    )
    _write_json(out / "curves.json", curves)
    plots.roc_png(curves, out / "roc.png")
    plots.pr_png(curves, out / "pr.png")
    plots.confusion_png(metrics, out / "confusion_matrix.png")
    if costs is not None:
        from modeler.evaluation.cost import cost_report, parse_costs

        spec = parse_costs(costs, n=len(labels), frame=frame)
        cost_metrics, curve = cost_report(labels, scores, spec, threshold, max_points=MAX_POINTS)
        metrics.update(cost_metrics)
        _write_json(out / "cost_curve.json", curve)
        plots.cost_png(curve, out / "cost_curve.png")
    return metrics


def _multiclass(out, y_true, outputs, classes):
    from modeler.evaluation import multiclass_curves, multiclass_metrics, plots

    proba = np.asarray(outputs, dtype=float)
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == proba.shape[1]:  # one-hot labels
        y = y.argmax(axis=1)
    y = y.reshape(-1).astype(int)
    names = classes or [str(i) for i in range(proba.shape[1])]
    metrics = multiclass_metrics(y, proba)
    curves = multiclass_curves(y, proba, names, max_points=MAX_POINTS)
    _write_json(out / "curves.json", curves)
    plots.roc_png(curves, out / "roc.png")
    plots.pr_png(curves, out / "pr.png")
    return metrics


def _regression(out, y_true, outputs):
    from modeler.evaluation import plots, regression_metrics, regression_payload

    y = np.asarray(y_true, dtype=float).reshape(-1)
    pred = _squeeze(np.asarray(outputs, dtype=float)).reshape(-1)
    payload = regression_payload(y, pred, max_points=MAX_POINTS)
    _write_json(out / "curves.json", payload)
    plots.regression_png(payload, out / "true_vs_predicted.png")
    return regression_metrics(y, pred)
