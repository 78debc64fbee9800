"""Paired evidence for a comparison: is a run's gap to the best one real?

When the compared runs were evaluated on the same rows (same labels, weights and, for cost,
the same per-row costs), their scores can be resampled together: each bootstrap resample draws
rows once and scores every run on them, so the difference to the best run gets an interval
that accounts for the rows' shared luck. ``modeler.evaluation.paired.paired`` computes it; this
module checks that the rows are the same, calls it, and says why not when they are not::

    >>> ev = pair_runs({"a": scores_a, "b": scores_b}, {"a": 0.2, "b": 0.3})  # doctest: +SKIP
    >>> ev.paired, ev.rows["b"]["pr_auc"]                                      # doctest: +SKIP
    (True, PairedRow(diff=-0.021, low=-0.048, high=0.004, like_best=True, best=False))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Bootstrap resamples for paired differences, and the seed: fixed, so a report is reproducible.
# 500, not the 1,000 of a run's own intervals: pairing ten runs on 100,000 stored rows takes
# about 0.7 s here at 500 (PR-AUC 0.6 s, cost 0.06 s) and twice that at 1,000, and compare has
# 2 s. At 500 the 2.5% and 97.5% percentiles stand on about 12 resamples each: an interval
# end's level is 2.5% +- 0.7%.
RESAMPLES = 500
SEED = 0
METRICS = ("pr_auc", "cost")


@dataclass(frozen=True)
class RunScores:
    """One run's stored validation rows (``eval/scores.parquet``), as the report uses them.

    ``fn_cost`` / ``tp_gain`` are per row (zero on negatives), ``fp_cost`` one number per false
    alarm; all three are None when the run logged no costs.
    """

    labels: np.ndarray
    scores: np.ndarray
    weight: np.ndarray | None = None
    fn_cost: np.ndarray | None = None
    fp_cost: float | None = None
    tp_gain: np.ndarray | None = None
    digest: str | None = None  # the labels' digest over every validation row
    rows: np.ndarray | None = None  # each stored row's index in the validation data
    n: int | None = None  # validation rows, all of them (the file may hold a sample)

    @property
    def has_costs(self) -> bool:
        return self.fn_cost is not None and self.fp_cost is not None


@dataclass(frozen=True)
class PairedRow:
    """A run's difference to the best run (run minus best), with its interval."""

    diff: float
    low: float
    high: float
    like_best: bool  # the interval holds 0: not distinguishable from the best
    best: bool  # this is the best run


@dataclass
class Evidence:
    """What ``pair_runs`` found: paired rows per run and metric, or why there are none."""

    paired: bool
    reason: str
    rows: dict[str, dict[str, PairedRow]] = field(default_factory=dict)
    values: dict[str, dict[str, float]] = field(default_factory=dict)  # e.g. cost at decision
    metrics: tuple[str, ...] = ()
    resamples: int = RESAMPLES
    seed: int = SEED
    notes: list[str] = field(default_factory=list)


def read_run_scores(path: str | Path) -> RunScores:
    """Read a run's ``eval/scores.parquet`` (``modeler.evaluation.scores`` writes it).

    >>> read_run_scores("eval/scores.parquet").labels[:3]               # doctest: +SKIP
    array([0, 0, 1])
    """
    from modeler.evaluation.scores import read_scores

    data = read_scores(path)
    costs = data.costs
    weights = np.asarray(data.weights, dtype=np.float64)
    return RunScores(
        labels=np.asarray(data.labels),
        scores=np.asarray(data.scores, dtype=np.float64),
        weight=None if np.all(weights == 1.0) else weights,
        fn_cost=None if costs is None else np.asarray(costs.fn, dtype=np.float64),
        fp_cost=None if costs is None else float(costs.fp),
        tp_gain=None if costs is None else np.asarray(costs.tp_gain, dtype=np.float64),
        digest=data.meta.get("labels_digest"),
        rows=np.asarray(data.rows),
        n=data.meta.get("n"),
    )


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def same_rows(items: Mapping[str, RunScores]) -> str | None:
    """None when every run was scored on the same rows; else why not, naming the runs."""
    names = list(items)
    first = items[names[0]]
    for name in names[1:]:
        other = items[name]
        if first.digest and other.digest and first.digest != other.digest:
            return (
                f"{names[0]} and {name} were evaluated on different data "
                "(their validation digests differ)"
            )
        if len(other.labels) != len(first.labels):
            return (
                f"{names[0]} and {name} were evaluated on different data "
                f"({len(first.labels):,} and {len(other.labels):,} rows)"
            )
        if not _same(first.rows, other.rows):
            return f"{names[0]} and {name} stored different rows of their validation data"
        if not _same(first.labels, other.labels):
            return f"{names[0]} and {name} were evaluated on different data (the labels differ)"
        if not _same(first.weight, other.weight):
            return f"{names[0]} and {name} stored different row samples (their weights differ)"
    return None


def _same_costs(items: Mapping[str, RunScores]) -> bool:
    runs = list(items.values())
    return all(r.has_costs for r in runs) and all(
        _same(runs[0].fn_cost, r.fn_cost)
        and _same(runs[0].fp_cost, r.fp_cost)
        and _same(runs[0].tp_gain, r.tp_gain)
        for r in runs[1:]
    )


def _costs_of(run: RunScores) -> Any:
    from modeler.evaluation.cost import Costs

    return Costs(fn=run.fn_cost, fp=run.fp_cost, tp_gain=run.tp_gain)  # type: ignore[arg-type]


def _rows(result: dict[str, Any], names: list[str]) -> dict[str, PairedRow]:
    """``paired``'s answer as one PairedRow per run."""
    out: dict[str, PairedRow] = {}
    for name in names:
        entry = result["runs"][name]
        out[name] = PairedRow(
            diff=float(entry["diff"]),
            low=float(entry["ci_low"]),
            high=float(entry["ci_high"]),
            like_best=bool(entry["indistinguishable"]) and not entry["best"],
            best=bool(entry["best"]),
        )
    return out


def pair_runs(
    items: Mapping[str, RunScores | None],
    thresholds: Mapping[str, float],
    *,
    labels: Mapping[str, str] | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Evidence:
    """Paired PR-AUC and cost-at-threshold differences to the best run, when rows are shared.

    ``items`` maps each run's key (its id) to its stored rows (None when the run stored none);
    ``thresholds`` maps it to the threshold its cost is taken at (its decision threshold);
    ``labels`` to the name messages use. ``Evidence.rows`` and ``.values`` use the keys.
    """
    label = dict(labels or {})
    if len(items) < 2:
        return Evidence(False, "one run: nothing to pair")
    missing = [label.get(key, key) for key, run in items.items() if run is None]
    if missing:
        return Evidence(
            False,
            "no paired differences: no eval/scores.parquet for " + ", ".join(missing),
        )
    runs: dict[str, RunScores] = {k: v for k, v in items.items() if v is not None}
    why = same_rows({label.get(k, k): v for k, v in runs.items()})
    if why is not None:
        return Evidence(False, f"no paired differences: {why}")
    from modeler.evaluation.paired import METHOD, paired

    names = list(runs)
    first = runs[names[0]]
    scores = {name: run.scores for name, run in runs.items()}
    ev = Evidence(True, METHOD, resamples=resamples, seed=seed)
    common: dict[str, Any] = {"resamples": resamples, "seed": seed}
    if first.weight is not None:
        common["weights"] = first.weight
    ev.rows["pr_auc"] = _rows(paired(first.labels, scores, metric="pr_auc", **common), names)
    metrics = ["pr_auc"]
    if _same_costs(runs):
        from modeler.evaluation.scores import on_score_grid

        result = paired(
            first.labels,
            scores,
            metric="cost",
            costs=_costs_of(first),
            # as the stored float32 scores see them: a decision threshold is a row's own score
            thresholds={k: on_score_grid(runs[k].scores, t) or t for k, t in thresholds.items()},
            **common,
        )
        ev.rows["cost"] = _rows(result, names)
        ev.values["cost"] = {name: float(result["runs"][name]["value"]) for name in names}
        metrics.append("cost")
    elif any(r.has_costs for r in runs.values()):
        ev.notes.append("Costs differ between runs (or some have none): no paired cost figures.")
    ev.metrics = tuple(metrics)
    return ev
