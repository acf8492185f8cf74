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


def patient_decoder(max_length: int = 8) -> TableDecoder:
    """``a a a eos`` (log-prob -0.04) waits for step 3 to end; ``b eos`` (-4.0) and ``c eos`` (-4.5)
    end at step 1 and ``a a eos`` (-5.0) at step 2, so a beam of 3 holds 3 finished ones by step 2
    while its live ``a a a`` can still beat them all.

    Tokens: 0 = pad, 1 = bos, 2 = eos, 3 = a, 4 = b, 5 = c.
    """
    logits = torch.full((1, max_length, 6, 6), -20.0, dtype=torch.float64)
    logits[0, :, :, EOS] = 0.0  # everything but bos and a ends at once
    logits[0, :, BOS, EOS] = -20.0
    logits[0, :, BOS, [3, 4, 5]] = torch.tensor([0.0, -4.0, -4.5], dtype=torch.float64)
    logits[0, :3, 3, [3, EOS]] = torch.tensor([0.0, -5.0], dtype=torch.float64)
    logits[0, 3:, 3, [3, EOS]] = torch.tensor([-9.0, 0.0], dtype=torch.float64)
    return TableDecoder(logits)


def decoder_from_probs(rows: dict[tuple[int | tuple[int, ...], int], dict[int, float]], *, max_length: int,
                       vocab: int = 5) -> TableDecoder:
    """p(next | step, previous token) given for some rows ``(step or steps, prev) -> {token: p}``;
    every other row ends at once (eos 1.0). One context."""
    p = torch.full((1, max_length, vocab, vocab), 1e-9, dtype=torch.float64)
    p[..., EOS] = 1.0
    for (steps, prev), dist in rows.items():
        for step in [steps] if isinstance(steps, int) else steps:
            p[0, step, prev] = 1e-9
            p[0, step, prev, list(dist)] = torch.tensor(list(dist.values()), dtype=torch.float64)
    return TableDecoder(p.log())


def long_winner_decoder() -> TableDecoder:
    """For length_penalty 1, max_length 6: ``b eos`` (-0.99 / (7/6) = -0.85) ends first; the live
    ``a a`` (-1.31) would lose at length 3 (-0.98) but wins at 6: ``a a a a a eos`` -1.31 / (11/6)."""
    a, b = 3, 4
    return decoder_from_probs({(0, BOS): {a: 0.6, b: 0.37, EOS: 0.03}, (1, a): {a: 0.45, EOS: 0.3, b: 0.25},
                               ((2, 3, 4), a): {a: 0.999, EOS: 0.001}, (5, a): {EOS: 0.999, a: 0.001}},
                              max_length=6)


def short_winner_decoder() -> TableDecoder:
    """For length_penalty -1, max_length 6: the empty ``eos`` (-1.20) ends first; the live ``a``
    (-0.80) would lose at length 6 (-0.80 * 11/6 = -1.47) but wins at 2: ``a eos`` -0.91 * 7/6."""
    a, b = 3, 4
    return decoder_from_probs({(0, BOS): {a: 0.449, EOS: 0.3, b: 0.251}, ((1, 2, 3, 4, 5), a): {EOS: 0.9, a: 0.1}},
                              max_length=6)


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


@pytest.fixture
def patient():
    return patient_decoder()


@pytest.fixture
def long_winner():
    return long_winner_decoder()


@pytest.fixture
def short_winner():
    return short_winner_decoder()
