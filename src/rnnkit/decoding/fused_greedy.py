"""Greedy decoding of a token LSTM in ``L`` Triton kernels per token (``ops/triton_decode.py``; ``L + 1``
with the head apart), replayed from a CUDA graph ``per_graph`` tokens at a time.

Opt-in (``greedy(..., fused=True)``) until its speed is measured on a GPU: the default CUDA path is
``decoding/graphs.py``, which replays the decoder's own ``step`` (about 45 kernels per token). A
decoder that can describe itself as *embedding -> LSTM stack -> linear head* defines
``fused_greedy_plan(state) -> FusedGreedyPlan | None`` (the token generators of
``models/one_to_many.py`` do). Results follow ``decode_one_path`` (decoding/greedy.py): the same
tokens (sums run in another order, so a near-tie may break the other way), lengths, and scores equal
to float rounding. Off CUDA the kernels run through Triton's interpreter (``TRITON_INTERPRET=1``,
for the tests), one token at a time. The kernels ban no token: :func:`greedy` given ``banned`` keeps
their result only where it chose no banned id, and decodes again with the ban where it did.

**The graph is kept.** Capturing costs far more than a token (each kernel launched once from Python,
then the graph instantiated), so a decode's buffers and graph are kept for the next call with the same
decoder, batch size, ``max_length``, ``bos``, ``eos`` and tiles — as long as the weights it read are
the same tensors, unchanged (their ``data_ptr`` and version counter, from ``FusedGreedyPlan.sources``;
an optimizer step or ``load_state_dict`` bumps the version, so a trained model is captured again). A
call then writes its initial state into the kept buffers and replays. A plan without ``sources``
is captured anew at every call. The host reads ``finished`` once per ``check_every`` tokens, one
replay late, so the GPU always has the next replay queued (``replay_until_done``).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.decoding.base import PAD_ID, Generated, check_decode_args
from rnnkit.decoding.graphs import cut_result, replay_until_done

KEPT_PER_DECODER = 4  # captured graphs kept per decoder (the most recently used)


class FusedGreedyPlan(NamedTuple):
    """The weights and the initial state the kernels read."""

    embedding: Tensor  # (V_in, E): row ``t`` is fed for token ``t``
    layers: list[tuple[Tensor, Tensor, Tensor | None]]  # per layer: W_ih (4H, I), W_hh (4H, H), b_ih + b_hh
    head_weight: Tensor  # (V, H)
    head_bias: Tensor | None
    batch: int
    h: Tensor | None  # (L, B, H), or None for zeros
    c: Tensor | None
    sources: tuple[Tensor, ...] = ()  # the parameters read, whose identity and version key a kept graph


def interpreting() -> bool:
    """Whether Triton runs its interpreter (``TRITON_INTERPRET=1`` when triton was imported)."""
    try:
        import triton
    except ImportError:
        return False
    return bool(triton.knobs.runtime.interpret)


class _Decode:
    """One decode's static buffers, the plan they read, and (on CUDA) its captured graph."""

    def __init__(self, plan: FusedGreedyPlan, *, bos: int, eos: int, max_length: int, k: int,
                 tiles: dict[str, int]) -> None:
        from rnnkit.ops import triton_decode as td

        self.plan, self.bos, self.eos, self.max_length, self.k, self.tiles = plan, bos, eos, max_length, k, tiles
        B, L = plan.batch, len(plan.layers)
        H = plan.layers[0][1].shape[1]
        V = plan.head_weight.shape[0]
        device, dtype = plan.head_weight.device, plan.head_weight.dtype
        self.h_in = torch.zeros(L, B, H, device=device, dtype=dtype)
        self.c_in, self.h_out, self.c_out = (torch.zeros_like(self.h_in) for _ in range(3))
        self.tokens = torch.full((B,), bos, dtype=torch.int64, device=device)
        self.finished = torch.zeros(B, dtype=torch.int8, device=device)
        self.lengths = torch.full((B,), max_length, dtype=torch.int64, device=device)
        self.scores = torch.zeros(B, dtype=torch.float32, device=device)
        self.out = torch.full((B, max_length + k - 1), PAD_ID, dtype=torch.int64, device=device)  # room past the end
        self.t = torch.zeros(1, dtype=torch.int64, device=device)
        self.fused_head = bool(tiles["fused_head"])
        if self.fused_head:
            self.part = torch.zeros(B, td.top_shares(H, tiles["bu"]), V, device=device, dtype=torch.float32)
            self.count = torch.zeros(1, dtype=torch.int32, device=device)
        self.graph: Any = None

    def reset(self, plan: FusedGreedyPlan) -> None:
        """Start a decode from ``plan``'s initial state (the weights are the ones captured)."""
        for buf, init in ((self.h_in, plan.h), (self.c_in, plan.c)):
            if init is None:
                buf.zero_()
            else:
                buf.copy_(init)
        self.tokens.fill_(self.bos)
        self.finished.zero_()
        self.lengths.fill_(self.max_length)
        self.scores.zero_()
        self.out.fill_(PAD_ID)
        self.t.zero_()

    def token(self) -> None:
        from rnnkit.ops.triton_decode import head_choose, layer_step, top_step

        plan, tiles = self.plan, self.tiles
        L = len(plan.layers)
        for l, (w_ih, w_hh, bias) in enumerate(plan.layers):
            x = plan.embedding if l == 0 else self.h_out[l - 1]
            args = (x, self.tokens, w_ih, w_hh, bias, self.h_in[l], self.c_in[l], self.h_out[l], self.c_out[l])
            if l == L - 1 and self.fused_head:
                top_step(*args, w_head=plan.head_weight, b_head=plan.head_bias, part=self.part, count=self.count,
                         finished=self.finished, lengths=self.lengths, scores=self.scores, out=self.out, t=self.t,
                         state=(self.h_in, self.c_in, self.h_out, self.c_out), max_length=self.max_length,
                         eos=self.eos, pad=PAD_ID, from_tokens=l == 0, bu=tiles["bu"], bk=tiles["bk"],
                         bv=tiles["bv"])
            else:
                layer_step(*args, from_tokens=l == 0, bu=tiles["bu"], bk=tiles["bk"])
        if not self.fused_head:
            head_choose(self.h_out[L - 1], plan.head_weight, plan.head_bias, self.tokens, self.finished,
                        self.lengths, self.scores, self.out, self.t, self.h_in, self.c_in, self.h_out, self.c_out,
                        max_length=self.max_length, eos=self.eos, pad=PAD_ID, bv=tiles["bv"], bk=tiles["head_bk"])

    def capture(self) -> None:
        """Run one token eagerly (Triton compiles here, not inside a capture), then capture ``k``."""
        self.token()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(self.k):
                self.token()
        self.graph = graph

    def result(self) -> Generated:
        out = cut_result(self.out, self.lengths, self.scores.to(torch.get_default_dtype()), self.finished,
                         int(self.t), self.max_length)
        return Generated(out.tokens.clone(), out.lengths.clone(), out.scores.clone())  # the buffers are kept


_KEPT: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], _Decode]] = weakref.WeakKeyDictionary()


def _key(plan: FusedGreedyPlan, **how: Any) -> tuple[Any, ...] | None:
    if not plan.sources:
        return None
    try:
        weights = tuple((w.data_ptr(), w._version, tuple(w.shape)) for w in plan.sources)
    except RuntimeError:  # an inference tensor keeps no version: nothing is kept
        return None
    return (plan.batch, plan.head_weight.device, *sorted(how.items()), weights)


def _kept(decoder: Any) -> OrderedDict[tuple[Any, ...], _Decode] | None:
    try:
        return _KEPT.setdefault(decoder, OrderedDict())
    except TypeError:  # not weakly referable: nothing is kept
        return None


def fused_greedy(decoder: Any, state: Any, *, bos: int, eos: int, max_length: int,
                 tokens_per_graph: int | None = None, check_every: int = 16) -> Generated | None:
    """Greedy decoding through the fused kernels, or None where ``decoder`` has no plan for ``state``
    (or the kernels cannot run: no triton, or CPU tensors without the interpreter). Tiles and
    ``tokens_per_graph`` (default: ``per_graph``) come from ``ops.triton_decode.TILES``."""
    planner = getattr(decoder, "fused_greedy_plan", None)
    plan: FusedGreedyPlan | None = None if planner is None else planner(state)
    if plan is None:
        return None
    device = plan.head_weight.device
    if device.type != "cuda" and not interpreting():
        return None
    bos, eos, max_length = check_decode_args(bos=bos, eos=eos, max_length=max_length)
    from rnnkit.ops import triton_decode

    tiles = dict(triton_decode.TILES)
    k = tiles["per_graph"] if tokens_per_graph is None else tokens_per_graph
    if k < 1:
        raise ValueError(f"tokens_per_graph must be at least 1, got {k}")
    if device.type != "cuda":  # the interpreter is slow: no token to spare, and no graph
        run = _Decode(plan, bos=bos, eos=eos, max_length=max_length, k=1, tiles=tiles)
        run.reset(plan)
        while int(run.t) < max_length and not bool(run.finished.all()):
            run.token()
        return run.result()
    how = {"bos": bos, "eos": eos, "max_length": max_length, "k": k, "tiles": tuple(sorted(tiles.items()))}
    key = _key(plan, **how)
    kept = _kept(decoder) if key is not None else None
    run_ = kept.get(key) if kept is not None and key is not None else None
    if run_ is None:
        run_ = _Decode(plan, bos=bos, eos=eos, max_length=max_length, k=k, tiles=tiles)
        run_.reset(plan)
        run_.capture()
        if kept is not None and key is not None:
            kept[key] = run_
            while len(kept) > KEPT_PER_DECODER:
                kept.popitem(last=False)
    elif kept is not None and key is not None:
        kept.move_to_end(key)
    run_.reset(plan)
    replay_until_done(run_.graph.replay, run_.finished, done=0, max_length=max_length, per_replay=k,
                      check_every=max(check_every, k))
    return run_.result()
