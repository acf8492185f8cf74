r"""Training-time augmentation of numeric series ``(B, T, F)``, for classifiers of small data sets.

Four transformations from the time-series augmentation literature (Um et al. 2017, "Data augmentation
of wearable sensor data for Parkinson's disease monitoring using convolutional neural networks";
Le Guennec et al. 2016, "Data augmentation for time series classification using convolutional neural
networks"; surveyed by Iwana & Uchida 2021, PLOS ONE 16(7)), each drawn afresh for every series of
every training batch, and only over its valid steps (``lengths``; padding is left as it was):

- ``jitter`` σ: add Gaussian noise ``N(0, σ²)`` to every value (σ in the data's units; z-normalised
  series: fractions of a standard deviation).
- ``scale`` σ: multiply each series' features by a factor drawn from ``N(1, σ²)``.
- ``warp`` σ: resample the series along a smooth random time axis: the local speed is ``1 + σ·N(0,1)``
  (floored at 0.1) at ``KNOTS`` evenly spaced points, linear between them, and its running sum,
  rescaled to end where the series ends, gives the positions read (Um et al.'s time warping).
- ``slice`` r: read a random window of ``(1 - r)`` of the series, stretched to its full length
  (Le Guennec et al.'s window slicing).

Warping and slicing compose into one set of positions ``p_t`` in ``[0, L - 1]``; the series is read
there by linear interpolation. In evaluation mode (``module.eval()``) the layer returns its input.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

KNOTS = 4


class SeriesAugment(nn.Module):
    """Random jitter, scaling, time warping and window slicing of float series in training mode.

    Args:
        jitter: standard deviation of the additive noise (0: off).
        scale: standard deviation of the multiplicative factor around 1 (0: off).
        warp: standard deviation of the local time speed around 1 (0: off).
        slice: the fraction of each series cut away by window slicing, in ``[0, 1)`` (0: off).

    Shape: ``x`` ``(B, T, F)`` float, ``lengths`` ``(B,)`` or None (all ``T`` steps valid); returns
    ``(B, T, F)``.

    Example:
        >>> aug = SeriesAugment(jitter=0.03, warp=0.2, slice=0.1)
        >>> aug(torch.randn(2, 50, 1), torch.tensor([50, 30])).shape
        torch.Size([2, 50, 1])
    """

    def __init__(self, *, jitter: float = 0.0, scale: float = 0.0, warp: float = 0.0, slice: float = 0.0) -> None:
        super().__init__()
        for name, value in (("jitter", jitter), ("scale", scale), ("warp", warp)):
            if not value >= 0.0:  # also refuses NaN
                raise ValueError(f"augment {name} must be >= 0, got {value}")
        if not 0.0 <= slice < 1.0:
            raise ValueError(f"augment slice must be in [0, 1), got {slice}")
        self.jitter, self.scale, self.warp, self.slice = float(jitter), float(scale), float(warp), float(slice)

    @property
    def active(self) -> bool:
        """Whether any transformation is on."""
        return any((self.jitter, self.scale, self.warp, self.slice))

    def extra_repr(self) -> str:
        return f"jitter={self.jitter}, scale={self.scale}, warp={self.warp}, slice={self.slice}"

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if not self.training or not self.active:
            return x
        if x.dim() != 3 or not x.is_floating_point():
            raise ValueError(f"SeriesAugment needs float series (B, T, F), got {tuple(x.shape)} {x.dtype}")
        B, T, F = x.shape
        lens = (torch.full((B,), T, device=x.device) if lengths is None
                else lengths.to(device=x.device, dtype=torch.long).clamp(0, T))
        valid = torch.arange(T, device=x.device)[None, :] < lens[:, None]  # (B, T)
        out = x
        if self.warp or self.slice:
            out = self._resample(out, lens)
        if self.scale:
            out = out * (1.0 + self.scale * torch.randn(B, 1, F, device=x.device, dtype=x.dtype))
        if self.jitter:
            out = out + self.jitter * torch.randn_like(out)
        return torch.where(valid[:, :, None], out, x)

    def positions(self, lens: Tensor, T: int) -> Tensor:
        """Where each output step reads its series: ``(B, T)`` float positions in ``[0, L - 1]`` over
        the valid steps (the step itself past them)."""
        B = lens.shape[0]
        device = lens.device
        t = torch.arange(T, device=device, dtype=torch.float32)[None, :].expand(B, T)
        inside = t < lens[:, None]  # (B, T): the valid steps
        span = (lens - 1).clamp(min=0).to(torch.float32)[:, None]  # (B, 1): L - 1
        u = torch.where(span > 0, t / span.clamp(min=1.0), torch.zeros_like(t)).clamp(max=1.0)  # (B, T) in [0, 1]
        warped = u
        if self.warp:
            speeds = (1.0 + self.warp * torch.randn(B, KNOTS, device=device)).clamp(min=0.1)  # (B, K)
            k = u * (KNOTS - 1)
            k0 = k.floor().long().clamp(max=KNOTS - 2)
            frac = k - k0
            speed = speeds.gather(1, k0) * (1 - frac) + speeds.gather(1, k0 + 1) * frac  # (B, T)
            cum = torch.cumsum(torch.where(inside, speed, torch.zeros_like(speed)), dim=1) - speed[:, :1]
            end = cum.gather(1, (lens - 1).clamp(min=0)[:, None]).clamp(min=1e-6)
            warped = (cum / end).clamp(0.0, 1.0)
        if self.slice:
            keep = 1.0 - self.slice
            start = torch.rand(B, 1, device=device) * self.slice
            warped = start + keep * warped
        return torch.where(inside, warped * span, t)

    def _resample(self, x: Tensor, lens: Tensor) -> Tensor:
        """``x`` read at :meth:`positions` by linear interpolation within each series (a padded step
        sits at its own whole position, so it reads itself)."""
        B, T, F = x.shape
        pos = self.positions(lens, T)
        i0 = pos.floor().long().clamp(0, T - 1)
        i1 = torch.minimum(i0 + 1, (lens - 1).clamp(min=0)[:, None])
        frac = (pos - i0).to(x.dtype)[:, :, None]
        x0 = x.gather(1, i0[:, :, None].expand(B, T, F))
        x1 = x.gather(1, i1[:, :, None].expand(B, T, F))
        return x0 * (1 - frac) + x1 * frac
