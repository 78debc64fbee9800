"""Compare up to ten runs: metrics table, PR/ROC overlays, one interactive HTML report.

Reads only what the run layout promises (ARCHITECTURE.md, contract 2): the runs' ``eval.*``
metrics and tags, ``eval/curves.json``, ``eval/cost_curve.json`` and, when stored,
``eval/scores.parquet`` (exact operating points, paired evidence)::

    >>> from modeler import accu
    >>> report = accu.compare(experiment="fraud", top=5, by="eval.pr_auc")   # doctest: +SKIP
    >>> report.table                     # one row per run, best values in .best  # doctest: +SKIP
    >>> report.html_path                 # reports/compare-<timestamp>/report.html  # doctest: +SKIP

Each call writes ``report.html``, ``comparison.png``, ``table.csv`` (and
``cost_comparison.png`` when the runs have costs) and logs them as a run tagged
``modeler.comparison=true`` in the companion experiment ``<experiment>/comparisons``, so the
models' experiment lists and charts models only. The two experiments point at each other with
the tags ``modeler.comparisons_experiment`` / ``modeler.models_experiment``.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import uuid
import warnings
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modeler import forked, layout
from modeler.config import Tracking, test_mode
from modeler.errors import CompareError, ModelerWarning, RunNotFoundError, TrackingError
from modeler.evidence import Evidence, RunScores

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

MAX_RUNS = 10
DEFAULT_TOP = 10
# The run layout's names (docs/run-layout.md, modeler/layout.py).
COMPARISON_TAG = layout.COMPARISON
CURVES_PATH = layout.CURVES_PATH
COST_CURVE_PATH = layout.COST_CURVE_PATH
SCORES_PATH = layout.SCORES_PATH
DECISION_METRIC = layout.metric("decision_threshold")
UNSTABLE_TAG = layout.THRESHOLD_UNSTABLE
CI_LOW, CI_HIGH = ".ci_low", ".ci_high"  # eval.<name>.ci_low / .ci_high: 95% intervals
# Where reports go: a companion experiment, linked both ways by tags.
COMPANION_SUFFIX = "/comparisons"
COMPARISONS_EXPERIMENT_TAG = layout.COMPARISONS_EXPERIMENT
MODELS_EXPERIMENT_TAG = layout.MODELS_EXPERIMENT
MODELS_EXPERIMENT_ID_TAG = layout.MODELS_EXPERIMENT_ID
COMPARED_RUNS_TAG = layout.COMPARED_RUNS
COMPARED_EXPERIMENTS_TAG = layout.COMPARED_EXPERIMENTS

# Metric names holding one of these are better when lower (losses, costs, error counts).
LOWER_IS_BETTER = ("loss", "cost", "error", "mae", "rmse", "fn", "fp", "brier")

# Table column -> logged metric; the order is the table's.
METRIC_COLUMNS = {
    "AUC": "eval.roc_auc",
    "PR-AUC": "eval.pr_auc",
    "Precision": "eval.precision",
    "Recall": "eval.recall",
    "F1-score": "eval.f1",
}
COST_COLUMNS = {
    "Cost": "eval.cost",  # at the run's threshold (0.5 unless set)
    "Cost at decision": "eval.cost_at_decision",  # at the run's decision threshold
    "Optimal threshold": "eval.cost_optimal_threshold",  # hindsight on the validation rows
    "Cost at optimal": "eval.cost_at_optimal",
    "Savings": "eval.savings",
}
# Paired metric -> table column of its difference to the best run.
PAIRED_COLUMNS = {"pr_auc": "PR-AUC vs best", "cost": "Cost vs best"}
# Columns that have a best value, and whether it is the highest one.
BEST_HIGHER = {
    "AUC": True,
    "PR-AUC": True,
    "Precision": True,
    "Recall": True,
    "F1-score": True,
    "Cost": False,
    "Cost at optimal": False,
    "Savings": True,
    "Cost at decision": False,
}

# totals over a run's validation rows: compared only between runs evaluated on the same data
TOTALS = ("Cost", "Cost at optimal", "Savings", "Cost at decision")

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_VERSION = re.compile(r"^(?P<name>.+)_(?P<version>\d+)$")
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))/?$")
_RUN_NAME = re.compile(r"^(?P<prefix>.+-)(?P<hex>[0-9A-F]{32})(?P<suffix>_\d+)?$")


def lower_is_better(metric: str) -> bool:
    """True for metrics where lower is better (losses, costs, error counts).

    >>> lower_is_better("val_loss"), lower_is_better("eval.cost"), lower_is_better("eval.f1")
    (True, True, False)
    """
    name = metric.lower()
    return any(word in name for word in LOWER_IS_BETTER)


# --- the result -------------------------------------------------------------------------------
@dataclass
class Table:
    """The comparison table as plain rows: the command line prints and writes it without
    pandas (0.6-0.9 s to import in a fresh process). ``to_frame()`` is ``Comparison.table``.

    >>> t = Table(["Model Version", "AUC"], [{"Model Version": "a", "AUC": 0.9}])
    >>> t.column("AUC"), t.to_frame().shape
    ([0.9], (1, 2))
    """

    columns: list[str]
    rows: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        return [row.get(name) for row in self.rows]

    def constant(self, name: str) -> bool:
        """Every row holds the same value (NaNs equal, as pandas' ``nunique(dropna=False)``)."""
        return len({_key(v) for v in self.column(name)}) == 1

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=self.columns)
        if "Decision threshold" in frame:  # None where a run has none: a float column
            frame["Decision threshold"] = frame["Decision threshold"].astype(float)
        return frame

    def to_csv(self, path: Path) -> None:
        """As ``to_frame().to_csv(path, index=False)`` writes it: empty cells for NaN."""
        import csv

        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(self.columns)
            for row in self.rows:
                writer.writerow([_csv_cell(row.get(col)) for col in self.columns])


def _key(value: Any) -> Any:
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


@dataclass
class Comparison:
    """What :func:`compare` returns.

    Attributes:
        table: one row per compared run, in selection order (see :func:`compare` for columns);
            a pandas DataFrame, made on first use from ``rows``.
        rows: the same table as plain rows (a :class:`Table`; no pandas needed).
        best: column -> Model Version of the best run in that column.
        cheapest: Model Version with the lowest "Cost at decision" (runs without a decision
            threshold: "Cost at optimal"), or None without costs, or when the runs' costs are
            totals over different validation data (then no cost column marks a best either).
        figure: PR overlay (left) and ROC overlay (right), one colour per run (a matplotlib
            Figure, drawn on first use: ``comparison.png`` is the same picture).
        cost_figure: cost-against-threshold overlay, or None when no run has costs.
        html_path: the self-contained interactive report (``<output_dir>/report.html``).
        skipped: (run name, reason) of each selected run that could not be compared.
        run_id: the id of the run the report was logged as, or None.
        run_ids: the compared run ids, in table order.
        output_dir: where report.html, comparison.png and table.csv were written.
        notes: caveats shown in the report (e.g. positive rates differ between runs).
        experiment_id: the companion experiment the report run is in, or None.
        evidence: the paired comparison (``.paired``; ``.reason`` when there is none).
    """

    rows: Table
    best: dict[str, str]
    cheapest: str | None
    html_path: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)
    run_id: str | None = None
    run_ids: list[str] = field(default_factory=list)
    output_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    experiment_id: str | None = None
    evidence: Evidence | None = None
    unmarked: tuple[str, ...] = ()  # columns whose best is not marked (TOTALS, when apart)
    _loaded: list[_Loaded] = field(default_factory=list, repr=False)
    _figures: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (pandas is imported on first use)."""
        if "table" not in self._figures:
            self._figures["table"] = self.rows.to_frame()
        return self._figures["table"]

    @property
    def figure(self) -> Figure:
        """PR and ROC overlays (matplotlib is imported and the figure drawn on first use)."""
        if "overlay" not in self._figures:
            self._figures["overlay"] = _overlay_figure(self._loaded)
        return self._figures["overlay"]

    @property
    def cost_figure(self) -> Figure | None:
        """The cost overlay, or None when no run has a cost curve."""
        if "cost" not in self._figures:
            self._figures["cost"] = _cost_figure(self._loaded)
        return self._figures["cost"]

    def to_text(self) -> str:
        """The table as plain text for a terminal; the best value of each column ends in '*'.

        The "Run" column is left out: "Model Version" starts with the run name. Intervals
        follow their value in brackets; "~" marks a run the data cannot tell from the best.

        >>> print(report.to_text())                               # doctest: +SKIP
        Model Version                  AUC      PR-AUC                    ...
        LogisticRegression-sm-3F2A     0.9512*  0.8123* [0.7705, 0.8530]  ...
        """
        table = self.rows
        columns = [c for c in table.columns if c != "Run" and not _is_detail(c)]
        constant = {
            c: table.rows[0][c]
            for c in ("Sampling", "Threshold")
            if c in columns and len(table) > 1 and table.constant(c)
        }
        columns = [c for c in columns if c not in constant]  # said once, below the table
        marked = _best_rows(table, self.unmarked)
        # the run each paired difference is taken to: "~" marks the others like it
        paired_best = {
            col: next((k for k, r in self.evidence.rows.get(metric, {}).items() if r.best), None)
            for metric, col in PAIRED_COLUMNS.items()
            if self.evidence is not None
        }
        rows = [columns]
        for i, row in enumerate(table.rows):
            cells = [str(row["Model Version"])]
            run_id = self.run_ids[i] if i < len(self.run_ids) else None
            for col in columns[1:]:
                cell = _text_cell(table, row, col, i in marked.get(col, ()))
                if (
                    col in paired_best
                    and row.get(f"{col} like best")
                    and run_id != paired_best[col]
                ):
                    cell += " ~"
                cells.append(cell)
            rows.append(cells)
        widths = [max(len(r[j]) for r in rows) for j in range(len(columns))]
        lines = [
            "  ".join(
                cell.ljust(w) if j == 0 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
            for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append("(* best in column; ~ not distinguishable from the best)")
        if "Threshold" in constant:
            lines.append(f"precision, recall and F1 at threshold {constant['Threshold']:.4g}")
        if "Sampling" in constant:
            lines.append(f"sampling: {constant['Sampling']} for every run")
        if self.cheapest is not None:
            lines.append(f"cheapest: {self.cheapest}")
        if self.evidence is not None and not self.evidence.paired and len(self.table) > 1:
            lines.append(self.evidence.reason)
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"skipped {name}: {reason}" for name, reason in self.skipped]
        if self.run_id is not None:
            lines.append(f"report run: {self.run_id} (experiment {self.experiment_id})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Comparison({len(self.rows)} runs, skipped={len(self.skipped)}, "
            f"html_path={str(self.html_path)!r})"
        )


# --- entry point ------------------------------------------------------------------------------
def compare(
    runs: str | Sequence[str] | None = None,
    *,
    tracking: Tracking,
    experiment: str | None = None,
    top: int | None = None,
    by: str = "eval.pr_auc",
    output_dir: str | Path | None = None,
    log_report: bool = True,
) -> Comparison:
    """Compare up to ten runs side by side and write one HTML report.

    >>> t = accu.tracking()                                                  # doctest: +SKIP
    >>> report = compare(["keras-5A5C...", "models:/fraud/2"], tracking=t)     # doctest: +SKIP
    >>> report = compare(experiment="fraud", top=5, by="val_loss", tracking=t)  # doctest: +SKIP

    Args:
        runs: run ids, run names (``keras-5A5C...``), model versions (``<run name>_<n>`` or
            ``models:/<name>/<n>``, ``models:/<name>@<alias>``), as a list or one string.
            Runs of several experiments may be mixed; duplicates are dropped.
        tracking: the store to read (and to log the report to).
        experiment: instead of ``runs``, take the ``top`` runs of this experiment by ``by``
            (lower is better for losses, costs and error counts; see :func:`lower_is_better`).
            Comparison runs are never selected.
        top: how many runs to take from ``experiment`` (default 10, at most 10).
        by: the metric that ranks runs of ``experiment``.
        output_dir: where to write; default ``./reports/compare-<timestamp>/``.
        log_report: also log the report as a run tagged ``modeler.comparison=true``, in the
            companion experiment ``<experiment of the first run>/comparisons`` (created and
            linked by tags the first time).

    Returns:
        A :class:`Comparison`. Its table has the columns Model Version, Run, Sampling, AUC,
        PR-AUC, Precision, Recall, F1-score, Threshold, Decision threshold (when a run has
        ``eval.decision_threshold``) and, when any run has costs, Cost, Optimal threshold,
        Cost at optimal, Savings: the runs' logged values, unrounded. A metric with logged
        intervals (``eval.<name>.ci_low/ci_high``) has ``<col> low`` / ``<col> high`` columns
        beside it. When every run stored its validation rows and they are the same rows,
        ``PR-AUC vs best`` (and ``Cost at decision``, ``Cost vs best`` with costs) give each
        run's paired difference to the best run, with ``low`` / ``high`` and ``like best``
        (the interval holds 0) columns; on different rows there are none and
        ``evidence.reason`` says why.

    Writes ``report.html``, ``comparison.png``, ``table.csv`` and, with costs,
    ``cost_comparison.png`` into the output folder.

    Raises:
        CompareError: neither or both of ``runs`` / ``experiment``; more than 10 runs; no run
            left to compare; an ``output_dir`` that is not a folder or cannot be made.
        RunNotFoundError: a run id, run name or model version is not in the store.
        TrackingError: the store could not be read.
    """
    # No full garbage collection while a forked child shares this process's pages (see
    # modeler.forked.pool): the painter below is forked first.
    _check_output_dir(output_dir)  # before anything is asked of the store
    with forked.gc_paused():
        warm = _Warm()  # matplotlib is imported while the store answers
        try:
            return _compare(runs, tracking, experiment, top, by, output_dir, log_report, warm)
        finally:
            warm.cancel()


class _Warm:
    """The child that draws the PNGs, forked before the store is asked: it imports matplotlib
    (0.5-1 s in a fresh process) on another core while this process waits for the store.

    (Importing this process's own modules in a thread meanwhile was slower: the imports held
    the interpreter lock the replies needed.)
    """

    def __init__(self) -> None:
        import sys

        drawn_here = "matplotlib.figure" in sys.modules  # a plain fork inherits it later
        self.painter = None if drawn_here else forked.prepare(["modeler.evaluation.plots"])
        self.drawing: _Drawing | None = None

    def curves_ready(self, runs: list[Any], pictures: list[_Picture]) -> None:
        """Give the painter its pictures as soon as the curves are in (see ``_load``); it
        draws into a folder of its own until the report's folder is known."""
        if self.painter is not None:
            folder = Path(tempfile.mkdtemp(prefix="modeler-compare-png-"))
            job, self.painter = self.painter.start(_write_pngs, folder, pictures), None
            self.drawing = _Drawing(job, folder)

    def draw(self, start: Any, out: Path, loaded: list[_Loaded]) -> _Drawing:
        """The PNGs in ``out``: from the painter, or from a child forked now (``start``: a
        forked.pool's) when matplotlib was here already."""
        if self.drawing is not None:
            self.drawing.out = out
            return self.drawing
        pictures = [_Picture(item.version, item.curves, item.cost_curve) for item in loaded]
        self.drawing = _Drawing(start(_write_pngs, out, pictures))
        return self.drawing

    def cancel(self) -> None:
        if self.painter is not None:
            self.painter.cancel()
        if self.drawing is not None:
            self.drawing.cancel()


class _Drawing:
    """PNGs being drawn by a child; ``result()`` waits for them and returns them in ``out``."""

    def __init__(self, job: forked.Job, folder: Path | None = None) -> None:
        self.job, self.folder = job, folder
        self.out: Path | None = None
        self.paths: list[Path] | None = None

    def result(self) -> list[Path]:
        if self.paths is None:
            import shutil

            paths = self.job.result()
            if self.folder is not None and self.out is not None:
                paths = [Path(shutil.move(str(p), self.out / p.name)) for p in paths]
                shutil.rmtree(self.folder, ignore_errors=True)
            self.paths = paths
        return self.paths

    def cancel(self) -> None:
        import shutil

        self.job.cancel()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _compare(
    runs: str | Sequence[str] | None,
    tracking: Tracking,
    experiment: str | None,
    top: int | None,
    by: str,
    output_dir: str | Path | None,
    log_report: bool,
    warm: _Warm,
) -> Comparison:
    client = _client(tracking.uri)
    try:
        if runs is not None and not (isinstance(runs, list | tuple) and not runs):
            if experiment is not None:
                raise CompareError(
                    "compare takes either runs or experiment=, not both; got runs and "
                    f"experiment={experiment!r}"
                )
            selected = _select_runs(client, _identifiers(runs))
            selection = {"runs": "given"}
        elif experiment is not None:
            selected = _select_top(client, experiment, _check_top(top), by)
            selection = {"experiment": experiment, "top": str(_check_top(top)), "by": by}
        else:
            raise CompareError(
                "nothing to compare: pass runs (ids, run names or model versions, e.g. "
                "compare(['keras-5A5C...', 'models:/fraud/2'])) or an experiment "
                "(compare(experiment='fraud', top=5, by='eval.pr_auc'))"
            )
        home: list[tuple[Any, str]] = []  # the report's experiments, found while scores come

        def curves_ready(kept: list[Any], pictures: list[_Picture]) -> None:
            warm.curves_ready(kept, pictures)
            if log_report:
                with suppress(Exception):  # _log_report asks again and says what failed
                    home.append(_report_home(client, tracking, kept[0].info.experiment_id))

        loaded, skipped = _load(client, tracking.uri, selected, curves_ready)
    except CompareError:
        raise
    except Exception as exc:
        if isinstance(exc, _store_errors(client)):
            first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise TrackingError(f"could not read runs from {tracking.uri!r}: {first}") from exc
        raise
    if not loaded:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped)
        raise CompareError(f"no run left to compare: every selected run was skipped ({reasons})")

    out = _output_dir(output_dir)
    notes = _figure_notes(loaded)
    # The paired bootstrap, the page's exact operating points (numpy on every stored row) and
    # the PNGs each run in a forked child (modeler.forked): in threads they would mostly wait
    # for each other's interpreter lock. The PNGs are drawn while the report is logged, and
    # matplotlib (0.5-1 s to import) is loaded by that child only.
    with forked.pool() as start:
        jobs = [start(_evidence, loaded), start(_page_runs, loaded)]
        drawing = warm.draw(start, out, loaded)
        evidence, payload = (job.result() for job in jobs)
        table = _table(loaded, evidence)
        apart = _costs_apart(loaded)
        unmarked = TOTALS if apart else ()
        best = _best(table, unmarked)
        # the cost a run's decision will pay; older runs only know their hindsight optimum
        cheapest = best.get("Cost at decision", best.get("Cost at optimal"))
        notes += [apart] if apart else []
        notes += evidence.notes
        if not evidence.paired and len(loaded) > 1:
            notes.append(evidence.reason[:1].upper() + evidence.reason[1:] + ".")

        report = Comparison(
            rows=table,
            best=best,
            cheapest=cheapest,
            html_path=out / "report.html",
            skipped=skipped,
            run_ids=[r.run_id for r in loaded],
            output_dir=out,
            notes=notes,
            evidence=evidence,
            unmarked=unmarked,
            _loaded=loaded,
        )
        files = _write(report, loaded, selection, evidence, payload)
        if log_report:
            report.run_id, report.experiment_id = _log_report(
                client, tracking, loaded, selection, files, drawing, home[0] if home else None
            )
        drawing.result()  # the PNGs are on disk (an error drawing them is raised here)
    return report


def _evidence(loaded: list[_Loaded]) -> Evidence:
    """Paired differences when the runs share their validation rows (see modeler.evidence)."""
    from modeler.evidence import pair_runs

    items = {item.run_id: item.scores for item in loaded}
    thresholds = {}
    for item in loaded:
        decision = decision_threshold(item)
        thresholds[item.run_id] = decision if decision is not None else _threshold(item)
    return pair_runs(items, thresholds, labels={item.run_id: item.version for item in loaded})


def _is_detail(col: str) -> bool:
    """Interval and paired-mark columns, shown inside their value's cell."""
    return col.endswith((" low", " high", " like best"))


def _text_cell(table: Table, row: dict[str, Any], col: str, best: bool) -> str:
    text = _format(col, row[col]) + ("*" if best else "")
    if f"{col} low" in table.columns and not math.isnan(row[f"{col} low"]):
        text += f" [{_format(col, row[f'{col} low'])}, {_format(col, row[f'{col} high'])}]"
    return text


# --- selection --------------------------------------------------------------------------------
def _identifiers(runs: str | Iterable[str]) -> list[str]:
    """Stripped identifiers, duplicates removed keeping order, at most MAX_RUNS."""
    items = [runs] if isinstance(runs, str) else list(runs)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise CompareError(
                "runs must be run ids, run names or model versions (non-empty strings); "
                f"got {item!r} ({type(item).__name__})"
            )
    unique = list(dict.fromkeys(item.strip() for item in items))
    _check_count(len(unique))
    return unique


def _check_count(n: int) -> None:
    if n > MAX_RUNS:
        raise CompareError(
            f"compare takes at most {MAX_RUNS} runs; {n} were given (after removing duplicates)"
        )


def _check_top(top: int | None) -> int:
    if top is None:
        return DEFAULT_TOP
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_RUNS:
        raise CompareError(f"top must be a whole number from 1 to {MAX_RUNS}; got {top!r}")
    return top


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- the store --------------------------------------------------------------------------------
def _client(uri: str) -> Any:
    """A ``RestClient`` for an http(s) server (no MLflow import: 2-3 s in a fresh process),
    else an ``MlflowClient``. Both answer the calls below with MLflow's field names."""
    from modeler.tracking import rest

    if rest.usable(uri):
        return rest.RestClient(uri)
    from mlflow.tracking import MlflowClient

    from modeler.tracking.store import mlflow_env_defaults

    mlflow_env_defaults()
    return MlflowClient(tracking_uri=uri)


def _store_errors(client: Any) -> tuple[type[BaseException], ...]:
    """What the client raises when the store says no or does not answer."""
    from modeler.tracking import rest

    if isinstance(client, rest.RestClient):
        return (rest.RestError, OSError)
    from mlflow.exceptions import MlflowException

    return (MlflowException, OSError)


def _fetcher(client: Any, uri: str, run: Any) -> Any:
    """``fetch(path, local_path)`` for one run's artifacts: one request per file
    (``download_artifacts`` would list its folder first to learn whether it is one)."""
    from modeler.tracking import rest

    if isinstance(client, rest.RestClient):
        return lambda path, local: client.download_artifact(run.info.artifact_uri, path, local)
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    # The run's artifact URI is already known: no get_run per download.
    repo = get_artifact_repository(run.info.artifact_uri, tracking_uri=uri)
    return lambda path, local: repo._download_file(remote_file_path=path, local_path=local)


def _param(client: Any, key: str, value: str) -> Any:
    from modeler.tracking import rest

    if isinstance(client, rest.RestClient):
        return rest.Param(key, value)
    from mlflow.entities import Param

    return Param(key, value)


def _experiment_ids(client: Any) -> list[str]:
    return [e.experiment_id for e in client.search_experiments()]  # active ones


def _search_ids(client: Any, experiment_ids: list[str], run_ids: Iterable[str]) -> list[Any]:
    """Runs with these ids: one query, however many ids."""
    values = sorted(set(run_ids))
    if not values or not experiment_ids:
        return []
    quoted = ", ".join(_quote(v) for v in values)
    return list(
        client.search_runs(
            experiment_ids, filter_string=f"attributes.run_id IN ({quoted})", max_results=1000
        )
    )


def _search_names(client: Any, experiment_ids: list[str], run_names: Iterable[str]) -> list[Any]:
    """Runs with these names: one query per name (MLflow's IN takes run ids only)."""
    found: list[Any] = []
    if not experiment_ids:
        return found
    for name in sorted(set(run_names)):
        found += client.search_runs(
            experiment_ids, filter_string=f"attributes.run_name = {_quote(name)}", max_results=100
        )
    return found


def _registry_run_id(client: Any, ident: str, match: re.Match[str]) -> str:
    name, version, alias = match["name"], match["version"], match["alias"]
    try:
        mv = (
            client.get_model_version(name, version)
            if version is not None
            else client.get_model_version_by_alias(name, alias)
        )
    except _store_errors(client) as exc:
        raise RunNotFoundError(
            f"model version {ident!r} not found in the registry: {str(exc).splitlines()[0][:200]}"
        ) from exc
    if not mv.run_id:
        raise RunNotFoundError(f"model version {ident!r} has no run to compare (no run_id)")
    return mv.run_id


def _select_runs(client: Any, identifiers: list[str]) -> list[Any]:
    """Resolve identifiers to runs: one search for all ids, one per name, in order.

    A model version ``<run name>_<n>`` is found through its run name and checked against the
    run's ``modeler.model_version`` tag, so it costs no query of its own.
    """
    registry = {
        ident: _registry_run_id(client, ident, m)
        for ident in identifiers
        if (m := _MODEL_URI.match(ident))
    }
    ids = [i for i in identifiers if _RUN_ID.match(i)] + list(registry.values())
    names = [i for i in identifiers if i not in registry]
    names += [m["name"] for i in names if (m := _VERSION.match(i))]
    exp_ids = _experiment_ids(client)
    by_id = {r.info.run_id: r for r in _search_ids(client, exp_ids, ids)}
    by_name: dict[str, list[Any]] = {}
    # A 32-hex string found as an id needs no name query.
    names = [n for n in names if n not in by_id]
    for run in _search_names(client, exp_ids, names):
        by_name.setdefault(run.info.run_name, []).append(run)

    selected: dict[str, Any] = {}
    for ident in identifiers:
        run = by_id.get(registry.get(ident, ident)) or _by_name(ident, by_name)
        if run is None:
            run = _by_version(ident, by_name)
        if run is None:
            raise RunNotFoundError(
                f"no run with id, name or model version {ident!r} in any active experiment "
                "(expected a 32-character run id, a run name like 'keras-5A5C...', "
                "'<run name>_<n>' or 'models:/<name>/<n>')"
            )
        # A name and an id of one run are one run: keep its first place.
        selected.setdefault(run.info.run_id, run)
    return list(selected.values())


def _by_name(ident: str, by_name: dict[str, list[Any]]) -> Any:
    matches = by_name.get(ident, [])
    if len(matches) > 1:
        ids = ", ".join(r.info.run_id for r in matches)
        raise CompareError(
            f"run name {ident!r} matches {len(matches)} runs; pass one of their ids: {ids}"
        )
    return matches[0] if matches else None


def _by_version(ident: str, by_name: dict[str, list[Any]]) -> Any:
    m = _VERSION.match(ident)
    if m is None:
        return None
    for run in by_name.get(m["name"], []):
        if run.data.tags.get(layout.MODEL_VERSION) == ident:
            return run
    return None


def _select_top(client: Any, experiment: str, top: int, by: str) -> list[Any]:
    """The ``top`` runs of ``experiment`` by metric ``by``, comparison runs left out."""
    if not isinstance(by, str) or not by.strip():
        raise CompareError(f"by must be a metric name such as 'eval.pr_auc'; got {by!r}")
    exp = client.get_experiment_by_name(experiment)
    if exp is None or exp.lifecycle_stage == "deleted":
        names = sorted(e.name for e in client.search_experiments())
        shown = ", ".join(repr(n) for n in names[:20]) or "none"
        raise CompareError(f"experiment {experiment!r} not found; experiments: {shown}")
    order = "ASC" if lower_is_better(by) else "DESC"
    # The metric filter drops runs without it (comparison runs log no metrics); the margin
    # covers comparison runs that somehow carry it.
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"metrics.`{by}` > -1e308",
        order_by=[f"metrics.`{by}` {order}", "attributes.start_time DESC"],
        max_results=top + 20,
    )
    picked = [r for r in runs if r.data.tags.get(COMPARISON_TAG) != "true"][:top]
    if not picked:
        sample = client.search_runs([exp.experiment_id], max_results=20)
        logged = sorted({k for r in sample for k in r.data.metrics})
        shown = ", ".join(logged[:30]) or "none"
        raise CompareError(
            f"no run of experiment {experiment!r} has metric {by!r} to rank by; "
            f"metrics logged there: {shown}"
        )
    return picked


# --- loading curves ---------------------------------------------------------------------------
def _version(run: Any) -> str:
    """The name a run goes by in the table: its model version, else its name, else its id."""
    return run.data.tags.get(layout.MODEL_VERSION) or run.info.run_name or run.info.run_id


def _positive_rate(curves: dict) -> float:
    n = curves.get("n") or 0
    return curves.get("positives", 0) / n if n else 0.0


@dataclass
class _Picture:
    """What the figures draw of one run: small, so it travels to the child that draws."""

    version: str
    curves: dict
    cost_curve: dict | None

    @property
    def positive_rate(self) -> float:
        return _positive_rate(self.curves)


@dataclass
class _Loaded:
    run: Any
    curves: dict
    cost_curve: dict | None
    scores: RunScores | None = None
    scores_error: str | None = None

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def name(self) -> str:
        return self.run.info.run_name or self.run_id

    @property
    def version(self) -> str:
        return _version(self.run)

    @property
    def positive_rate(self) -> float:
        return _positive_rate(self.curves)

    def metric(self, key: str) -> float:
        return self.run.data.metrics.get(key, math.nan)


def _skip_reason(run: Any) -> str | None:
    """Why a run cannot be overlaid, known from its tags alone (saves a download)."""
    tags = run.data.tags
    if tags.get(COMPARISON_TAG) == "true":
        return "a comparison report, not a model run"
    task = tags.get(layout.TASK)
    if task is not None and task != "binary":
        return f"task is {task!r}: only binary runs have PR/ROC curves to overlay"
    if tags.get(layout.EVAL_SOURCE) == "none":
        return "no evaluation (fitted without validation data), so no eval/curves.json"
    return None


def _download(fetch: Any, run: Any, path: str, dst: Path) -> Path:
    """One file of the run (``fetch``: see ``_fetcher``), into ``dst``."""
    local = dst / run.info.run_id / path.replace("/", "_")
    local.parent.mkdir(parents=True, exist_ok=True)
    fetch(path, str(local))
    return local


def _download_json(fetch: Any, run: Any, path: str, dst: Path) -> dict:
    return json.loads(_download(fetch, run, path, dst).read_text(encoding="utf-8"))


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _load_scores(fetch: Any, run: Any, dst: Path) -> tuple[RunScores | None, str | None]:
    """The run's stored validation rows, or None (older runs have none) and why."""
    from modeler.evidence import read_run_scores

    try:
        local = _download(fetch, run, SCORES_PATH, dst)
    except Exception as exc:  # runs written before scores were stored: not an error
        return None, f"no {SCORES_PATH} ({_first_line(exc)})"
    try:
        return read_run_scores(local), None
    except Exception as exc:  # a damaged file costs the exact figures, not the report
        return None, f"{SCORES_PATH} could not be read: {_first_line(exc)}"


def _curves(files: dict[str, Any]) -> tuple[dict | None, dict | None, str | None]:
    """A run's curves and cost curve from their downloads (futures), or why it is skipped:
    its curves are not readable curves of a binary task."""
    try:
        curves = files["curves"].result()
    except Exception as exc:  # a missing or unreadable artifact skips the run, never the report
        return None, None, f"no readable {CURVES_PATH} ({_first_line(exc)})"
    if not isinstance(curves, dict) or curves.get("schema") != 1:
        schema = curves.get("schema") if isinstance(curves, dict) else None
        return None, None, f"{CURVES_PATH} has schema {schema!r}; this version reads schema 1"
    if curves.get("task") != "binary":
        task = curves.get("task")
        return None, None, f"task is {task!r}: only binary runs have PR/ROC curves to overlay"
    cost_curve = None
    if files["cost"] is not None:
        try:
            cost_curve = files["cost"].result()
        except Exception:  # the cost columns still come from the metrics
            cost_curve = None
    return curves, cost_curve, None


def _load(
    client: Any, uri: str, runs: list[Any], curves_ready: Any = None
) -> tuple[list[_Loaded], list[tuple[str, str]]]:
    """Download every run's curves, cost curve and scores at once (threads: the time is waiting
    for the store), and keep the runs whose curves can be overlaid.

    ``curves_ready(runs, pictures)`` is called as soon as the curves are in, before the scores
    (the figures need no more), with the runs kept and one ``_Picture`` per run, in order.
    """
    from concurrent.futures import ThreadPoolExecutor

    loaded: list[_Loaded] = []
    skipped: list[tuple[str, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="modeler-compare-") as tmp,
        ThreadPoolExecutor(max_workers=min(16, max(1, 3 * len(runs)))) as pool,
    ):
        dst = Path(tmp)
        fetches: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        for run in runs:
            reason = _skip_reason(run)
            if reason is None:
                try:
                    fetches[run.info.run_id] = _fetcher(client, uri, run)
                except Exception as exc:  # an artifact store this client cannot reach
                    reason = f"no readable {CURVES_PATH} ({_first_line(exc)})"
            if reason is not None:
                reasons[run.info.run_id] = reason
        wanted = [run for run in runs if run.info.run_id in fetches]
        files: dict[str, dict[str, Any]] = {run.info.run_id: {} for run in wanted}
        reads = {
            "curves": lambda fetch, run: _download_json(fetch, run, CURVES_PATH, dst),
            "cost": lambda fetch, run: _download_json(fetch, run, COST_CURVE_PATH, dst),
            "scores": lambda fetch, run: _load_scores(fetch, run, dst),
        }
        for key, read in reads.items():  # curves first, scores last: figures need no scores
            for run in wanted:
                if key == "cost" and "eval.cost_at_optimal" not in run.data.metrics:
                    files[run.info.run_id][key] = None  # no costs logged: no cost curve
                else:
                    files[run.info.run_id][key] = pool.submit(read, fetches[run.info.run_id], run)
        heads = {run.info.run_id: _curves(files[run.info.run_id]) for run in wanted}
        for run_id, (_, _, reason) in heads.items():
            if reason is not None:
                reasons[run_id] = reason
        kept = [run for run in wanted if run.info.run_id not in reasons]
        if curves_ready is not None and kept:
            curves_ready(
                kept,
                [
                    _Picture(_version(r), heads[r.info.run_id][0] or {}, heads[r.info.run_id][1])
                    for r in kept
                ],
            )
        for run in runs:
            run_id = run.info.run_id
            if run_id in reasons:
                skipped.append((run.info.run_name or run_id, reasons[run_id]))
                continue
            curves, cost_curve, _ = heads[run_id]
            scores, scores_error = files[run_id]["scores"].result()
            loaded.append(_Loaded(run, curves or {}, cost_curve, scores, scores_error))
    return loaded, skipped


# --- table ------------------------------------------------------------------------------------
def _threshold(item: _Loaded) -> float:
    try:
        return float(item.run.data.tags[layout.THRESHOLD])
    except (KeyError, ValueError):
        return float(item.curves.get("threshold", math.nan))


def decision_threshold(item: _Loaded) -> float | None:
    """The run's decision threshold (``eval.decision_threshold``), or None."""
    value = item.run.data.metrics.get(DECISION_METRIC)
    return None if value is None or not math.isfinite(value) else float(value)


def _sampling(run: Any) -> str:
    """How the training data was balanced: the sampler, class weights, or "not recorded"."""
    raw = run.data.tags.get(layout.SAMPLING)
    if raw:
        try:
            records = json.loads(raw)
        except ValueError:
            return raw[:40]
        records = records if isinstance(records, list) else [records]
        return "+".join(str(r.get("method", "?")) for r in records)
    if run.data.params.get("class_weight") not in (None, "None", "null"):
        return "class weights"
    return "not recorded"  # the data as loaded, or resampled where modeler did not see it


def _interval_columns(loaded: list[_Loaded], columns: dict[str, str]) -> dict[str, str]:
    """Column -> metric key of the ``<col> low`` / ``<col> high`` columns some run has."""
    out: dict[str, str] = {}
    for col, key in columns.items():
        if any(f"{key}{CI_LOW}" in item.run.data.metrics for item in loaded):
            out[col] = key
    return out


def _add_metric(row: dict[str, Any], item: _Loaded, col: str, key: str, ci: bool) -> None:
    row[col] = item.metric(key)
    if ci:
        row[f"{col} low"] = item.metric(f"{key}{CI_LOW}")
        row[f"{col} high"] = item.metric(f"{key}{CI_HIGH}")


def _table(loaded: list[_Loaded], evidence: Evidence) -> Table:
    cost_columns = {
        col: key
        for col, key in COST_COLUMNS.items()
        if any(key in item.run.data.metrics for item in loaded)
    }
    with_decision = any(decision_threshold(item) is not None for item in loaded)
    ci = _interval_columns(loaded, {**METRIC_COLUMNS, **COST_COLUMNS})
    decision_ci = bool(_interval_columns(loaded, {"Decision threshold": DECISION_METRIC}))
    rows = []
    for item in loaded:
        row: dict[str, Any] = {
            "Model Version": item.version,
            "Run": item.name,
            "Sampling": _sampling(item.run),
        }
        for col, key in METRIC_COLUMNS.items():
            _add_metric(row, item, col, key, col in ci)
        row["Threshold"] = _threshold(item)
        if with_decision:
            _add_metric(row, item, "Decision threshold", DECISION_METRIC, decision_ci)
        for col, key in cost_columns.items():
            _add_metric(row, item, col, key, col in ci)
        if evidence.paired:
            _add_paired(row, item.run_id, evidence)
        rows.append(row)
    return Table(list(dict.fromkeys(col for row in rows for col in row)), rows)


def _add_paired(row: dict[str, Any], run_id: str, evidence: Evidence) -> None:
    for metric, col in PAIRED_COLUMNS.items():
        if metric not in evidence.metrics:
            continue
        pair = evidence.rows[metric][run_id]
        row[col] = pair.diff
        row[f"{col} low"] = pair.low
        row[f"{col} high"] = pair.high
        row[f"{col} like best"] = pair.like_best or pair.best


def _best_rows(table: Table, skip: Sequence[str] = ()) -> dict[str, list[int]]:
    """Column -> positions of the rows holding its best value (ties all marked); columns in
    ``skip`` are not marked."""
    marked: dict[str, list[int]] = {}
    for col, higher in BEST_HIGHER.items():
        if col not in table.columns or col in skip:
            continue
        values = [math.nan if v is None else float(v) for v in table.column(col)]
        known = [v for v in values if not math.isnan(v)]
        if not known:
            continue
        target = max(known) if higher else min(known)
        marked[col] = [i for i, v in enumerate(values) if v == target]
    return marked


def _best(table: Table, skip: Sequence[str] = ()) -> dict[str, str]:
    versions = table.column("Model Version")
    return {col: versions[rows[0]] for col, rows in _best_rows(table, skip).items()}


def _costs_apart(loaded: list[_Loaded]) -> str | None:
    """Why the runs' costs cannot be set against each other (totals over validation data of
    another size or another number of positives), or None."""
    sizes = {
        (item.curves.get("n"), item.curves.get("positives"))
        for item in loaded
        if any(k in item.run.data.metrics for k in ("eval.cost_at_decision", "eval.cost"))
    }
    if len(sizes) < 2:
        return None
    shown = ", ".join(
        f"{n:,} rows with {p:,} positives"
        for n, p in sorted(sizes, key=str)
        if isinstance(n, int) and isinstance(p, int)
    )
    return (
        f"The runs' costs are totals over different validation data ({shown}): they are not "
        "set against each other, so no run is marked cheapest."
    )


def _format(col: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if col.startswith(("Cost", "Savings")):
        return f"{value:,.2f}"
    if "threshold" in col.lower():
        return f"{value:.4g}"
    return f"{value:.4f}"


# --- figures ----------------------------------------------------------------------------------
def _short(name: str) -> str:
    """``LogisticRegression-5BF4C556`` for a legend; the table keeps the full name."""
    m = _RUN_NAME.match(name)
    return f"{m['prefix']}{m['hex'][:8]}{m['suffix'] or ''}" if m else name


# matplotlib's "tab10": ten distinct colours for at most ten runs (written out, so the page and
# the table need no matplotlib; tests check it against matplotlib's own)
TAB10 = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def _colors(n: int) -> list[str]:
    return [TAB10[i % len(TAB10)] for i in range(n)]


def _figure_notes(loaded: list[_Loaded]) -> list[str]:
    """What the figures' readers must know: positive rates that differ, cost curves missing."""
    notes = []
    rates = sorted({round(item.positive_rate, 12) for item in loaded})
    if len(rates) > 1:
        notes.append(
            "The runs were evaluated on data with different positive rates ("
            + ", ".join(f"{r:.4g}" for r in rates)
            + "): their PR curves and PR-AUCs are not directly comparable."
        )
    missing = [
        item.version
        for item in loaded
        if item.cost_curve is None and "eval.cost_at_optimal" in item.run.data.metrics
    ]
    if missing:
        notes.append(f"No readable {COST_CURVE_PATH} for: {', '.join(missing)}.")
    return notes


def _new_figure(width: float, height: float, ncols: int, legend_rows: int) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    legend_in = 0.2 * legend_rows + 0.1
    fig = Figure(figsize=(width, height + legend_in), dpi=100)
    FigureCanvasAgg(fig)  # its own Agg canvas: no pyplot, no global state
    # Fixed margins with the legends below the axes: a layout engine would cost more time
    # than drawing, and ten legend entries inside a chart hide the curves.
    bottom = (legend_in + 0.6) / (height + legend_in)
    fig.subplots_adjust(left=0.06 if ncols == 2 else 0.1, right=0.98, top=0.93, bottom=bottom)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _legend_below(ax: Any) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.11), fontsize="small", frameon=False)


def _overlay_figure(loaded: Sequence[_Loaded | _Picture]) -> Figure:
    from modeler.evaluation.plots import draw_pr, draw_roc

    colors = _colors(len(loaded))
    rates: dict[float, list[int]] = {}
    for i, item in enumerate(loaded):
        rates.setdefault(round(item.positive_rate, 12), []).append(i)
    fig, (ax_pr, ax_roc) = _new_figure(13.0, 5.0, 2, len(loaded) + len(rates))
    for item, color in zip(loaded, colors, strict=True):
        draw_pr(ax_pr, item.curves, label=_short(item.version), color=color)
        draw_roc(ax_roc, item.curves, label=_short(item.version), color=color)
    if len(rates) == 1:
        (rate,) = rates
        ax_pr.axhline(rate, ls=":", color="grey", lw=1, label=f"no skill ({rate:.4g})")
    else:
        # Different validation sets: each run's no-skill line, dashed in its own colour.
        for rate, members in sorted(rates.items()):
            color = colors[members[0]] if len(members) == 1 else "grey"
            label = f"no skill {rate:.4g} ({len(members)} run{'s' if len(members) > 1 else ''})"
            ax_pr.axhline(rate, ls="--", color=color, lw=1, label=label)
    ax_roc.plot([0, 1], [0, 1], ls=":", color="grey", lw=1, label="chance")
    ax_pr.set_title("Precision-recall (AP = PR-AUC)")
    ax_roc.set_title("ROC")
    _legend_below(ax_pr)
    _legend_below(ax_roc)
    return fig


def _cost_figure(loaded: Sequence[_Loaded | _Picture]) -> Figure | None:
    from modeler.evaluation.plots import draw_cost

    colors = _colors(len(loaded))
    with_curve = [(item, c) for item, c in zip(loaded, colors, strict=True) if item.cost_curve]
    if not with_curve:
        return None
    fig, (ax,) = _new_figure(9.0, 4.6, 1, len(with_curve))
    for item, color in with_curve:
        draw_cost(ax, item.cost_curve or {}, label=_short(item.version), color=color)
    ax.set_title("Expected cost against threshold (dot: each run's optimum; lower is better)")
    _legend_below(ax)
    return fig


def _png(fig: Figure) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --- output -----------------------------------------------------------------------------------
def _check_output_dir(output_dir: str | Path | None) -> None:
    """Raise CompareError unless ``output_dir`` is None or a folder that exists or can be made
    (its nearest existing ancestor a writable folder); creates nothing."""
    if output_dir is None:
        return
    if not isinstance(output_dir, str | os.PathLike) or not os.fspath(output_dir):
        raise CompareError(f"output_dir must be a folder path; got {output_dir!r}")
    out = Path(output_dir).expanduser().absolute()
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "is a file" if folder == out else f"would be inside the file {folder}"
                raise CompareError(f"output_dir {str(out)!r} {what}; expected a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise CompareError(
                    f"output_dir {str(out)!r}: cannot write in {str(folder)!r} (permission denied)"
                )
            return


def _output_dir(output_dir: str | Path | None) -> Path:
    if output_dir is not None:
        out = Path(output_dir).expanduser().resolve()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CompareError(
                f"output_dir {str(out)!r} cannot be made: {exc.strerror or exc}; expected a "
                "folder that exists or can be created"
            ) from exc
        return out
    base = Path("reports").resolve() / f"compare-{datetime.now():%Y%m%d-%H%M%S}"
    out, n = base, 1
    while True:  # two reports in one second get their own folders
        try:
            out.mkdir(parents=True, exist_ok=False)
            return out
        except FileExistsError:
            n += 1
            out = base.with_name(f"{base.name}-{n}")
        except OSError as exc:
            raise CompareError(
                f"cannot make the report folder {str(out)!r}: {exc.strerror or exc}; pass "
                "output_dir= (--out) a folder you can write to"
            ) from exc


def _write_pngs(out: Path, loaded: Sequence[_Loaded | _Picture]) -> list[Path]:
    """``comparison.png`` and, with costs, ``cost_comparison.png``: static pictures for MLflow's
    artifact list (the report itself is interactive)."""
    files = []
    pictures = (
        (_overlay_figure(loaded), "comparison.png"),
        (_cost_figure(loaded), "cost_comparison.png"),
    )
    for fig, name in pictures:
        if fig is not None:
            (out / name).write_bytes(_png(fig))
            files.append(out / name)
    return files


def _page_runs(loaded: list[_Loaded]) -> list[dict[str, Any]]:
    """Each run's data for the page: its exact operating points, marks and intervals."""
    from modeler.report import run_payload

    return [
        run_payload(
            label=item.version,
            run=item.run,
            curves=item.curves,
            cost_curve=item.cost_curve,
            scores=item.scores,
            threshold=_threshold(item),
            decision=decision_threshold(item),
            color=color,
        )
        for item, color in zip(loaded, _colors(len(loaded)), strict=True)
    ]


def _write(
    report: Comparison,
    loaded: list[_Loaded],
    selection: dict[str, str],
    evidence: Evidence,
    runs: list[dict[str, Any]],
) -> list[Path]:
    """Write report.html and table.csv; returns their paths."""
    from modeler.report import html_table, render_report

    out = report.output_dir
    assert out is not None
    report.rows.to_csv(out / "table.csv")
    unstable = [item.run.data.tags.get(UNSTABLE_TAG) == "true" for item in loaded]
    columns, rows, constant = html_table(
        report.rows,
        _best_rows(report.rows, report.unmarked),
        colors=_colors(len(loaded)),
        run_ids=[item.run_id for item in loaded],
        experiment_ids=[item.run.info.experiment_id for item in loaded],
        cheapest=report.cheapest,
        unstable=unstable,
    )
    has_cost = any(run["cost"] is not None for run in runs)
    html = render_report(
        data={"runs": runs, "has_cost": has_cost},
        columns=columns,
        rows=rows,
        has_cost=has_cost,
        skipped=report.skipped,
        notes=report.notes,
        cheapest=report.cheapest,
        selection=selection,
        table_note=_table_note(evidence, constant),
        generated=f"{datetime.now():%Y-%m-%d %H:%M:%S}",
        n_runs=len(loaded),
    )
    report.html_path.write_text(html, encoding="utf-8")
    return [report.html_path, out / "table.csv"]


def _table_note(evidence: Evidence, constant: dict[str, Any]) -> str:
    parts = [
        "Highlighted: the best value of each column (lowest for costs). Values are the runs' "
        "logged eval.* metrics; small grey ranges are their 95% intervals where logged."
    ]
    if "Threshold" in constant:
        parts.append(f"Precision, recall and F1 are at threshold {constant['Threshold']:.4g}.")
    if "Sampling" in constant:
        parts.append(f"Sampling: {constant['Sampling']} for every run.")
    if evidence.paired:
        parts.append(
            f"Δ columns: the run minus the best run, on the same validation rows, with a 95% "
            f"paired bootstrap interval ({evidence.resamples} resamples, seed {evidence.seed}); "
            "'≈ best': the interval holds 0, so the data cannot tell the run from the best."
        )
    return " ".join(parts)


def _note_markdown(loaded: list[_Loaded], report_experiment: str) -> str:
    best_pr = max(loaded, key=lambda i: i.run.data.metrics.get("eval.pr_auc", -math.inf))
    lines = [
        f"Comparison of {len(loaded)} runs: open `report.html` below. "
        f"Best PR-AUC: {best_pr.version}.",
        "",
        "Runs compared:",
    ]
    for item in loaded:
        exp_id = item.run.info.experiment_id
        lines.append(f"- [{item.version}](#/experiments/{exp_id}/runs/{item.run_id})")
    return "\n".join(lines)


def _report_home(client: Any, tracking: Tracking, experiment_id: str) -> tuple[Any, str]:
    """The models' experiment and the id of its companion (made if new)."""
    home = client.get_experiment(experiment_id)
    return home, _companion(client, tracking, home)


def _companion(client: Any, tracking: Tracking, home: Any) -> str:
    """The id of ``<home experiment>/comparisons``, created and linked both ways if new."""
    name = f"{home.name}{COMPANION_SUFFIX}"
    tags = {
        MODELS_EXPERIMENT_TAG: home.name,
        MODELS_EXPERIMENT_ID_TAG: home.experiment_id,
        "mlflow.note.content": (
            f"Comparison reports of the runs of experiment [{home.name}]"
            f"(#/experiments/{home.experiment_id}), kept apart so its runs list and charts "
            "show models only. Open a run's report.html artifact."
        ),
    }
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            exp_id = client.create_experiment(
                name, artifact_location=_artifact_location(tracking), tags=tags
            )
        except _store_errors(client):  # created meanwhile by another process
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    else:
        exp_id = exp.experiment_id
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp_id)
    if home.tags.get(COMPARISONS_EXPERIMENT_TAG) != name:
        client.set_experiment_tag(home.experiment_id, COMPARISONS_EXPERIMENT_TAG, name)
    return exp_id


def _artifact_location(tracking: Tracking) -> str | None:
    """Beside an embedded SQLite store, as the writer does; a server decides for itself."""
    return tracking.artifact_location


def _log_report(
    client: Any,
    tracking: Tracking,
    loaded: list[_Loaded],
    selection: dict[str, str],
    files: list[Path],
    drawing: _Drawing,
    where: tuple[Any, str] | None = None,
) -> tuple[str | None, str | None]:
    """Log the report as a run of the companion experiment; a failure is a warning.

    ``files`` are logged first, then the PNGs ``drawing`` returns once they are drawn.
    ``where``: the models' experiment and the companion's id, when already known.

    Returns the report run's id and its experiment's id (None, None after a failure; raised in
    test mode).
    """
    from concurrent.futures import ThreadPoolExecutor

    run_id = None
    try:
        home, exp_id = where or _report_home(client, tracking, loaded[0].run.info.experiment_id)
        compared_experiments = list(dict.fromkeys(i.run.info.experiment_id for i in loaded))
        run = client.create_run(
            exp_id,
            run_name=f"comparison-{len(loaded)}-runs-{uuid.uuid4().hex[:6].upper()}",
            tags={
                COMPARISON_TAG: "true",
                COMPARED_RUNS_TAG: ",".join(item.run_id for item in loaded),
                COMPARED_EXPERIMENTS_TAG: ",".join(compared_experiments),
                MODELS_EXPERIMENT_TAG: home.name,
                "mlflow.note.content": _note_markdown(loaded, home.name),
            },
        )
        run_id = run.info.run_id
        params = {
            "runs": ",".join(item.run_id for item in loaded),
            "n_runs": str(len(loaded)),
            **{f"selection.{k}": v for k, v in selection.items() if k != "runs"},
        }
        client.log_batch(run_id, params=[_param(client, k, v) for k, v in params.items()])
        # only our files (output_dir may hold others), side by side; the PNGs once drawn
        with ThreadPoolExecutor(max_workers=4) as pool:
            sent = [pool.submit(client.log_artifact, run_id, str(path)) for path in files]
            sent += [pool.submit(client.log_artifact, run_id, str(p)) for p in drawing.result()]
            for future in sent:
                future.result()
        client.set_terminated(run_id, "FINISHED")
        return run_id, exp_id
    except Exception as exc:  # the report is on disk; the MLflow copy is a convenience
        if test_mode():
            raise
        if run_id is not None:
            with suppress(Exception):  # the warning below says what went wrong
                client.set_terminated(run_id, "FAILED")
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        warnings.warn(
            f"modeler could not log the comparison report as a run: {type(exc).__name__}: "
            f"{first} (the report is at {files[0]})",
            ModelerWarning,
            stacklevel=3,
        )
        return None, None
