"""Ancestral sampling with temperature, top-k and nucleus (top-p) filtering, seedable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding.ban import TokenBan
from rnnkit.decoding.base import Decoder, Generated, check_decode_args
from rnnkit.decoding.graphs import graph_decode, sample_chooser
from rnnkit.decoding.greedy import decode_one_path


def filter_logits(log_probs: Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> Tensor:
    """Scale by ``1 / temperature`` and set to ``-inf`` every token outside the top-k / top-p set.

    top-p keeps the smallest set of most probable tokens whose probability mass reaches ``top_p``
    (Holtzman et al. 2020, sec. 3.1); the most probable token is always kept.

    Shape: ``(B, V) -> (B, V)``.
    """
    logits = log_probs / temperature
    V = logits.shape[-1]
    if top_k is not None and top_k < V:
        top = logits.topk(top_k, dim=-1).indices  # (B, k); exactly k kept, even with ties
        keep = torch.zeros_like(logits, dtype=torch.bool).scatter(1, top, True)
        logits = logits.masked_fill(~keep, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # mass of the strictly better tokens
        drop_sorted = mass_before >= top_p
        drop_sorted[:, 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _check(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; use greedy() for arg-max decoding")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 (or None for no limit), got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (or None), got {top_p}")


@torch.no_grad()
def sample(decoder: Decoder, state: Any, *, bos: int, eos: int, max_length: int,
           temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None, banned: Sequence[int] | None = None) -> Generated:
    """Draw one sequence per batch entry from the decoder's distribution.

    Args:
        decoder, state, bos, eos, max_length: as in :func:`~rnnkit.decoding.greedy`.
        temperature: > 0; below 1 sharpens, above 1 flattens the distribution.
        top_k: sample only among the ``k`` most probable tokens.
        top_p: sample only among the smallest set of tokens whose mass reaches ``p``.
        generator: a seeded ``torch.Generator`` (on the decoder's device) for reproducible draws.
        banned: token ids never drawn (decoding/ban.py): masked before the temperature, top-k and
            top-p, so those pick among the tokens left and the draw renormalises over them.

    Returns:
        :class:`Generated` with ``n_best = 1``; scores are the sums of the decoder's own
        (unfiltered, unbanned) log-probs of the drawn tokens.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> out = sample(dec, state, bos=2, eos=3, max_length=20, top_p=0.9, generator=g)
    """
    check_decode_args(bos=bos, eos=eos, max_length=max_length)  # before the CUDA graph path reads them
    _check(temperature, top_k, top_p)
    ban = TokenBan(banned)
    # replayed from a CUDA graph for decoders with graph_step = True (decoding/graphs.py), else eager
    draw = sample_chooser(temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
    graphed = graph_decode(decoder, state, lambda log_probs: draw(ban(log_probs)),
                           bos=bos, eos=eos, max_length=max_length, generator=generator)
    if graphed is not None:
        return graphed

    def choose(log_probs: Tensor) -> Tensor:
        logits = filter_logits(ban(log_probs), temperature=temperature, top_k=top_k, top_p=top_p)
        probs = logits.softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return decode_one_path(decoder, state, choose, bos=bos, eos=eos, max_length=max_length)
