"""Training: the Trainer, its callbacks, checkpoints, metrics, run folders and DDP.

Example:
    >>> from rnnkit.train import Trainer
    >>> history = Trainer(epochs=10, run_dir="runs/demo").fit(model, dataset)
    >>> run = load_run("runs/demo")
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first use (__getattr__): `rnnkit --help` reads this package and loads no torch
    from rnnkit.train.callbacks import Callback, TrainState
    from rnnkit.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from rnnkit.train.config import TrainerConfig
    from rnnkit.train.evaluation import evaluate_split
    from rnnkit.train.history import History
    from rnnkit.train.precision import resolve_precision
    from rnnkit.train.run_dir import Run, RunDir, RunDirError, load, load_run
    from rnnkit.train.seeding import seed_everything
    from rnnkit.train.trainer import Trainer, TrainingDiverged

_WHERE = {
    "Callback": "callbacks", "TrainState": "callbacks",
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "evaluate_split": "evaluation", "History": "history",
    "Run": "run_dir", "RunDir": "run_dir", "RunDirError": "run_dir", "load": "run_dir", "load_run": "run_dir",
    "Trainer": "trainer", "TrainerConfig": "config", "TrainingDiverged": "trainer", "resolve_precision": "precision",
    "seed_everything": "seeding",
}

__all__ = ["Callback", "CheckpointError", "History", "Run", "RunDir", "RunDirError", "TrainState", "Trainer",
           "TrainerConfig", "TrainingDiverged", "evaluate_split", "load", "load_checkpoint", "load_run",
           "resolve_precision", "save_checkpoint", "seed_everything"]


def __getattr__(name: str) -> object:
    import importlib

    if name in _WHERE:
        return getattr(importlib.import_module(f"rnnkit.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'rnnkit.train' has no attribute {name!r}")
