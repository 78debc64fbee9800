"""Logging an evaluation computed in Spark: ``accu.evaluate_spark``.

The numbers come from :func:`modeler.spark.spark_evaluation` (the DataFrame is never
collected); this writes them into a run with the same layout as an in-memory evaluation:
``eval.*`` metrics, the ``eval.pr_curve`` / ``eval.roc_curve`` histories, ``eval/curves.json``,
``eval/cost_curve.json`` and the PNGs.

>>> accu.evaluate_spark(df, label_col="isFraud", score_col="p", run_id=run_id)  # doctest: +SKIP
{'roc_auc': 0.93, ...}
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from modeler import layout


@dataclass
class _Report:
    """The shape ``write_report`` takes."""

    metrics: dict[str, float]
    histories: dict[str, list[tuple[int, float]]]
    tags: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _png(draw: Any, *args: Any, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    draw(*args, buffer, **kwargs)
    return buffer.getvalue()


def report_of(ev: Any, threshold: float) -> _Report:
    """The run content of a :class:`modeler.spark.SparkEvaluation`."""
    from modeler.evaluation import plots

    tags = {
        layout.TASK: "binary",
        layout.THRESHOLD: repr(threshold),
        layout.EVAL_SOURCE: "spark",
        "modeler.spark_mode": "exact" if ev.exact else "binned",
    }
    if not ev.exact:
        tags["modeler.spark_error_bounds"] = json.dumps(ev.error_bounds, sort_keys=True)
    files = {
        "curves.json": json.dumps(ev.curves).encode(),
        "roc.png": _png(plots.roc_png, ev.curves),
        "pr.png": _png(plots.pr_png, ev.curves),
        "confusion_matrix.png": _png(plots.confusion_png, ev.metrics, threshold=threshold),
    }
    if ev.cost_curve is not None:
        files["cost_curve.json"] = json.dumps(ev.cost_curve).encode()
        files["cost_curve.png"] = _png(plots.cost_png, ev.cost_curve)
    return _Report(dict(ev.metrics), dict(ev.histories), tags, files)


def evaluate_spark(
    hooks: Any,
    df: Any,
    *,
    label_col: str,
    score_col: str,
    run_id: str | None = None,
    model: Any = None,
    prefix: str = layout.EVAL,
    threshold: float | None = None,
    fn_cost_col: str | float | None = None,
    fp_cost: float | None = None,
    tp_gain_col: str | float | None = None,
    exact: bool = True,
    bins: int | None = None,
) -> dict[str, float]:
    """Evaluate scores held in a Spark DataFrame and log it (see ``accu.evaluate_spark``)."""
    from modeler.evaluation.metrics import check_threshold
    from modeler.spark import DEFAULT_BINS, spark_evaluation
    from modeler.tracking.autolog import writer_of
    from modeler.tracking.evaluate import write_report
    from modeler.tracking.writer import RunWriter

    threshold = check_threshold(hooks.options.threshold if threshold is None else threshold)
    ev = spark_evaluation(
        df,
        label_col=label_col,
        score_col=score_col,
        threshold=threshold,
        fn_cost_col=fn_cost_col,
        fp_cost=fp_cost,
        tp_gain_col=tp_gain_col,
        exact=exact,
        bins=DEFAULT_BINS if bins is None else bins,
    )
    tracking = hooks.tracking()
    earlier = writer_of(hooks, model) if model is not None else None
    if run_id is not None:
        writer = RunWriter.attach(tracking, run_id)
    elif earlier is not None:
        writer = RunWriter.attach(tracking, to=earlier)
        hooks.evaluated(earlier)
    else:
        writer = RunWriter.start(tracking, "spark", tags=hooks.options.tags)
        hooks.last_writer = writer
    try:
        write_report(writer.journal, report_of(ev, threshold), prefix=prefix)
    except BaseException:
        writer.end("FAILED")
        raise
    writer.end("FINISHED")
    return dict(ev.metrics)
