"""Completing runs whose process ended: ``modeler sync``, ``accu.sync()`` and ``accu.autolog()``.

A journal that no live process holds (its lock is free) belongs to a process that ended — killed
right after ``fit``, an OOM, a restarted kernel, or a normal exit while the store was down. It is
finished from what it holds (evaluation from the stored scores, the model, FINISHED when ``fit``
had returned, else KILLED with the epochs logged) and replayed to its store.

    $ modeler sync
    synced keras-7F3A9C -> http://mlflow:5000 (run 3f2a...)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeler.errors import JournalError, TrackingError
from modeler.redact import MASK, redact_url
from modeler.tracking.journal import Journal, damaged, folders


def tracking_uri_for(journal: Journal, current: str | None = None) -> str:
    """The store a journal was written for. Its password, never stored, comes from
    ``MLFLOW_TRACKING_URI`` or ``current`` (the session's store) when they name that store."""
    stored = str(journal.meta["tracking_uri"])
    if MASK not in stored:
        return stored
    for uri in (os.environ.get("MLFLOW_TRACKING_URI"), current):
        if uri and redact_url(uri) == stored:
            return uri
    raise TrackingError(
        f"{journal.root}: the run is for {stored}, whose password is not kept on disk; set "
        "MLFLOW_TRACKING_URI to that URL with its password (or MLFLOW_TRACKING_USERNAME / "
        "MLFLOW_TRACKING_PASSWORD) and sync again"
    )


def _claim(root: Path) -> tuple[Journal | None, str | None]:
    """(journal, None), (None, None) when a live process holds it, or (None, problem)."""
    try:
        return Journal.claim(root), None
    except JournalError as exc:
        return None, str(exc)


def adopt_orphans(
    base: Path | None = None, current: str | None = None
) -> tuple[list[str], list[str]]:
    """Hand every orphaned journal to the background uploader. Returns (run names, problems).

    ``current``: the session's tracking URI (its password serves journals for that store)."""
    from modeler.tracking.finish import finish
    from modeler.tracking.writer import uploader as the_uploader

    uploader = the_uploader()
    names: list[str] = []
    problems: list[str] = []
    for root in folders(base):
        if uploader.owns(root.name):
            continue
        journal, problem = _claim(root)
        if problem:
            problems.append(problem)
        if journal is None:
            continue
        try:
            uri = tracking_uri_for(journal, current)
        except TrackingError as exc:
            problems.append(str(exc))
            journal.unlock()
            continue

        def job(j: Journal = journal) -> list[str]:
            return finish(j, recovered=True)

        uploader.adopt(journal, uri, job)
        names.append(str(journal.meta["run_name"]))
    return names, problems


@dataclass
class SyncResult:
    """What ``sync`` did: run ids now complete in their stores, and what could not be done."""

    synced: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def sync(
    base: Path | None = None,
    *,
    echo: Callable[[str], Any] = print,
    current: str | None = None,
) -> SyncResult:
    """Finish and replay every journal no live process holds, now, in this thread."""
    from modeler.tracking.finish import finish
    from modeler.tracking.replay import NotYet, Replayer, StoreUnavailable
    from modeler.tracking.writer import uploader as the_uploader

    uploader = the_uploader()
    result = SyncResult()
    for own in uploader.retry():  # this process's own runs, kept while a store was down
        name = own.meta["run_name"]
        result.failed.append(f"{name}: its store still does not answer")
        echo(f"not synced {name}: its store still does not answer ({own.root} was kept)")
    for message in uploader.messages():
        echo(message)
    for root in folders(base):
        if uploader.owns(root.name):  # this process's own runs: the uploader has them
            continue
        journal, problem = _claim(root)
        if problem:
            result.failed.append(problem)
            echo(f"damaged: {problem}")
        if journal is None:
            if not problem:
                result.busy.append(str(root))
                echo(f"{root}: being written by a running process; left to it")
            continue
        name = journal.meta["run_name"]
        try:
            uri = tracking_uri_for(journal, current)
            for message in finish(journal, recovered=True):
                echo(message)
            replayer = Replayer(journal, uri, resume=True)
            complete = replayer.replay()
        except NotYet as exc:  # its run's own journal could not be replayed
            result.failed.append(f"{name}: {exc}")
            echo(f"not synced {name}: {exc}")
            journal.unlock()
            continue
        except (StoreUnavailable, TrackingError) as exc:
            result.failed.append(f"{name}: {exc}")
            echo(f"not synced {name}: {exc} ({root} was kept; run `modeler sync` again)")
            journal.unlock()
            continue
        if complete:
            journal.remove()
            result.synced.append(str(replayer.run_id))
            echo(f"synced {name} -> {redact_url(uri)} (run {replayer.run_id})")
        else:
            journal.unlock()
    for path, reason in damaged(base):
        message = f"{path}: set aside earlier: {reason}"
        if not any(str(path) in failure for failure in result.failed):
            result.failed.append(message)
            echo(f"damaged: {message} (fix or delete it)")
    if not (result.synced or result.failed or result.busy):
        echo("nothing to sync: every run is in its store")
    return result
