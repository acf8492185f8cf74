"""The tasks and setups that test_workers.py runs in spawned worker processes.

They live here, not in the test module, because a spawned worker imports the module a task comes
from: this one imports nothing, where the test module would bring pytest into every worker."""

from __future__ import annotations

_STATE: dict[str, int] = {}


def setup(offset: int) -> None:
    _STATE["offset"] = offset


def bad_setup() -> None:
    raise OSError("no such data set file")


def add(item: int) -> int:
    return item + _STATE["offset"]


def add_and_threads(item: int) -> tuple[int, int]:
    """``add(item)`` and the worker's torch thread count, so one run checks both."""
    import torch

    return add(item), torch.get_num_threads()


class _Unrebuildable(ValueError):
    def __init__(self, path: str, message: str) -> None:  # pickle would call it with one argument
        super().__init__(f"{path}: {message}")


def fail_on_two(item: int) -> int:
    if item == 2:
        raise _Unrebuildable("data.csv", "line 3: not a number")
    return item
