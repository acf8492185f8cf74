"""How an :class:`~rnnkit.models.ensemble.Ensemble` of generators decodes: the members' decoders as
one (:class:`EnsembleDecoder`, ``log mean_j p_j(token | prefix)``), the start of step-by-step
decoding for any generator or ensemble (:func:`decoding_start`), the call forms of
``Ensemble.generate`` (each a member's own signature) and what a generator's ``predict`` decodes
with (:func:`configured_method`).

Example:
    >>> decoder, state = decoding_start(model, batch)   # a Seq2Seq, generator, LM or an Ensemble
    >>> greedy(decoder, state, bos=1, eos=2, max_length=20)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.data.batch import Batch
from rnnkit.decoding.base import infer_batch
from rnnkit.models.many_to_many import Seq2Seq
from rnnkit.models.one_to_many import ConditionedGenerator, LanguageModel, prompt_tensor


class EnsembleDecoder:
    """The decoders of k generators as one: ``step`` returns ``log mean_j exp(log_probs_j)`` and
    carries a tuple of the members' states; ``reorder`` reorders each."""

    def __init__(self, decoders: Sequence[Any]) -> None:
        if not decoders:
            raise ValueError("EnsembleDecoder needs at least one decoder")
        self.decoders = list(decoders)

    def step(self, tokens: Tensor, state: tuple[Any, ...]) -> tuple[Tensor, tuple[Any, ...]]:
        outs = [d.step(tokens, s) for d, s in zip(self.decoders, state)]
        log_probs = torch.stack([lp.float() for lp, _ in outs])  # (k, B, V)
        mixed = torch.logsumexp(log_probs, dim=0) - math.log(len(outs))  # (B, V)
        return mixed, tuple(s for _, s in outs)

    def reorder(self, state: tuple[Any, ...], index: Tensor) -> tuple[Any, ...]:
        return tuple(d.reorder(s, index) for d, s in zip(self.decoders, state))

    def batch_size(self, state: tuple[Any, ...]) -> int:
        return infer_batch(self.decoders[0], state[0])


# Ensemble.generate's call forms, each a member's signature: -> (batch, method, ban_unk, decoding keywords)
def _batch_call(batch: Batch, method: str = "greedy", *, ban_unk: bool = False,
                **kwargs: Any) -> tuple[Batch, str, bool, dict[str, Any]]:
    return batch, method, ban_unk, kwargs


def _cond_call(cond: Tensor, *, method: str = "greedy", max_length: int | None = None, ban_unk: bool = False,
               **kwargs: Any) -> tuple[Batch, str, bool, dict[str, Any]]:
    if max_length is not None:
        kwargs["max_length"] = max_length
    return Batch(x=None, cond=cond), method, ban_unk, kwargs


def _prompt_call(prompt_ids: Tensor | Sequence[int], max_length: int = 50, method: str = "greedy", *,
                 prompt_lengths: Tensor | None = None, ban_unk: bool = False,
                 **kwargs: Any) -> tuple[Batch, str, bool, dict[str, Any]]:
    prompt = prompt_tensor(prompt_ids)  # (B, P), checked as LanguageModel.generate checks it
    return Batch(x=prompt, lengths=prompt_lengths), method, ban_unk, {"max_length": max_length, **kwargs}


def first_member(model: Any) -> Any:
    """An Ensemble's first member (its members share shapes, vocabularies, bos/eos and head), else ``model``."""
    return model.members[0] if hasattr(model, "members") else model


def configured_method(model: Any) -> str:
    """The strategy a generator's ``predict`` decodes with: ``"beam"`` where its config (an Ensemble's
    first member's) says ``decode: beam`` (a Seq2Seq's may), else ``"greedy"``."""
    return "beam" if getattr(first_member(model).config, "decode", "greedy") == "beam" else "greedy"


def decoding_start(model: Any, batch: Batch) -> tuple[Any, Any]:
    """The decoder (a :class:`~rnnkit.decoding.base.Decoder`) and the initial state with which a
    step-decoded ``model`` generates for ``batch``: a Seq2Seq's decoder on its encoded sources
    ``batch.x``, a ConditionedGenerator on ``batch.cond``, a LanguageModel on the prompts
    ``batch.x`` (with ``lengths``), an Ensemble's members mixed by :class:`EnsembleDecoder`."""
    from rnnkit.models.ensemble import Ensemble  # (that module imports this one)

    if isinstance(model, Ensemble):
        return model.decoding_start(batch)
    if isinstance(model, Seq2Seq):
        return model.decoder, model.init_state(batch)
    if isinstance(model, ConditionedGenerator):
        if batch.cond is None:
            raise ValueError("a ConditionedGenerator needs batch.cond")
        return model, model.init_state(batch.cond)
    if isinstance(model, LanguageModel):
        if batch.x is None:
            raise ValueError("a LanguageModel needs batch.x as the prompt")
        return model, model.prompt_state(batch.x, batch.lengths)
    raise TypeError(f"{type(model).__name__} does not decode step by step: Seq2Seq, ConditionedGenerator, "
                    "LanguageModel or an Ensemble of them")
