"""Padding masks: zero what lies past each sequence's length, cheaply when nothing there can leak."""

from __future__ import annotations

import torch
from torch import Tensor


def zero_padding(x: Tensor, valid: Tensor) -> Tensor:
    """``x`` ``(B, T, ...)`` with the positions where ``valid`` ``(B, T)`` is False set to 0, where that
    matters: a NaN or infinity there would reach any sum over the steps (0 * NaN is NaN), while finite
    padding reaches none of rnnkit's layers. On a CPU one sum tells whether anything is not finite
    (it costs a tenth of masking every value and no device sync), and ``x`` comes back as it is when
    all is; on other devices, and when traced or compiled, the mask is always applied."""
    traced = torch.compiler.is_compiling() or torch.jit.is_tracing()
    if x.device.type == "cpu" and not traced and bool(torch.isfinite(x.sum())):
        return x
    return x.masked_fill(~valid.view(*valid.shape, *([1] * (x.dim() - valid.dim()))), 0.0)


__all__ = ["zero_padding"]
