"""Validation of the Trainer's settings: each is checked when the config is built, with a message
that names the setting and says what it takes, so a typo in a YAML file (``lr: fast``,
``optimizer: adamm``) stops the run before any data is loaded instead of deep inside training.

Example:
    >>> TrainerConfig(lr="fast")
    ValueError: lr must be a number, got 'fast'
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from pathlib import Path
from typing import Any

# no torch here at import: the command line's parser reads PRECISIONS, and `rnnkit --help` should not wait

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "plateau", "none")
PRECISIONS = ("fp32", "bf16", "auto")

# annotation -> (isinstance check, how the message names it)
_KINDS: dict[Any, tuple[Any, str]] = {
    int: (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool), "an integer"),  # NumPy's too
    float: (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    Path: (lambda v: isinstance(v, Path), "a path"),
    type(None): (lambda v: v is None, "null"),
}


def check_types(config: Any) -> None:
    """Refuse a dataclass field whose value is not of its annotated type (``bool`` is no number)."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kinds = [_KINDS[t] for t in (typing.get_args(hints[f.name]) or (hints[f.name],)) if t in _KINDS]
        if kinds and not any(ok(value) for ok, _ in kinds):
            names = " or ".join(name for _, name in kinds)
            raise ValueError(f"{f.name} must be {names}, got {value!r}")


def check_settings(config: Any) -> None:
    """Every check of a ``TrainerConfig``; raises ValueError naming the first bad setting."""
    check_types(config)
    for name in ("epochs", "batch_size", "accumulate", "eval_batch_size"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
    for name in ("warmup_steps", "checkpoint_every"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(config, name)}")
    if not -2**63 <= config.seed <= 2**64 - 1:  # what torch.manual_seed takes
        raise ValueError(f"seed must be in [-2**63, 2**64 - 1] (the range torch seeds from), got {config.seed}")
    if config.max_steps is not None and config.max_steps < 1:
        raise ValueError(f"max_steps must be >= 1 (or null for no limit), got {config.max_steps}")
    if not (math.isfinite(config.lr) and config.lr > 0):  # NaN fails every comparison
        raise ValueError(f"lr must be > 0, got {config.lr}")
    if not (math.isfinite(config.weight_decay) and config.weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0, got {config.weight_decay}")
    if config.clip_grad_norm is not None and not (math.isfinite(config.clip_grad_norm) and config.clip_grad_norm > 0):
        raise ValueError(f"clip_grad_norm must be > 0 (or null for no clipping), got {config.clip_grad_norm}")
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}")
    if config.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {config.schedule!r}")
    if config.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    check_device(config.device)
    if not (math.isfinite(config.table_lr_scale) and config.table_lr_scale > 0):
        raise ValueError(f"table_lr_scale must be > 0, got {config.table_lr_scale}")
    if config.table_lr_scale != 1.0 and not config.sparse_tables:
        raise ValueError("table_lr_scale scales the learning rate of the sparse tables: set sparse_tables: true too")
    from rnnkit.train.ema import check_decay
    from rnnkit.train.optim import SPARSE_OPTIMIZERS

    if config.sparse_tables and config.optimizer not in SPARSE_OPTIMIZERS:
        raise ValueError(f"sparse_tables updates table rows with (lazy) Adam: it needs optimizer 'adamw' or "
                         f"'adam', got {config.optimizer!r}")
    if config.schedule == "plateau" and config.warmup_steps:
        raise ValueError("warmup_steps needs schedule='cosine' or 'none' (plateau has no warm-up)")
    if config.early_stopping is not None and config.early_stopping < 1:
        raise ValueError(f"early_stopping is a patience in epochs, >= 1; got {config.early_stopping}")
    if config.resume and config.run_dir is None:
        raise ValueError("resume=True needs run_dir (the folder whose checkpoint to continue)")
    if config.checkpoint_every and config.run_dir is None:
        raise ValueError(f"checkpoint_every={config.checkpoint_every} writes checkpoints/last.safetensors into "
                         "run_dir, and run_dir is not set: set run_dir, or leave checkpoint_every at 0")
    if config.ema_decay is not None:
        check_decay(config.ema_decay)


def check_device(name: str) -> None:
    """``"auto"`` or a torch device name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"xpu"``) that this
    machine has: torch parses any device type it knows (``"meta"``, ``"hpu"`` ...), and a fit on one it
    cannot compute on would fail deep inside torch instead of here."""
    if name == "auto":
        return
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or a torch device such as 'cuda:1', "
                         f"got {name!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: torch sees no CUDA GPU here; use device 'auto' or 'cpu'")
    have = available_devices()
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"device {name!r}: torch sees {count} CUDA GPU{'s' if count != 1 else ''} here; "
                         f"use one of the devices available here: {', '.join(map(repr, have))}")
    if device.type not in have:
        raise ValueError(f"device {name!r}: this machine cannot train on {device.type!r} devices; use one of the "
                         f"devices available here: {', '.join(map(repr, have))}")


def available_devices() -> list[str]:
    """The device settings this machine can train with: 'auto', 'cpu', and each accelerator torch sees."""
    import torch

    have = ["auto", "cpu"]
    if torch.cuda.is_available():
        have += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        have.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        have.append("xpu")
    return have


__all__ = ["OPTIMIZERS", "PRECISIONS", "SCHEDULES", "available_devices", "check_device", "check_settings",
           "check_types"]
