"""Hooks that a higher layer installs for a lower one to call, so that imports still point downward.

``after_fit``: called by ``Trainer`` once a run folder is complete (``Trainer(report=True)``, the
default, with a ``run_dir``), as ``hook(model, dataset, run_dir)``. The ``rnnkit`` package installs
the one that draws ``plots/*.png`` and ``report.html`` (``report/`` sits above ``train/``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

after_fit: list[Callable[[Any, Any, Path], Any]] = []

__all__ = ["after_fit"]
