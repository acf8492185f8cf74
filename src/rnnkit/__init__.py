"""rnnkit: recurrent neural networks for every shape of sequence problem, on PyTorch."""

from rnnkit import cells
from rnnkit.layers.recurrent import Recurrent, RecurrentOutput

__version__ = "0.1.0"

__all__ = ["RNNClassifier", "RNNForecaster", "RNNRegressor", "Recurrent", "RecurrentOutput", "Trainer", "__version__",
           "cells", "load"]

_LAZY = {"Trainer": "rnnkit.train.trainer", "load": "rnnkit.train.run_dir", "RNNClassifier": "rnnkit.estimators",
         "RNNRegressor": "rnnkit.estimators", "RNNForecaster": "rnnkit.estimators"}


def __getattr__(name: str) -> object:
    """``rnnkit.Trainer``, ``rnnkit.load`` and the estimators are imported on first use
    (keeps ``import rnnkit`` light)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
