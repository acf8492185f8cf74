"""The ``Forecaster``'s three heads, in the network's (scaled) space: the linear layer's outputs as
parameters, the point value they give, and the loss against scaled targets.

* ``point``: one value per step and target; loss ``mse`` or ``mae``.
* ``gaussian``: ``(loc, scale)``, the scale ``softplus(.) + 1e-3``; loss the Gaussian negative
  log-likelihood (``full=True``).
* ``quantile``: one value per level, ranked so that quantiles never cross (Chernozhukov et al.
  2010); loss the pinball loss of the ranked values; the point value is the quantile nearest 0.5.

Example:
    >>> p = head_params(raw, "gaussian", num_targets=1, num_params=2)  # (..., 1, 2)
    >>> head_loss(p, y_s, "gaussian", point_loss="mse", levels=q, level_order=[0])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def num_params(head: str, quantiles: Sequence[float]) -> int:
    """The values a head gives per step and target: 1 (point), 2 (gaussian) or one per quantile level."""
    return {"point": 1, "gaussian": 2, "quantile": len(quantiles)}[head]


def head_params(raw: Tensor, head: str, num_targets: int, num_params: int) -> Tensor:
    """Head output ``(..., K*P)`` -> ``(..., K, P)``; Gaussian std made positive."""
    p = raw.unflatten(-1, (num_targets, num_params))
    if head == "gaussian":
        p = torch.stack([p[..., 0], F.softplus(p[..., 1]) + 1e-3], dim=-1)
    return p


def ranked(p: Tensor, level_order: Sequence[int]) -> Tensor:
    """Quantile outputs ``(..., Q)`` sorted to the order of their levels (``level_order``: the indices
    of the levels, lowest first): quantiles that cross are rearranged (Chernozhukov et al. 2010). Their
    pinball loss is never higher than the crossed outputs' (for levels a < b and values u < v, giving
    u to a and v to b lowers the sum by (b - a)(v - u)), so the loss reads them as well as the forecasts."""
    order = list(level_order)  # a permutation; placing values back is its inverse
    back = sorted(range(len(order)), key=lambda i: order[i])
    return p[..., order].sort(dim=-1).values[..., back]


def head_loss(p: Tensor, y_s: Tensor, head: str, *, point_loss: str, levels: Tensor,
              level_order: Sequence[int]) -> Tensor:
    """The loss of parameters ``p`` ``(B, H, K, P)`` against scaled targets ``y_s`` ``(B, H, K)``;
    ``levels`` ``(Q,)``: a quantile head's levels."""
    if head == "point":
        return F.mse_loss(p[..., 0], y_s) if point_loss == "mse" else F.l1_loss(p[..., 0], y_s)
    if head == "gaussian":
        return F.gaussian_nll_loss(p[..., 0], y_s, p[..., 1] ** 2, full=True)
    err = y_s.unsqueeze(-1) - ranked(p, level_order)  # (B, H, K, Q); the pinball loss of the quantiles reported
    return torch.maximum(levels * err, (levels - 1) * err).mean()


__all__ = ["head_loss", "head_params", "num_params", "ranked"]
