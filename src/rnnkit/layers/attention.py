"""Attention over a padded sequence: additive (Bahdanau), dot and general (Luong), masked.

Padding positions get weight exactly 0 and the weights of every query sum to 1 over the valid
positions, so finite padding never leaks into a context vector. Values must be finite at padding too
(0 * NaN is NaN): ``Recurrent``'s outputs, which rnnkit's decoders attend over, are zero there. The
layer leaves masking the values to its caller because it runs at every decoder step, where masking
them again would cost more than the step's own products.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from torch import Tensor, nn

from rnnkit.ops.cpu_attention import additive_scores

AttentionKind = Literal["additive", "dot", "general"]
KINDS: tuple[str, ...] = ("additive", "dot", "general")


class AttentionOutput(NamedTuple):
    context: Tensor  # (B, V) or (B, L, V): the weighted sum of the values
    weights: Tensor  # (B, S) or (B, L, S): 0 on padding, sums to 1 over valid positions


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dim with ``mask`` False positions set to exactly 0.

    Shape: scores ``(B, ..., S)``, mask ``(B, S)`` bool (True = valid) -> ``(B, ..., S)``. A row
    with no valid position gets all-zero weights (not NaN).
    """
    if mask is None:
        return scores.softmax(dim=-1)
    while mask.dim() < scores.dim():
        mask = mask.unsqueeze(-2)  # (B, 1, S) against (B, L, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights.masked_fill(~mask, 0.0)  # also turns the NaN of all-padding rows into 0


class Attention(nn.Module):
    """Score a query against every position of ``keys``; return the weighted ``values``.

    Scores (Bahdanau et al. 2015 eq. 6; Luong et al. 2015 eq. 8):
        additive: ``v^T tanh(W_q q + W_k k)``; dot: ``q . k`` (scaled by ``1/sqrt(d)`` when
        ``scaled``); general: ``q^T W k``.

    Args:
        kind: ``"additive"``, ``"dot"`` or ``"general"``.
        query_size: size of a query. key_size: size of a key (= ``query_size`` for ``"dot"``).
        hidden_size: the inner size of ``"additive"`` (default ``query_size``).
        scaled: divide dot / general scores by ``sqrt(key_size)``.

    Shape:
        query ``(B, Q)`` or ``(B, L, Q)``; keys ``(B, S, K)``; values ``(B, S, V)`` (default keys);
        mask ``(B, S)`` bool, True on valid positions -> context ``(B, [L,] V)``, weights
        ``(B, [L,] S)``.

    Example:
        >>> att = Attention("additive", query_size=32, key_size=64)
        >>> out = att(torch.randn(2, 32), torch.randn(2, 7, 64), mask=torch.ones(2, 7, dtype=torch.bool))
        >>> out.weights.sum(-1)  # tensor([1., 1.])
    """

    def __init__(self, kind: AttentionKind, query_size: int, key_size: int | None = None, *,
                 hidden_size: int | None = None, scaled: bool = False) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"attention kind must be one of {KINDS}, got {kind!r}")
        if query_size < 1:
            raise ValueError(f"query_size must be >= 1, got {query_size}")
        key_size = query_size if key_size is None else key_size
        if kind == "dot" and key_size != query_size:
            raise ValueError(f"dot attention needs key_size == query_size, got {key_size} and {query_size}; "
                             "use kind='general' to learn a map between them")
        self.kind, self.query_size, self.key_size, self.scaled = kind, query_size, key_size, scaled
        if kind == "additive":
            hidden = hidden_size or query_size
            self.query_proj = nn.Linear(query_size, hidden, bias=False)
            self.key_proj = nn.Linear(key_size, hidden, bias=True)
            self.v = nn.Linear(hidden, 1, bias=False)
        elif kind == "general":
            self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        """What the scores need from ``keys``, computed once per sequence (not once per step).

        Shape: ``(B, S, K) -> (B, S, H)`` (the projected keys; the keys themselves for ``"dot"``).
        """
        return keys if self.kind == "dot" else self.key_proj(keys)

    def score(self, query: Tensor, prepared: Tensor) -> Tensor:
        """Unnormalised scores. Shape: query ``(B, L, Q)``, prepared ``(B, S, H)`` -> ``(B, L, S)``."""
        if self.kind == "additive":  # one compiled pass on the CPU: ops/cpu_attention.py
            return additive_scores(self.query_proj(query), prepared, self.v.weight.reshape(-1))  # (B, L, S)
        scores = query @ prepared.transpose(1, 2)  # (B, L, S)
        return scores / math.sqrt(self.key_size) if self.scaled else scores

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None, mask: Tensor | None = None,
                *, prepared: Tensor | None = None) -> AttentionOutput:
        """Attend. ``prepared`` (from :meth:`prepare`) skips re-projecting the keys at every step."""
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)  # (B, 1, Q)
        if query.shape[-1] != self.query_size:
            raise ValueError(f"query has size {query.shape[-1]}, this attention expects {self.query_size}")
        if keys.shape[-1] != self.key_size:
            raise ValueError(f"keys have size {keys.shape[-1]}, this attention expects {self.key_size}")
        if mask is not None and mask.shape != keys.shape[:2]:
            raise ValueError(f"mask must be (B, S) = {tuple(keys.shape[:2])}, got {tuple(mask.shape)}")
        prepared = self.prepare(keys) if prepared is None else prepared
        weights = masked_softmax(self.score(query, prepared), mask)  # (B, L, S)
        context = weights @ (keys if values is None else values)  # (B, L, V)
        if single:
            return AttentionOutput(context.squeeze(1), weights.squeeze(1))
        return AttentionOutput(context, weights)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, query_size={self.query_size}, key_size={self.key_size}"
