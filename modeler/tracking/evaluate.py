"""A run's final evaluation, in two halves: a snapshot before ``fit`` returns, a report after.

The snapshot holds exactly what the evaluation needs — labels, model outputs, weights and
per-row costs, copied as they are when ``fit`` returns — in the run's journal
(``snapshot/<prefix>-<n>/``, fsync'ed). The report (``eval.*`` metrics, curve histories and
the ``eval/`` files) is computed from it later, on the background thread or by whoever completes
the journal after a crash; the computation is deterministic, so doing it twice logs the same.

>>> op = take_snapshot(journal, y_val, outputs, threshold=0.5)     # doctest: +SKIP
>>> metrics = materialize(journal, op)                             # doctest: +SKIP
{'roc_auc': 0.93, 'pr_auc': 0.81, ...}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeler import layout
from modeler.tracking.journal import Journal, fsync_tree

MAX_POINTS = 1000
# problems that leave nothing to evaluate: a warning in a fit, an error in accu.evaluate
FATAL = ("modeler.scores_invalid", "modeler.task_mismatch")


@dataclass
class Snapshot:
    """What one evaluation needs, frozen when it is taken."""

    y_true: np.ndarray
    outputs: np.ndarray
    prefix: str = layout.EVAL
    threshold: float = 0.5
    sample_weight: np.ndarray | None = None
    classes: list[str] | None = None
    cost_fn: Any = None  # float or per-row array; None without costs
    cost_fp: float | None = None
    cost_tp: Any = 0.0
    cost_error: str | None = None  # why the costs given could not be used
    decision_threshold: float | None = None  # a test evaluation: the run's decision threshold
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def costs(self) -> Any:
        if self.cost_fn is None or self.cost_fp is None:
            return None
        from modeler.evaluation.cost import Costs

        return Costs(fn=self.cost_fn, fp=self.cost_fp, tp_gain=self.cost_tp)


def _array(values: Any) -> np.ndarray:
    """A copy (later changes by the caller do not reach it) that saves without pickle: Python
    objects become the numbers or booleans they hold, else text."""
    arr = np.array(values, copy=True)
    if arr.dtype != object:
        return arr
    try:
        inferred = np.array(arr.tolist())
    except (TypeError, ValueError):  # ragged
        return arr.astype(str)
    return inferred if inferred.dtype != object else arr.astype(str)


def make_snapshot(
    y_true: Any,
    outputs: Any,
    *,
    prefix: str = layout.EVAL,
    threshold: float = 0.5,
    costs: Any = None,
    frame: Any = None,
    sample_weight: Any = None,
    classes: list[str] | None = None,
    decision_threshold: float | None = None,
    tags: dict[str, str] | None = None,
) -> Snapshot:
    """Copy what the evaluation needs; per-row costs are resolved now, against ``frame``.

    Costs that cannot be used (a column the validation data lacks, a wrong length) drop only
    the cost part of the evaluation: the reason is kept and reported with the run.
    """
    y = _array(y_true)
    out = _array(outputs)
    snap = Snapshot(
        y,
        out,
        prefix=prefix,
        threshold=float(threshold),
        sample_weight=None if sample_weight is None else _array(sample_weight),
        classes=list(classes) if classes is not None else None,
        decision_threshold=decision_threshold,
        tags=dict(tags or {}),
    )
    if costs is not None:
        from modeler.errors import ModelerError
        from modeler.evaluation.cost import parse_costs

        try:
            parsed = parse_costs(costs, n=len(y), frame=frame)
        except ModelerError as exc:
            snap.cost_error = str(exc)
        else:
            snap.cost_fn = _array(parsed.fn) if np.ndim(parsed.fn) else float(parsed.fn)
            snap.cost_fp = float(parsed.fp)
            tp = parsed.tp_gain
            snap.cost_tp = _array(tp) if np.ndim(tp) else float(tp)
    return snap


def write_snapshot(journal: Journal, snap: Snapshot) -> dict[str, Any]:
    """Write ``snap`` into the journal and append its ``evaluate`` operation (returned)."""
    folder, rel = journal.new_folder(prefix=f"snapshot-{snap.prefix}-")
    arrays: dict[str, Any] = {"y_true": snap.y_true, "outputs": snap.outputs}
    if snap.sample_weight is not None:
        arrays["sample_weight"] = snap.sample_weight
    for key in ("cost_fn", "cost_tp"):
        value = getattr(snap, key)
        if isinstance(value, np.ndarray):
            arrays[key] = value
    np.savez(folder / "data.npz", **arrays)
    meta = {
        "prefix": snap.prefix,
        "threshold": snap.threshold,
        "classes": snap.classes,
        "cost_fn": None if isinstance(snap.cost_fn, np.ndarray) else snap.cost_fn,
        "cost_fp": snap.cost_fp,
        "cost_tp": None if isinstance(snap.cost_tp, np.ndarray) else snap.cost_tp,
        "cost_error": snap.cost_error,
        "decision_threshold": snap.decision_threshold,
        "tags": snap.tags,
    }
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    fsync_tree(folder)
    op = {"op": "evaluate", "snapshot": rel, "prefix": snap.prefix, "time": _now()}
    journal.append(op)
    return op


def read_snapshot(journal: Journal, rel: str) -> Snapshot:
    folder = journal.root / rel
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    with np.load(folder / "data.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return Snapshot(
        arrays["y_true"],
        arrays["outputs"],
        prefix=meta["prefix"],
        threshold=meta["threshold"],
        sample_weight=arrays.get("sample_weight"),
        classes=meta.get("classes"),
        cost_fn=arrays.get("cost_fn", meta.get("cost_fn")),
        cost_fp=meta.get("cost_fp"),
        cost_tp=arrays.get("cost_tp", meta.get("cost_tp") or 0.0),
        cost_error=meta.get("cost_error"),
        decision_threshold=meta.get("decision_threshold"),
        tags=meta.get("tags") or {},
    )


def _now() -> int:
    return int(time.time() * 1000)


def materialize(
    journal: Journal, op: dict[str, Any], report: Any = None
) -> tuple[dict[str, float], list[str]]:
    """Compute the report of an ``evaluate`` operation and journal it as run content.

    Appends the tags, the ``<prefix>.*`` metrics and curve histories (timestamped with the
    snapshot's time, so a second computation after a crash repeats the same points), the
    ``<prefix>/`` files, then an ``evaluated`` marker. Returns the metrics and the warnings.
    """
    snap = read_snapshot(journal, op["snapshot"])
    if report is None:
        report = build(snap)
    write_report(journal, report, prefix=snap.prefix, time_ms=int(op["time"]), tags=snap.tags)
    journal.append({"op": "evaluated", "snapshot": op["snapshot"]})
    return dict(report.metrics), list(report.warnings)


def write_report(
    journal: Journal,
    report: Any,
    *,
    prefix: str = layout.EVAL,
    time_ms: int | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Journal a computed evaluation (``metrics``, ``histories``, ``tags``, ``files``) as the
    run's ``<prefix>.*`` metrics, curve histories and ``<prefix>/`` artifacts."""
    ts = _now() if time_ms is None else time_ms
    all_tags = {**(tags or {}), **report.tags}
    if prefix != layout.EVAL:
        all_tags = _renamed(all_tags, prefix)
    metrics = [[f"{prefix}.{k}", float(v), ts, 0] for k, v in report.metrics.items()]
    for name, points in report.histories.items():
        metrics += [[f"{prefix}.{name}", float(v), ts, int(step)] for step, v in points]
    folder, rel = journal.new_folder(prefix=f"{prefix}-")
    for name, content in report.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    fsync_tree(folder)
    ops: list[dict[str, Any]] = [{"op": "batch", "tags": all_tags}]
    ops += [{"op": "batch", "metrics": metrics[i : i + 1000]} for i in range(0, len(metrics), 1000)]
    ops.append({"op": "artifacts", "dir": rel, "path": prefix})
    journal.append(*ops)


def _renamed(tags: dict[str, str], prefix: str) -> dict[str, str]:
    """Tags of a second evaluation (``test``) never overwrite the run's own: ``modeler.x``
    becomes ``modeler.test_x`` and ``modeler.eval_source`` becomes ``modeler.test_source``."""
    out = {}
    for key, value in tags.items():
        if key == layout.TASK or not key.startswith("modeler."):
            continue
        name = key[len("modeler.") :]
        name = name[len("eval_") :] if name.startswith("eval_") else name
        out[f"modeler.{prefix}_{name}"] = value
    return out


def build(snap: Snapshot) -> Any:
    """The evaluation report of a snapshot (metrics, histories, tags, files, warnings)."""
    from modeler.evaluation.report import build_report

    return build_report(
        snap.y_true,
        snap.outputs,
        threshold=snap.threshold,
        costs=snap.costs,
        cost_error=snap.cost_error,
        sample_weight=snap.sample_weight,
        classes=snap.classes,
        decision_threshold=snap.decision_threshold,
        max_points=MAX_POINTS,
    )


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
    prefix: str = layout.EVAL,
    decision_threshold: float | None = None,
) -> dict[str, float]:
    """Evaluate now and journal it into ``writer``'s run. Returns the metrics.

    ``prefix`` names the metrics (``<prefix>.roc_auc``) and the artifact folder; the
    default ``eval`` is what ``compare`` reads. Another prefix (``test``) keeps a second
    evaluation beside it, with tags ``modeler.<prefix>_source`` / ``modeler.<prefix>_threshold``.
    """
    from modeler.evaluation import check_threshold

    snap = make_snapshot(
        y_true,
        outputs,
        prefix=prefix,
        threshold=check_threshold(threshold),
        costs=costs,
        frame=frame,
        sample_weight=sample_weight,
        classes=classes,
        decision_threshold=decision_threshold,
        tags=extra_tags,
    )
    report = build(snap)
    # asked for explicitly: data that cannot be evaluated at all is the caller's error
    fatal = [report.tags[t] for t in FATAL if t in report.tags]
    if fatal:
        from modeler.errors import EvaluationError

        raise EvaluationError(fatal[0])
    op = write_snapshot(writer.journal, snap)
    metrics, warnings = materialize(writer.journal, op, report)
    writer.report(warnings)
    writer.poke()
    return metrics
