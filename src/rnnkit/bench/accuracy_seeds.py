"""The seeds of one recipe, trained and scored on test: :func:`train_seed` runs one (with
:func:`epoch_log` telling where a long one stands), :func:`run_seeds` runs them all, ``jobs`` at a time
in spawned worker processes that load the data set once, and stops early on SIGTERM or Ctrl-C
(:class:`Stopped`, :func:`stop_signals`) with the seeds that finished; :func:`device_name` says what they ran on."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rnnkit.bench.accuracy_goals import headline
from rnnkit.bench.accuracy_recipes import load_recipe, quick_spec


class Stopped(Exception):
    """SIGTERM or Ctrl-C arrived: the bench writes the seeds that finished, then exits 128 + ``signum``."""

    def __init__(self, message: str = "", signum: int = 15) -> None:
        super().__init__(message)
        self.signum = signum


def _stop(signum: int, frame: Any) -> None:
    raise Stopped(f"signal {signum}", signum)


@contextmanager
def stop_signals() -> Iterator[list[int]]:
    """While a bench runs, SIGTERM (``kill PID``) and SIGINT (Ctrl-C) raise :class:`Stopped`, the first
    of them only: the bench then keeps what finished, and a second signal cannot cut the writing of it
    short. The list yielded gets each signal's number, for the exit status (128 + it, as ``rnnkit
    train`` exits); the previous handlers are put back afterwards."""
    import signal

    caught: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        caught.append(signum)
        if len(caught) == 1:
            raise Stopped(f"signal {signum}", signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


def signal_name(signum: int) -> str:
    """``"SIGTERM"``, or ``"Ctrl-C"`` for SIGINT: how a bench's stop message names it."""
    import signal

    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


@dataclass
class SeedResult:
    """One trained seed: its headline value, every test metric, the epochs run and the time spent."""

    seed: int
    value: float
    metrics: dict[str, float]
    epochs: int
    best_epoch: int | None
    cpu_s: float
    wall_s: float


def epoch_log(label: str, every_s: float = 60.0, stream: Any = None) -> Any:
    """A Trainer callback that prints ``[accuracy] LABEL: epoch e/E monitor=v (t s)`` to ``stream``
    (stderr by default) after an epoch, at most once every ``every_s`` seconds and after the last, so
    that a long seed shows where it stands without one line per epoch of a short one."""
    from rnnkit.train.callbacks import Callback

    class EpochLog(Callback):
        def __init__(self) -> None:
            self.start = self.last = time.perf_counter()

        def on_epoch_end(self, trainer: Any, state: Any) -> None:
            now, cfg = time.perf_counter(), trainer.config
            done, total = int(state.epoch), int(cfg.epochs)  # state.epoch counts the epochs done by now
            patience = getattr(cfg, "early_stopping", None)
            last = done >= total or state.stop or (patience is not None and state.bad_epochs >= patience)
            if now - self.last < every_s and not last:
                return
            self.last = now
            monitor = next((k for k in (cfg.monitor, "valid_loss", "train_loss")
                            if k and k in state.row), None)
            shown = f" {monitor}={float(state.row[monitor]):.4g}" if monitor else ""
            print(f"[accuracy] {label}: epoch {done}/{total}{shown} ({now - self.start:.0f} s)",
                  file=stream if stream is not None else sys.stderr, flush=True)

    return EpochLog()


def train_seed(spec: Any, dataset: Any, seed: int, *, label: str | None = None) -> SeedResult:
    """Build the recipe's model with ``seed``, train it on ``dataset`` and score it on test; with
    ``label``, print the progress of long runs (:func:`epoch_log`)."""
    from rnnkit.cli.runspec import build_model
    from rnnkit.train import Trainer
    from rnnkit.train.trainer import seed_everything

    settings = {**spec.train, "seed": seed, "progress": False, "run_dir": None, "evaluate_test": True}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    seed_everything(seed)  # the initial weights too, not only the Trainer's shuffling and dropout
    model = build_model(spec, dataset)
    callbacks = [epoch_log(f"{label} seed {seed}")] if label is not None else []
    history = Trainer(callbacks=callbacks, **settings).fit(model, dataset)
    metrics = dict(history.test)
    value, extra = headline(dataset.info, metrics, model, dataset)
    metrics.update(extra)
    return SeedResult(seed, value, metrics, len(history.rows), history.best_epoch,
                      time.process_time() - cpu0, time.perf_counter() - wall0)


def device_name(jobs: int = 1, precision: str = "fp32") -> str:
    """``"cpu (N cores, T torch threads)"`` (``"..., J jobs x T torch threads"`` for parallel seeds) or
    the GPU's name; ``", bf16 autocast"`` after it where the recipe's ``precision`` resolves to bf16
    on this device (``"auto"``: :func:`rnnkit.train.resolve_precision`)."""
    import torch

    from rnnkit.bench import usable_cores
    from rnnkit.train import resolve_precision

    cuda = torch.cuda.is_available()
    if cuda:
        name = torch.cuda.get_device_name(0)
    else:
        threads = f"{torch.get_num_threads()} torch threads"
        name = f"cpu ({usable_cores()} cores, {f'{jobs} jobs x ' if jobs > 1 else ''}{threads})"
    bf16 = resolve_precision(precision, "cuda" if cuda else "cpu") == "bf16"
    return name + (", bf16 autocast" if bf16 else "")


# --- seeds in worker processes (--jobs) ---------------------------------------------------------------
_WORKER: dict[str, Any] = {}  # in a worker: the recipe spec and data set it loaded once


def _worker_setup(name: str, quick: bool, progress: bool = False) -> None:
    from rnnkit.cli.runspec import load_data

    _, spec, _ = load_recipe(name)
    spec = quick_spec(spec) if quick else spec
    _WORKER.update(spec=spec, dataset=load_data(spec), label=name if progress else None)


def _worker_seed(seed: int) -> SeedResult:
    return train_seed(_WORKER["spec"], _WORKER["dataset"], seed, label=_WORKER["label"])


def run_seeds(name: str, spec: Any, dataset: Any, seeds: int, *, jobs: int = 1, quick: bool = False,
              on_result: Any = None, progress: bool = False) -> list[SeedResult]:
    """Train seeds ``0..seeds-1`` (``jobs`` at a time in worker processes when ``jobs`` > 1) and
    return their results in seed order; ``on_result(r)`` is called as each one finishes. ``progress``
    prints each seed's epochs to stderr now and then (:func:`epoch_log`).

    :class:`Stopped` (SIGTERM or Ctrl-C, :func:`stop_signals`) ends the run early: the workers are
    terminated and the seeds that finished are returned; with none finished, it propagates."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    results: list[SeedResult] = []
    try:
        if jobs == 1:
            for seed in range(seeds):
                results.append(train_seed(spec, dataset, seed, label=name if progress else None))
                if on_result is not None:
                    on_result(results[-1])
        else:
            from contextlib import closing

            from rnnkit.bench.workers import run_in_workers

            with closing(run_in_workers(_worker_seed, range(seeds), jobs=jobs, setup=_worker_setup,
                                        setup_args=(name, quick, progress))) as finished:
                for r in finished:  # closing() terminates the workers on Stopped or an error
                    results.append(r)
                    if on_result is not None:
                        on_result(r)
    except Stopped:
        if not results:
            raise
    return sorted(results, key=lambda r: r.seed)


__all__ = ["SeedResult", "Stopped", "device_name", "epoch_log", "run_seeds", "signal_name", "stop_signals",
           "train_seed"]
