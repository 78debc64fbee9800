"""Finishing a run locally: from its journal's snapshots to complete run content.

What is left once ``fit`` has returned — computing the evaluation report, saving the model as an
MLflow model, the end of the run — is local work on the journal, done by the background thread
of the process that trained, or, when that process died, by ``modeler sync`` / the next
``accu.autolog()``. Each step leaves a marker in the journal, so finishing twice does nothing
twice.

>>> warnings = finish(journal, status="FINISHED")      # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any

from modeler import layout
from modeler.config import test_mode
from modeler.tracking.journal import Journal


def finish(
    journal: Journal,
    *,
    status: str | None = None,
    recovered: bool = False,
    errors: list[str] | None = None,
) -> list[str]:
    """Materialize pending evaluations and models, then end the run. Returns warnings.

    ``status`` ends the run with that status. ``recovered``: the process that trained is gone;
    the status follows from the journal (FINISHED when ``fit`` had returned, else KILLED, with
    the epochs that were logged) and the run is tagged ``modeler.recovered``.
    """
    from modeler.tracking.evaluate import materialize
    from modeler.tracking.models import save_flavor

    warnings: list[str] = []
    reported = list(errors or [])  # by the writer, already shown to the user
    errors = []
    read = journal.read()
    ops = read.ops
    if recovered and journal.repair():
        journal.append({"op": "batch", "tags": {layout.JOURNAL_TRUNCATED: "true"}})
        warnings.append(
            f"{journal.ops_path}: the last record was cut (the process died while writing it); "
            "the run is complete up to the record before"
        )
    if any(op["op"] == "end" for op in ops):
        return warnings
    done = {op["snapshot"] for op in ops if op["op"] in ("evaluated", "model", "model_failed")}
    for op in ops:
        if op["op"] == "evaluate" and op["snapshot"] not in done:
            try:
                _, found = materialize(journal, op)
                warnings += [f"modeler: run {journal.meta['run_name']}: {w}" for w in found]
            except Exception as exc:
                if test_mode():
                    raise
                errors.append(f"evaluation: {type(exc).__name__}: {_first_line(exc)}")
                journal.append({"op": "evaluated", "snapshot": op["snapshot"], "error": True})
        elif op["op"] == "model_snapshot" and op["dir"] not in done:
            try:
                save_flavor(journal, op)
            except Exception as exc:
                if test_mode():
                    raise
                reason = f"{type(exc).__name__}: {_first_line(exc)}"
                errors.append(f"model: {reason}")
                journal.append(
                    {"op": "model_failed", "snapshot": op["dir"]},
                    {"op": "batch", "tags": {layout.MODEL_MISSING: reason[:500]}},
                )
    tags: dict[str, str] = {}
    if errors or reported:
        tags[layout.LOGGING_ERROR] = "; ".join(reported + errors)[:5000]
        warnings += [f"modeler could not log {e} (training is unaffected)" for e in errors]
    if recovered and not journal.owned:
        status = "FINISHED"  # ends nothing: the run belongs to another journal or the user
    elif recovered:
        returned = any(op["op"] == "returned" for op in ops)
        status = "FINISHED" if returned else "KILLED"
        tags[layout.RECOVERED] = (
            "completed from its journal after its process ended"
            if returned
            else "the process ended during fit; the epochs logged until then are kept"
        )
    if tags:
        journal.append({"op": "batch", "tags": tags})
    if status is not None:
        journal.append({"op": "end", "status": status, "end_time": int(time.time() * 1000)})
    return warnings


def _first_line(exc: BaseException) -> str:
    from modeler.redact import redact_text

    text = str(exc)
    return redact_text(text.splitlines()[0][:300]) if text else ""


def status_of(ops: list[dict[str, Any]]) -> str | None:
    """The status a journal ended its run with, or None when it has not ended."""
    for op in reversed(ops):
        if op["op"] == "end":
            return str(op["status"])
    return None
