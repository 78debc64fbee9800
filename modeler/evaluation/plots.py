"""PNG charts from the curve payloads, with matplotlib's object API (no pyplot, no rcParams).

Each ``*_png`` function writes one file and returns its path::

    >>> metrics, curves = evaluate_binary(y, scores)          # doctest: +SKIP
    >>> roc_png(curves, "eval/roc.png")                       # doctest: +SKIP
    PosixPath('eval/roc.png')

The ``draw_*`` functions draw one run on an Axes the caller owns, so a comparison can overlay
several runs on one chart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


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


def roc_png(curves: dict, path: str | os.PathLike) -> Path:
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


def pr_png(curves: dict, path: str | os.PathLike) -> Path:
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
    metrics: dict, path: str | os.PathLike, *, threshold: float | None = None
) -> Path:
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
def draw_cost(ax: Axes, cost_curve: dict, label: str | None = None, color: Any = None) -> None:
    """Draw one run's cost against threshold on ``ax``, with its optimum marked.

    >>> draw_cost(ax, cost_curve, label="run A", color="C0")   # doctest: +SKIP
    """
    best_t, best_c = cost_curve["optimal_threshold"], cost_curve["cost_at_optimal"]
    stat = f"min {best_c:,.2f} at {best_t:.3g}"
    lines = ax.plot(
        cost_curve["thresholds"],
        cost_curve["cost"],
        color=color,
        lw=1.6,
        label=stat if label is None else f"{label} ({stat})",
    )
    ax.plot([best_t], [best_c], marker="o", ms=7, color=lines[0].get_color())
    ax.set_xlabel("Threshold (flag when score >= threshold)")
    ax.set_ylabel("Total cost")
    ax.grid(True, alpha=0.3)


def cost_png(cost_curve: dict, path: str | os.PathLike) -> Path:
    """Write the cost-against-threshold chart of ``cost_curve`` output to ``path``.

    >>> cost_png(cost_curve, "eval/cost_curve.png")    # doctest: +SKIP
    """
    fig, ax = _figure((5.6, 4.2), left=0.18)
    draw_cost(ax, cost_curve, color="C0")
    ax.axhline(
        cost_curve["approve_all_cost"],
        ls=":",
        color="C3",
        lw=1,
        label=f"flag nothing ({cost_curve['approve_all_cost']:,.2f})",
    )
    ax.axhline(
        cost_curve["flag_all_cost"],
        ls="--",
        color="grey",
        lw=1,
        label=f"flag everything ({cost_curve['flag_all_cost']:,.2f})",
    )
    ax.set_title(
        f"Cost (optimum {cost_curve['cost_at_optimal']:,.2f} at "
        f"{cost_curve['optimal_threshold']:.3g}; saves {cost_curve['savings']:,.2f})"
    )
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


# --- regression -------------------------------------------------------------------------------
def regression_png(payload: dict, path: str | os.PathLike) -> Path:
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
