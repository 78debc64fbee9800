"""Run CPU-bound numpy work in a forked child, beside the caller's own work.

Threads of one process share one interpreter lock: a paired bootstrap in a thread and matplotlib
in the caller's thread mostly wait for each other. A forked child is a copy of the caller (its
arrays are shared copy-on-write, nothing is pickled on the way in), runs on another core, and
sends back only its pickled result through a pipe::

    >>> job = start(sum, [1, 2, 3])
    >>> job.result()
    6

Warnings the child raised are raised again in the caller. An exception in the child is raised
by ``result()``. A child that dies without an answer (killed, out of memory) costs time, not
the answer: the function is then run again in the caller. Where ``fork`` is unsafe or missing
(macOS, Windows), ``start`` runs the function in a thread instead.
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

_ERROR, _OK = 0, 1


def can_fork() -> bool:
    """True where ``start`` forks: Linux (fork is unsafe on macOS, missing on Windows)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class Job:
    """A function running in a forked child (or a thread); ``result()`` waits for it."""

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        fork: bool,
        child: tuple[int, int] | None = None,
    ) -> None:
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._pid: int | None = None
        self._read: int | None = None
        self._thread: threading.Thread | None = None
        self._outcome: tuple[int, Any, list] | None = None
        if child is not None:  # a prepared child (see Ready) already has the call
            self._pid, self._read = child
        elif fork:
            self._fork()
        if self._pid is None:  # no fork here, or it failed: a thread does the same work
            self._thread = threading.Thread(target=self._run_here, daemon=True)
            self._thread.start()

    def _fork(self) -> None:
        try:
            read, write = os.pipe()
        except OSError:
            return

        def child() -> None:  # compute, send
            os.close(read)
            with os.fdopen(write, "wb") as out:
                out.write(_outcome_bytes(self._fn, self._args, self._kwargs))

        pid = _fork(child)
        os.close(write)
        if pid is None:
            os.close(read)
            return
        self._pid, self._read = pid, read

    def _run_here(self) -> None:  # in a thread or the caller: warnings go out as raised
        try:
            self._outcome = (_OK, self._fn(*self._args, **self._kwargs), [])
        except Exception as exc:
            self._outcome = (_ERROR, exc, [])

    def result(self) -> Any:
        """The function's return value; raises what it raised."""
        if self._outcome is None:
            if self._thread is not None:
                self._thread.join()
            else:
                self._outcome = self._collect()
        assert self._outcome is not None
        kind, value, caught = self._outcome
        self._outcome = (kind, value, [])  # a second call raises the warnings no more
        for message in caught:  # the child's warnings, as if raised here
            warnings.warn_explicit(
                message["message"], message["category"], message["filename"], message["lineno"]
            )
        if kind == _ERROR:
            raise value
        return value

    def _collect(self) -> tuple[int, Any, list]:
        assert self._pid is not None and self._read is not None
        try:
            with os.fdopen(self._read, "rb") as pipe:
                data = pipe.read()  # until the child closes its end
        except BaseException:
            self.cancel()
            raise
        os.waitpid(self._pid, 0)
        self._pid = None
        try:
            return pickle.loads(data)
        except Exception:  # the child died before it finished sending: do it here
            self._run_here()
            assert self._outcome is not None
            return self._outcome

    def cancel(self) -> None:
        """Stop a forked child that is still running (a thread cannot be stopped)."""
        if self._pid is not None:
            _stop(self._pid)
            self._pid = None


class Ready:
    """A child forked now that imports ``modules`` at once and runs one call later.

    Its imports (matplotlib takes 0.5-1 s) overlap with what the caller does meanwhile, such
    as waiting for a server; the call's arguments are pickled to it when they are known::

        >>> painter = prepare(["json"])
        >>> painter.start(sum, [1, 2]).result()
        3

    ``cancel()`` stops a child that was never given its call.
    """

    def __init__(self, modules: list[str], fork: bool) -> None:
        self._pid: int | None = None
        self._call: int | None = None
        self._result: int | None = None
        if fork:
            self._fork(modules)

    def _fork(self, modules: list[str]) -> None:
        try:
            call_r, call_w = os.pipe()
            result_r, result_w = os.pipe()
        except OSError:
            return

        def child() -> None:  # import, wait for the call, run it, send the outcome
            os.close(call_w)
            os.close(result_r)
            for name in modules:
                with suppress(Exception):  # the call will say what is missing
                    importlib.import_module(name)
            with os.fdopen(call_r, "rb") as pipe:
                # Length first: children forked later hold copies of the caller's end, so
                # the end of the pipe may come late.
                size = int.from_bytes(pipe.read(8), "big")
                data = pipe.read(size)
            if size and len(data) == size:
                fn, args, kwargs = pickle.loads(data)
                with os.fdopen(result_w, "wb") as out:
                    out.write(_outcome_bytes(fn, args, kwargs))

        pid = _fork(child)
        os.close(call_r)
        os.close(result_w)
        if pid is None:
            os.close(call_w)
            os.close(result_r)
            return
        self._pid, self._call, self._result = pid, call_w, result_r

    def start(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
        """Give the child its call (or, without a child, run it in a thread)."""
        if self._pid is None:
            return Job(fn, args, kwargs, fork=False)
        assert self._call is not None and self._result is not None
        try:
            data = pickle.dumps((fn, args, kwargs))
        except Exception:  # arguments that cannot travel: the work is done here instead
            self.cancel()
            return Job(fn, args, kwargs, fork=False)
        call, child = self._call, (self._pid, self._result)
        self._pid = self._call = self._result = None

        def send() -> None:  # in a thread: the child reads only once its imports are done
            with suppress(OSError), os.fdopen(call, "wb") as pipe:
                pipe.write(len(data).to_bytes(8, "big") + data)

        threading.Thread(target=send, daemon=True).start()
        return Job(fn, args, kwargs, fork=True, child=child)

    def cancel(self) -> None:
        """Stop the child if it never got its call."""
        if self._pid is not None:
            _stop(self._pid)
            for fd in (self._call, self._result):
                if fd is not None:
                    with suppress(OSError):
                        os.close(fd)
            self._pid = self._call = self._result = None


def _fork(child: Callable[[], None]) -> int | None:
    """Fork: the child runs ``child()`` and leaves without running the caller's exit code.
    Returns the child's pid to the caller, or None when the system refused the fork."""
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork in a process with threads; the children only run
            # numpy or drawing code on their copy and never take the other threads' locks.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        return None
    if pid == 0:
        try:
            with suppress(ValueError):  # Ctrl-C ends the child at once
                signal.signal(signal.SIGINT, signal.SIG_DFL)
            child()
        finally:
            os._exit(0)
    return pid


def _stop(pid: int) -> None:
    """Kill a child and reap it (no zombie)."""
    with suppress(OSError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def prepare(modules: list[str], fork: bool | None = None) -> Ready:
    """Fork a child now that imports ``modules`` and waits for one call (see :class:`Ready`)."""
    return Ready(modules, can_fork() if fork is None else fork)


def _outcome_bytes(fn: Callable[..., Any], args: tuple, kwargs: dict) -> bytes:
    """Pickled (kind, value, warnings) of calling ``fn``; an unpicklable error is described."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome: tuple[int, Any] = (_OK, fn(*args, **kwargs))
        except Exception as exc:
            outcome = (_ERROR, exc)
    notes = [
        {
            "message": str(w.message),
            "category": w.category,
            "filename": w.filename,
            "lineno": w.lineno,
        }
        for w in caught
    ]
    try:
        return pickle.dumps((*outcome, notes))
    except Exception as exc:  # an unpicklable result or exception: say what it was
        kind = "exception" if outcome[0] == _ERROR else "result"
        error = RuntimeError(f"{fn.__qualname__} returned an unpicklable {kind}: {exc!r}")
        return pickle.dumps((_ERROR, error, notes))


@contextmanager
def pool() -> Iterator[Callable[..., Job]]:
    """``start`` for several jobs at once; leaving the block stops the ones still running.

    While children run, the caller's automatic garbage collection waits: a full collection
    writes to every object's header, which would make the kernel copy each page the children
    still share (0.7 s instead of 0.3 s measured beside two children). It runs again after.

    >>> with pool() as start:
    ...     jobs = [start(sum, [1, 2]), start(max, [1, 2])]
    ...     [job.result() for job in jobs]
    [3, 2]
    """
    jobs: list[Job] = []

    def start_one(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
        job = start(fn, *args, **kwargs)
        jobs.append(job)
        return job

    with gc_paused():
        try:
            yield start_one
        finally:
            for job in jobs:
                job.cancel()


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic garbage collection inside the block (see :func:`pool`); it nests."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def start(fn: Callable[..., Any], *args: Any, fork: bool | None = None, **kwargs: Any) -> Job:
    """Start ``fn(*args, **kwargs)`` in a forked child (``fork=None``: where :func:`can_fork`)."""
    return Job(fn, args, kwargs, can_fork() if fork is None else fork)
