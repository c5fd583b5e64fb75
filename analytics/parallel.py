"""One CPU-bound computation in a forked child while the caller goes on with the rest.

A report is mostly single-threaded Python (lifelines, pandas, matplotlib), and the
GIL keeps threads from sharing that work. Steps that need nothing from the others run
in a child process on another core: the time-dependent Cox model (the longest), the
dataset hash with the figures drawn from the dataset alone, the subgroup panels.
Billiard (Celery's own fork of multiprocessing) starts the child: a Celery prefork
worker is a daemonic process, and multiprocessing refuses to let those have children.

The child gets its arguments by fork, not pickling; it never touches the database
(the functions given here are pure computations) and leaves by ``os._exit``, so
it closes none of the parent's connections. Only the result travels back, pickled.
Where no child can be forked, the computation runs in the caller, at once.

On Linux the child dies with its parent, even a parent killed by SIGKILL (a pool child
that Celery or the out-of-memory killer ends): the kernel sends it SIGKILL then
(``PR_SET_PDEATHSIG``), so no computation lives on, holding its memory, for a task that
has been requeued.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import billiard

logger = logging.getLogger(__name__)


class InChild:
    """``function(*args, **kwargs)`` started in a forked child; ``result()`` waits for it."""

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._process = None
        self._outcome: tuple[bool, Any] | None = None
        try:
            context = billiard.get_context("fork")
            self._receiver, sender = context.Pipe(duplex=False)
            self._process = context.Process(target=_child_run, args=(os.getpid(), sender, function, args, kwargs),
                                            daemon=True)
            self._process.start()
            sender.close()  # the child holds the only writing end: EOF if it dies without answering
        except (OSError, ValueError) as error:  # no fork on this platform, or no resources for one
            logger.warning("Computing %s in the caller: cannot fork (%s)", function.__name__, error)
            self._process = None
            self._outcome = _outcome_of(function, args, kwargs)

    def result(self) -> Any:
        """The function's value, or its exception raised here."""
        if self._outcome is None:
            try:
                self._outcome = self._receiver.recv()
            except EOFError:
                self._process.join(timeout=5)
                code = self._process.exitcode
                raise RuntimeError(f"The parallel computation ended without a result (exit code {code}).") from None
            finally:
                self._stop()
        succeeded, value = self._outcome
        if not succeeded:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child if it still runs (the caller failed or gave up)."""
        self._stop()

    def _stop(self) -> None:
        if self._process is None:
            return
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=5)
        self._receiver.close()
        self._process = None


def _outcome_of(function: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[bool, Any]:
    try:
        return True, function(*args, **kwargs)
    except Exception as error:  # handed to the caller, who raises it
        return False, error


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Linux: ask the kernel for SIGKILL when the parent dies. Strictly, when the thread that
    forked ends: create an ``InChild`` in the thread that will wait for its result."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            logger.warning("The child may outlive its parent: prctl failed (errno %s)", ctypes.get_errno())
            return
    except (OSError, AttributeError) as error:
        logger.warning("The child may outlive its parent: %s", error)
        return
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os._exit(1)


def _child_run(parent_pid: int, sender, function: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    _die_with_parent(parent_pid)
    outcome = _outcome_of(function, args, kwargs)
    try:
        sender.send(outcome)
    except Exception as error:  # an exception that does not pickle: send what it said
        sender.send((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]} ({error})")))
    sender.close()
