"""Batched beam search over ``B x beam_size`` hypotheses at once (no Python loop over beams).

Each step scores every (beam, token) extension, keeps the ``2 * beam_size`` best, finalises the
eos extensions among the first ``beam_size`` of them (so a width of 1 is greedy) and continues
with the ``beam_size`` best non-eos extensions.

A batch entry is done when it has ``n_best`` finished hypotheses and no live beam can still reach a
better score than the ``n_best``-th of them. Log-probs only fall, so a live beam of sum ``s`` and
``n`` tokens reaches at most ``s / max(lp(n + 1), lp(max_length))`` with ``lp(L) = ((5 + L) / 6) **
length_penalty`` (eos counted in ``L``): the stop is exact, it never changes the hypotheses
returned. Holding ``beam_size`` finished ones is not enough: a live beam may still beat them all.
A width of 1 is exactly greedy, whatever the penalty: it stops at its first eos (the bound alone
would let a positive penalty go on past it to a longer hypothesis).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding.ban import TokenBan
from rnnkit.decoding.base import (
    PAD_ID,
    Decoder,
    Generated,
    check_decode_args,
    check_log_probs,
    infer_batch,
    state_device,
)

NEG_INF = float("-inf")


def banned_ngram_tokens(hyps: Tensor, n: int, vocab_size: int) -> Tensor:
    """Tokens that would repeat an n-gram already in each hypothesis.

    Args:
        hyps: ``(N, t)`` generated tokens so far (bos excluded). n: the n-gram size (>= 1).

    Returns: ``(N, V)`` bool, True where the next token would complete a seen n-gram.
    """
    N, t = hyps.shape
    banned = torch.zeros(N, vocab_size, dtype=torch.long, device=hyps.device)
    if t < n:  # no complete n-gram seen yet
        return banned.bool()
    if n == 1:
        return banned.scatter_add(1, hyps, torch.ones_like(hyps)) > 0
    grams = hyps.unfold(1, n, 1)  # (N, W, n): every n-gram seen so far
    prefix = hyps[:, t - n + 1:]  # (N, n-1): the tokens the next one would extend
    match = (grams[:, :, :-1] == prefix.unsqueeze(1)).all(dim=-1)  # (N, W)
    return banned.scatter_add(1, grams[:, :, -1], match.long()) > 0


def _merge(keep: int, scores: Tensor, tokens: Tensor, lengths: Tensor,
           new_scores: Tensor, new_tokens: Tensor, new_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Keep the ``keep`` best of two hypothesis pools per batch entry, best first.

    Shape: scores ``(B, K)``, tokens ``(B, K, M)``, lengths ``(B, K)``; the same for ``new_*``.
    """
    all_scores = torch.cat([scores, new_scores], dim=1)  # (B, K + K')
    best, idx = all_scores.topk(keep, dim=1)  # (B, keep)
    all_tokens = torch.cat([tokens, new_tokens], dim=1)
    all_lengths = torch.cat([lengths, new_lengths], dim=1)
    picked = all_tokens.gather(1, idx.unsqueeze(-1).expand(-1, -1, all_tokens.shape[-1]))
    return best, picked, all_lengths.gather(1, idx)


def _check(beam_size: int, n_best: int, min_length: int, max_length: int, no_repeat_ngram: int) -> None:
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    if min_length < 0 or min_length > max_length:
        raise ValueError(f"min_length must be in [0, max_length={max_length}], got {min_length}")
    if no_repeat_ngram < 0:
        raise ValueError(f"no_repeat_ngram must be >= 0 (0 turns it off), got {no_repeat_ngram}")


@torch.no_grad()
def beam_search(decoder: Decoder, state: Any, *, bos: int, eos: int, max_length: int,
                beam_size: int = 4, n_best: int = 1, length_penalty: float = 0.0,
                min_length: int = 0, no_repeat_ngram: int = 0, banned: Sequence[int] | None = None) -> Generated:
    """Beam search, batched over ``B x beam_size`` hypotheses.

    Args:
        decoder: a :class:`~rnnkit.decoding.base.Decoder`; state: its initial state for ``B`` entries
            (expanded here with ``reorder`` to ``B * beam_size``).
        bos, eos: start and end tokens. max_length: the most tokens per hypothesis (eos included).
        beam_size: live hypotheses per batch entry. n_best: hypotheses returned (<= beam_size).
        length_penalty: GNMT alpha; a score is ``sum log p / ((5 + length) / 6) ** alpha``, so
            alpha > 0 favours longer outputs. min_length: eos is forbidden before this many tokens.
        no_repeat_ngram: n > 0 forbids repeating any n-gram of generated tokens (bos excluded).
        banned: token ids no hypothesis holds (decoding/ban.py): ``-inf`` before every step's scoring.

    Returns:
        :class:`Generated`: tokens ``(B, n_best, L)``, lengths ``(B, n_best)`` counting eos,
        scores ``(B, n_best)``, best first; where fewer than ``n_best`` hypotheses exist, the rows
        past them have score ``-inf``, length 0 and padding. Hypotheses cut at ``max_length`` (no
        eos, scored at length ``max_length``) compete with the finished ones only in a batch entry
        still open at ``max_length``: one with too few finished hypotheses, or whose live beams
        could still beat them.

    Example:
        >>> out = beam_search(dec, state, bos=2, eos=3, max_length=30, beam_size=5, n_best=3)
        >>> out.scores[:, 0] >= out.scores[:, 1]
    """
    bos, eos, max_length = check_decode_args(bos=bos, eos=eos, max_length=max_length)
    _check(beam_size, n_best, min_length, max_length, no_repeat_ngram)
    ban = TokenBan(banned)
    alpha = float(length_penalty)
    B, K, M = infer_batch(decoder, state), beam_size, max_length
    device = state_device(state)
    N = B * K
    batch_ids = torch.arange(B, device=device)
    state = decoder.reorder(state, batch_ids.repeat_interleave(K))

    def norm(length: int) -> float:
        return float(((5.0 + length) / 6.0) ** alpha)

    tokens = torch.full((N,), bos, dtype=torch.long, device=device)
    beam_scores = torch.full((B, K), NEG_INF, device=device)
    beam_scores[:, 0] = 0.0  # all beams start identical: expand only the first
    hyps = torch.zeros(N, 0, dtype=torch.long, device=device)  # (N, t)
    fin_scores = torch.full((B, K), NEG_INF, device=device)
    fin_tokens = torch.full((B, K, M), PAD_ID, dtype=torch.long, device=device)
    fin_lengths = torch.zeros(B, K, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)

    for t in range(M):
        log_probs, state = decoder.step(tokens, state)
        log_probs = ban(check_log_probs(log_probs, N))
        V = log_probs.shape[-1]
        if t == 0 and min_length > 1 and len(ban.in_vocab(V)) + (0 <= eos < V) >= V:
            raise ValueError(f"min_length={min_length} forbids eos for the first steps, and every other token of "
                             f"the vocabulary ({V} ids) is banned (banned: {list(ban.ids)}): no hypothesis can "
                             "start; ban fewer tokens or lower min_length")
        if t + 1 < min_length:
            log_probs = log_probs.index_fill(1, torch.tensor([eos], device=device), NEG_INF)
        if no_repeat_ngram > 0:
            log_probs = log_probs.masked_fill(banned_ngram_tokens(hyps, no_repeat_ngram, V), NEG_INF)
        beam_scores = beam_scores.to(log_probs.dtype)
        cand = (beam_scores.reshape(N, 1) + log_probs).reshape(B, K * V)  # (B, K*V)
        top_scores, top_idx = cand.topk(min(2 * K, K * V), dim=1)  # (B, 2K)
        origin, token = top_idx // V, top_idx % V  # beam within entry, token id
        is_eos = token == eos

        # Finalise eos extensions among the first K candidates of entries not yet done.
        fin_new = is_eos[:, :K] & torch.isfinite(top_scores[:, :K]) & ~done.unsqueeze(1)
        if bool(fin_new.any()):
            seqs = hyps.reshape(B, K, t).gather(1, origin[:, :K, None].expand(-1, -1, t))  # (B, K, t)
            seqs = torch.cat([seqs, torch.full((B, K, 1), eos, dtype=torch.long, device=device),
                              torch.full((B, K, M - t - 1), PAD_ID, dtype=torch.long, device=device)], dim=2)
            new_scores = torch.where(fin_new, top_scores[:, :K] / norm(t + 1),
                                     torch.full_like(top_scores[:, :K], NEG_INF)).to(fin_scores.dtype)
            new_lengths = torch.full((B, K), t + 1, dtype=torch.long, device=device)
            fin_scores, fin_tokens, fin_lengths = _merge(K, fin_scores, fin_tokens, fin_lengths,
                                                         new_scores, seqs, new_lengths)

        # Continue with the K best non-eos extensions.
        live_scores, pos = top_scores.masked_fill(is_eos, NEG_INF).topk(K, dim=1)  # (B, K)
        live_origin, live_token = origin.gather(1, pos), token.gather(1, pos)
        flat_origin = (batch_ids.unsqueeze(1) * K + live_origin).reshape(N)
        hyps = torch.cat([hyps[flat_origin], live_token.reshape(N, 1)], dim=1)  # (N, t+1)
        beam_scores, tokens = live_scores, live_token.reshape(N)

        if t + 1 < M:
            # Exact stop: the n_best-th finished score (-inf while fewer have finished) is at least
            # the best any live beam can still reach. Its sum only falls, and its length (eos
            # counted, or max_length if cut) is in [t + 2, M], where the penalty is largest at an end.
            reach = beam_scores[:, 0] / max(norm(t + 2), norm(M))  # (B,)
            done = done | (reach <= fin_scores[:, n_best - 1])
            if K == 1:  # width 1 is greedy (DESIGN.md), whatever the penalty: done at its first eos
                done = done | (fin_scores[:, 0] > NEG_INF)
        if bool(done.all()) or t + 1 == M:
            break
        state = decoder.reorder(state, flat_origin)

    # Entries still open compete with their live beams, cut at the current length.
    t_live = hyps.shape[1]
    live_seqs = torch.cat([hyps.reshape(B, K, t_live),
                           torch.full((B, K, M - t_live), PAD_ID, dtype=torch.long, device=device)], dim=2)
    live_final = torch.where(done.unsqueeze(1), torch.full_like(beam_scores, NEG_INF),
                             beam_scores / norm(t_live)).to(fin_scores.dtype)
    live_lengths = torch.full((B, K), t_live, dtype=torch.long, device=device)
    scores, seqs, lengths = _merge(n_best, fin_scores, fin_tokens, fin_lengths,
                                   live_final, live_seqs, live_lengths)
    # fewer than n_best hypotheses exist (a tiny vocabulary, a short max_length): the rows left over
    # are empty, not copies of pruned beams
    empty = torch.isneginf(scores)
    lengths = lengths.masked_fill(empty, 0)
    seqs = seqs.masked_fill(empty.unsqueeze(-1), PAD_ID)
    L = max(int(lengths.max()), 1) if lengths.numel() else 0  # an empty batch: (0, n_best, 0), as greedy's
    return Generated(tokens=seqs[:, :, :L].contiguous(), lengths=lengths, scores=scores)


__all__ = ["banned_ngram_tokens", "beam_search"]
