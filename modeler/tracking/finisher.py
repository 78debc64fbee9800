"""Finishing runs in the background, so ``fit`` returns as soon as training is done.

What is left after the predictions — curves, plots, artifact uploads, the model, the end of
the run — runs on one background thread per run. The next logged ``fit``, ``accu.evaluate``,
``accu.compare``, ``accu.sync`` and ``accu.wait()`` wait for it first, so a model is never
trained again while it is being saved, and a comparison never misses a run. Warnings raised
there are shown when the caller waits; nothing is dropped at interpreter exit (the thread is
not a daemon).

>>> accu.wait()          # doctest: +SKIP  (block until every run is completely written)
"""

from __future__ import annotations

import atexit
import threading
import warnings
from collections.abc import Callable

from modeler.errors import ModelerWarning


class _Deferred(threading.local):
    messages: list[str] | None = None


_deferred = _Deferred()


def notify(message: str, stacklevel: int = 3) -> None:
    """Warn now, or — on a finishing thread — when the user's code next waits for it."""
    if _deferred.messages is not None:
        _deferred.messages.append(message)
    else:
        warnings.warn(message, ModelerWarning, stacklevel=stacklevel + 1)


class Finisher:
    """Background threads finishing runs, and what they reported."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._messages: list[str] = []
        self._errors: list[BaseException] = []
        atexit.register(self._report_at_exit)

    def submit(self, job: Callable[[], None]) -> None:
        def target() -> None:
            _deferred.messages = []
            try:
                job()
            except BaseException as exc:  # shown to the user at the next wait()
                with self._lock:
                    self._errors.append(exc)
            finally:
                with self._lock:
                    self._messages.extend(_deferred.messages or [])
                _deferred.messages = None

        thread = threading.Thread(target=target, name="modeler-finish-run", daemon=False)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def wait(self) -> None:
        """Join every finishing thread; re-emit its warnings; raise what test mode raised."""
        while True:
            with self._lock:
                if not self._threads:
                    break
                thread = self._threads.pop(0)
            thread.join()
        with self._lock:
            messages, self._messages = self._messages, []
            errors, self._errors = self._errors, []
        for message in messages:
            warnings.warn(message, ModelerWarning, stacklevel=3)
        if errors:
            raise errors[0]

    def _report_at_exit(self) -> None:
        try:
            self.wait()
        except Exception as exc:  # the process is ending: say it, do not raise
            print(f"modeler: finishing a run failed: {exc}")
