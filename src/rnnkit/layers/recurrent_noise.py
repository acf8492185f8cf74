"""The regularisers of a recurrent step: variational recurrent dropout, DropConnect on the
recurrent weight, and zoneout. ``Recurrent`` and its backends share them so every backend draws
the same kind of noise."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import State


def variational_mask(batch_size: int, hidden_size: int, p: float, like: Tensor) -> Tensor | None:
    """One dropout mask per sequence, scaled by 1/(1-p), reused at every step (Gal & Ghahramani 2016).

    Returns ``None`` when ``p == 0``; else a (B, H) tensor of 0 and 1/(1-p), dtype/device of ``like``.
    """
    if p <= 0.0:
        return None
    keep = torch.empty(batch_size, hidden_size, device=like.device, dtype=like.dtype).bernoulli_(1.0 - p)
    return keep / (1.0 - p)


def drop_weight(weight: Tensor, p: float) -> Tensor | None:
    """DropConnect (Wan et al. 2013; AWD-LSTM, Merity et al. 2017): ``weight`` with each entry zeroed
    with probability ``p`` (and the rest scaled by 1/(1-p)), one mask per call. ``None`` when p == 0."""
    if p <= 0.0:
        return None
    return F.dropout(weight, p, training=True)


def zoneout(prev: State, new: State, p: float, training: bool) -> State:
    """Zoneout (Krueger et al. 2017): each unit of each state tensor keeps its previous value with
    probability ``p`` (a fresh mask per step) in training; the identity (``new``) at evaluation,
    as rnnkit's contract states (issue 7), so a trained layer evaluates exactly like one without
    zoneout and can run on the fused ops. (The paper's eval rule, the expectation
    ``p * prev + (1 - p) * new``, is not used.)"""
    if p <= 0.0 or not training:
        return new
    if isinstance(new, Tensor):
        return _zoneout_one(prev, new, p, training)  # type: ignore[arg-type]
    return tuple(_zoneout_one(a, b, p, training) for a, b in zip(prev, new))  # type: ignore[arg-type]


def _zoneout_one(prev: Tensor, new: Tensor, p: float, training: bool) -> Tensor:
    keep_prev = torch.empty_like(new).bernoulli_(p)
    return torch.lerp(new, prev, keep_prev)
