"""Hand-built decoders whose probabilities are known exactly, for the decoding tests."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor

BOS, EOS = 1, 2


class TableDecoder:
    """log p(next | entry, step, previous token) read from a fixed table ``(C, M, V, V)``.

    State: ``(ctx (B,), step (B,))``; ``ctx`` picks each batch entry's own table, so entries differ.
    """

    def __init__(self, table: Tensor) -> None:
        self.table = table.log_softmax(dim=-1)
        self.calls = 0

    def step(self, tokens: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        ctx, step = state
        self.calls += 1
        steps = step.clamp(max=self.table.shape[1] - 1)
        return self.table[ctx, steps, tokens], (ctx, step + 1)

    def reorder(self, state: tuple[Tensor, Tensor], index: Tensor) -> tuple[Tensor, Tensor]:
        return state[0][index], state[1][index]

    def init(self, ctx: list[int] | Tensor) -> tuple[Tensor, Tensor]:
        ctx = torch.as_tensor(ctx, dtype=torch.long)
        return ctx, torch.zeros_like(ctx)

    def seq_score(self, ctx: int, seq: list[int], alpha: float = 0.0) -> float:
        """Exact score of one sequence, in plain Python (the brute-force reference)."""
        prev, total = BOS, 0.0
        for t, tok in enumerate(seq):
            total += float(self.table[ctx, min(t, self.table.shape[1] - 1), prev, tok])
            prev = tok
        return total / ((5 + len(seq)) / 6) ** alpha


def random_decoder(seed: int, *, contexts: int = 4, max_length: int = 6, vocab: int = 5,
                   sharpness: float = 2.0) -> TableDecoder:
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(contexts, max_length, vocab, vocab, generator=g, dtype=torch.float64) * sharpness
    return TableDecoder(table)


def all_hypotheses(vocab: int, max_length: int) -> list[list[int]]:
    """Every finished sequence (eos only at the end) and every sequence cut at max_length."""
    words = [v for v in range(vocab) if v != EOS]
    out: list[list[int]] = []
    for n in range(0, max_length):
        out += [list(p) + [EOS] for p in itertools.product(words, repeat=n)]
    out += [list(p) for p in itertools.product(words, repeat=max_length)]
    return out


def trap_decoder() -> TableDecoder:
    """Greedy takes ``a`` (0.5) then eos (0.4): 0.20; the beam finds ``b eos``: 0.4 * 0.9 = 0.36.

    Tokens: 0 = pad, 1 = bos, 2 = eos, 3 = a, 4 = b.
    """
    p = torch.full((1, 3, 5, 5), 1e-9, dtype=torch.float64)
    p[0, 0, BOS, [3, 4, EOS]] = torch.tensor([0.5, 0.4, 0.1], dtype=torch.float64)
    for t in (1, 2):
        p[0, t, 3, [3, 4, EOS]] = torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64)
        p[0, t, 4, [3, 4, EOS]] = torch.tensor([0.05, 0.05, 0.9], dtype=torch.float64)
        p[0, t, [0, 1, 2], EOS] = 1.0
    return TableDecoder(p.log())


@pytest.fixture
def make_decoder():
    """``make_decoder(seed, contexts=4, max_length=6, vocab=5, sharpness=2.0) -> TableDecoder``."""
    return random_decoder


@pytest.fixture
def enumerate_hypotheses():
    return all_hypotheses


@pytest.fixture
def trap():
    return trap_decoder()
