"""Runs in spawned worker processes: every result comes back, errors come back as one clear
exception (never a hang), and stopping early leaves no worker running."""

from __future__ import annotations

import multiprocessing
from contextlib import closing

import pytest

from rnnkit.bench.workers import WorkerError, run_in_workers

_STATE: dict[str, int] = {}


def _setup(offset: int) -> None:
    _STATE["offset"] = offset


def _bad_setup() -> None:
    raise OSError("no such data set file")


def _add(item: int) -> int:
    return item + _STATE["offset"]


class _Unrebuildable(ValueError):
    def __init__(self, path: str, message: str) -> None:  # pickle would call it with one argument
        super().__init__(f"{path}: {message}")


def _fail_on_two(item: int) -> int:
    if item == 2:
        raise _Unrebuildable("data.csv", "line 3: not a number")
    return item


def _threads(item: int) -> int:
    import torch

    return torch.get_num_threads()


def test_workers_take_the_callers_torch_thread_count():
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert list(run_in_workers(_threads, range(2), jobs=2, setup=_setup, setup_args=(0,))) == [1, 1]
    finally:
        torch.set_num_threads(before)


def test_every_result_comes_back():
    assert sorted(run_in_workers(_add, range(5), jobs=2, setup=_setup, setup_args=(10,))) == [10, 11, 12, 13, 14]


def test_a_failing_setup_is_raised_by_the_first_task_instead_of_restarting_workers():
    with pytest.raises(WorkerError, match="setup failed: OSError: no such data set file"):
        list(run_in_workers(_add, range(3), jobs=2, setup=_bad_setup))
    assert not multiprocessing.active_children()


def test_an_error_whose_class_cannot_be_rebuilt_still_comes_back():
    with pytest.raises(WorkerError, match=r"2: _Unrebuildable: data.csv: line 3: not a number"):
        list(run_in_workers(_fail_on_two, range(4), jobs=2, setup=_setup, setup_args=(0,)))
    assert not multiprocessing.active_children()


def test_stopping_early_terminates_the_workers():
    with closing(run_in_workers(_add, range(50), jobs=2, setup=_setup, setup_args=(0,))) as results:
        next(results)
    assert not multiprocessing.active_children()
    with pytest.raises(ValueError, match="jobs"):
        next(run_in_workers(_add, range(2), jobs=0, setup=_setup))
