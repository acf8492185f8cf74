"""rnnkit: recurrent neural networks for every shape of sequence problem, on PyTorch."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnkit import _hooks

if TYPE_CHECKING:  # imported on first use (__getattr__): `import rnnkit` and `rnnkit --help` load no torch
    from rnnkit import cells
    from rnnkit.layers.recurrent import Recurrent, RecurrentOutput

__version__ = "0.1.0"

__all__ = ["RNNClassifier", "RNNForecaster", "RNNRegressor", "Recurrent", "RecurrentOutput", "Trainer", "__version__",
           "cells", "load"]

_LAZY = {"Trainer": "rnnkit.train.trainer", "load": "rnnkit.train.run_dir", "RNNClassifier": "rnnkit.estimators",
         "RNNRegressor": "rnnkit.estimators", "RNNForecaster": "rnnkit.estimators",
         "Recurrent": "rnnkit.layers.recurrent", "RecurrentOutput": "rnnkit.layers.recurrent"}
# the subpackages DESIGN.md names as ``rnnkit.datasets.load(...)``, ``rnnkit.models.X``, ``rnnkit.decoding.greedy``
_SUBMODULES = ("cells", "data", "datasets", "decoding", "layers", "models", "train")


def _draw_report(model: Any, dataset: Any, run_dir: Path) -> None:
    """``Trainer(report=True)``'s last step: the run's plots and report.html (matplotlib loads here)."""
    from rnnkit.report.run_plots import make_run_report

    make_run_report(model, dataset, run_dir)


_hooks.after_fit.append(_draw_report)


def __getattr__(name: str) -> object:
    """``rnnkit.Trainer``, ``rnnkit.load``, the estimators and the subpackages are imported on first
    use (keeps ``import rnnkit`` light)."""
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"rnnkit.{name}")
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
