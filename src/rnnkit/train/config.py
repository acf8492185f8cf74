"""The settings of a training run: :class:`TrainerConfig`, one frozen dataclass, checked when it is
made (settings.py) and written to a run folder's ``config.yaml`` under ``trainer:``.

Example:
    >>> config = TrainerConfig(epochs=10, early_stopping=3, run_dir="runs/vowels")
    >>> Trainer(**config.to_dict())        # the same run: a Trainer takes the settings as keywords
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnnkit.train.settings import check_settings


@dataclass(frozen=True)
class TrainerConfig:
    """Every setting of a run (written to ``config.yaml`` under ``trainer:``).

    Args:
        epochs, batch_size, lr, weight_decay: as usual; ``batch_size`` is the global batch (DDP splits it).
        optimizer: "adamw" (default), "adam", "sgd". clip_grad_norm: max gradient norm (None: off); an
            Ensemble has each member's gradient clipped on its own.
        schedule: "cosine" (warm-up then cosine to 0), "plateau" (halve on a stalled monitor), "none".
        warmup_steps: linear warm-up, in optimizer steps (fit warns when it outlasts the run).
        early_stopping: patience in epochs without improvement of ``monitor`` (None: train all epochs).
        monitor: a history column; default ``valid_<info.metric>`` (mode from ``info.higher_is_better``),
            else ``valid_loss``, else ``train_loss``. The best epoch's weights are restored at the end
            (``restore_best``).
        accumulate: micro-batches per optimizer step. seed / deterministic: see :func:`seed_everything` (seeding.py).
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:N", "mps", "xpu": one this machine has.
        precision: "fp32"; "bf16" (mixed precision: the forward pass under ``torch.autocast`` in bfloat16,
            the weights, their gradients and the optimizer in float32); or "auto": "bf16" where the
            device multiplies bfloat16 in hardware (a CUDA GPU that supports it; a CPU with AVX512-BF16
            or AMX), else "fp32" (:func:`resolve_precision`, precision.py). On a CPU without those instructions
            "bf16" is slower than "fp32" (a warning says so). Measured on an AMD EPYC (Zen 5, 1 torch
            thread): a training step of cmudict_g2p's Seq2Seq took about 60 ms in bf16 against 95 ms.
        run_dir: the run folder (see run_dir.py); resume: continue from its last checkpoint, with the same
            optimisation settings, model and data (info.json: classes, vocabularies, split sizes), or it is
            refused naming each difference; a resume rewrites config.yaml and info.json (the settings it goes
            on with). A folder that holds a run (a model or a last checkpoint) is refused unless ``resume``,
            or unless the Trainer is made with ``overwrite=True`` (which removes that run's files first). The
            folder must be writable: that is checked before training.
        checkpoint_every: also save the last checkpoint every N optimizer steps (0: epoch ends only).
        max_steps: stop after this many optimizer steps (where it falls, inside an epoch too; that epoch
            then has a row of its own). A resume with more epochs or steps extends the run: an epoch cut by
            max_steps is finished first, so the extended run is the one that ran straight to the new end
            (with ``schedule="cosine"`` the schedule is stretched to the new total instead).
            bucket: batch similar lengths together.
        progress: the rich progress bar (only drawn on a terminal). evaluate_test: score the test split
            after training (``History.test``, ``metrics.json``).
        ema_decay: keep an exponential moving average of the weights (e.g. 0.999; None: off), updated
            after every optimizer step with a warm-up (see ema.py). Training goes on with the live
            weights; validation, the monitor, early stopping, the best epoch, the test split, the saved
            model and the returned model all use the averaged ones (buffers: the live model's).
        sparse_tables: train the hashed n-gram tables (``bigram_buckets``, ``ngram_buckets``) with sparse
            gradients: each step updates only the rows its batch looked up (lazy Adam; Adam/AdamW on
            one process; the tables are then not weight-decayed). Faster on large tables, but not the
            same update as dense Adam, whose moments keep moving a row after its last use: measured
            on valid, it cost People's Daily segmentation 0.7 points of word F1 and the sentiment
            classifier nothing (see optim.py). Off by default.
        table_lr_scale: with ``sparse_tables``, the tables' learning rate is ``lr`` times this (the
            schedule scales it alike). Rare rows get few lazy updates: on People's Daily segmentation
            10 lifted valid word F1 from 0.9438 (1) and 0.9510 (dense) to 0.9584 (30: 0.9573).
        report: with a ``run_dir``, end the fit by drawing ``plots/*.png`` and ``report.html`` there
            (about half a second for a small run). A report that fails to draw is a warning: the
            run folder is complete before it. ``rnnkit train`` draws its own, with its facts.
    """

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    optimizer: str = "adamw"
    clip_grad_norm: float | None = 1.0
    schedule: str = "cosine"
    warmup_steps: int = 0
    early_stopping: int | None = None
    monitor: str | None = None
    accumulate: int = 1
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    precision: str = "fp32"
    run_dir: str | Path | None = None
    resume: bool = False
    progress: bool = True
    max_steps: int | None = None
    bucket: bool = True
    checkpoint_every: int = 0
    eval_batch_size: int = 128
    restore_best: bool = True
    evaluate_test: bool = True
    ema_decay: float | None = None
    sparse_tables: bool = False
    table_lr_scale: float = 1.0
    report: bool = True

    def __post_init__(self) -> None:
        check_settings(self)  # types and ranges, named (settings.py)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain YAML/JSON values (a ``Path`` run_dir becomes its string)."""
        out = asdict(self)
        if isinstance(out["run_dir"], Path):
            out["run_dir"] = str(out["run_dir"])
        return out
