"""Seeding every random number generator a run draws from, for runs that repeat.

Example:
    >>> seed_everything(0)                        # Python, NumPy and torch on every device
    >>> seed_everything(0, deterministic=True)    # and deterministic kernels where torch has them
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); ``deterministic`` also asks torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s shuffle: ``seed * 1_000_003 + epoch``, the value every run has used,
    taken modulo 2**64 only where it falls outside the range torch seeds from ([-2**63, 2**64 - 1]), so
    that a huge seed trains and the shuffles of existing runs stay as they were."""
    derived = seed * 1_000_003 + epoch
    return derived if -(2**63) <= derived < 2**64 else derived % 2**64
