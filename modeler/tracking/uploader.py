"""The background uploader: one daemon thread per process that replays journals to their stores.

The run writer only appends to journals; this thread sends what they hold — per-epoch metrics
while the fit runs (at most every ``FLUSH_SECONDS``, batched), then the finished run — and runs
each run's finishing step (evaluation report, MLflow model, end of run) after ``fit`` returned.
A store that does not answer only delays it: the journal stays, the thread retries every
``RETRY_SECONDS``, and at interpreter exit what is left waits on disk for ``modeler sync``.

Messages from this thread are kept and shown in the user's thread (the next fit, ``accu.wait()``,
``evaluate``, ``compare``), where a notebook shows them under the right cell.

>>> from modeler.tracking.writer import uploader      # doctest: +SKIP
>>> uploader().wait()                                 # every run written, or its store down
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modeler.redact import redact_text
from modeler.tracking.journal import Journal
from modeler.tracking.replay import NotYet, Replayer, StoreUnavailable

FLUSH_SECONDS = 2.0  # per-epoch metrics reach the store at most this late
RETRY_SECONDS = 30.0  # a store that did not answer is tried again after this long
NOT_YET_TRIES = 30  # an addition to a run not created after this many 1 s tries stops a wait
EXIT_RETRY_AFTER = 5.0  # at exit, a store found down longer ago than this is tried once more


@dataclass
class _Entry:
    journal: Journal
    replayer: Replayer
    inline: bool  # replayed in the caller's thread (test mode, MODELER_BACKGROUND=0, user runs)
    job: Callable[[], list[str]] | None = None  # the finishing step, run before the next replay
    version: int = 0  # bumped by every poke: new operations to send
    sent: int = -1  # the version the last successful replay saw
    urgent: bool = True
    next_send: float = 0.0
    warned: bool = False
    not_yet: int = 0  # replays that found the run it adds to not created yet
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def dirty(self) -> bool:
        return self.sent != self.version


def _at_interpreter_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` when the interpreter exits, while thread pools still take work.

    Python stops ``concurrent.futures`` pools (pyarrow's, MLflow's) from taking new work in its
    threading exit hooks, which run before ``atexit``'s: a finishing step run from ``atexit``
    fails with "cannot schedule new futures after interpreter shutdown". Threading's hooks run
    last registered first, so this one runs before the pools' own (imported first here).
    """
    import concurrent.futures.thread  # noqa: F401  registers the pools' hook before ours

    register = getattr(threading, "_register_atexit", None)
    if register is None:  # not CPython
        atexit.register(hook)
        return
    try:
        register(hook)
    except RuntimeError:  # the interpreter is already shutting down
        atexit.register(hook)


class Uploader:
    """Replays this process's journals in the background; see the module docstring."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._entries: dict[str, _Entry] = {}
        self._busy: set[str] = set()
        self._down_until: dict[str, float] = {}
        self._messages: list[str] = []
        self._thread: threading.Thread | None = None
        _at_interpreter_exit(self._at_exit)

    # --- what writers call ------------------------------------------------------------------
    def add(self, journal: Journal, tracking_uri: str, *, inline: bool) -> None:
        """Start replaying ``journal`` (its run is created right away)."""
        entry = _Entry(journal, Replayer(journal, tracking_uri), inline)
        with self._cond:
            self._entries[journal.id] = entry
        self.poke(journal, urgent=True)

    def poke(self, journal: Journal, *, urgent: bool = False) -> None:
        """New operations are in ``journal``: send them soon (now, when ``urgent``)."""
        with self._cond:
            entry = self._entries.get(journal.id)
            if entry is None:
                return
            entry.version += 1
            entry.urgent = entry.urgent or urgent
            if not entry.inline:
                self._ensure_thread()
                self._cond.notify_all()
                return
        self._work(entry)

    def finish(self, journal: Journal, job: Callable[[], list[str]]) -> None:
        """Run ``job`` (the finishing step; returns warnings), then replay to the end."""
        with self._cond:
            entry = self._entries.get(journal.id)
            if entry is None:
                return
            entry.job = job
            entry.version += 1
            entry.urgent = True
            if not entry.inline:
                self._ensure_thread()
                self._cond.notify_all()
                return
        self._work(entry)

    def run_id(self, journal: Journal, timeout: float = 30.0) -> str | None:
        """The store's id of ``journal``'s run: waits until it is created, its store is found
        down, or ``timeout`` seconds passed (then None)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                entry = self._entries.get(journal.id)
                run_id = journal.run_id
                if run_id is not None or entry is None or self._is_down(entry):
                    return run_id
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.5))

    def wait(self, journals: list[Journal] | None = None) -> None:
        """Until the given journals (default: all) are written or their store is down."""
        ids = None if journals is None else {j.id for j in journals}
        with self._cond:
            while True:
                pending = [
                    e
                    for key, e in self._entries.items()
                    if (ids is None or key in ids) and not self._settled(e)
                ]
                if not pending:
                    return
                if all(e.inline for e in pending):  # nobody else will work on them
                    break
                self._ensure_thread()
                self._cond.wait(0.5)
        for entry in pending:
            self._work(entry)

    def retry(self) -> list[Journal]:
        """Try every store again now (``accu.sync()``); wait; return the journals still
        not in their store."""
        with self._cond:
            self._down_until.clear()
            for entry in self._entries.values():
                entry.version += 1
                entry.urgent = True
            self._cond.notify_all()
        self.wait()
        with self._cond:
            return [e.journal for e in self._entries.values() if self._is_down(e)]

    def messages(self) -> list[str]:
        """Messages from the background thread not shown yet (and forget them)."""
        with self._cond:
            out, self._messages = self._messages, []
        return out

    def adopt(self, journal: Journal, tracking_uri: str, job: Callable[[], list[str]]) -> None:
        """Complete a journal left by a process that ended (locked by us already)."""
        entry = _Entry(journal, Replayer(journal, tracking_uri, resume=True), inline=False, job=job)
        with self._cond:
            self._entries[journal.id] = entry
            self._ensure_thread()
            self._cond.notify_all()

    def reset(self) -> None:
        """Wait for running work, then forget every journal (they stay on disk) and message."""
        self.wait()
        with self._cond:
            for entry in self._entries.values():
                entry.journal.unlock()
            self._entries.clear()
            self._down_until.clear()
            self._messages.clear()

    def owns(self, journal_id: str) -> bool:
        with self._cond:
            return journal_id in self._entries

    # --- the thread -------------------------------------------------------------------------
    def _is_down(self, entry: _Entry) -> bool:
        return self._down_until.get(entry.replayer.tracking_uri, 0.0) > time.monotonic()

    def _settled(self, entry: _Entry) -> bool:
        if entry.job is not None or entry.journal.id in self._busy:  # work still to do
            return False
        waited_enough = entry.not_yet >= NOT_YET_TRIES
        return entry.done.is_set() or self._is_down(entry) or not entry.dirty or waited_enough

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="modeler-upload", daemon=True)
            self._thread.start()

    def _next(self) -> tuple[_Entry | None, float | None]:
        """The entry to work on now, else how long until one is due (None: until poked)."""
        now = time.monotonic()
        due: float | None = None
        for key, entry in self._entries.items():
            if entry.inline or key in self._busy or entry.done.is_set():
                continue
            if entry.job is not None:  # finishing is local work: the store may be down
                return entry, None
            if not entry.dirty:
                continue
            at = self._down_until.get(entry.replayer.tracking_uri, 0.0)
            if not entry.urgent:
                at = max(at, entry.next_send)
            if at <= now:
                return entry, None
            due = at - now if due is None else min(due, at - now)
        return None, due

    def _loop(self) -> None:
        while True:
            with self._cond:
                entry, due = self._next()
                while entry is None:
                    if not any(not e.inline for e in self._entries.values()):
                        self._thread = None
                        return
                    self._cond.wait(due)
                    entry, due = self._next()
                self._busy.add(entry.journal.id)
            try:
                self._work(entry)
            except BaseException as exc:  # never let the thread die silently
                self._say(f"modeler: uploading run {entry.journal.meta['run_name']} failed: {exc}")
            finally:
                with self._cond:
                    self._busy.discard(entry.journal.id)
                    self._cond.notify_all()

    def _work(self, entry: _Entry) -> None:
        """Finish (if asked) and replay one journal; in the caller's thread or the uploader's."""
        from modeler.config import test_mode

        with self._cond:
            job, entry.job = entry.job, None
            version, entry.urgent = entry.version, False
        if job is not None:
            for message in job():
                self._say(message, entry)
        if self._is_down(entry):  # tried again after RETRY_SECONDS, or by retry()
            return
        try:
            complete = entry.replayer.replay()
        except NotYet as exc:  # the run it adds to comes with another journal: soon
            with self._cond:
                entry.not_yet += 1
                entry.next_send = time.monotonic() + 1.0
                self._cond.notify_all()
            if entry.not_yet == NOT_YET_TRIES:
                self._say(f"modeler: {exc}; still waiting (`modeler sync` tries again)", entry)
            return
        except StoreUnavailable as exc:
            with self._cond:
                self._down_until[entry.replayer.tracking_uri] = time.monotonic() + RETRY_SECONDS
                self._cond.notify_all()
            if not entry.warned:
                entry.warned = True
                self._say(
                    f"modeler: {exc}; run {entry.journal.meta['run_name']} is kept in "
                    f"{entry.journal.root} and nothing is lost. It is uploaded when the store "
                    "answers again (or run `modeler sync` later).",
                    entry,
                )
            return
        except Exception as exc:
            if test_mode():
                raise
            self._say(
                f"modeler: run {entry.journal.meta['run_name']} could not be uploaded: "
                f"{type(exc).__name__}: {redact_text(str(exc))[:300]} (kept in "
                f"{entry.journal.root}; `modeler sync` tries again)",
                entry,
            )
            with self._cond:
                self._down_until[entry.replayer.tracking_uri] = time.monotonic() + RETRY_SECONDS
            return
        with self._cond:
            entry.sent = version
            entry.next_send = time.monotonic() + FLUSH_SECONDS
            self._down_until.pop(entry.replayer.tracking_uri, None)
            if complete:
                entry.journal.remove()
                entry.done.set()
                del self._entries[entry.journal.id]
            self._cond.notify_all()
        if complete and entry.warned:
            self._say(f"modeler: run {entry.journal.meta['run_name']} is now in the store", entry)

    def _say(self, message: str, entry: _Entry | None = None) -> None:
        """Warn now in the caller's thread; from the uploader thread, keep it for later."""
        message = redact_text(message)
        in_user_thread = threading.current_thread() is not self._thread
        if in_user_thread or (entry is not None and entry.inline):
            import warnings

            from modeler.errors import ModelerWarning

            warnings.warn(message, ModelerWarning, stacklevel=4)
        else:
            with self._cond:
                self._messages.append(message)

    def _at_exit(self) -> None:
        """Let running work end (finishing steps always; uploads while the store answers),
        then say what is left on disk. A store found down more than a few seconds ago is
        tried once more: a short outage should not leave runs for ``modeler sync``."""
        with self._cond:
            recent = time.monotonic() + RETRY_SECONDS - EXIT_RETRY_AFTER
            self._down_until = {u: t for u, t in self._down_until.items() if t > recent}
            self._cond.notify_all()
        try:
            self.wait()
        except Exception as exc:  # the process is ending: say it, do not raise
            print(f"modeler: finishing runs failed: {exc}", file=sys.stderr)
        for message in self.messages():
            print(message, file=sys.stderr)
        with self._cond:
            left = [e for e in self._entries.values() if not e.done.is_set() and e.journal.owned]
        if left:
            where = left[0].journal.root.parent
            print(
                f"modeler: {len(left)} run(s) could not reach their tracking store and wait in "
                f"{where}; upload them with `modeler sync` (or accu.sync()) when it is back.",
                file=sys.stderr,
            )
