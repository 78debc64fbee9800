"""The decision threshold a run chose on its validation data, for a later test evaluation.

A test evaluation confirms a decision; it never makes one (no tuning on test). This finds the
run's ``eval.decision_threshold``: in the run's journal while it is still on its way to the
store, else in the store.

>>> decision_of(tracking, writer=None, run_id="3f2a...")       # doctest: +SKIP
0.0871
"""

from __future__ import annotations

from typing import Any

from modeler import layout
from modeler.config import Tracking

KEY = layout.metric("decision_threshold")


def decision_of(tracking: Tracking, writer: Any = None, run_id: str | None = None) -> float | None:
    """``eval.decision_threshold`` of the run of ``writer`` (this session) or ``run_id``."""
    if writer is not None:
        from modeler.tracking.writer import uploader

        uploader().wait([writer.journal])  # its evaluation is computed in the background
        found = _in_journal(writer.journal)
        if found is not None:
            return found
        run_id = writer.run_id
    if run_id is None:
        return None
    from modeler.tracking.store import open_client

    value = open_client(tracking.uri).get_run(run_id).data.metrics.get(KEY)
    return None if value is None else float(value)


def has_evaluation(tracking: Tracking, writer: Any = None, run_id: str | None = None) -> bool:
    """True when the run of ``writer`` / ``run_id`` already has its ``eval.*`` evaluation."""
    if writer is not None:
        if writer.journal.ops_path.exists() and any(
            op["op"] == "evaluate" and op.get("prefix") == layout.EVAL
            for op in writer.journal.read().ops
        ):
            return True
        run_id = writer.run_id
    if run_id is None:
        return False
    from modeler.tracking.store import open_client

    metrics = open_client(tracking.uri).get_run(run_id).data.metrics
    return any(key.startswith(f"{layout.EVAL}.") for key in metrics)


def _in_journal(journal: Any) -> float | None:
    if not journal.ops_path.exists():
        return None
    found = None
    for op in journal.read().ops:
        for key, value, _ts, _step in op.get("metrics", ()):
            if key == KEY:
                found = float(value)
    return found
