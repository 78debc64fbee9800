"""Pure functions on (y_true, scores): metrics, curves, business cost, intervals and plots.

Imports numpy, scipy, scikit-learn, matplotlib and pyarrow only (never MLflow or TensorFlow)::

    >>> from modeler.evaluation import evaluate_binary
    >>> metrics, curves = evaluate_binary([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.3], threshold=0.5)
    >>> metrics["recall"]
    0.5

A run's whole evaluation (metrics with intervals, the decision threshold, curve histories and
the ``eval/`` files) is ``build_report(y_val, outputs, costs=...)``; comparing runs evaluated on
the same rows is ``paired(labels, {"run": scores, ...})``.
"""

from modeler.evaluation.cost import (
    Costs,
    cost_at,
    cost_curve,
    cost_metrics,
    cost_report,
    parse_costs,
)
from modeler.evaluation.curves import (
    binary_curves,
    evaluate_binary,
    multiclass_curves,
    regression_payload,
    thin_curve,
)
from modeler.evaluation.metrics import (
    as_binary_scores,
    binary_metrics,
    check_binary_labels,
    check_threshold,
    infer_task,
    multiclass_metrics,
    regression_metrics,
)
from modeler.evaluation.paired import paired
from modeler.evaluation.report import EvalReport, build_report
from modeler.evaluation.scores import read_scores, scores_parquet, scores_table
from modeler.evaluation.tasks import resolve_task

# Plots load matplotlib, so they are imported on first use: metrics alone stay light.
_PLOTS = (
    "confusion_png",
    "cost_png",
    "draw_cost",
    "draw_pr",
    "draw_roc",
    "pr_png",
    "regression_png",
    "roc_png",
)


def __getattr__(name: str):
    if name in _PLOTS:
        from modeler.evaluation import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'modeler.evaluation' has no attribute {name!r}")


__all__ = [
    "Costs",
    "EvalReport",
    "as_binary_scores",
    "binary_curves",
    "binary_metrics",
    "build_report",
    "check_binary_labels",
    "check_threshold",
    "confusion_png",
    "cost_at",
    "cost_curve",
    "cost_metrics",
    "cost_png",
    "cost_report",
    "draw_cost",
    "draw_pr",
    "draw_roc",
    "evaluate_binary",
    "infer_task",
    "multiclass_curves",
    "multiclass_metrics",
    "paired",
    "parse_costs",
    "pr_png",
    "read_scores",
    "regression_metrics",
    "regression_payload",
    "resolve_task",
    "roc_png",
    "scores_parquet",
    "scores_table",
    "thin_curve",
]
