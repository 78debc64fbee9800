"""The interactive comparison report: one self-contained HTML file that works offline.

``compare`` gathers the runs; this module turns each run's stored evaluation into operating
points (threshold, true and false positives, cost) and renders ``report.html``::

    >>> ops = operating_points([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.3], fn_cost=100.0, fp_cost=5.0)
    >>> ops["t"][-1] > 0.8, ops["tp"], ops["cost"]     # increasing t; the last flags nothing
    (True, [2.0, 2.0, 2.0, 1.0, 0.0], [10.0, 5.0, 0.0, 100.0, 200.0])

The page needs no network: the charting library and the data are inlined, so it also runs
inside MLflow's artifact viewer (an iframe from a blob URL, ``sandbox="allow-scripts"``).

Charting library: Chart.js 4.6.1, the UMD build from npm (``chart.js``, MIT licence, in
``templates/chart.umd.min.js`` byte for byte; see ``CHARTJS_SHA256``). Chosen on file size and
load speed. Measured in headless Chromium 156 on this project's two-core machine, a page with
three charts of ten runs x 1,000 points each (median of five loads, load event):
Chart.js 205 KB, 0.51 s; Plotly's basic bundle 1.16 MB, 0.81 s; Vega + Vega-Lite + vega-embed
0.81 MB, 0.89 s; uPlot 49 KB, 0.23 s. uPlot is smaller still, but hover tooltips, click
hit-testing and marker shapes would all be code of ours; Chart.js ships them, plus log axes and
filled bands, in a fifth of Plotly's size, and it draws on a canvas, which works in MLflow's
sandboxed iframe.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from modeler.errors import EvaluationError
from modeler.evaluation.scores import on_score_grid

CHARTJS_FILE = "chart.umd.min.js"
CHARTJS_VERSION = "4.6.1"
# sha256 of the npm package's dist/chart.umd.min.js: the vendored file is that file, unchanged.
CHARTJS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"
TEMPLATE = "report.html.j2"

# Operating points kept per run. Each is exact (counted over every row); the slider, the
# hover and the constraint search move over them. 2,000 points x 10 runs is ~0.7 MB of JSON.
OPS_POINTS = 2000


# --- operating points -------------------------------------------------------------------------
def _per_row(name: str, value: Any, n: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    arr = arr.ravel()
    if len(arr) != n:
        raise EvaluationError(
            f"{name} must be one number or one value per row ({n}); got {len(arr)}"
        )
    if not np.isfinite(arr).all():
        raise EvaluationError(f"{name} must be finite; {int((~np.isfinite(arr)).sum())} are not")
    return arr


def _or0(value: Any) -> Any:
    return 0.0 if value is None else value


def _marks_index(thr_desc: np.ndarray, marks: Iterable[float | None]) -> np.ndarray:
    """For each mark t, the point that flags exactly the rows with score >= t."""
    t = np.array([m for m in marks if m is not None and math.isfinite(m)], dtype=np.float64)
    # thresholds are decreasing: the last one still >= t flags {score >= t}
    i = np.searchsorted(-thr_desc, -t, side="right") - 1
    return np.maximum(i, 0)


def operating_points(
    labels: Any,
    scores: Any,
    *,
    weight: Any = None,
    fn_cost: Any = None,
    fp_cost: Any = None,
    tp_gain: Any = None,
    marks: Sequence[float | None] = (),
    max_points: int = OPS_POINTS,
) -> dict[str, Any]:
    """Exact confusion counts and cost at up to ``max_points`` thresholds, from every row.

    A row is flagged when ``score >= t``. Every distinct score is a threshold, plus one above
    the highest score (flag nothing). When there are more than ``max_points``, the points kept
    are the union of the ones that carry the shape of the ROC, PR and cost curves, points spread
    evenly in rank and in threshold, and the points of ``marks`` (e.g. 0.5, the decision
    threshold) and of the cost optimum. ``weight`` counts a row that many times (a sampled
    negative stands for several); costs are per row or one number each.

    Returns ``{"t", "tp", "fp", "cost", "P", "N", "exact": True}`` with ``t`` increasing; ``cost``
    is None without costs.
    """
    from modeler.evaluation.curves import thin_curve

    y = np.asarray(labels).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if len(y) != len(s) or len(y) == 0:
        raise EvaluationError(
            f"labels and scores must be non-empty and of equal length; got {len(y)} and {len(s)}"
        )
    if not np.isin(y, (0, 1)).all():
        raise EvaluationError(f"labels must be 0 or 1; got values {np.unique(y)[:5].tolist()}")
    if not np.isfinite(s).all():
        raise EvaluationError(f"scores must be finite; {int((~np.isfinite(s)).sum())} are not")
    pos = y.astype(bool)
    n = len(y)
    w = np.ones(n) if weight is None else _per_row("weight", weight, n)
    order = np.argsort(-s)  # tied scores are one point below: their order does not matter
    s_desc = s[order]
    last = np.flatnonzero(np.append(s_desc[1:] != s_desc[:-1], True))
    pos_desc, w_desc = pos[order], w[order]
    tp = np.concatenate(([0.0], np.cumsum(w_desc * pos_desc)[last]))
    fp = np.concatenate(([0.0], np.cumsum(w_desc * ~pos_desc)[last]))
    thr = np.concatenate(([np.nextafter(s_desc[0], np.inf)], s_desc[last]))
    cost = None
    if fn_cost is not None or fp_cost is not None or tp_gain is not None:
        fn_row = w_desc * pos_desc * _per_row("fn cost", _or0(fn_cost), n)[order]
        fp_row = w_desc * ~pos_desc * _per_row("fp cost", _or0(fp_cost), n)[order]
        gain = w_desc * pos_desc * _per_row("tp gain", _or0(tp_gain), n)[order]
        cost = (
            float(fn_row.sum())
            - np.concatenate(([0.0], np.cumsum(fn_row)[last]))
            + np.concatenate(([0.0], np.cumsum(fp_row)[last]))
            - np.concatenate(([0.0], np.cumsum(gain)[last]))
        )
    m = len(thr)
    if m > max_points:
        k = max(2, max_points // 6)
        big_p, big_n = max(tp[-1], 1e-300), max(fp[-1], 1e-300)
        flagged = tp + fp
        precision = np.divide(tp, flagged, out=np.ones(m), where=flagged > 0)
        parts = [
            thin_curve(fp / big_n, tp / big_p, k),
            thin_curve(tp / big_p, precision, k),
            np.linspace(0, m - 1, k).round().astype(np.int64),
            # evenly spread in threshold value: the slider then also moves in even steps of t
            _marks_index(thr, np.linspace(thr[-1], thr[0], k)),
            _marks_index(thr, marks),
        ]
        if cost is not None:
            parts += [thin_curve(thr, cost, k), np.array([np.argmin(cost)])]
        keep = np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]))
    else:
        keep = np.arange(m)
    keep = keep[::-1]  # increasing threshold
    return {
        "t": thr[keep].tolist(),
        "tp": tp[keep].tolist(),
        "fp": fp[keep].tolist(),
        "cost": None if cost is None else cost[keep].tolist(),
        "P": float(tp[-1]),
        "N": float(fp[-1]),
        "exact": True,
    }


def points_from_curves(curves: dict, cost_curve: dict | None = None) -> dict[str, Any]:
    """Operating points of a run that stored no scores, from ``eval/curves.json``.

    The ROC points give exact counts at their thresholds (``tp = tpr * P``, ``fp = fpr * N``);
    the cost of each comes from ``eval/cost_curve.json`` at the nearest stored threshold at or
    above it, which is exact only where both files kept the same threshold: ``exact`` is False.

    >>> c = {"n": 4, "positives": 2, "roc": {"fpr": [0, 0.5, 1], "tpr": [0, 1, 1],
    ...      "thresholds": [0.9, 0.4, 0.1]}}
    >>> points_from_curves(c)["tp"]
    [2.0, 2.0, 0.0]
    """
    roc = curves.get("roc") or {}
    big_p = float(curves.get("positives") or 0)
    big_n = float(curves.get("n") or 0) - big_p
    t = np.asarray(roc.get("thresholds") or [], dtype=np.float64)
    tpr = np.asarray(roc.get("tpr") or [], dtype=np.float64)
    fpr = np.asarray(roc.get("fpr") or [], dtype=np.float64)
    if not (len(t) == len(tpr) == len(fpr)):
        raise EvaluationError(
            f"curves.json 'roc' lists differ in length: thresholds {len(t)}, tpr {len(tpr)}, "
            f"fpr {len(fpr)}"
        )
    order = np.argsort(t, kind="stable")
    t, tpr, fpr = t[order], tpr[order], fpr[order]
    cost = None
    if cost_curve and cost_curve.get("thresholds"):
        ct = np.asarray(cost_curve["thresholds"], dtype=np.float64)
        cc = np.asarray(cost_curve["cost"], dtype=np.float64)
        j = np.searchsorted(ct, t, side="left")
        approve_all = float(cost_curve.get("approve_all_cost", cc[-1]))
        cost = np.where(j < len(ct), cc[np.minimum(j, len(ct) - 1)], approve_all).tolist()
    return {
        "t": t.tolist(),
        "tp": (tpr * big_p).tolist(),
        "fp": (fpr * big_n).tolist(),
        "cost": cost,
        "P": big_p,
        "N": big_n,
        "exact": False,
    }


# --- rendering --------------------------------------------------------------------------------
def _rounded(values: Sequence[float] | None, digits: int) -> list[float | int | None] | None:
    """Shorter JSON: ``digits`` significant digits; whole numbers as ints."""
    if values is None:
        return None
    out: list[float | int | None] = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
        elif float(v).is_integer() and abs(v) < 2**53:
            out.append(int(v))
        else:
            out.append(float(f"{v:.{digits}g}"))
    return out


def compact_points(ops: dict[str, Any]) -> dict[str, Any]:
    """Operating points with counts and costs cut to what the page shows.

    Thresholds stay exact (they are scores; a rounded one could flag a row less).
    """
    return {
        **ops,
        "t": _rounded(ops["t"], 17),
        "tp": _rounded(ops["tp"], 7),
        "fp": _rounded(ops["fp"], 7),
        "cost": _rounded(ops["cost"], 8),
    }


def chartjs_source() -> str:
    """The vendored Chart.js, checked against its npm checksum, ready to inline."""
    from importlib.resources import files

    data = (files("modeler") / "templates" / CHARTJS_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != CHARTJS_SHA256:
        raise EvaluationError(
            f"modeler/templates/{CHARTJS_FILE} is not Chart.js {CHARTJS_VERSION} from npm: "
            f"sha256 {digest}, expected {CHARTJS_SHA256}"
        )
    text = data.decode("utf-8")
    # An inlined script has no file beside it: drop the source-map pointer.
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("//# sourceMappingURL"))


def script_json(payload: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` can end it)."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_report(**context: Any) -> str:
    """Render ``templates/report.html.j2`` with Chart.js and the data inlined.

    ``context["data"]`` is the page's JSON payload; the rest are template variables.
    """
    from importlib.resources import files

    import jinja2
    from markupsafe import Markup

    source = (files("modeler") / "templates" / TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    data = context.pop("data")
    return env.from_string(source).render(
        chartjs=Markup(chartjs_source()), data_json=Markup(script_json(data)), **context
    )


# --- the page's data --------------------------------------------------------------------------
def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def run_payload(
    *,
    label: str,
    run: Any,
    curves: dict,
    cost_curve: dict | None,
    scores: Any,
    threshold: float,
    decision: float | None,
    color: str,
) -> dict[str, Any]:
    """One run's entry in the page's data: operating points, marks, intervals.

    ``scores`` is the run's stored rows (``modeler.evidence.RunScores``) or None; with them
    the operating points are exact, else they come from ``curves`` / ``cost_curve``.
    """
    metrics = run.data.metrics
    if scores is not None:
        ops = operating_points(
            scores.labels,
            scores.scores,
            weight=scores.weight,
            fn_cost=scores.fn_cost,
            fp_cost=scores.fp_cost,
            tp_gain=scores.tp_gain,
            marks=[on_score_grid(scores.scores, t) for t in (0.5, threshold, decision)],
        )
        if not scores.has_costs:
            ops["cost"] = None
        weighted = scores.weight is not None and not np.all(scores.weight == 1)
    else:
        ops = points_from_curves(curves, cost_curve)
        weighted = False
    # the interval of the cost at the decision threshold (else at the run's threshold)
    key = "eval.cost_at_decision" if decision is not None else "eval.cost"
    cost_ci = [_finite(metrics.get(f"{key}.ci_low")), _finite(metrics.get(f"{key}.ci_high"))]
    payload = compact_points(ops)
    grid = scores.scores if scores is not None else None
    payload.update(
        # where the page looks the marks up: on the stored scores' float32 grid (see on_score_grid)
        threshold_at=on_score_grid(grid, threshold),
        decision_at=on_score_grid(grid, decision),
        label=label,
        short=short_name(label),
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        color=color,
        weighted=bool(weighted),
        threshold=threshold,
        decision=decision,
        auc_roc=_finite(metrics.get("eval.roc_auc")),
        auc_pr=_finite(metrics.get("eval.pr_auc")),
        cost_ci=cost_ci if None not in cost_ci and ops["cost"] is not None else None,
        cost_ci_at=decision if decision is not None else threshold,
        band=_band(cost_curve),
        unstable=run.data.tags.get("modeler.threshold_unstable") == "true",
    )
    return payload


def _band(cost_curve: dict | None) -> dict[str, Any] | None:
    """The cost curve's interval band (``cost_curve.json``'s ``band``), when the run has one."""
    band = (cost_curve or {}).get("band")
    if not isinstance(band, dict):
        return None
    t, lo, hi = band.get("thresholds"), band.get("low"), band.get("high")
    if not (isinstance(t, list) and isinstance(lo, list) and isinstance(hi, list)):
        return None
    if not len(t) == len(lo) == len(hi) or not t:
        return None
    return {"t": _rounded(t, 17), "lo": _rounded(lo, 7), "hi": _rounded(hi, 7)}


def short_name(name: str, width: int = 26) -> str:
    """A name cut in the middle, so the start (model type) and the end (unique suffix) show.

    >>> short_name("LogisticRegression-smote-tomek-3F2A91_2", 24)
    'LogisticRegre…k-3F2A91_2'
    """
    if len(name) <= width:
        return name
    tail = min(10, width // 2 - 1)
    return name[: width - tail - 1] + "…" + name[-tail:]


# --- the table --------------------------------------------------------------------------------
# Columns kept on narrow screens (MLflow's artifact viewer can be 600 px wide): 1 always,
# 2 from 760 px, 3 from 1,180 px; "show all columns" shows every one (the table then scrolls).
PRIORITY = {
    "Model Version": 1,
    "AUC": 1,
    "PR-AUC": 1,
    "Cost at decision": 1,
    "PR-AUC vs best": 1,
    "Cost vs best": 1,
    "Precision": 2,
    "Recall": 2,
    "F1-score": 2,
    "Decision threshold": 2,
    "Savings": 2,
}
# Table column -> (header shown, tooltip)
HEADERS = {
    "Model Version": ("Model version", "run name, or <run name>_<version> when registered"),
    "Run": ("Run", "run name"),
    "Sampling": ("Sampling", "how the training data was balanced"),
    "AUC": ("ROC-AUC", "area under the ROC curve"),
    "PR-AUC": ("PR-AUC", "average precision: area under the precision-recall curve"),
    "Precision": ("Prec.", "precision at the run's threshold"),
    "Recall": ("Recall", "recall at the run's threshold"),
    "F1-score": ("F1", "F1 at the run's threshold"),
    "Threshold": ("Thr.", "the run's threshold for precision, recall and F1"),
    "Decision threshold": ("Decision thr.", "the run's decision threshold (chosen on cost)"),
    "Cost": ("Cost at thr.", "total cost at the run's threshold"),
    "Cost at decision": ("Cost at decision", "total cost at the run's decision threshold"),
    "Optimal threshold": (
        "Opt. thr.",
        "threshold of the lowest cost on the validation rows: hindsight, not a decision",
    ),
    "Cost at optimal": ("Cost at opt.", "the lowest cost on the validation rows (hindsight)"),
    "Savings": (
        "Savings",
        "the cheaper trivial policy's cost (flag all or none) minus the cost at the decision",
    ),
    "PR-AUC vs best": ("Δ PR-AUC", "PR-AUC minus the best run's, paired on the same rows"),
    "Cost vs best": ("Δ cost", "cost at decision minus the best run's, paired on the same rows"),
}


def _num(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _short_number(col: str, v: float) -> str:
    if col.startswith(("Cost", "Savings")):
        a = abs(v)
        if a >= 1e6:
            return f"{v / 1e6:.3g}M"
        if a >= 1e4:
            return f"{v / 1e3:.3g}k"
        return f"{v:,.0f}" if a >= 100 else f"{v:.3g}"
    if "thr" in col.lower() or col == "Threshold":
        return f"{v:.4g}"
    if col.endswith("vs best"):
        return f"{v:+.4f}"
    return f"{v:.4f}"


def _ci_number(col: str, v: float) -> str:
    """An interval's end: one digit less than its value, so the second line stays narrow."""
    if col in ("AUC", "PR-AUC", "Precision", "Recall", "F1-score"):
        return f"{v:.3f}"
    if "threshold" in col.lower():
        return f"{v:.3g}"
    if col.endswith("vs best") and not col.startswith("Cost"):
        return f"{v:+.3f}"
    return _short_number(col, v)


def html_table(
    table: Any,
    best_rows: dict[str, list[int]],
    *,
    colors: Sequence[str],
    run_ids: Sequence[str],
    experiment_ids: Sequence[str],
    cheapest: str | None,
    unstable: Sequence[bool] = (),
) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Header and row cells of the report's table: short numbers, intervals on a second line.

    ``table`` is the comparison's ``modeler.compare.Table`` (``columns``, one dict per row).
    Interval columns (``<col> low/high``) and marks (``<col> like best``) go inside their
    value's cell; the full value is the cell's tooltip and its sort key. Columns with one
    value for all runs (Sampling, Threshold) are left out and returned as ``{column: value}``.
    """
    shown = [
        c
        for c in table.columns
        if not c.endswith((" low", " high", " like best"))
        and not (c == "Run" and table.column("Run") == table.column("Model Version"))
    ]
    # A column with one value for every run says it once, in the note under the table.
    constant = {}
    for col in ("Sampling", "Threshold"):
        if col in shown and len(table) > 1 and table.constant(col):
            constant[col] = table.rows[0][col]
            shown.remove(col)
    columns = []
    for col in shown:
        label, title = HEADERS.get(col, (col, col))
        kind = "name" if col in ("Model Version", "Run") else "text" if col == "Sampling" else "num"
        columns.append(
            {"label": label, "title": title, "kind": kind, "priority": PRIORITY.get(col, 3)}
        )
    rows = []
    for i, record in enumerate(table.rows):
        cells = []
        for col in shown:
            cell = _cell(record, col, i in best_rows.get(col, ()))
            cell["priority"] = PRIORITY.get(col, 3)
            cells.append(cell)
        if cheapest is not None and record["Model Version"] == cheapest:
            cells[0]["badge"] = "cheapest"
        if i < len(unstable) and unstable[i] and "Decision threshold" in shown:
            cell = cells[shown.index("Decision threshold")]
            cell["badge"], cell["badge_kind"] = "unstable", ""
            cell["title"] += " (not reliable: see the run's warning)"
        rows.append(
            {
                "color": colors[i],
                "run_id": run_ids[i],
                "experiment_id": experiment_ids[i],
                "cells": cells,
            }
        )
    return columns, rows, constant


def _cell(record: dict[str, Any], col: str, best: bool) -> dict[str, Any]:
    value = record[col]
    v = _num(value)
    if col in ("Model Version", "Run", "Sampling"):
        return {"text": str(value), "sort": str(value), "title": str(value), "best": False}
    cell: dict[str, Any] = {
        "text": "-" if v is None else _short_number(col, v),
        "sort": "" if v is None else repr(v),
        "title": "" if v is None else f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.2f}",
        "best": best,
        "kind": "num",
    }
    low, high = _num(record.get(f"{col} low")), _num(record.get(f"{col} high"))
    if low is not None and high is not None:
        # thin spaces around the dash, true minus signs: "−0.647 – −0.551" reads as a range
        ends = [_ci_number(col, x).replace("-", "\u2212") for x in (low, high)]
        cell["ci"] = f"{ends[0]}\u2009–\u2009{ends[1]}"
        cell["title"] += f" (95% interval {low:,.6g} to {high:,.6g})"
    like = record.get(f"{col} like best")
    if like is not None and not (isinstance(like, float) and math.isnan(like)):
        if v == 0 and bool(like):  # the best run itself
            cell["badge"], cell["badge_kind"], cell["text"] = "best", "same", ""
            cell.pop("ci", None)
        elif bool(like):
            cell["badge"], cell["badge_kind"] = "≈ best", "same"
    return cell
