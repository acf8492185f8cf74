"""``HashedBigrams``: embeddings of each token's left and right bigram, hashed into a fixed table.

Character bigrams are the strongest single feature of neural Chinese word segmentation (Pei et al.
2014; Chen et al. 2015; Ma et al. 2018, "State-of-the-art Chinese word segmentation with Bi-LSTMs",
section 2.2: +1.3 F1 on average). The bigrams ``(x[t-1], x[t])`` and ``(x[t], x[t+1])`` of every
step are hashed into ``buckets`` rows (the hashing trick: no bigram vocabulary to build or store;
rare bigrams may share a row), and their two embeddings are concatenated.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_PRIME = 4_294_967_291  # the largest prime below 2**32
_MULT = 2_654_435_761  # Knuth's multiplicative hash


def bigram_ids(x: Tensor, vocab_size: int, buckets: int) -> tuple[Tensor, Tensor]:
    """The hashed ids of each step's left and right bigram: two ``(B, T)`` int64 tensors.

    Padding (id 0) stands for "no token", so the first step's left bigram is ``(0, x[0])`` and the
    last valid step's right bigram ``(x[-1], 0)``; steps past a sequence's end get their own
    ``(0, 0)``-style ids, which the model never reads (their outputs are masked).
    """
    pad = torch.zeros_like(x[:, :1])
    prev = torch.cat([pad, x[:, :-1]], dim=1)  # (B, T)
    nxt = torch.cat([x[:, 1:], pad], dim=1)  # (B, T)

    def h(a: Tensor, b: Tensor) -> Tensor:
        return ((a * vocab_size + b) * _MULT) % _PRIME % buckets

    return h(prev, x), h(x, nxt)


class HashedBigrams(nn.Module):
    """Token ids ``(B, T)`` -> ``(B, T, 2 * dim)``: the left and right bigram embeddings of each step.

    Args:
        vocab_size: V of the token ids (0 is padding). buckets: rows of the hashed table.
        dim: the size of each bigram embedding.

    Example:
        >>> bigrams = HashedBigrams(vocab_size=5000, buckets=2**17, dim=32)
        >>> feats = bigrams(ids)          # (B, T, 64)
    """

    def __init__(self, vocab_size: int, buckets: int, dim: int) -> None:
        super().__init__()
        if vocab_size < 1 or buckets < 1 or dim < 1:
            raise ValueError(f"vocab_size, buckets and dim must be >= 1, got {vocab_size}, {buckets}, {dim}")
        self.vocab_size, self.buckets = vocab_size, buckets
        self.table = nn.Embedding(buckets, dim)
        self.output_size = 2 * dim

    def forward(self, x: Tensor) -> Tensor:
        left, right = bigram_ids(x, self.vocab_size, self.buckets)
        return torch.cat([self.table(left), self.table(right)], dim=-1)  # (B, T, 2 * dim)


def optional_bigrams(vocab_size: int | None, buckets: int, dim: int) -> HashedBigrams | None:
    """A model's bigram features: None when ``buckets`` is 0; they need token ids (``vocab_size``)."""
    if not buckets:
        return None
    if vocab_size is None:
        raise ValueError("bigram_buckets reads token ids: it needs vocab_size (token inputs)")
    return HashedBigrams(vocab_size, buckets, dim)
