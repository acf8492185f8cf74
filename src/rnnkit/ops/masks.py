"""Padding masks: zero what lies past each sequence's length, cheaply when nothing there can leak."""

from __future__ import annotations

import torch
from torch import Tensor


def traced() -> bool:
    """Whether this runs under torch.export / torch.compile (values are symbolic) or TorchScript's
    trace (values become constants): no value may decide a branch then."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def all_finite(x: Tensor) -> bool:
    """Whether ``x`` holds no NaN or infinity, known from one sum (they reach it; finite values overflow
    it only when huge, and the answer is then a safe False); always False when :func:`traced`."""
    return not traced() and bool(torch.isfinite(x.sum()))


def broadcast_mask(valid: Tensor, x: Tensor) -> Tensor:
    """``valid`` ``(B, T)`` viewed with trailing 1s to broadcast against ``x`` ``(B, T, ...)``."""
    return valid.view(*valid.shape, *([1] * (x.dim() - valid.dim())))


def zero_padding(x: Tensor, valid: Tensor) -> Tensor:
    """``x`` ``(B, T, ...)`` with the positions where ``valid`` ``(B, T)`` is False set to 0, where that
    matters: a NaN or infinity there would reach any sum over the steps (0 * NaN is NaN), while finite
    padding reaches none of rnnkit's layers. On a CPU one sum tells whether anything is not finite
    (it costs a tenth of masking every value and no device sync), and ``x`` comes back as it is when
    all is; on other devices, and when traced or compiled, the mask is always applied."""
    if x.device.type == "cpu" and all_finite(x):
        return x
    return x.masked_fill(~broadcast_mask(valid, x), 0.0)


__all__ = ["all_finite", "broadcast_mask", "traced", "zero_padding"]
