"""Greedy decoding: the most probable token at every step, until eos or ``max_length``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
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
from rnnkit.decoding.cpu_greedy import cpu_greedy
from rnnkit.decoding.fused_greedy import fused_greedy
from rnnkit.decoding.graphs import graph_decode

Chooser = Callable[[Tensor], Tensor]  # log_probs (B, V) -> next tokens (B,)


def decode_one_path(decoder: Decoder, state: Any, choose: Chooser, *, bos: int, eos: int,
                    max_length: int) -> Generated:
    """Run ``decoder`` one token at a time, picking each token with ``choose``.

    The loop behind :func:`greedy` and :func:`sample`. A finished sequence is fed ``eos`` (its
    output is ignored) until every sequence of the batch has finished or ``max_length`` is reached.
    The score is the sum of the decoder's log-probs of the chosen tokens, eos included.

    Returns: :class:`Generated` with ``n_best = 1``.
    """
    bos, eos, max_length = check_decode_args(bos=bos, eos=eos, max_length=max_length)
    B = infer_batch(decoder, state)
    device = state_device(state)
    tokens = torch.full((B,), bos, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    lengths = torch.full((B,), max_length, dtype=torch.long, device=device)
    scores = torch.zeros(B, device=device)
    chosen: list[Tensor] = []
    for t in range(max_length):
        log_probs, state = decoder.step(tokens, state)
        log_probs = check_log_probs(log_probs, B)
        nxt = choose(log_probs)  # (B,)
        picked = log_probs.gather(1, nxt.unsqueeze(1)).squeeze(1)  # (B,)
        scores = scores + torch.where(finished, torch.zeros_like(picked), picked).to(scores.dtype)
        chosen.append(nxt.masked_fill(finished, PAD_ID))
        ends = (nxt == eos) & ~finished
        lengths = torch.where(ends, torch.full_like(lengths, t + 1), lengths)
        finished = finished | ends
        if bool(finished.all()):
            break
        tokens = nxt.masked_fill(finished, eos)
    out = torch.stack(chosen, dim=1)  # (B, L)
    return Generated(tokens=out.unsqueeze(1), lengths=lengths.unsqueeze(1), scores=scores.unsqueeze(1))


@torch.no_grad()
def greedy(decoder: Decoder, state: Any, *, bos: int, eos: int, max_length: int,
           precision: str = "full", fused: bool = False, banned: Sequence[int] | None = None) -> Generated:
    """Greedy decoding: take the arg-max token at each step (among the tokens not ``banned``).

    Args:
        decoder: a :class:`~rnnkit.decoding.base.Decoder` (``step`` and ``reorder``).
        state: the decoder's initial state for a batch of ``B`` sequences.
        bos: the first token fed to the decoder. eos: the token that ends a sequence.
        max_length: the most tokens generated per sequence (eos included).
        precision: ``"full"``, or ``"bfloat16"`` / ``"int8"`` for CPU token LSTMs (opt-in; float32
            models): the C++ loop reads bfloat16 or int8 weights, a half or a quarter of the bytes per
            token (decoding/cpu_greedy.py; ``"int8"`` quantizes as ``Recurrent.stream`` does).
        fused: decode a token LSTM in ``L`` Triton kernels per token (the head fused into the top
            layer's), replayed from a CUDA graph that is kept for the next call
            (decoding/fused_greedy.py; opt-in until its speed is measured on a GPU). Raises where it
            cannot run.
        banned: token ids never chosen (decoding/ban.py): their log-probs are ``-inf`` at every step.
            The C++ and Triton loops know no ban: they decode as usual, and where one of their
            outputs holds a banned id the decode runs again on the eager path with the ban (in
            float32, with a warning, where ``precision`` was not ``"full"``).

    Returns:
        :class:`Generated`: tokens ``(B, 1, L)`` without bos, lengths ``(B, 1)`` counting eos,
        scores ``(B, 1)`` the summed log-probs.

    Example:
        >>> out = greedy(model.decoder, model.init_state(batch), bos=2, eos=3, max_length=30)
        >>> out.tokens.shape  # (B, 1, L)
    """
    # Python ints from here on, before a fast path reads them (a caller's tensor is never changed)
    bos, eos, max_length = check_decode_args(bos=bos, eos=eos, max_length=max_length)
    ban = TokenBan(banned)
    # in one C++ call for CPU token LSTMs that opt in (decoding/cpu_greedy.py); replayed from a CUDA
    # graph for decoders with graph_step = True (decoding/graphs.py); else eager. A ban leaves the
    # fast loops' result alone unless it chose a banned id (TokenBan.hit: then nothing else changes).
    if fused:
        if precision != "full":
            raise ValueError("fused=True decodes in float32; precision must be 'full'")
        out = fused_greedy(decoder, state, bos=bos, eos=eos, max_length=max_length)
        if out is None:
            raise ValueError("fused=True needs a token LSTM decoder (embedding -> LSTM stack -> linear head) "
                             "without layer norm, zoneout or active dropout, float32 weights and state on a "
                             "CUDA device (or Triton's interpreter), no context and no prompt")
        if not ban.hit(out):
            return out
    else:
        out = cpu_greedy(decoder, state, bos=bos, eos=eos, max_length=max_length, precision=precision)
        if out is not None and not ban.hit(out):
            return out
        if out is not None and precision != "full":
            warnings.warn(f"precision={precision!r} decodes in C++, which cannot ban tokens, and it chose a banned "
                          f"one (banned: {list(ban.ids)}): decoding again in float32 with the ban", stacklevel=2)

    def choose(log_probs: Tensor) -> Tensor:
        return ban(log_probs).argmax(dim=-1)

    out = graph_decode(decoder, state, choose, bos=bos, eos=eos, max_length=max_length)
    return out if out is not None else decode_one_path(decoder, state, choose, bos=bos, eos=eos,
                                                       max_length=max_length)
