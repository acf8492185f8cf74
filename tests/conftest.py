"""Settings for the whole test suite."""

from __future__ import annotations

import os
import sys

import pytest


def pytest_configure(config: pytest.Config) -> None:
    _threads_per_worker()
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        _triton_interprets_without_a_gpu()  # where tests are collected (not in an xdist controller)


def _triton_interprets_without_a_gpu() -> None:
    """Without a CUDA GPU the Triton kernels' tests run them through Triton's interpreter, which must be
    switched on before anything imports triton. Each such module switched it on itself, and skipped itself
    whole where another module had imported triton first (``pytest tests/ops`` collects test_triton_compile,
    which imports triton, before test_triton_rnn): here it is on before any test module is collected. A
    value the caller set is kept; test_triton_compile's subprocess takes it off."""
    if "TRITON_INTERPRET" in os.environ or "triton" in sys.modules:
        return
    import torch

    if not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"


def _threads_per_worker() -> None:
    """Under pytest-xdist, each worker takes its share of the cores for torch's threads (and passes it to
    the processes its tests start, through OMP_NUM_THREADS). Left alone, each of `make test`'s 2 workers
    ran 2 threads on the 2 cores, whose OpenMP threads spin while they wait for one another: the suite took
    488 s that way on a 2-core VM, 393 s with a thread per worker. A count the caller set is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1 or "OMP_NUM_THREADS" in os.environ:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
