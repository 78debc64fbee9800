"""PNG charts from the curve payloads, with matplotlib's object API (no pyplot, no rcParams).

Each ``*_png`` function writes one file and returns its path::

    >>> metrics, curves = evaluate_binary(y, scores)          # doctest: +SKIP
    >>> roc_png(curves, "eval/roc.png")                       # doctest: +SKIP
    PosixPath('eval/roc.png')

The ``draw_*`` functions draw one run on an Axes the caller owns, so a comparison can overlay
several runs on one chart.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, BinaryIO

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from modeler.errors import EvaluationError

_SIZE = (5.0, 4.2)
_DPI = 100


def _figure(size: tuple[float, float] = _SIZE, left: float = 0.15) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size, dpi=_DPI)
    FigureCanvasAgg(fig)  # an Agg canvas of its own: no pyplot, no global backend
    # Fixed margins: a layout engine would double the drawing time of these small charts.
    fig.subplots_adjust(left=left, right=0.96, bottom=0.12, top=0.91)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: str | os.PathLike | BinaryIO) -> Any:
    """Write the figure as PNG to a path (folders made) or to an open binary file."""
    if hasattr(path, "write"):
        fig.savefig(path, format="png")
        return path
    out = Path(path)  # type: ignore[arg-type]
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def png_bytes(draw: Any, payload: dict, **kwargs: Any) -> bytes:
    """The PNG bytes one of the ``*_png`` functions would write, without a file.

    >>> png_bytes(roc_png, curves)[:4]                  # doctest: +SKIP
    b'\\x89PNG'
    """
    sink = io.BytesIO()
    draw(payload, sink, **kwargs)
    return sink.getvalue()


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _label(label: str | None, metric: str, value: float | None) -> str:
    stat = f"{metric} {_fmt(value)}"
    return stat if label is None else f"{label} ({stat})"


def _task(curves: dict) -> str:
    task = curves.get("task")
    if task not in ("binary", "multiclass"):
        raise EvaluationError(
            f"curves task must be 'binary' or 'multiclass' to draw ROC/PR; got {task!r}"
        )
    return task


def _undefined(ax: Axes, what: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"{what} undefined:\ny_true holds one class only",
        ha="center",
        va="center",
        transform=ax.transAxes,
    )


def _unit_axes(ax: Axes, xlabel: str, ylabel: str) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


# --- ROC --------------------------------------------------------------------------------------
def draw_roc(ax: Axes, curves: dict, label: str | None = None, color: Any = None) -> None:
    """Draw one run's ROC curve on ``ax`` (the macro average for a multi-class run).

    >>> draw_roc(ax, curves, label="run A", color="C0")   # doctest: +SKIP
    """
    roc = curves["macro"]["roc"] if _task(curves) == "multiclass" else curves["roc"]
    _unit_axes(ax, "False positive rate", "True positive rate")
    if not roc["fpr"]:
        _undefined(ax, "ROC")
        return
    ax.plot(roc["fpr"], roc["tpr"], color=color, lw=1.8, label=_label(label, "AUC", roc["auc"]))


def roc_png(curves: dict, path: str | os.PathLike | BinaryIO) -> Any:
    """Write the ROC chart of a binary or multi-class payload to ``path`` (e.g. eval/roc.png).

    >>> roc_png(curves, "eval/roc.png")                  # doctest: +SKIP
    """
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1, label="chance")
    if _task(curves) == "multiclass":
        _unit_axes(ax, "False positive rate", "True positive rate")
        for i, name in enumerate(curves["classes"]):
            roc = curves["per_class"][name]["roc"]
            ax.plot(
                roc["fpr"],
                roc["tpr"],
                lw=1,
                color=f"C{i % 10}",
                label=_label(name, "AUC", roc["auc"]),
            )
        micro = curves["micro"]["roc"]
        ax.plot(
            micro["fpr"],
            micro["tpr"],
            ls="--",
            color="black",
            lw=1.2,
            label=_label("micro", "AUC", micro["auc"]),
        )
        draw_roc(ax, curves, label="macro", color="black")
        ax.set_title(f"ROC (macro AUC {_fmt(curves['macro']['roc']['auc'])})")
    else:
        draw_roc(ax, curves, color="C0")
        ax.set_title(f"ROC (AUC {_fmt(curves['roc']['auc'])})")
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


# --- precision-recall -------------------------------------------------------------------------
def draw_pr(ax: Axes, curves: dict, label: str | None = None, color: Any = None) -> None:
    """Draw one run's precision-recall curve on ``ax`` (the macro average for multi-class).

    The curve is drawn as the step function average precision integrates.

    >>> draw_pr(ax, curves, label="run A", color="C0")    # doctest: +SKIP
    """
    pr = curves["macro"]["pr"] if _task(curves) == "multiclass" else curves["pr"]
    _unit_axes(ax, "Recall", "Precision")
    if not pr["recall"]:
        _undefined(ax, "Precision-recall")
        return
    ax.plot(
        pr["recall"],
        pr["precision"],
        drawstyle="steps-post",
        color=color,
        lw=1.8,
        label=_label(label, "AP", pr["auc"]),
    )


def pr_png(curves: dict, path: str | os.PathLike | BinaryIO) -> Any:
    """Write the precision-recall chart to ``path`` (e.g. eval/pr.png).

    A binary chart shows the no-skill baseline, precision = positives / n.

    >>> pr_png(curves, "eval/pr.png")                    # doctest: +SKIP
    """
    fig, ax = _figure()
    if _task(curves) == "multiclass":
        _unit_axes(ax, "Recall", "Precision")
        for i, name in enumerate(curves["classes"]):
            pr = curves["per_class"][name]["pr"]
            ax.plot(
                pr["recall"],
                pr["precision"],
                drawstyle="steps-post",
                lw=1,
                color=f"C{i % 10}",
                label=_label(name, "AP", pr["auc"]),
            )
        micro = curves["micro"]["pr"]
        ax.plot(
            micro["recall"],
            micro["precision"],
            drawstyle="steps-post",
            ls="--",
            color="black",
            lw=1.2,
            label=_label("micro", "AP", micro["auc"]),
        )
        draw_pr(ax, curves, label="macro", color="black")
        ax.set_title(f"Precision-recall (macro AP {_fmt(curves['macro']['pr']['auc'])})")
    else:
        base = curves["positives"] / curves["n"] if curves["n"] else 0.0
        ax.axhline(base, ls=":", color="grey", lw=1, label=f"no skill ({base:.4g})")
        draw_pr(ax, curves, color="C0")
        ax.set_title(f"Precision-recall (AP {_fmt(curves['pr']['auc'])})")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


# --- confusion matrix -------------------------------------------------------------------------
def _count(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def confusion_png(
    metrics: dict, path: str | os.PathLike | BinaryIO, *, threshold: float | None = None
) -> Any:
    """Write the 2x2 confusion matrix of ``binary_metrics`` output to ``path``.

    Rows are the actual class, columns the predicted one. Cells are shaded by their share of
    the actual class (so the rare class stays visible) and show the count and that share.

    >>> confusion_png(metrics, "eval/confusion_matrix.png", threshold=0.5)   # doctest: +SKIP
    """
    cells = [[metrics["tn"], metrics["fp"]], [metrics["fn"], metrics["tp"]]]
    shares = [[c / sum(row) if sum(row) else 0.0 for c in row] for row in cells]
    fig, ax = _figure((4.8, 4.0), left=0.28)
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(2):
        for j in range(2):
            color = "white" if shares[i][j] > 0.6 else "black"
            ax.text(
                j,
                i,
                f"{_count(cells[i][j])}\n({shares[i][j]:.1%})",
                ha="center",
                va="center",
                color=color,
            )
    names = ["negative (0)", "positive (1)"]
    ax.set_xticks([0, 1], names)
    ax.set_yticks([0, 1], names)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Actual")
    at = "" if threshold is None else f" at threshold {threshold:g}"
    ax.set_title(f"Confusion matrix{at}")
    return _save(fig, path)


# --- cost -------------------------------------------------------------------------------------
def _money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def draw_cost(ax: Axes, cost_curve: dict, label: str | None = None, color: Any = None) -> None:
    """Draw one run's cost against threshold on ``ax``: its interval band when the payload has
    one, the decision threshold (star) when it has one, else the optimum (dot).

    >>> draw_cost(ax, cost_curve, label="run A", color="C0")   # doctest: +SKIP
    """
    thr, cost = cost_curve["thresholds"], cost_curve["cost"]
    decision = cost_curve.get("decision_threshold")
    if decision is not None and cost_curve.get("cost_at_decision") is not None:
        at_t, at_c, mark = decision, cost_curve["cost_at_decision"], "*"
        stat = f"decision {_money(at_c)} at {at_t:.3g}"
    else:
        at_t, at_c, mark = cost_curve["optimal_threshold"], cost_curve["cost_at_optimal"], "o"
        stat = f"min {_money(at_c)} at {at_t:.3g}"
    lines = ax.plot(
        thr, cost, color=color, lw=1.6, label=stat if label is None else f"{label} ({stat})"
    )
    band = cost_curve.get("band")
    if band and band.get("low"):
        ax.fill_between(
            band.get("thresholds", thr),
            band["low"],
            band["high"],
            color=lines[0].get_color(),
            alpha=0.18,
            lw=0,
        )
    ax.plot(
        [at_t],
        [at_c],
        marker=mark,
        ms=12 if mark == "*" else 7,
        color=lines[0].get_color(),
        markeredgecolor="black" if mark == "*" else None,
        zorder=5,  # above the optimum's dot, which may sit right next to it
    )
    ax.set_xlabel("Threshold (flag when score >= threshold)")
    ax.set_ylabel("Total cost")
    ax.grid(True, alpha=0.3)


def _cost_scale(ax: Axes, values: list[float]) -> None:
    """Log scale when every cost is positive; symmetric log when gains make some negative."""
    finite = [v for v in values if v is not None and abs(v) > 0]
    if not finite:
        return
    if min(values) > 0:
        ax.set_yscale("log")
    else:
        ax.set_yscale("symlog", linthresh=max(min(abs(v) for v in finite), 1.0))


def _trivial_lines(ax: Axes, cost_curve: dict) -> None:
    ax.axhline(
        cost_curve["approve_all_cost"],
        ls=":",
        color="C3",
        lw=1.2,
        label=f"flag nothing ({_money(cost_curve['approve_all_cost'])})",
    )
    ax.axhline(
        cost_curve["flag_all_cost"],
        ls="--",
        color="grey",
        lw=1.2,
        label=f"flag everything ({_money(cost_curve['flag_all_cost'])})",
    )


def _zoom_window(cost_curve: dict) -> tuple[float, float]:
    """Thresholds around the decision: its interval (or the valley where the curve beats the
    cheaper trivial policy when there is none), the optimum, padded by half their span."""
    thr, cost = cost_curve["thresholds"], cost_curve["cost"]
    marks = [cost_curve["optimal_threshold"]]
    if cost_curve.get("decision_threshold") is not None:
        marks.append(cost_curve["decision_threshold"])
    interval = [v for v in cost_curve.get("decision_interval") or [] if v is not None]
    if interval:
        marks += interval
    else:
        cheaper = min(cost_curve["approve_all_cost"], cost_curve["flag_all_cost"])
        beats = [t for t, c in zip(thr, cost, strict=True) if c <= cheaper]
        marks += beats[:1] + beats[-1:]
    lo, hi = min(marks), max(marks)
    pad = max((hi - lo) * 0.5, 1e-3 * max(abs(hi), 1e-6))
    return max(lo - pad, thr[0]), min(hi + pad, thr[-1])


def cost_png(cost_curve: dict, path: str | os.PathLike | BinaryIO) -> Any:
    """Write the cost chart of a ``cost_curve`` payload to ``path`` (e.g. eval/cost_curve.png).

    Two panels: every threshold on a log cost scale, so the valley shows under the trivial
    policies however large they are; and a linear zoom on the decision's neighbourhood. The
    payload's interval band, decision threshold (star) and cost optimum (dot; "hindsight" on
    test data) are drawn on both.

    >>> cost_png(cost_curve, "eval/cost_curve.png")    # doctest: +SKIP
    """
    fig = Figure(figsize=(10.4, 4.4), dpi=_DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.83, wspace=0.28)
    full, zoom = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    hindsight = bool(cost_curve.get("hindsight"))
    opt_t, opt_c = cost_curve["optimal_threshold"], cost_curve["cost_at_optimal"]
    for ax in (full, zoom):
        draw_cost(ax, cost_curve, color="C0")
        _trivial_lines(ax, cost_curve)
        if cost_curve.get("decision_threshold") is not None:
            ax.plot(
                [opt_t],
                [opt_c],
                marker="o",
                ms=6,
                ls="none",
                color="C1",
                zorder=4,
                label=f"{'hindsight ' if hindsight else ''}optimum {_money(opt_c)} at {opt_t:.3g}",
            )
    band = cost_curve.get("band") or {}
    values = [*cost_curve["cost"], *band.get("low", []), *band.get("high", [])]
    values += [cost_curve["approve_all_cost"], cost_curve["flag_all_cost"]]
    _cost_scale(full, values)
    full.set_title("All thresholds (log scale)", fontsize="medium")
    full.legend(loc="best", fontsize="x-small")

    lo, hi = _zoom_window(cost_curve)
    thr = cost_curve["thresholds"]
    # The curve sets the view (the band may run off it): its lowest point in the window up to
    # the cheaper trivial policy, so the valley's depth against that policy is what one sees.
    shown = [c for t, c in zip(thr, cost_curve["cost"], strict=True) if lo <= t <= hi]
    cheaper = min(cost_curve["approve_all_cost"], cost_curve["flag_all_cost"])
    y_lo = min([*shown, opt_c, cost_curve.get("cost_at_decision") or opt_c])
    y_hi = max(cheaper, y_lo)
    span = max(y_hi - y_lo, abs(y_hi) * 0.05, 1e-9)
    zoom.set_xlim(lo, hi)
    zoom.set_ylim(y_lo - 0.08 * span, y_hi + 0.08 * span)
    zoom.set_title("Near the decision", fontsize="medium")

    if cost_curve.get("decision_threshold") is not None:
        dec = cost_curve["decision_threshold"]
        saves = cost_curve.get("savings")
        which = "The run's decision threshold" if hindsight else "Decision threshold"
        title = f"{which} {dec:.3g}: cost {_money(cost_curve['cost_at_decision'])}"
        if saves is not None:
            title += f", saves {_money(saves)} against the cheaper trivial policy"
        level = band.get("level")
        sub = f"band: {level:.0%} bootstrap interval" if level else ""
        if cost_curve.get("unstable"):
            sub += ("; " if sub else "") + "NOT RELIABLE: the savings' interval reaches below 0"
    else:
        title = (
            f"Cost optimum {_money(opt_c)} at {opt_t:.3g}; saves {_money(cost_curve['savings'])}"
        )
        sub = ""
    fig.suptitle(title + (f"\n{sub}" if sub else ""), fontsize="medium")
    return _save(fig, path)


# --- regression -------------------------------------------------------------------------------
def regression_png(payload: dict, path: str | os.PathLike | BinaryIO) -> Any:
    """Write a true-versus-predicted scatter of ``regression_payload`` output to ``path``.

    >>> regression_png(payload, "eval/true_vs_predicted.png")   # doctest: +SKIP
    """
    y, pred = payload["y_true"], payload["y_pred"]
    fig, ax = _figure((4.6, 4.4))
    ax.scatter(y, pred, s=6, alpha=0.5, color="C0", linewidths=0)
    if y:
        lo, hi = min(min(y), min(pred)), max(max(y), max(pred))
        ax.plot([lo, hi], [lo, hi], ls=":", color="grey", lw=1, label="y = x")
        ax.legend(loc="upper left", fontsize="small")
    ax.set_xlabel("True")
    ax.set_ylabel("Predicted")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"True vs predicted ({len(y):,} of {payload['n']:,} rows)")
    return _save(fig, path)
