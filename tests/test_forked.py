"""modeler.forked: work in a forked child, with the caller's answer, warnings and errors."""

from __future__ import annotations

import gc
import os
import signal
import time
import warnings

import numpy as np
import pytest

from modeler import forked

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="fork is used on Linux only")


def where_and_sum(values: np.ndarray) -> tuple[int, float]:
    return os.getpid(), float(values.sum())


def test_the_child_computes_on_the_callers_arrays():
    values = np.arange(1_000_000, dtype=np.float64)
    pid, total = forked.start(where_and_sum, values).result()
    assert pid != os.getpid()  # another process did it
    assert total == float(values.sum())


def test_without_fork_a_thread_gives_the_same_answer():
    values = np.arange(1000, dtype=np.float64)
    pid, total = forked.start(where_and_sum, values, fork=False).result()
    assert pid == os.getpid() and total == float(values.sum())


def warn_and_return(x: int) -> int:
    warnings.warn(f"child saw {x}", UserWarning, stacklevel=1)
    return 2 * x


def test_warnings_of_the_child_are_raised_in_the_caller_once():
    job = forked.start(warn_and_return, 21)
    with pytest.warns(UserWarning, match="child saw 21"):
        assert job.result() == 42
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert job.result() == 42  # the answer again, the warning not


def fail(message: str) -> None:
    raise ValueError(message)


@pytest.mark.parametrize("fork", [True, False])
def test_an_error_in_the_job_is_raised_by_result(fork):
    job = forked.start(fail, "bad rows in run 3", fork=fork)
    with pytest.raises(ValueError, match="bad rows in run 3"):
        job.result()


def die_in_the_child(parent: int) -> str:
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return "done by the caller"


def test_a_child_that_dies_costs_time_not_the_answer():
    assert forked.start(die_in_the_child, os.getpid()).result() == "done by the caller"


def unpicklable() -> object:
    return lambda: None


def test_an_unpicklable_result_is_an_error_that_names_the_function():
    with pytest.raises(RuntimeError, match="unpicklable result"):
        forked.start(unpicklable).result()


def sleep_long() -> None:
    time.sleep(60)


def test_leaving_the_pool_stops_children_and_restores_collection():
    assert gc.isenabled()
    with forked.pool() as start:
        job = start(sleep_long)
        pid = job._pid
        assert pid is not None and not gc.isenabled()
        result = start(sum, [1, 2, 3]).result()
    assert result == 6 and gc.isenabled()
    with pytest.raises(ChildProcessError):  # killed and reaped: no process, no zombie
        os.waitpid(pid, os.WNOHANG)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def imported_here(name: str) -> bool:
    import sys

    return name in sys.modules


def test_a_prepared_child_imports_first_and_runs_its_call_later():
    import sys

    # a standard module no test imports: the child imports it, this process does not
    name = next(n for n in ("tabnanny", "pyclbr", "mailcap", "xdrlib") if n not in sys.modules)
    painter = forked.prepare([name])
    values = np.arange(10.0)
    assert painter.start(imported_here, name).result() is True
    assert name not in sys.modules
    assert forked.prepare([]).start(where_and_sum, values).result()[1] == 45.0


def test_a_prepared_child_is_not_held_up_by_children_forked_after_it():
    painter = forked.prepare([])
    later = forked.start(sleep_long)  # holds a copy of the pipe the call goes through
    try:
        assert painter.start(sum, [1, 2]).result() == 3
        os.kill(later._pid, 0)  # the later child still sleeps: the call did not wait for it
    finally:
        later.cancel()


def test_a_prepared_child_never_called_is_stopped():
    painter = forked.prepare([])
    pid = painter._pid
    painter.cancel()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_call_that_cannot_travel_runs_in_a_thread():
    painter = forked.prepare([])
    pid = painter._pid
    values = np.arange(4.0)
    job = painter.start(lambda v: (os.getpid(), float(v.sum())), values)  # a lambda: no pickle
    assert job.result() == (os.getpid(), 6.0)
    with pytest.raises(ProcessLookupError):  # the unused child was stopped
        os.kill(pid, 0)
