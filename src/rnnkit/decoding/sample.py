"""Ancestral sampling with temperature, top-k and nucleus (top-p) filtering, seedable."""

from __future__ import annotations

import math
import operator
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

    Below 1, each row's best log-prob is subtracted first (the softmax is unchanged): divided by a tiny
    temperature (1e-40) every log-prob would overflow to ``-inf`` and the draw be NaN, where now the
    best token (ties share) keeps the mass, as greedy would. The temperature is clamped to the finite
    normal numbers of the dtype: past the largest every token not banned is equally likely, below the
    smallest the draw is that of the smallest (greedy, but for gaps of 1e-36 between log-probs).

    Shape: ``(B, V) -> (B, V)``.
    """
    info = torch.finfo(log_probs.dtype)
    if temperature < 1.0:
        best = log_probs.amax(dim=-1, keepdim=True)  # (B, 1); a row of -inf (all banned) is left alone
        log_probs = log_probs - torch.where(torch.isfinite(best), best, torch.zeros_like(best))
    logits = log_probs / min(max(float(temperature), info.tiny), info.max)
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


def _check(temperature: float, top_k: int | None, top_p: float | None) -> int | None:
    """Refuses bad sampling arguments with a message; returns ``top_k`` as a Python int (or None)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; use greedy() for arg-max decoding")
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be finite, got {temperature}; a large one (1e6, say) draws almost "
                         "uniformly among the tokens not banned")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (or None), got {top_p}")
    if top_k is None:
        return None
    try:
        k = operator.index(top_k)
    except TypeError:
        k = None
    if k is None or isinstance(top_k, bool):
        raise ValueError(f"top_k must be a positive integer (or None for no limit), got {top_k!r} "
                         f"({type(top_k).__name__})")
    if k < 1:
        raise ValueError(f"top_k must be >= 1 (or None for no limit), got {top_k}")
    return int(k)


@torch.no_grad()
def sample(decoder: Decoder, state: Any, *, bos: int, eos: int, max_length: int,
           temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None, banned: Sequence[int] | None = None) -> Generated:
    """Draw one sequence per batch entry from the decoder's distribution.

    Args:
        decoder, state, bos, eos, max_length: as in :func:`~rnnkit.decoding.greedy`.
        temperature: > 0 and finite; below 1 sharpens the distribution (more conservative), above 1
            flattens it (bolder). A tiny one (1e-40) draws as greedy chooses; ``inf`` is refused
            (``ValueError``): a large finite one draws almost uniformly among the tokens not banned.
        top_k: sample only among the ``k`` most probable tokens (a positive integer; not a bool).
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
    # Python ints from here on, before the CUDA graph path reads them
    bos, eos, max_length = check_decode_args(bos=bos, eos=eos, max_length=max_length)
    top_k = _check(temperature, top_k, top_p)
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
