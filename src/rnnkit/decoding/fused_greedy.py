"""Greedy decoding of a token LSTM in ``L + 1`` Triton kernels per token (``ops/triton_decode.py``),
replayed from a CUDA graph ``tokens_per_graph`` tokens at a time.

Opt-in (``greedy(..., fused=True)``) until its speed is measured on a GPU: the default CUDA path is
``decoding/graphs.py``, which replays the decoder's own ``step`` (about 45 kernels per token). A
decoder that can describe itself as *embedding -> LSTM stack -> linear head* defines
``fused_greedy_plan(state) -> FusedGreedyPlan | None`` (the token generators of
``models/one_to_many.py`` do). Results follow ``decode_one_path`` (decoding/greedy.py): the same
tokens (sums run in another order, so a near-tie may break the other way), lengths, and scores equal
to float rounding. Off CUDA the kernels run through Triton's interpreter (``TRITON_INTERPRET=1``,
for the tests), one token at a time. The kernels ban no token: :func:`greedy` given ``banned`` keeps
their result only where it chose no banned id, and decodes again with the ban where it did.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.decoding.base import PAD_ID, Generated, check_decode_args
from rnnkit.decoding.graphs import cut_result, replay_until_done


class FusedGreedyPlan(NamedTuple):
    """The weights and the initial state the kernels read."""

    embedding: Tensor  # (V_in, E): row ``t`` is fed for token ``t``
    layers: list[tuple[Tensor, Tensor, Tensor | None]]  # per layer: W_ih (4H, I), W_hh (4H, H), b_ih + b_hh
    head_weight: Tensor  # (V, H)
    head_bias: Tensor | None
    batch: int
    h: Tensor | None  # (L, B, H), or None for zeros
    c: Tensor | None


def interpreting() -> bool:
    """Whether Triton runs its interpreter (``TRITON_INTERPRET=1`` when triton was imported)."""
    try:
        import triton
    except ImportError:
        return False
    return bool(triton.knobs.runtime.interpret)


def fused_greedy(decoder: Any, state: Any, *, bos: int, eos: int, max_length: int,
                 tokens_per_graph: int = 16, check_every: int = 16) -> Generated | None:
    """Greedy decoding through the fused kernels, or None where ``decoder`` has no plan for ``state``
    (or the kernels cannot run: no triton, or CPU tensors without the interpreter)."""
    planner = getattr(decoder, "fused_greedy_plan", None)
    plan: FusedGreedyPlan | None = None if planner is None else planner(state)
    if plan is None:
        return None
    device = plan.head_weight.device
    if device.type != "cuda" and not interpreting():
        return None
    check_decode_args(bos=bos, eos=eos, max_length=max_length)
    if tokens_per_graph < 1:
        raise ValueError(f"tokens_per_graph must be at least 1, got {tokens_per_graph}")
    from rnnkit.ops import triton_decode
    from rnnkit.ops.triton_decode import head_choose, layer_step

    B, L = plan.batch, len(plan.layers)
    H = plan.layers[0][1].shape[1]
    dtype = plan.head_weight.dtype
    k = tokens_per_graph if device.type == "cuda" else 1
    check_every = check_every if device.type == "cuda" else 1  # the interpreter is slow: no token to spare
    h_in = torch.zeros(L, B, H, device=device, dtype=dtype) if plan.h is None else plan.h.to(dtype).clone()
    c_in = torch.zeros(L, B, H, device=device, dtype=dtype) if plan.c is None else plan.c.to(dtype).clone()
    h_out, c_out = torch.empty_like(h_in), torch.empty_like(c_in)
    tokens = torch.full((B,), bos, dtype=torch.int64, device=device)
    finished = torch.zeros(B, dtype=torch.int8, device=device)
    lengths = torch.full((B,), max_length, dtype=torch.int64, device=device)
    scores = torch.zeros(B, dtype=torch.float32, device=device)
    out = torch.full((B, max_length + k - 1), PAD_ID, dtype=torch.int64, device=device)  # room past the end
    t = torch.zeros(1, dtype=torch.int64, device=device)

    tiles = dict(triton_decode.TILES)

    def token() -> None:
        for l, (w_ih, w_hh, bias) in enumerate(plan.layers):
            layer_step(plan.embedding if l == 0 else h_out[l - 1], tokens, w_ih, w_hh, bias, h_in[l], c_in[l],
                       h_out[l], c_out[l], from_tokens=l == 0, bu=tiles["bu"], bk=tiles["bk"])
        head_choose(h_out[L - 1], plan.head_weight, plan.head_bias, tokens, finished, lengths, scores, out, t,
                    h_in, c_in, h_out, c_out, max_length=max_length, eos=eos, pad=PAD_ID, bv=tiles["bv"],
                    bk=tiles["head_bk"])

    token()  # the first token eagerly: Triton compiles here, not inside a capture
    if max_length > 1 and not bool(finished.all()):
        replay = token
        if device.type == "cuda":
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(k):
                    token()
            replay = graph.replay
        replay_until_done(replay, finished, done=1, max_length=max_length, per_replay=k, check_every=check_every)
    return cut_result(out, lengths, scores.to(torch.get_default_dtype()), finished, int(t), max_length)
