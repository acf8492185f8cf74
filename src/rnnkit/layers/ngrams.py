"""``HashedBigrams``: embeddings of each token's left and right bigram, hashed into a fixed table.

Character bigrams are the strongest single feature of neural Chinese word segmentation (Pei et al.
2014; Chen et al. 2015; Ma et al. 2018, "State-of-the-art Chinese word segmentation with Bi-LSTMs",
section 2.2: +1.3 F1 on average). The bigrams ``(x[t-1], x[t])`` and ``(x[t], x[t+1])`` of every
step are hashed into ``buckets`` rows (the hashing trick: no bigram vocabulary to build or store;
rare bigrams may share a row), and their two embeddings are concatenated. ``HashedNgramBag``
averages the embeddings of every 1..n-gram of a sequence the same way (fastText's bag).

Both tables are ordinary dense ``nn.Embedding`` / ``nn.EmbeddingBag`` modules (``.table``), so any
optimizer takes them. ``Trainer(sparse_tables=True)`` switches them to sparse gradients for a fit
(``rnnkit.train.optim.sparse_tables``): a batch touches a few thousand of their 2**17-2**18 rows,
and only those rows are updated (lazy Adam), instead of a dense gradient of the whole table.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

_PRIME = 4_294_967_291  # the largest prime below 2**32
_MULT = 2_654_435_761  # Knuth's multiplicative hash


def bigram_ids(x: Tensor, vocab_size: int, buckets: int, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The hashed ids of each step's left and right bigram: two ``(B, T)`` int64 tensors.

    Padding (id 0) stands for "no token", so the first step's left bigram is ``(0, x[0])`` and the
    last valid step's right bigram ``(x[-1], 0)``; steps past a sequence's end get their own
    ``(0, 0)``-style ids, which the model never reads (their outputs are masked). With ``lengths``
    the steps past each length are read as id 0 whatever the batch holds there, so a batch padded
    with another value gives the same ids.
    """
    if lengths is not None:
        x = x.masked_fill(torch.arange(x.shape[1], device=x.device) >= lengths.to(x.device).unsqueeze(1), 0)
    # padded on both sides and cut, not x[:, :-1]: torch.export takes a size T - 1 to be other than 1, so
    # a program traced that way refused two-step inputs
    padded = F.pad(x, (1, 1))  # (B, T + 2), id 0 at both ends
    prev = padded[:, : x.shape[1]]  # (B, T)
    nxt = padded[:, 2:]  # (B, T)

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
        >>> feats = bigrams(ids, lengths)  # (B, T, 64)
    """

    def __init__(self, vocab_size: int, buckets: int, dim: int) -> None:
        super().__init__()
        if vocab_size < 1 or buckets < 1 or dim < 1:
            raise ValueError(f"vocab_size, buckets and dim must be >= 1, got {vocab_size}, {buckets}, {dim}")
        self.vocab_size, self.buckets = vocab_size, buckets
        self.table = nn.Embedding(buckets, dim)
        self.output_size = 2 * dim

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``lengths`` (B,): the valid steps; without them, every step of ``x`` is a token."""
        left, right = bigram_ids(x, self.vocab_size, self.buckets, lengths)
        return torch.cat([self.table(left), self.table(right)], dim=-1)  # (B, T, 2 * dim)


def optional_bigrams(vocab_size: int | None, buckets: int, dim: int) -> HashedBigrams | None:
    """A model's bigram features: None when ``buckets`` is 0; they need token ids (``vocab_size``)."""
    if not buckets:
        return None
    if vocab_size is None:
        raise ValueError("bigram_buckets reads token ids: it needs vocab_size (token inputs)")
    return HashedBigrams(vocab_size, buckets, dim)


MAX_SUGGESTED_BUCKETS = 1 << 18  # the sentiment and segmentation recipes' tables: 262,144 rows


def suggested_buckets(tokens: int, cap: int = MAX_SUGGESTED_BUCKETS) -> int:
    """A hashed table's rows for ``tokens`` training tokens: one per token, rounded up to a power of
    two, at most ``cap`` (a small data set does not carry a table of millions of parameters)."""
    return min(cap, 1 << max(tokens - 1, 1).bit_length())


_FOLD_PRIME = 2_147_483_647  # 2**31 - 1: folding keeps every intermediate below 2**51 in int64
_FOLD_MULT = 1_000_003


def ngram_ids(x: Tensor, n: int, buckets: int) -> Tensor:
    """The hashed ids of the n-grams starting at each step: ``(B, T - n + 1)`` int64 in ``[0, buckets)``.

    The n-gram ``x[t:t+n]`` is folded into one integer (a polynomial hash salted with ``n``, so a
    unigram and a bigram of the same ids land on different rows) and taken modulo ``buckets``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    width = x.shape[1] - n + 1
    h = torch.full_like(x[:, :max(width, 0)], n)
    for k in range(n):
        h = (h * _FOLD_MULT + x[:, k:k + width] + 1) % _FOLD_PRIME
    return h % buckets


class HashedNgramBag(nn.Module):
    """Token ids ``(B, T)`` with ``lengths`` -> ``(B, dim)``: the mean embedding of every 1..max_n-gram
    inside each sequence, hashed into one table: fastText's bag of n-grams (Joulin et al. 2017, "Bag
    of tricks for efficient text classification"), a linear view of the whole text that a recurrent
    classifier reads beside its pooled state.

    Only n-grams that lie wholly within a sequence's valid steps count, so padding never changes the
    bag; a sequence shorter than ``n`` has no n-grams of that order.

    Args:
        buckets: rows of the hashed table. dim: the embedding size. max_n: the longest n-gram.

    Example:
        >>> bag = HashedNgramBag(buckets=2**18, dim=64, max_n=3)
        >>> vectors = bag(ids, lengths)   # (B, 64)
    """

    def __init__(self, buckets: int, dim: int, max_n: int = 3) -> None:
        super().__init__()
        if buckets < 1 or dim < 1 or max_n < 1:
            raise ValueError(f"buckets, dim and max_n must be >= 1, got {buckets}, {dim}, {max_n}")
        self.buckets, self.max_n, self.output_size = buckets, max_n, dim
        self.table = nn.EmbeddingBag(buckets, dim, mode="mean")

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        B, T = x.shape
        if T == 0:
            return self.table.weight.new_zeros(B, self.output_size)
        lengths = torch.full((B,), T, device=x.device) if lengths is None else lengths.to(x.device)
        if torch.compiler.is_compiling():
            # traced (torch.export), min(max_n, T) would fix T's range: pad instead, so that every order
            # is there for any T; the padded grams lie past the lengths and never count
            x = F.pad(x, (0, self.max_n - 1))
            T = x.shape[1]
            orders = range(1, self.max_n + 1)
        else:
            orders = range(1, min(self.max_n, T) + 1)
        grams = torch.cat([ngram_ids(x, n, self.buckets) for n in orders], dim=1)  # (B, W): every order side by side
        valid = torch.cat([torch.arange(T - n + 1, device=x.device) < (lengths - n + 1).unsqueeze(1)
                           for n in orders], dim=1)  # (B, W): the grams wholly inside each sequence
        counts = valid.sum(1)
        # a boolean index reads row by row, so each sequence's grams come out together, in its own bag
        return self.table(grams[valid], counts.cumsum(0) - counts)  # (B, dim); an empty bag gives zeros


def optional_ngram_bag(vocab_size: int | None, buckets: int, dim: int, max_n: int) -> HashedNgramBag | None:
    """A classifier's bag of n-grams: None when ``buckets`` is 0; it needs token ids (``vocab_size``)."""
    if not buckets:
        return None
    if vocab_size is None:
        raise ValueError("ngram_buckets reads token ids: it needs vocab_size (token inputs)")
    return HashedNgramBag(buckets, dim, max_n)
