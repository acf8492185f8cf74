"""The Trainer's run folder: claiming it for a new run, the last checkpoint, resuming from it, the report.

A mixin of :class:`~rnnkit.train.trainer.Trainer` (its ``fit`` calls these at the start of a run, at
each checkpoint and on ``resume=True``), kept apart so that the training loop reads top to bottom.
A checkpoint's ``meta`` holds the trainer's settings, where training stands (:meth:`_standing`), the
history, the data's record and, for an epoch cut by ``max_steps``, what held before its partial row.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from rnnkit.train.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from rnnkit.train.resume import NO_STAND_IN, NothingTrains, ResumeTerms, nothing_trains, resume_changes, start_over
from rnnkit.train.run_dir import RunDir, scores_mixture

if TYPE_CHECKING:
    from pathlib import Path

    from torch import Tensor

    from rnnkit.data.dataset import SequenceDataset
    from rnnkit.train.callbacks import TrainState
    from rnnkit.train.config import TrainerConfig
    from rnnkit.train.ema import WeightEMA
    from rnnkit.train.history import History


class RunFolder:
    """Claiming, checkpointing and resuming a run folder, for :class:`Trainer` (which sets these)."""

    config: TrainerConfig
    overwrite: bool
    resume_terms: ResumeTerms
    _ema: WeightEMA | None
    _data: dict[str, Any] | None
    _best_weights: dict[str, Tensor] | None
    _best_is_last: bool

    def _patience_spent(self, state: TrainState) -> bool:
        """Whether early stopping's patience ran out (also what a resume reads off its checkpoint)."""
        return self.config.early_stopping is not None and state.bad_epochs >= self.config.early_stopping

    def _warn_if_nothing_trains(self, run: RunDir, state: TrainState, monitor: str) -> None:
        """Say so when a resumed run has nothing left to train: all its epochs, or it stopped early."""
        message = nothing_trains(run.path, self.config, state, monitor, patience_spent=self._patience_spent(state),
                                 terms=self.resume_terms)
        if message is not None:
            warnings.warn(message, NothingTrains, stacklevel=4)

    @staticmethod
    def _report(model: Any, dataset: SequenceDataset, path: Path) -> None:
        """Draw the run's plots and report.html (the hooks report/ registers: train/ cannot import it)."""
        from rnnkit import _hooks

        for hook in _hooks.after_fit:
            try:
                hook(model, dataset, path)
            except Exception as e:  # noqa: BLE001 - the trained run is saved; a plot must not undo that
                warnings.warn(f"the run in {path} is saved, but its report could not be drawn: "
                              f"{type(e).__name__}: {e}", RuntimeWarning, stacklevel=3)

    def _claim(self, run: RunDir) -> None:
        """A new run may go into an empty folder, or one whose run stopped before its first last checkpoint
        (its best.safetensors, if any, goes); a folder that holds a run needs ``resume=True`` or
        ``overwrite=True``."""
        if not run.holds_run():
            removed = run.remove_leftovers()
            if removed:
                warnings.warn(f"{run.path} held {', '.join(p.name for p in removed)} of a run stopped before its "
                              "first last checkpoint (nothing to resume): removed, the new run replaces it",
                              stacklevel=4)
            return
        if not self.overwrite:
            held = [p.name + ("/" if p.is_dir() else "") for p in (run.weights, run.checkpoints, run.history_csv)
                    if p.exists()]
            if not run.last_checkpoint.is_file():  # an earlier run's epochs, which nothing can resume
                raise FileExistsError(f"{run.path} holds an earlier run ({', '.join(held)}) with no checkpoint to "
                                      f"resume it: {start_over(run, self.resume_terms)}")
            raise FileExistsError(f"{run.path} already holds a run ({', '.join(held)}): pass resume=True to continue "
                                  "it, overwrite=True to replace it, or another run_dir")
        run.clear()

    @staticmethod
    def _standing(state: TrainState) -> dict[str, Any]:
        """Where training stands (epoch, batch, the epoch's loss sums, best, patience, stop): what a
        checkpoint keeps, and, for an epoch cut by max_steps, what held before its partial row."""
        return {"epoch": state.epoch, "batch": state.batch, "train_loss_sum": state.train_loss_sum,
                "train_seen": state.train_seen, "best": state.best, "best_epoch": state.best_epoch,
                "bad_epochs": state.bad_epochs, "stop": state.stop}

    def _save_last(self, run: RunDir, state: TrainState, history: History | None, scheduler: Any,
                   cut: dict[str, Any] | None = None) -> None:
        meta = {"trainer": self.config.to_dict(), **self._standing(state), "step": state.step, "data": self._data,
                "history": state.history, "monitor": history.monitor if history is not None else None,
                "higher_is_better": history.higher_is_better if history is not None else None}
        if cut is not None:
            meta["cut"] = cut
        if scores_mixture(state.model):
            meta["ensemble_loss"] = "mixture"  # how its valid loss was scored (see _resume)
        ema = self._ema
        if ema is not None:
            meta["ema"] = {"decay": ema.decay, "updates": ema.updates}
        save_checkpoint(run.last_checkpoint, model=state.model, optimizer=state.optimizer, scheduler=scheduler,
                        meta=meta, ema=ema.state_dict() if ema is not None else None)

    def _resume(self, run: RunDir, state: TrainState, history: History, scheduler: Any,
                dataset: SequenceDataset) -> Checkpoint:
        if not run.last_checkpoint.exists():
            if run.holds_run():  # its epochs are in history.csv, and cannot be resumed
                raise FileNotFoundError(f"resume=True but {run.path} has no checkpoint ({run.last_checkpoint}); "
                                        f"{NO_STAND_IN}: {start_over(run, self.resume_terms)}")
            raise FileNotFoundError(f"resume=True but {run.path} has no checkpoint ({run.last_checkpoint}); "
                                    "start without resume")
        try:
            ckpt = load_checkpoint(run.last_checkpoint)
            ckpt.optimizer_state_dict()  # a weights-only checkpoint (best.safetensors copied over it) says so here
        except CheckpointError as e:
            raise CheckpointError(f"{str(e).splitlines()[0]}; {NO_STAND_IN}: {start_over(run, self.resume_terms)}") \
                from e
        changed = resume_changes(self.config, ckpt, run, state.model, dataset)
        if changed:
            raise CheckpointError(f"the checkpoint in {run.path} was trained with other settings or data: "
                                  f"{', '.join(changed)}; resume with the settings and data it was trained with")
        ckpt.restore(state.model, state.optimizer, scheduler, rng=True)
        m, cut = ckpt.meta, ckpt.meta.get("cut")
        if cut is not None and self._extends(cut, int(m["step"])):
            # the run stopped on max_steps inside an epoch and now has more steps or epochs: finish that
            # epoch from where it stopped; its partial row goes (the whole epoch's replaces it), and so
            # does what that row changed (best, patience)
            m = {**m, **cut, "history": list(m["history"])[:-1]}
        elif cut is not None and m["best_epoch"] != cut["best_epoch"]:
            self._best_is_last = True  # the cut row was the best: its weights are the checkpoint's (_fit)
        state.epoch, state.step, state.batch = int(m["epoch"]), int(m["step"]), int(m["batch"])
        state.train_loss_sum, state.train_seen = float(m["train_loss_sum"]), float(m["train_seen"])
        state.history = history.rows = list(m["history"])
        state.best, state.best_epoch, state.bad_epochs = m["best"], m["best_epoch"], int(m["bad_epochs"])
        history.best, history.best_epoch = state.best, state.best_epoch
        if m.get("monitor"):
            history.monitor = m["monitor"]
        if m.get("higher_is_better") is not None:  # a fallback monitor's direction (valid_loss: lower)
            history.higher_is_better = bool(m["higher_is_better"])
        state.stop = bool(m.get("stop")) or self._patience_spent(state)  # (checkpoints before "stop" was kept)
        if scores_mixture(state.model) and state.history and m.get("ensemble_loss") != "mixture":
            warnings.warn(f"the ensemble run in {run.path} was checkpointed before rnnkit scored an ensemble's "
                          "valid loss and perplexity on its own prediction (the mixture of its members, never "
                          "higher) instead of the members' mean: its epochs so far were scored the old way and "
                          "the coming ones the new way, so the best epoch and early stopping compare the two; "
                          "train it again to compare like with like", stacklevel=3)
        if self._best_is_last:  # _fit takes them from the restored weights (the averaged ones with ema_decay)
            return ckpt
        if run.best_checkpoint.exists():
            self._best_weights = load_checkpoint(run.best_checkpoint).model
        elif self.config.restore_best and state.best_epoch is not None:
            raise CheckpointError(f"{run.best_checkpoint} is missing: the weights of the best epoch "
                                  f"({state.best_epoch}), which the run would restore at its end, are gone; resume "
                                  "with restore_best=False to keep the last epoch's weights, or train again")
        return ckpt

    def _extends(self, cut: dict[str, Any], step: int) -> bool:
        """Whether this resume trains on from an epoch cut by max_steps (more steps or epochs than it had)."""
        max_steps = self.config.max_steps
        return int(cut["epoch"]) < self.config.epochs and (max_steps is None or step < max_steps) and \
            not cut["stop"]
