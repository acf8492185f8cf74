"""Events of a training run, the callbacks that listen to them, and the live progress bar.

The :class:`~rnnkit.train.trainer.Trainer` calls, in order::

    on_fit_start
      on_epoch_start
        on_batch_end      after every micro-batch (``state.loss`` is its loss)
        on_step_end       after every optimizer step (``state.step`` counts them)
      on_epoch_end        after validation and the epoch's checkpoint; ``state.row`` is the new
                          history row (a ``state.stop`` set here is checkpointed too: a resume keeps it)
    on_fit_end            after the best weights are restored (also after an interrupt)

Every hook receives ``(trainer, state)``; a callback may raise to stop the run (a
``KeyboardInterrupt`` is treated like Ctrl-C: the last checkpoint stays, ``resume=True`` continues).

Example:
    >>> class PrintLoss(Callback):
    ...     def on_epoch_end(self, trainer, state):
    ...         print(state.epoch, state.row["train_loss"])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from rnnkit.models.base import Model
    from rnnkit.train.trainer import Trainer


@dataclass
class TrainState:
    """Where a run stands. ``epoch`` is 0-based; ``batch`` counts micro-batches done in the epoch."""

    model: Model
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    step: int = 0
    batch: int = 0
    batches_per_epoch: int = 0
    loss: float = float("nan")
    row: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    train_loss_sum: float = 0.0  # this epoch so far; checkpointed, so a resumed epoch reports the same loss
    train_seen: float = 0.0
    stop: bool = False  # a callback may set it to end training after the current epoch


class Callback:
    """Base class: override the hooks you need; each receives ``(trainer, state)``."""

    def on_fit_start(self, trainer: Trainer, state: TrainState) -> None: ...

    def on_epoch_start(self, trainer: Trainer, state: TrainState) -> None: ...

    def on_batch_end(self, trainer: Trainer, state: TrainState) -> None: ...

    def on_step_end(self, trainer: Trainer, state: TrainState) -> None: ...

    def on_epoch_end(self, trainer: Trainer, state: TrainState) -> None: ...

    def on_fit_end(self, trainer: Trainer, state: TrainState) -> None: ...


class CallbackList(Callback):
    """Fans every event out to several callbacks, in order."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_fit_start(self, trainer: Trainer, state: TrainState) -> None:
        for c in self.callbacks:
            c.on_fit_start(trainer, state)

    def on_epoch_start(self, trainer: Trainer, state: TrainState) -> None:
        for c in self.callbacks:
            c.on_epoch_start(trainer, state)

    def on_batch_end(self, trainer: Trainer, state: TrainState) -> None:
        for c in self.callbacks:
            c.on_batch_end(trainer, state)

    def on_step_end(self, trainer: Trainer, state: TrainState) -> None:
        for c in self.callbacks:
            c.on_step_end(trainer, state)

    def on_epoch_end(self, trainer: Trainer, state: TrainState) -> None:
        for c in self.callbacks:
            c.on_epoch_end(trainer, state)

    def on_fit_end(self, trainer: Trainer, state: TrainState) -> None:
        for c in self.callbacks:
            c.on_fit_end(trainer, state)


class ProgressBar(Callback):
    """A rich progress bar: epoch, batches, loss, the monitored metric, throughput and ETA.

    It draws only on a terminal (``rich`` detects it) and stays quiet in a pipe, a log file, or
    with ``Trainer(progress=False)``; the history holds the same numbers.
    """

    def __init__(self, monitor: str, *, console: Any = None) -> None:
        from rich.console import Console

        self.monitor = monitor
        self.console = console if console is not None else Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None
        self._last_metric = ""

    def on_fit_start(self, trainer: Trainer, state: TrainState) -> None:
        if not self.console.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[metric]}"),
            TextColumn("{task.fields[speed]} it/s"), TimeRemainingColumn(), console=self.console,
            transient=False,
        )
        self._progress.start()

    def on_epoch_start(self, trainer: Trainer, state: TrainState) -> None:
        if self._progress is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(
                "train", total=state.batches_per_epoch, completed=state.batch,
                epoch=f"{state.epoch + 1}/{trainer.config.epochs}", loss=float("nan"),
                metric=self._last_metric, speed="-")

    def on_batch_end(self, trainer: Trainer, state: TrainState) -> None:
        if self._progress is not None and self._task is not None:
            task = self._progress.tasks[-1]
            speed = f"{task.speed:.1f}" if task.speed else "-"
            self._progress.update(self._task, advance=1, loss=state.loss, speed=speed)

    def on_epoch_end(self, trainer: Trainer, state: TrainState) -> None:
        value = state.row.get(self.monitor)
        self._last_metric = f"{self.monitor} {value:.4f}" if value is not None else ""

    def on_fit_end(self, trainer: Trainer, state: TrainState) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
