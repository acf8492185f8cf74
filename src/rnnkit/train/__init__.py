"""Training: the Trainer, its callbacks, checkpoints, metrics, run folders and DDP.

Example:
    >>> from rnnkit.train import Trainer
    >>> history = Trainer(epochs=10, run_dir="runs/demo").fit(model, dataset)
    >>> run = load_run("runs/demo")
"""

from rnnkit.train.callbacks import Callback, TrainState
from rnnkit.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnkit.train.evaluation import evaluate_split
from rnnkit.train.history import History
from rnnkit.train.run_dir import Run, RunDir, RunDirError, load, load_run
from rnnkit.train.trainer import Trainer, TrainerConfig, TrainingDiverged, resolve_precision, seed_everything

__all__ = ["Callback", "CheckpointError", "History", "Run", "RunDir", "RunDirError", "TrainState", "Trainer",
           "TrainerConfig", "TrainingDiverged", "evaluate_split", "load", "load_checkpoint", "load_run",
           "resolve_precision", "save_checkpoint", "seed_everything"]
