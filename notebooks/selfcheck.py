"""selfcheck.py: runs a student's code for an exercise's check cell, under a deadline. Never trusts it.

Every check cell in the notebooks calls the student's function through :func:`attempt`, so a wrong
answer that loops forever or waits on a socket without a timeout fails in a few seconds with one
clear sentence instead of hanging the notebook. Anything the student's code raises also becomes an
``AssertionError`` that says which call failed, so a check always ends with a message, never a bare
traceback from deep inside the student's code.

How the deadline works: on Linux and macOS the notebook kernel runs cells in its main thread, so
``signal.setitimer`` can interrupt the student's code there (a blocked ``recv`` or ``accept`` is
interrupted too). Where there is no ``SIGALRM`` (Windows), the code runs in a helper thread that is
abandoned after the deadline: the check still fails in time, but the stuck thread keeps running until
the kernel restarts, and the message says so.

The module also has the small tools checks share: :class:`Unsorted` (a set whose iteration order is
fixed and *not* sorted, so "forgot to sort" fails on every run whatever PYTHONHASHSEED is),
:func:`peak_memory` (how many bytes a call allocated at its peak, from ``tracemalloc``) and
:func:`attempt_noting_unclosed` (``attempt``, plus every socket the call dropped without closing it).
"""

from __future__ import annotations

import gc
import signal
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

DEFAULT_SECONDS = 3.0


class TookTooLong(AssertionError):
    """The student's code was still running when its deadline passed."""


class _Alarm(BaseException):
    # BaseException, so that a student's `except Exception:` cannot swallow the deadline
    pass


def attempt(what: str, function: Callable[..., Any], *args: Any, seconds: float = DEFAULT_SECONDS, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, which must finish within ``seconds``; ``what`` names the call in
    messages, e.g. ``attempt("recipients('ana', 'all', ...)", recipients, "ana", "all", here)``."""
    if _can_use_alarm():
        return _with_alarm(what, function, args, kwargs, seconds)
    return _with_thread(what, function, args, kwargs, seconds)


def attempt_noting_unclosed(
    what: str, function: Callable[..., Any], *args: Any, seconds: float = DEFAULT_SECONDS, **kwargs: Any
) -> tuple[Any, list[str]]:
    """``(attempt(what, function, ...), what it left unclosed)``: the messages of the ResourceWarnings Python
    gives when it frees a socket (or file) that is still open. The system closes such a socket for the
    student, so the peer cannot tell; this is how a check sees a missing ``close`` (or ``with``)."""
    gc.collect()  # garbage from before the call is not the call's fault
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        value = attempt(what, function, *args, seconds=seconds, **kwargs)
        gc.collect()  # a dropped socket caught in a reference cycle is freed (and reported) now
    return value, [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def _can_use_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _too_long(what: str, seconds: float) -> TookTooLong:
    return TookTooLong(
        f"{what} was still running after {seconds:g} s: a loop that never ends, or a wait "
        "(recv, accept, select) without a timeout?"
    )


def _with_alarm(what: str, function: Callable[..., Any], args: tuple, kwargs: dict, seconds: float) -> Any:
    armed = [True]

    def ring(signum: int, frame: Any) -> None:
        if armed[0]:
            raise _Alarm

    previous_handler = signal.signal(signal.SIGALRM, ring)
    started = time.monotonic()
    # rings again every 0.25 s after the deadline, in case one ring lands where it is swallowed; a timer
    # someone else had set (an outer deadline) is put back afterwards with what is left of it
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    try:
        try:
            return function(*args, **kwargs)
        finally:
            armed[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_delay > 0:
                left = max(0.001, previous_delay - (time.monotonic() - started))
                signal.setitimer(signal.ITIMER_REAL, left, previous_interval)
    except _Alarm:
        raise _too_long(what, seconds) from None
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def _with_thread(what: str, function: Callable[..., Any], args: tuple, kwargs: dict, seconds: float) -> Any:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # handed back to the check below
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True, name=f"selfcheck: {what}")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TookTooLong(str(_too_long(what, seconds)) + " (it is still running: restart the kernel after fixing it)")
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, AssertionError):
            raise exc
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from exc
    return outcome.get("value")


class Unsorted(frozenset):
    """A set that always iterates in reverse alphabetical order: membership as usual, but an answer
    that forgets to sort gets the wrong order on every run (a plain set's order depends on
    PYTHONHASHSEED, so such an answer would pass or fail by luck)."""

    def __iter__(self):  # noqa: ANN204
        return iter(sorted(frozenset.__iter__(self), reverse=True))


def peak_memory(function: Callable[..., Any], *args: Any) -> tuple[Any, int]:
    """``(function(*args), peak bytes allocated by Python during the call)``, measured by tracemalloc.
    Only allocations made during the call count (what the caller already holds does not)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    try:
        value = function(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return value, max(0, peak - before)
