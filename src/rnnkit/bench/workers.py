"""Independent training runs (a bench's seeds, cross-validation's folds) in worker processes.

Workers are spawned, not forked: a forked child would inherit the parent's OpenMP thread pool,
which can deadlock. Each worker takes the caller's torch thread count, runs ``setup(*setup_args)``
once (load a data set, say) and then ``task(item)`` for the items it is handed; results come back as
they finish.

Two failure modes of :class:`multiprocessing.pool.Pool` are closed here: a setup that raises
would make the pool restart the worker forever, so its error is kept and raised by the worker's
first task instead; and an exception whose class cannot be rebuilt from its arguments would not
survive the trip back, so a task's error comes back as a :class:`WorkerError` carrying the
original type name and message.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Generator, Iterable
from typing import Any


class WorkerError(RuntimeError):
    """A task failed in a worker process; the message names the item and the original error."""


_STATE: dict[str, Any] = {}  # in a worker: the task function and the setup's error, if any


def _init(setup: Callable[..., None], setup_args: tuple[Any, ...], task: Callable[[Any], Any],
          threads: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group: the caller decides what it stops (a bench keeps the
    # finished results, then terminates the workers), so a worker does not die of it with a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _STATE["task"] = task
    try:
        setup(*setup_args)
    except Exception as e:  # raised by the first task: a Pool restarts a worker whose setup fails, forever
        _STATE["setup_error"] = f"{type(e).__name__}: {e}"


def _run(item: Any) -> Any:
    if "setup_error" in _STATE:
        raise WorkerError(f"worker setup failed: {_STATE['setup_error']}")
    try:
        return _STATE["task"](item)
    except Exception as e:
        raise WorkerError(f"{item!r}: {type(e).__name__}: {e}") from None


def run_in_workers(task: Callable[[Any], Any], items: Iterable[Any], *, jobs: int,
                   setup: Callable[..., None], setup_args: tuple[Any, ...] = ()) -> Generator[Any, None, None]:
    """Yield ``task(item)`` for every item, in the order they finish, from ``jobs`` spawned workers
    that each use this process's torch thread count.

    ``task`` and ``setup`` must be module-level functions (they are sent by name). The workers are
    terminated when the iteration ends, early or not (a SIGTERM handler raising in the caller, an
    error, a ``break``), so none trains on after its caller has stopped.
    """
    import torch

    items = list(items)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(jobs, max(1, len(items))), initializer=_init,
                  initargs=(setup, setup_args, task, torch.get_num_threads())) as pool:
        try:
            yield from pool.imap_unordered(_run, items)
        finally:
            pool.terminate()


__all__ = ["WorkerError", "run_in_workers"]
