"""The Trainer: fits any :class:`~rnnkit.models.base.Model` to any :class:`SequenceDataset`.

It knows no particular model (minGPT's rule): it calls ``model(batch).loss`` to train and
``model.predict(batch)`` to evaluate, and everything else — optimizer, schedule, clipping,
accumulation, early stopping, checkpoints, run folder, DDP — is here, in ``fit``, top to bottom
(claiming the run folder, writing the last checkpoint and resuming from it: ``trainer_runs.py``).

Example:
    >>> history = Trainer(epochs=10, early_stopping=3, run_dir="runs/vowels").fit(model, dataset)
    >>> history.best_epoch, history.best
    >>> Trainer().evaluate(model, dataset, split="test")
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from rnnkit.data.dataset import DatasetInfo, SequenceDataset
from rnnkit.ops import cpu_kernels
from rnnkit.train import distributed
from rnnkit.train.callbacks import Callback, CallbackList, ProgressBar, TrainState
from rnnkit.train.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from rnnkit.train.config import TrainerConfig
from rnnkit.train.ema import WeightEMA
from rnnkit.train.evaluation import check_monitor, evaluate_split
from rnnkit.train.history import History, lower_is_better
from rnnkit.train.optim import (
    build_optimizer,
    build_scheduler,
    clip_grad_norm,
    sparse_tables,
    stepped_lr,
    warn_if_warmup_outlasts,
)
from rnnkit.train.precision import resolve_precision
from rnnkit.train.resume import PYTHON_TERMS, RESUME_FIXED, ResumeTerms, data_record, resume_changes
from rnnkit.train.run_dir import RunDir
from rnnkit.train.seeding import epoch_seed, seed_everything
from rnnkit.train.trainer_runs import RunFolder

# TrainerConfig, resolve_precision, seed_everything and resume_changes lived here: importable from here still
__all__ = ["RESUME_FIXED", "Trainer", "TrainerConfig", "TrainingDiverged", "resolve_precision", "resume_changes",
           "seed_everything"]


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message names the epoch, step and batch."""


class Trainer(RunFolder):
    """Trains a model; see :class:`TrainerConfig` for the settings (all keyword-only).

    ``checkpoint_every`` saves ``checkpoints/last.safetensors`` every N optimizer steps (0: at each
    epoch end only); with ``run_dir`` set a checkpoint is also written at each epoch end and the best
    weights go to ``checkpoints/best.safetensors``. ``resume=True`` continues from the last one.
    ``overwrite=True`` replaces a run that ``run_dir`` already holds (its files go, others stay);
    without it (or ``resume``) such a folder is an error, so that no run is trained over silently.
    """

    RESUME_FIXED = RESUME_FIXED  # the settings a resume must keep (resume.py)
    # how a resume that trains nothing names what to change: these keywords (rnnkit train: its flags)
    resume_terms: ResumeTerms = PYTHON_TERMS

    def __init__(self, *, callbacks: Iterable[Callback] = (), overwrite: bool = False, **settings: Any) -> None:
        self.config = TrainerConfig(**settings)
        if not isinstance(overwrite, bool):
            raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
        if overwrite and self.config.resume:
            raise ValueError("resume=True and overwrite=True: resume continues the run in run_dir and overwrite "
                             "replaces it; pass one")
        self.overwrite = overwrite
        self.callbacks = list(callbacks)
        self._ema: WeightEMA | None = None  # the weight average of the current fit (ema_decay)
        self._data: dict[str, Any] | None = None  # what the current fit's checkpoints record of its data

    # ---------------------------------------------------------------------------------------------
    def fit(self, model: Any, dataset: SequenceDataset, *, data_options: dict[str, Any] | None = None) -> History:
        """Train ``model`` on ``dataset.train``, validate on ``dataset.valid`` each epoch; return the History."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"Trainer.fit takes a model (a torch.nn.Module such as rnnkit.models.SequenceClassifier), "
                            f"got {type(model).__name__}")
        if not isinstance(dataset, SequenceDataset):
            hint = f"; load one with rnnkit.datasets.load({dataset!r})" if isinstance(dataset, str) else ""
            raise TypeError(f"Trainer.fit takes a SequenceDataset (train/valid/test splits and info), got "
                            f"{type(dataset).__name__}{hint}")
        previous_determinism = torch.are_deterministic_algorithms_enabled()
        try:  # deterministic=True switches torch's global flag: put it back however fit ends
            # sparse_tables: the hashed n-gram tables make sparse gradients during the fit (their
            # touched rows only), and are dense again when fit returns
            if self.config.sparse_tables and distributed.context(self.config.device).enabled:
                raise ValueError("sparse_tables trains on one process; under torchrun leave it off")
            with sparse_tables(model, enabled=self.config.sparse_tables):
                return self._fit(model, dataset, data_options)
        finally:
            torch.use_deterministic_algorithms(previous_determinism)

    def _fit(self, model: Any, dataset: SequenceDataset, data_options: dict[str, Any] | None) -> History:
        cfg, info = self.config, dataset.info
        if data_options is None:  # what rnnkit.datasets.load was given, so that the run folder rebuilds this data
            data_options = dataset.load_options
        ctx = distributed.context(cfg.device)
        device = self._device(ctx)
        if cfg.precision == "bf16" and device.type == "cpu" and cpu_kernels.bf16_instructions() is False:
            warnings.warn("precision='bf16' on a CPU without bfloat16 instructions (AVX512-BF16 or AMX): torch "
                          "emulates them, which is slower than fp32 here; precision='auto' picks fp32 on such "
                          "CPUs", stacklevel=3)
        seed_everything(cfg.seed, deterministic=cfg.deterministic)
        model.to(device)
        check_monitor(cfg.monitor, model, dataset, device)  # a typo fails now, not after the first epoch
        history = self._new_history(info, has_valid=len(dataset.valid) > 0)
        batches_of = self._batch_plan(dataset)
        per_epoch = len(batches_of(0))
        total_steps = cfg.epochs * math.ceil(per_epoch / cfg.accumulate)
        if cfg.max_steps is not None:
            total_steps = min(total_steps, cfg.max_steps)
        optimizer = build_optimizer(model, name=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                    table_lr_scale=cfg.table_lr_scale)
        scheduler = build_scheduler(optimizer, schedule=cfg.schedule, warmup_steps=cfg.warmup_steps,
                                    total_steps=total_steps, higher_is_better=history.higher_is_better)
        if ctx.is_main:
            warn_if_warmup_outlasts(cfg.warmup_steps, total_steps, schedule=cfg.schedule, stacklevel=3)
        state = TrainState(model=model, optimizer=optimizer, batches_per_epoch=per_epoch)
        run = RunDir(cfg.run_dir) if cfg.run_dir is not None else None
        if run is not None and ctx.is_main:
            run.check_writable()  # a read-only folder fails now, not at the first checkpoint an epoch later
            if not cfg.resume:
                self._claim(run)
        self._data = data_record(dataset)  # what the checkpoints record of the data (a resume compares it)
        self._best_weights: dict[str, torch.Tensor] | None = None
        self._best_is_last = False  # resuming a run whose best epoch is its last, cut by max_steps (_resume)
        resumed = None
        if cfg.resume and run is not None:
            resumed = self._resume(run, state, history, scheduler, dataset)
            if ctx.is_main:
                self._warn_if_nothing_trains(run, state, history.monitor)
        # a resume of a run that holds more epochs than asked trains nothing and writes nothing (config.yaml
        # would say fewer epochs than history.csv and metrics.json): its folder stays the run it holds
        writes = run is not None and ctx.is_main and not (resumed is not None and state.epoch > cfg.epochs)
        if run is not None and writes:
            # a resume rewrites them too: config.yaml then holds the settings the run goes on with (more
            # epochs), and a deleted config.yaml or info.json, which rnnkit evaluate needs, comes back
            run.start(model, dataset, trainer={**cfg.to_dict(), "resume": False}, data_options=data_options,
                      ran_on={"device": str(device), "precision": resolve_precision(cfg.precision, device)})
        train_model = distributed.wrap(model, ctx)
        # after wrap: DDP has broadcast rank 0's weights, so every rank starts the same shadow
        self._ema = self._start_ema(model, resumed)
        if self._best_is_last:
            with self._averaged_weights():
                self._best_weights = _snapshot(model)
        events = CallbackList(([ProgressBar(history.monitor)] if cfg.progress and ctx.is_main else []) + self.callbacks)
        events.on_fit_start(self, state)
        try:
            while state.epoch < cfg.epochs and not state.stop and not self._out_of_steps(state):
                events.on_epoch_start(self, state)
                started = time.perf_counter()
                batches = batches_of(state.epoch)
                train_loss = self._train_epoch(train_model, dataset, batches, state, optimizer, scheduler, events,
                                               run, ctx, device)
                # max_steps can end training inside the epoch: the checkpoint keeps where (``cut``), so that
                # a run given more steps or epochs finishes this epoch as a straight run would (_resume)
                cut = self._standing(state) if state.batch < len(batches) else None
                row: dict[str, float] = {"epoch": state.epoch + 1, "step": state.step, "train_loss": train_loss}
                with self._averaged_weights():  # validation and the best epoch see the weights fit returns
                    if len(dataset.valid):
                        valid = self._evaluate(model, dataset.valid, info, dataset, device)
                        row.update({f"valid_{k}": v for k, v in valid.items()})
                    # the rate the epoch's last step took (the optimizer holds the next step's by now)
                    row.update(lr=stepped_lr(optimizer, scheduler), seconds=time.perf_counter() - started)
                    self._track_best(row, history, state, model, run, ctx, partial=cut is not None)
                if cfg.schedule == "plateau":
                    if scheduler.mode != ("max" if history.higher_is_better else "min"):
                        # the monitor fell back (valid_<metric> not computed: valid_loss, lower is better)
                        # before the schedule's first step: watch it the right way round
                        scheduler = build_scheduler(optimizer, schedule="plateau", warmup_steps=cfg.warmup_steps,
                                                    total_steps=total_steps,
                                                    higher_is_better=history.higher_is_better)
                    if cut is None:  # a cut epoch's row is not a whole epoch; an extension steps at its end
                        scheduler.step(row.get(history.monitor, row["train_loss"]))
                state.row = row
                state.epoch, state.batch = state.epoch + 1, 0
                state.train_loss_sum = state.train_seen = 0.0
                history.rows.append(row)
                state.history = history.rows
                if self._patience_spent(state):
                    state.stop = True  # decided before the checkpoint, which keeps it: a resumed run stops too
                if run is not None and ctx.is_main:
                    self._save_last(run, state, history, scheduler, cut=cut)
                    history.to_csv(run.history_csv)
                stopped = state.stop
                events.on_epoch_end(self, state)  # (its callbacks find this epoch's checkpoint written)
                if state.stop and not stopped and run is not None and ctx.is_main:  # kept as any hook's stop is
                    self._save_last(run, state, history, scheduler, cut=None if cut is None else {**cut, "stop": True})
            model_epoch = state.epoch  # the epoch whose weights the run saves and returns
            if cfg.restore_best and self._best_weights is not None:
                model.load_state_dict(self._best_weights)  # with ema_decay, the best epoch's averaged weights
                model_epoch = history.best_epoch or state.epoch
            elif self._ema is not None:
                self._ema.copy_to_model()
            if cfg.evaluate_test and len(dataset.test):
                history.test = self._evaluate(model, dataset.test, info, dataset, device)
            if run is not None and writes:
                run.finish(model, history, model_epoch=model_epoch)
                if cfg.report:
                    self._report(model, dataset, run.path)
        finally:
            events.on_fit_end(self, state)
        return history

    def _train_epoch(self, train_model: Any, dataset: SequenceDataset, batches: list[list[int]], state: TrainState,
                     optimizer: torch.optim.Optimizer, scheduler: Any, events: CallbackList, run: RunDir | None,
                     ctx: distributed.DistContext, device: torch.device) -> float:
        """One pass over the training batches (from ``state.batch`` on, so a resumed epoch continues)."""
        cfg = self.config
        train_model.train()
        shards = [distributed.shard(b, ctx) for b in batches[state.batch:]]
        # its own generator: a DataLoader otherwise draws its base seed from the global RNG, which would
        # shift dropout masks between an uninterrupted and a resumed run
        loader = DataLoader(dataset.train, batch_sampler=[s for s, _ in shards],  # type: ignore[arg-type]
                            collate_fn=dataset.collate, generator=torch.Generator().manual_seed(cfg.seed))
        optimizer.zero_grad(set_to_none=True)
        # a model whose parts train independently (an Ensemble) has each part's gradient clipped alone
        groups = getattr(getattr(train_model, "module", train_model), "clip_groups", None)
        clip_groups = groups() if callable(groups) else [list(train_model.parameters())]
        for (_, weight), batch in zip(shards, loader):
            i = state.batch
            group_start = i - i % cfg.accumulate
            group_size = min(cfg.accumulate, len(batches) - group_start)
            batch = batch.to(device)
            with self._autocast(device):
                out = train_model(batch)
            # a model may minimise another quantity than the loss it reports (an Ensemble: the sum
            # of its members' losses, reported as their mean)
            loss, objective = out.loss, out.extras.get("objective", out.loss)
            if loss is None or objective is None:
                raise ValueError("the model returned no loss for a training batch: does the data set carry targets?")
            if not torch.isfinite(objective.detach()):
                where = f"{run.last_checkpoint} is kept" if run is not None and run.last_checkpoint.exists() else \
                    "no checkpoint was written"
                raise TrainingDiverged(
                    f"the training loss became {float(objective.detach())} at epoch {state.epoch + 1}, "
                    f"step {state.step + 1}, "
                    f"batch {i} (examples {batches[i][:8]}{'...' if len(batches[i]) > 8 else ''}); {where}. "
                    "Lower lr, keep clip_grad_norm on, or check the data for NaN/inf.")
            (objective * weight / group_size).backward()
            state.loss, state.batch = float(loss.detach()), i + 1
            state.train_loss_sum += state.loss * len(batches[i]) * weight / (ctx.world_size if ctx.enabled else 1)
            state.train_seen += len(batches[i]) / (ctx.world_size if ctx.enabled else 1)
            events.on_batch_end(self, state)
            if state.batch - group_start == group_size:
                if cfg.clip_grad_norm:
                    for group in clip_groups:
                        clip_grad_norm(group, cfg.clip_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if cfg.schedule != "plateau":
                    scheduler.step()
                if self._ema is not None:
                    self._ema.update()
                state.step += 1
                events.on_step_end(self, state)
                if run is not None and ctx.is_main and cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                    self._save_last(run, state, None, scheduler)
                if self._out_of_steps(state):
                    break
        total, seen = distributed.all_reduce_sum([state.train_loss_sum, state.train_seen], ctx)
        return total / seen if seen else math.nan

    # ---------------------------------------------------------------------------------------------
    def evaluate(self, model: Any, data: SequenceDataset | Sequence[Any], info: DatasetInfo | None = None, *,
                 split: str = "test", extras: dict[str, Any] | None = None) -> dict[str, float]:
        """Loss and task metrics of ``model`` on a split: ``evaluate(model, dataset, split="valid")`` or
        ``evaluate(model, examples, info)``."""
        if isinstance(data, SequenceDataset):
            if split not in ("train", "valid", "test"):
                raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
            return self._evaluate(model, getattr(data, split), data.info, data, model.device)
        if info is None:
            raise ValueError("evaluate(model, examples, info): info is needed when examples are not a SequenceDataset")
        return evaluate_split(model, data, info, batch_size=self.config.eval_batch_size, extras=extras,
                              device=model.device)

    def _evaluate(self, model: Any, examples: Any, info: DatasetInfo, dataset: SequenceDataset,
                  device: torch.device) -> dict[str, float]:
        return evaluate_split(model, examples, info, collate_fn=dataset.collate, batch_size=self.config.eval_batch_size,
                              device=device, extras=dataset.extras, autocast=lambda: self._autocast(device))

    # ---------------------------------------------------------------------------------------------
    def _device(self, ctx: distributed.DistContext) -> torch.device:
        name = self.config.device
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cuda" and ctx.enabled:
            return torch.device("cuda", ctx.local_rank)
        return torch.device(name)

    def _autocast(self, device: torch.device) -> Any:
        if resolve_precision(self.config.precision, device) == "bf16":
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _out_of_steps(self, state: TrainState) -> bool:
        return self.config.max_steps is not None and state.step >= self.config.max_steps

    def _new_history(self, info: DatasetInfo, *, has_valid: bool) -> History:
        monitor = self.config.monitor
        if monitor is None:
            monitor = (f"valid_{info.metric}" if info.metric else "valid_loss") if has_valid else "train_loss"
            if not has_valid and self.config.early_stopping is not None:
                warnings.warn("early_stopping with no valid split watches train_loss, which says when training "
                              "stops improving the fit, not when the model stops generalising: give the data a "
                              "valid split (valid_fraction) to stop on it", UserWarning, stacklevel=4)
        if monitor == f"valid_{info.metric}" and info.metric:
            higher = info.higher_is_better
        else:
            higher = not lower_is_better(monitor)
        return History(monitor=monitor, higher_is_better=higher)

    def _batch_plan(self, dataset: SequenceDataset) -> Any:
        """``epoch -> list of index batches``: seeded per epoch, bucketed by length when asked."""
        cfg, train = self.config, dataset.train
        n = len(train)
        if n == 0:
            raise ValueError(f"data set {dataset.info.name!r} has an empty training split")
        lengths = train.lengths() if hasattr(train, "lengths") else None
        if cfg.bucket and lengths is not None and len(set(lengths)) > 1:
            from rnnkit.data.sampler import BucketSampler

            sampler = BucketSampler(lengths, cfg.batch_size, seed=cfg.seed)
            return sampler.batches

        def plain(epoch: int) -> list[list[int]]:
            g = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
            order = torch.randperm(n, generator=g).tolist()
            return [order[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]

        return plain

    def _start_ema(self, model: Any, resumed: Checkpoint | None) -> WeightEMA | None:
        """The weight average of a run with ``ema_decay`` (the checkpoint's, when resuming), else None."""
        decay = self.config.ema_decay
        if decay is None:  # (a checkpoint with averaged weights needs ema_decay: resume_changes)
            return None
        ema = WeightEMA(model, decay)
        if resumed is not None:
            if "ema" not in resumed.meta:
                raise CheckpointError(f"{resumed.path} holds no averaged (EMA) weights: its run trained without "
                                      "ema_decay. Resume without ema_decay, or start a new run with it")
            try:
                ema.load_state_dict(resumed.ema, updates=resumed.meta["ema"]["updates"])
            except ValueError as e:
                raise CheckpointError(f"{resumed.path}: {e}") from e
        return ema

    def _averaged_weights(self) -> Any:
        """A context in which the model holds the averaged weights (no-op without ``ema_decay``)."""
        return self._ema.averaged() if self._ema is not None else contextlib.nullcontext()

    def _track_best(self, row: dict[str, float], history: History, state: TrainState, model: Any,
                    run: RunDir | None, ctx: distributed.DistContext, *, partial: bool = False) -> None:
        """Keep the best epoch's weights (``partial``: a row of an epoch cut by max_steps, whose weights the
        last checkpoint holds; best.safetensors keeps the best whole epoch, which an extension needs)."""
        if history.monitor not in row:
            if self.config.monitor is not None:
                raise ValueError(f"monitor {history.monitor!r} is not among the epoch results {sorted(row)}")
            fallback = "valid_loss" if "valid_loss" in row else "train_loss"
            warnings.warn(f"{history.monitor!r} was not computed; monitoring {fallback!r} instead", stacklevel=3)
            history.monitor, history.higher_is_better = fallback, False
        value = float(row[history.monitor])
        if history.improved(value) or history.ties_better(row):
            history.best, history.best_epoch = value, int(row["epoch"])
            state.best, state.best_epoch, state.bad_epochs = history.best, history.best_epoch, 0
            self._best_weights = _snapshot(model)
            if run is not None and ctx.is_main and not partial:
                save_checkpoint(run.best_checkpoint, model=model, with_rng=False,
                                meta={"epoch": history.best_epoch, "monitor": history.monitor, "best": value})
        else:
            state.bad_epochs += 1


def _snapshot(model: Any) -> dict[str, Tensor]:
    """The model's weights copied to the CPU: the best epoch's, kept while training goes on."""
    return {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}

