"""Banned tokens: ids that a strategy never chooses (OpenNMT's ``-ban_unk_token``, for any ids).

Every strategy takes ``banned``: the log-probs of those ids are set to ``-inf`` at every step
before greedy takes its arg-max, before sampling filters and draws (so top-k and top-p pick among,
and renormalise over, the tokens left) and before beam search scores its extensions. A score stays
the sum of the decoder's own log-probs of the chosen tokens: the ban removes choices, it does not
rescale what is left. Ids outside the vocabulary are ignored by the strategies (no step could choose
them; the vocabulary is known only then), and refused by a model's ``generate`` (:func:`config_ban`,
which knows it); banning every id of the vocabulary is a ``ValueError`` at the first step.

The models' ``generate`` build their ban with :func:`output_ban`: ``<pad>`` and ``bos`` always (they
are never outputs), ``<unk>`` on request (``ban_unk=True``, off by default as OpenNMT's).

Example:
    >>> out = greedy(decoder, state, bos=2, eos=3, max_length=20, banned=[1])  # never <unk>
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding.base import PAD_ID, Generated

NEG_INF = float("-inf")


def ban_ids(banned: Sequence[int] | Tensor | None) -> list[int]:
    """``banned`` as a list of Python ints: None, a sequence of ids, a tensor or a numpy array (of any
    shape; its truth value is never asked, which is ambiguous for more than one element)."""
    if banned is None:
        return []
    if isinstance(banned, Tensor):
        return [int(i) for i in banned.reshape(-1).tolist()]
    if hasattr(banned, "ravel"):  # a numpy array
        return [int(i) for i in banned.ravel().tolist()]
    return [int(i) for i in banned]


class TokenBan:
    """The ids to mask, applied to each step's ``(B, V)`` log-probs by calling it.

    Args:
        banned: token ids (>= 0), or None / empty for no ban.

    Example:
        >>> ban = TokenBan([1])
        >>> ban(torch.zeros(2, 5))[:, 1]
        tensor([-inf, -inf])
    """

    def __init__(self, banned: Sequence[int] | None) -> None:
        ids = sorted(set(ban_ids(banned)))
        if ids and ids[0] < 0:
            raise ValueError(f"banned token ids must be >= 0, got {ids[0]}")
        self.ids: tuple[int, ...] = tuple(ids)
        self._index: Tensor | None = None  # built once per device, before any CUDA graph capture reads it

    def __bool__(self) -> bool:
        return bool(self.ids)

    def in_vocab(self, vocab_size: int) -> list[int]:
        """The banned ids a vocabulary of ``vocab_size`` holds; raises when that is every id."""
        ids = [i for i in self.ids if i < vocab_size]
        if len(ids) >= vocab_size:
            raise ValueError(f"every token of the vocabulary ({vocab_size} ids) is banned, so no token can be "
                             f"generated; ban fewer tokens (banned: {list(self.ids)})")
        return ids

    def __call__(self, log_probs: Tensor) -> Tensor:
        """``log_probs`` ``(B, V)`` with the banned columns at ``-inf`` (itself when nothing is banned)."""
        if not self.ids:
            return log_probs
        ids = self.in_vocab(log_probs.shape[-1])
        if not ids:
            return log_probs
        if self._index is None or self._index.device != log_probs.device or self._index.numel() != len(ids):
            self._index = torch.tensor(ids, dtype=torch.long, device=log_probs.device)
        return log_probs.index_fill(1, self._index, NEG_INF)

    def hit(self, out: Generated) -> bool:
        """Whether a hypothesis of ``out`` (decoded without the ban) holds a banned id within its length.

        Where none does, decoding greedily with the ban chooses the same tokens: each arg-max was
        allowed, and masking other tokens cannot change it. The fast greedy paths rely on this.
        """
        if not self.ids or out.tokens.shape[-1] == 0:
            return False
        ids = torch.tensor(self.ids, dtype=out.tokens.dtype, device=out.tokens.device)
        steps = torch.arange(out.tokens.shape[-1], device=out.tokens.device)
        valid = steps < out.lengths.unsqueeze(-1)  # (B, n_best, L)
        return bool((torch.isin(out.tokens, ids) & valid).any())


def output_ban(*, bos: int, eos: int, unk: int | None = None, banned: Sequence[int] | None = None) -> list[int]:
    """The ids a model's ``generate`` bans: ``<pad>`` and ``bos`` always, ``unk`` when given
    (``ban_unk=True``), and ``banned``.

    ``<pad>`` and ``bos`` are never outputs: pad is what fills ``Generated.tokens`` past each length
    (and a vocabulary's ``decode`` drops both), bos only starts a sequence; no training target holds
    either, so only a barely trained model puts its arg-max there, and its output then read as empty.
    Neither is banned where it is ``eos`` itself.

    Raises: ``ValueError`` when ``unk`` or ``banned`` holds ``eos``: no sequence could end.
    """
    asked = ([] if unk is None else [unk]) + ban_ids(banned)
    if eos in asked:
        what = f"ban_unk (unk id {unk})" if unk == eos else "banned"
        raise ValueError(f"{what} would ban eos ({eos}), and no sequence could end; leave eos out of the ban")
    return sorted({i for i in (PAD_ID, bos) if i != eos} | set(asked))


def config_ban(config: Any, *, ban_unk: bool = False, banned: Sequence[int] | None = None) -> list[int]:
    """:func:`output_ban` for a model whose ``config`` holds ``bos_id`` and ``eos_id``, its ``<unk>``
    the vocabulary's (``Vocab.unk_id``): what ``generate(..., ban_unk=, banned=)`` bans."""
    from rnnkit.data.vocab import Vocab

    check_in_vocab(banned, getattr(config, "vocab_size", None) or getattr(config, "tgt_vocab_size", None))
    return output_ban(bos=config.bos_id, eos=config.eos_id, unk=Vocab.unk_id if ban_unk else None, banned=banned)


def check_in_vocab(banned: Sequence[int] | None, vocab_size: int | None) -> None:
    """A ValueError for a ``banned`` id that a vocabulary of ``vocab_size`` ids lacks (where the size is
    known: a model's ``generate``). The strategies ignore such ids, since no step could choose them,
    but asked of a model they are a mistake (another vocabulary's id, an off-by-one) that would leave
    the token meant unbanned."""
    if vocab_size is None:
        return
    outside = sorted({i for i in ban_ids(banned) if i >= vocab_size})
    if outside:
        raise ValueError(f"banned token id {outside[0]} is outside the vocabulary of {vocab_size} ids (0 to "
                         f"{vocab_size - 1}); ban ids of the vocabulary this model generates from")


__all__ = ["TokenBan", "ban_ids", "check_in_vocab", "config_ban", "output_ban"]
