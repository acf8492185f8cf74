"""Runs in spawned worker processes: every result comes back, errors come back as one clear
exception (never a hang), and stopping early leaves no worker running.

A worker costs a fresh interpreter and a torch import (seconds here), so the tasks live in
bench_fixtures_workers.py (nothing else for a worker to import), one plain run checks both that every
result comes back and that the workers take the caller's thread count, and the error paths, which act
in each worker alike, run in one worker."""

from __future__ import annotations

import multiprocessing
from contextlib import closing

import pytest
from bench_fixtures_workers import add, add_and_threads, bad_setup, fail_on_two, setup

from rnnkit.bench.workers import WorkerError, run_in_workers


def test_every_result_comes_back_from_workers_that_take_the_callers_torch_thread_count():
    """One run checks both (it used to be two tests, each paying for its own workers)."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        answers = list(run_in_workers(add_and_threads, range(5), jobs=2, setup=setup, setup_args=(10,)))
    finally:
        torch.set_num_threads(before)
    assert sorted(value for value, _ in answers) == [10, 11, 12, 13, 14], f"not every result came back: {answers}"
    assert [threads for _, threads in answers] == [1] * 5, f"a worker ignored the caller's 1 torch thread: {answers}"


def test_a_failing_setup_is_raised_by_the_first_task_instead_of_restarting_workers():
    # one worker: a Pool restarts any worker whose setup raises, so one is enough to hang without the fix
    with pytest.raises(WorkerError, match="setup failed: OSError: no such data set file"):
        list(run_in_workers(add, range(3), jobs=1, setup=bad_setup))
    assert not multiprocessing.active_children()


def test_an_error_whose_class_cannot_be_rebuilt_still_comes_back():
    # one worker: the error's trip back is the same from any worker
    with pytest.raises(WorkerError, match=r"2: _Unrebuildable: data.csv: line 3: not a number"):
        list(run_in_workers(fail_on_two, range(4), jobs=1, setup=setup, setup_args=(0,)))
    assert not multiprocessing.active_children()


def test_stopping_early_terminates_the_workers():
    with closing(run_in_workers(add, range(50), jobs=2, setup=setup, setup_args=(0,))) as results:
        next(results)
    assert not multiprocessing.active_children()
    with pytest.raises(ValueError, match="jobs"):
        next(run_in_workers(add, range(2), jobs=0, setup=setup))
