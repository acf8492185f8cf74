"""Greedy and sampling decode replayed from a captured CUDA graph: one launch per token.

Eager decoding at batch 1 is bound by launches: a decoder step of an LSTM is tens of small kernels,
and the loop around it adds its own (arg-max, gather, masks). Here the whole per-token work —
``decoder.step``, the choice of the next token, the score, the finished mask, the output column —
is one ``body`` over static buffers (fixed shapes; the state is copied back into its own buffers at
the end of the body), captured once with ``torch.cuda.graph`` and replayed for every later token.
The host looks at ``finished`` only every ``check_every`` tokens, so the GPU runs ahead.

**Opt-in.** A decoder whose ``step`` is capturable (tensor ops only, no ``.item()`` or other host
reads, the same state layout at every step) sets ``graph_step = True``. ``greedy`` and ``sample``
then call :func:`graph_decode` first; it returns None, and they run their eager loop, when the
state is not on CUDA, the decoder did not opt in, or capture fails.

Results equal the eager loop's (``decoding/greedy.py``): finished sequences are fed ``eos``, their
later tokens are padding and add nothing to the score, and the output is cut where every sequence
has finished. Sampling draws with the exponential race ``argmax(p / E)``, ``E ~ Exp(1)``, which is
an exact categorical draw that captures as one kernel; its draws differ from ``torch.multinomial``'s
for the same seed. A ban (``banned``, decoding/ban.py) is part of the ``choose`` that ``greedy`` and
``sample`` pass in, so it is captured with the rest; its index tensor is built on the first (eager)
warm-up token, before the capture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding.base import (
    PAD_ID,
    Decoder,
    Generated,
    _tensors,
    check_decode_args,
    check_log_probs,
    infer_batch,
    state_device,
)

Chooser = Callable[[Tensor], Tensor]  # log_probs (B, V) -> next tokens (B,)


def wants_graph(decoder: Any) -> bool:
    """Whether ``decoder`` opted in to graph-captured decoding (``graph_step = True``)."""
    return getattr(decoder, "graph_step", False) is True


def map_tensors(obj: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """``obj`` with every tensor inside (tuples, named tuples, lists, dicts, dataclasses) replaced by ``fn``."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(map_tensors(o, fn) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(map_tensors(o, fn) for o in obj)
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: map_tensors(getattr(obj, f.name), fn)
                                           for f in dataclasses.fields(obj) if f.init})
    return obj


def sample_chooser(*, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                   generator: torch.Generator | None = None) -> Chooser:
    """A capturable categorical draw: ``argmax(p / E)`` with ``E ~ Exp(1)`` (the exponential race)."""
    from rnnkit.decoding.sample import filter_logits

    def choose(log_probs: Tensor) -> Tensor:
        probs = filter_logits(log_probs, temperature=temperature, top_k=top_k, top_p=top_p).softmax(-1)
        race = torch.empty_like(probs).exponential_(generator=generator)
        return (probs / race).argmax(-1)

    return choose


class StaticDecode:
    """The buffers and the per-token ``body`` of one decode (batch ``B``, at most ``max_length`` tokens).

    ``body()`` runs one token in place; it is what the CUDA graph captures, and it runs eagerly too
    (the CPU tests check it against the eager loop).
    """

    def __init__(self, decoder: Decoder, state: Any, choose: Chooser, *, bos: int, eos: int,
                 max_length: int, unroll: int = 1) -> None:
        if unroll < 1:
            raise ValueError(f"unroll must be at least 1, got {unroll}")
        self.decoder, self.choose, self.eos = decoder, choose, eos
        self.max_length, self.unroll = max_length, unroll
        self.B = infer_batch(decoder, state)
        device = state_device(state)
        self.state = map_tensors(state, lambda t: t.clone())  # own buffers: the body writes into them
        self.tokens = torch.full((self.B,), bos, dtype=torch.long, device=device)
        self.finished = torch.zeros(self.B, dtype=torch.bool, device=device)
        self.lengths = torch.full((self.B,), max_length, dtype=torch.long, device=device)
        self.scores = torch.zeros(self.B, device=device)
        # a graph of ``unroll`` tokens may run up to unroll - 1 tokens past max_length: room for them
        self.out = torch.full((self.B, max_length + unroll - 1), PAD_ID, dtype=torch.long, device=device)
        self.t = torch.zeros(1, dtype=torch.long, device=device)

    def stable(self, new_state: Any) -> bool:
        """Whether ``new_state`` has the layout of the buffers (so it can be copied back into them)."""
        old, new = list(_tensors(self.state)), list(_tensors(new_state))
        return len(old) == len(new) and all(a.shape == b.shape and a.dtype == b.dtype for a, b in zip(old, new))

    def body(self, adopt: bool = False) -> None:
        """One token. ``adopt``: take the step's state as the new buffers (eager steps while the
        layout may still change, e.g. a first step that consumes a prompt's pending log-probs)."""
        log_probs, new_state = self.decoder.step(self.tokens, self.state)
        log_probs = check_log_probs(log_probs, self.B)
        nxt = self.choose(log_probs)  # (B,)
        picked = log_probs.gather(1, nxt.unsqueeze(1)).squeeze(1)
        done = self.finished
        if self.unroll > 1:  # tokens past max_length (the end of an unrolled graph) count for nothing
            done = done | (self.t >= self.max_length)
        self.scores.add_(picked.masked_fill(done, 0.0).to(self.scores.dtype))
        self.out.index_copy_(1, self.t, nxt.masked_fill(done, PAD_ID).unsqueeze(1))
        ends = (nxt == self.eos) & ~done
        self.lengths.copy_(torch.where(ends, self.t + 1, self.lengths))
        self.finished.logical_or_(ends)
        self.tokens.copy_(nxt.masked_fill(self.finished, self.eos))
        self.t.add_(1)
        if adopt:
            self.state = map_tensors(new_state, lambda t: t.clone())
        else:
            for buf, new in zip(_tensors(self.state), _tensors(new_state)):
                if buf is not new:
                    buf.copy_(new)

    def result(self) -> Generated:
        """The tokens cut where every sequence finished (as the eager loop stops there)."""
        return cut_result(self.out, self.lengths, self.scores, self.finished, int(self.t), self.max_length)

    def run_eager(self) -> Generated:
        """Every token through ``body`` without a graph."""
        for _ in range(self.max_length):
            self.body(adopt=True)
            if bool(self.finished.all()):
                break
        return self.result()


def graph_decode(decoder: Decoder, state: Any, choose: Chooser, *, bos: int, eos: int, max_length: int,
                 generator: torch.Generator | None = None, warmup: int = 2, check_every: int = 16,
                 tokens_per_graph: int = 1) -> Generated | None:
    """Decode with the per-token work replayed from a CUDA graph, or None to run the eager loop.

    ``warmup`` tokens run eagerly on a side stream (until the state layout is stable); then
    ``tokens_per_graph`` bodies are captured as one graph and replayed (more tokens per replay: fewer
    launches from the host; the tokens past ``max_length`` at the end count for nothing). None when
    the state is not on CUDA, the decoder did not set ``graph_step = True``, or capture fails (the
    caller's eager loop starts again from ``state``).
    """
    if not wants_graph(decoder) or state_device(state).type != "cuda":
        return None
    bos, eos, max_length = check_decode_args(bos=bos, eos=eos, max_length=max_length)
    if tokens_per_graph < 1:
        raise ValueError(f"tokens_per_graph must be at least 1, got {tokens_per_graph}")
    run = StaticDecode(decoder, state, choose, bos=bos, eos=eos, max_length=max_length, unroll=tokens_per_graph)
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):  # real tokens, eagerly; they also warm up the allocator
                run.body(adopt=True)
                if int(run.t) >= max_length or bool(run.finished.all()):
                    torch.cuda.current_stream().wait_stream(side)
                    return run.result()
            log_probs, probe = decoder.step(run.tokens.clone(), run.state)  # does the layout stay?
            del log_probs
            if not run.stable(probe):
                return None
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        if generator is not None:
            register = getattr(graph, "register_generator_state", None)
            if register is None:
                return None
            register(generator)
        with torch.cuda.graph(graph):
            for _ in range(tokens_per_graph):
                run.body()
    except RuntimeError:
        return None
    replay_until_done(graph.replay, run.finished, done=int(run.t), max_length=max_length,
                      per_replay=tokens_per_graph, check_every=check_every)
    return run.result()


def replay_until_done(replay: Callable[[], None], finished: Tensor, *, done: int, max_length: int,
                      per_replay: int, check_every: int) -> None:
    """Call ``replay`` (``per_replay`` tokens each) from ``done`` tokens until ``max_length``, reading
    ``finished`` on the host only once every ``check_every`` tokens, so the GPU runs ahead.

    On CUDA the read is one replay late: ``finished.all()`` is copied to pinned memory behind a
    replay, the next replay is queued, and only then does the host wait for the copy. The GPU never
    idles while the host looks; at worst one replay runs after every sequence has finished, and a
    finished sequence's tokens are padding that counts nowhere (``cut_result``)."""
    since_check = 0
    pending: tuple[Any, Tensor] | None = None  # (event, pinned flag) of a read not yet looked at
    flag = torch.empty((), dtype=torch.bool, pin_memory=True) if finished.is_cuda else None
    while done < max_length:
        replay()
        done += per_replay
        since_check += per_replay
        if pending is not None:
            event, seen = pending
            event.synchronize()
            pending = None
            if bool(seen):
                break
        if since_check >= check_every and done < max_length:
            since_check = 0
            if flag is None:
                if bool(finished.all()):
                    break
                continue
            flag.copy_(finished.all(), non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            pending = (event, flag)


def cut_result(out: Tensor, lengths: Tensor, scores: Tensor, finished: Tensor, steps: int,
               max_length: int) -> Generated:
    """The :class:`Generated` of static decode buffers after ``steps`` tokens: the output cut where
    every sequence finished (as the eager loop stops there), else at the tokens that count."""
    L = int(lengths.max()) if bool(finished.all()) else min(steps, max_length)
    return Generated(tokens=out[:, :L].unsqueeze(1), lengths=lengths.unsqueeze(1), scores=scores.unsqueeze(1))
