"""Wall-clock timing of contenders taking turns, shared by the speed benches.

Each round runs every contender once, and the order rotates from round to round (two contenders
swap), so a slow spell of the machine (another process, a CPU's clock, a spinning thread pool)
falls on all sides instead of on whichever ran during it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed_rounds(fns: dict[str, Callable[[], Any]], repeats: int, *, warmup: int = 1,
                 sync: Callable[[], None] = lambda: None, inner: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function in each of ``repeats`` rounds, after ``warmup`` calls of
    each (compilation, caches). ``inner`` calls are timed together and averaged; ``sync`` waits for
    queued device work before a clock is read."""
    names = list(fns)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync()
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            fn = fns[name]
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            sync()
            times[name].append((time.perf_counter() - start) / inner)
    return times
