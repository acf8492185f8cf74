"""What every decoding strategy shares: the Decoder protocol, the Generated result, scoring.

A decoder is anything with ``step(tokens, state) -> (log_probs, state)`` and
``reorder(state, index) -> state``. The strategies (greedy, sample, beam search) never look inside
``state``: it may hold recurrent state, encoder outputs, masks, or nothing at all.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

PAD_ID = 0  # what fills ``Generated.tokens`` past each hypothesis' length (the Vocab pad id)


@runtime_checkable
class Decoder(Protocol):
    """One step of a generator, plus a way to select batch entries of its state.

    ``step(tokens, state)``: tokens ``(B,)`` int64 (the previous token; ``bos`` first) ->
    ``(log_probs (B, V), state)``. ``reorder(state, index)``: keeps / repeats batch entries by a
    ``(B',)`` int64 index, whatever the state holds (recurrent state, encoder outputs, masks).

    A decoder may also define ``batch_size(state) -> int``; without it the batch size is found by
    reordering the state to one entry and seeing which tensor dimension shrinks (``infer_batch``).
    """

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]: ...

    def reorder(self, state: Any, index: Tensor) -> Any: ...


@dataclass
class Generated:
    """Generated sequences, best first.

    Shape:
        tokens: ``(B, n_best, L)`` int64, without ``bos``; positions past each length hold 0.
        lengths: ``(B, n_best)`` int64, counting the final ``eos`` when one was produced (a
            hypothesis cut at ``max_length`` has length ``max_length`` and no eos).
        scores: ``(B, n_best)`` float: the sum of the token log-probs (eos included), divided by
            ``((5 + length) / 6) ** length_penalty`` (GNMT; greedy and sample use no penalty).

    Example:
        >>> out = greedy(decoder, state, bos=2, eos=3, max_length=20)
        >>> first = out.tokens[0, 0, : out.lengths[0, 0]].tolist()
    """

    tokens: Tensor
    lengths: Tensor
    scores: Tensor

    @property
    def n_best(self) -> int:
        return int(self.tokens.shape[1])

    def sequences(self, *, strip_eos: bool = True, eos: int | None = None) -> list[list[list[int]]]:
        """Python lists ``[batch][n_best] -> token ids`` cut at each length (and the eos dropped
        when ``strip_eos`` and ``eos`` is given)."""
        out: list[list[list[int]]] = []
        for toks_b, lens_b in zip(self.tokens.tolist(), self.lengths.tolist()):
            row = []
            for toks, n in zip(toks_b, lens_b):
                seq = toks[:n]
                if strip_eos and eos is not None and seq and seq[-1] == eos:
                    seq = seq[:-1]
                row.append(seq)
            out.append(row)
        return out


def length_norm(lengths: Tensor | int, alpha: float) -> Tensor:
    """GNMT length normaliser ``((5 + length) / 6) ** alpha`` (Wu et al. 2016, eq. 14)."""
    lengths = torch.as_tensor(lengths, dtype=torch.float64)
    return ((5.0 + lengths) / 6.0) ** alpha


def _tensors(obj: Any) -> Iterator[Tensor]:
    """Every tensor inside a (nested) state, in a fixed order."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _tensors(getattr(obj, f.name))


def state_device(state: Any) -> torch.device:
    """The device of the first tensor in ``state`` (CPU when it holds none)."""
    return next((t.device for t in _tensors(state)), torch.device("cpu"))


def infer_batch(decoder: Decoder, state: Any) -> int:
    """The batch size ``B`` of ``state``.

    Uses ``decoder.batch_size(state)`` when the decoder has it; otherwise reorders the state to its
    first entry and returns the size of the first tensor dimension that shrank (1 when none did, or
    when the state holds no tensors).
    """
    size_fn = getattr(decoder, "batch_size", None)
    if callable(size_fn):
        return int(size_fn(state))
    before = list(_tensors(state))
    if not before:
        return 1
    index = torch.zeros(1, dtype=torch.long, device=before[0].device)
    after = list(_tensors(decoder.reorder(state, index)))
    for a, b in zip(before, after):
        if a.shape != b.shape:
            for n_a, n_b in zip(a.shape, b.shape):
                if n_a != n_b:
                    return int(n_a)
    return 1


def check_decode_args(*, bos: int, eos: int, max_length: int) -> tuple[int, int, int]:
    """Shared validation of the keyword arguments every strategy takes: integers (Python, numpy or a
    one-element integer tensor; ``max_length=3.0`` would fail later in ``range`` with a bare
    TypeError, ``bos=1.0`` fill a float token tensor), ``max_length >= 1`` and ids ``>= 0``.

    Returns: ``(bos, eos, max_length)`` as Python ints, which the strategies use from then on: a
    caller's tensor is neither kept (``torch.full`` takes no 1-element tensor) nor changed in place.
    """
    max_length = _check_integer("max_length", max_length)
    bos, eos = _check_integer("bos", bos), _check_integer("eos", eos)
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if bos < 0 or eos < 0:
        raise ValueError(f"bos and eos must be token ids >= 0, got bos={bos}, eos={eos}")
    return bos, eos, max_length


def _check_integer(name: str, value: Any) -> int:
    """``value`` as a Python int, or a ValueError naming ``name`` unless it is an integer
    (``operator.index`` takes it; a bool, though it is one to Python, is refused as the mistake it is here)."""
    try:
        number = operator.index(value)
        ok = not isinstance(value, bool)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer (a token count or id), got {value!r} ({type(value).__name__})")
    return int(number)


def check_log_probs(log_probs: Tensor, batch: int) -> Tensor:
    """``decoder.step`` must return ``(B, V)``; returned as float32 (or float64) for stable sums."""
    if log_probs.dim() != 2 or log_probs.shape[0] != batch:
        raise ValueError(f"decoder.step must return log_probs of shape (B={batch}, V), got "
                         f"{tuple(log_probs.shape)}; does reorder() keep every part of the state?")
    return log_probs if log_probs.dtype == torch.float64 else log_probs.float()


@torch.no_grad()
def score_sequences(decoder: Decoder, state: Any, targets: Tensor, *, bos: int,
                    lengths: Tensor | None = None, length_penalty: float = 0.0) -> Tensor:
    """Teacher-forced score of given sequences: what a strategy would report for them.

    Feeds ``bos`` then ``targets[:, :-1]`` and sums ``log p(targets[:, t])`` over each sequence's
    valid steps, divided by the GNMT penalty of its length.

    Args:
        decoder: a :class:`Decoder`; state: its initial state for the batch.
        targets: ``(B, L)`` int64 ids without bos (eos included where the sequence ended).
        bos: the start token. lengths: ``(B,)`` valid steps (all ``L`` when None).
        length_penalty: the GNMT alpha used by :func:`beam_search`.

    Returns: ``(B,)`` float scores.

    Example:
        >>> out = beam_search(dec, state, bos=2, eos=3, max_length=10)
        >>> score_sequences(dec, state, out.tokens[:, 0], bos=2, lengths=out.lengths[:, 0])
    """
    B, L = targets.shape
    if lengths is None:
        lengths = torch.full((B,), L, dtype=torch.long, device=targets.device)
    if int(lengths.max()) > L:
        raise ValueError(f"lengths go up to {int(lengths.max())} but targets have only {L} steps")
    tokens = torch.full((B,), bos, dtype=torch.long, device=targets.device)
    total = torch.zeros(B, dtype=torch.float64, device=targets.device)
    for t, target_t in enumerate(targets.unbind(1)):
        if t >= int(lengths.max()):
            break
        log_probs, state = decoder.step(tokens, state)
        log_probs = check_log_probs(log_probs, B)
        picked = log_probs.gather(1, target_t.unsqueeze(1)).squeeze(1).double()  # (B,)
        total = total + torch.where(lengths > t, picked, torch.zeros_like(picked))
        tokens = target_t
    return total / length_norm(lengths, length_penalty).to(total.device)
