"""Pool a padded sequence of recurrent outputs into one vector per sequence (many-to-one).

Every mode reads only valid steps, so padding never changes a sequence's pooled vector:

- ``last``: each sequence's own last valid step; when bidirectional, the forward half at the last
  valid step and the backward half at step 0 (where the reverse direction has read everything).
- ``mean``: the average over valid steps.
- ``max``: the element-wise maximum over valid steps.
- ``attention``: a masked softmax over valid steps of ``v^T tanh(W h_t)`` (Bahdanau-style scoring,
  as in Yang et al. 2016, "Hierarchical Attention Networks"), then the weighted sum.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.data.batch import lengths_to_mask
from rnnkit.ops.masks import zero_padding

PoolingMode = Literal["last", "mean", "max", "attention"]
POOLING_MODES: tuple[str, ...] = ("last", "mean", "max", "attention")


class Pooled(NamedTuple):
    vector: Tensor  # (B, D*H)
    weights: Tensor | None  # (B, T) attention weights, zero on padding; None unless mode="attention"


def last_valid_step(outputs: Tensor, lengths: Tensor | None, *, bidirectional: bool = False) -> Tensor:
    """Each sequence's output at its own last valid step.

    Args:
        outputs: recurrent outputs ``(B, T, D*H)``, forward direction first when bidirectional.
        lengths: ``(B,)`` valid steps, or None when every sequence fills ``T``.
        bidirectional: take the backward half at step 0 instead.

    Returns:
        ``(B, D*H)``.
    """
    B, T, size = outputs.shape
    if lengths is None:
        last = torch.full((B,), T - 1, dtype=torch.long, device=outputs.device)
    else:
        last = (lengths.to(outputs.device).long() - 1).clamp(min=0)
    index = last.view(B, 1, 1).expand(B, 1, size)
    at_last = outputs.gather(1, index).squeeze(1)  # (B, D*H)
    if not bidirectional:
        return at_last
    half = size // 2
    return torch.cat([at_last[:, :half], outputs[:, 0, half:]], dim=-1)


class AttentionPooling(nn.Module):
    """Masked additive attention pooling: ``a = softmax_t(v^T tanh(W h_t))``, ``out = sum_t a_t h_t``.

    Args:
        input_size: size of each step's vector.
        attention_size: size of the scoring layer (default ``input_size``).

    Shape: ``(B, T, D)`` and mask ``(B, T)`` -> ``Pooled((B, D), (B, T))``.
    """

    def __init__(self, input_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        size = attention_size or input_size
        self.proj = nn.Linear(input_size, size)
        self.score = nn.Linear(size, 1, bias=False)

    def forward(self, outputs: Tensor, mask: Tensor) -> Pooled:
        scores = self.score(torch.tanh(self.proj(outputs))).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)  # (B, T)
        return Pooled(torch.einsum("bt,btd->bd", weights, outputs), weights)


class SequencePooling(nn.Module):
    """Pool ``(B, T, D)`` recurrent outputs into ``(B, D)`` using only valid steps.

    Args:
        mode: ``"last"``, ``"mean"``, ``"max"`` or ``"attention"``.
        input_size: D, the size of each step (needed by ``attention``).
        bidirectional: the outputs hold a forward and a backward half (matters for ``last``).

    Shape: outputs ``(B, T, D)``, lengths ``(B,)`` or None -> ``Pooled(vector (B, D), weights)``.

    Example:
        >>> pool = SequencePooling("mean", 8)
        >>> pool(torch.randn(2, 5, 8), torch.tensor([5, 3])).vector.shape
        torch.Size([2, 8])
    """

    def __init__(self, mode: str, input_size: int, *, bidirectional: bool = False) -> None:
        super().__init__()
        if mode not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {mode!r}")
        if bidirectional and input_size % 2:
            raise ValueError(f"bidirectional outputs need an even size, got {input_size}")
        self.mode, self.bidirectional = mode, bidirectional
        self.attention = AttentionPooling(input_size) if mode == "attention" else None

    def forward(self, outputs: Tensor, lengths: Tensor | None = None) -> Pooled:
        if self.mode == "last":
            return Pooled(last_valid_step(outputs, lengths, bidirectional=self.bidirectional), None)
        B, T, _ = outputs.shape
        if lengths is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=outputs.device)
        else:
            mask = lengths_to_mask(lengths.to(outputs.device), T)
            outputs = zero_padding(outputs, mask)  # NaN past a length would reach a mean or weighted sum
        if self.attention is not None:
            return self.attention(outputs, mask)
        m = mask.unsqueeze(-1)  # (B, T, 1)
        if self.mode == "mean":
            count = m.sum(1).clamp(min=1).to(outputs.dtype)  # (B, 1)
            return Pooled((outputs * m).sum(1) / count, None)
        return Pooled(outputs.masked_fill(~m, float("-inf")).amax(1), None)
