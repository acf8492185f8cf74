"""Greedy decoding of a token LSTM on the CPU in one C++ call (``ops/cpu_stream.py``).

Eager greedy decoding at batch 1 spends most of each token in the framework: the embedding, every
layer's step, the head, the log-softmax, the arg-max and the bookkeeping are each a dispatch or
several. A decoder that can describe itself as *embedding -> LSTM stack -> linear head* opts in by
defining ``cpu_greedy_plan(state) -> CpuGreedyPlan | None`` (the token generators of
``models/one_to_many.py`` do); :func:`greedy` then calls :func:`cpu_greedy` first, which runs the
whole decode in ``GreedyLSTM`` and returns what the eager loop would: the same tokens (sums run in
another order, so a near-tie between two tokens may break the other way), lengths, and scores
equal to float rounding. It returns None, and greedy decodes eagerly, where the plan is None: not
on the CPU, dropout active, layer norm or zoneout, a batch over ``MAX_BATCH``, no C++ compiler.
The loop bans no token: :func:`greedy` given ``banned`` keeps its result only where it chose no
banned id (decoding/ban.py, ``TokenBan.hit``), and decodes again eagerly with the ban where it did.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.decoding.base import PAD_ID, Generated, check_decode_args
from rnnkit.ops.cpu_stream import GreedyLSTM, check_precision


class CpuGreedyPlan(NamedTuple):
    """What the C++ loop needs from a decoder and its state."""

    kernel: GreedyLSTM
    batch: int
    h: Tensor | None  # (L, B, H) or None for zeros
    c: Tensor | None
    context: Tensor | None = None  # (B, C) fed beside each token's embedding
    pending: Tensor | None = None  # (B, V) log-probs of the first token, already known


def cpu_greedy(decoder: Any, state: Any, *, bos: int, eos: int, max_length: int,
               precision: str = "full") -> Generated | None:
    """Greedy decoding in one C++ call, or None where ``decoder`` has no plan for ``state``.

    Results follow ``decode_one_path`` (decoding/greedy.py): a row's tokens after its eos are
    ``PAD_ID``, lengths count the eos, the output stops where every row has ended.
    ``precision="bfloat16"`` or ``"int8"`` (float32 models, opt-in) decodes with bfloat16 or int8
    weights (``GreedyLSTM``); it raises where the C++ loop cannot run rather than decode in float32.
    """
    check_precision(precision)
    planner = getattr(decoder, "cpu_greedy_plan", None)
    plan: CpuGreedyPlan | None = None if planner is None else planner(state)
    if plan is None:
        if precision != "full":
            raise ValueError(f"precision={precision!r} needs the C++ greedy loop, which cannot run here (a CPU "
                             "token LSTM in eval mode under torch.no_grad(), batch <= 8, a C++ compiler)")
        return None
    bos, eos, max_length = check_decode_args(bos=bos, eos=eos, max_length=max_length)
    kernel = plan.kernel.variant(precision)
    B = plan.batch
    first = torch.full((B,), bos, dtype=torch.int64)
    head_tokens = head_scores = None
    remaining = max_length
    if plan.pending is not None:  # the first token comes from the prompt's last step, not a new one
        # float64 models keep float64 (a 1e-9 tie between two tokens must not round away); others float32
        lp = plan.pending if plan.pending.dtype == torch.float64 else plan.pending.to(torch.float32)
        first = lp.argmax(-1)
        head_tokens, head_scores = first, lp.gather(1, first[:, None])[:, 0].double()
        remaining -= 1
    done0 = (first == eos) if head_tokens is not None else torch.zeros(B, dtype=torch.bool)
    if remaining > 0 and not bool(done0.all()):
        tokens, lengths, scores, steps = kernel.run(
            torch.where(done0, torch.full_like(first, eos), first), plan.h, plan.c, eos=eos, pad=PAD_ID,
            max_length=remaining, context=plan.context, skip=done0)
        tokens = tokens[:, :steps]
    else:
        tokens = torch.empty(B, 0, dtype=torch.int64)
        lengths = torch.full((B,), max(remaining, 0), dtype=torch.int64)
        scores = torch.zeros(B, dtype=torch.float64)
    if head_tokens is not None:
        assert head_scores is not None
        tokens = torch.cat([head_tokens[:, None], tokens], 1)
        lengths = torch.where(done0, torch.ones_like(lengths), lengths + 1)
        scores = scores + head_scores
    out_dtype = torch.get_default_dtype()
    return Generated(tokens=tokens.unsqueeze(1), lengths=lengths.unsqueeze(1),
                     scores=scores.to(out_dtype).unsqueeze(1))
