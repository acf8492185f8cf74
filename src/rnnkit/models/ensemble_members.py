"""What an :class:`~rnnkit.models.ensemble.Ensemble`'s members are and how they are scored together:
the config fields they must agree on, each member's ``{"class", "module", "config"}`` entry and how it
is rebuilt, the kind of prediction they make (:func:`_kind`), and :func:`mixture_loss`, the loss of
the ensemble's own prediction (see :mod:`rnnkit.models.ensemble` for how each kind is combined).

Example:
    >>> entry = _member_entry(model)                 # {"class", "module", "config"}, JSON-able
    >>> _build_member(entry)                         # the same class and config, fresh weights
    >>> mixture_loss(members, [m(batch) for m in members], batch)  # -log mean_j p_j(target)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.data.batch import Batch, lengths_to_mask
from rnnkit.models.base import Model, ModelOutput
from rnnkit.models.forecaster import Forecaster
from rnnkit.models.many_to_many import Seq2Seq
from rnnkit.models.one_to_many import ConditionedGenerator, LanguageModel
from rnnkit.models.one_to_one import classification_loss
from rnnkit.models.synced import SequenceTagger

# config fields that fix what a model reads and predicts: the ensemble feeds every member one batch and
# combines their answers, so members must agree on every one they have
_INTERFACE = ("task", "num_outputs", "num_tags", "tags", "crf", "tag_scheme", "vocab_size", "tgt_vocab_size",
              "src_vocab_size", "num_features", "input_shape", "frame_shape", "cond_shape", "horizon",
              "num_targets", "num_future", "quantiles", "bos_id", "eos_id")
# fields compared as sets: the ensemble asks each member for the same levels, in whatever order it lists them
_UNORDERED = ("quantiles",)
# fields that only matter with another field's value: the levels, for a quantile head (a Gaussian one takes any)
_ONLY_WITH = {"quantiles": ("head", "quantile")}


def check_members(members: Sequence[Model]) -> None:
    """A ValueError unless ``members`` are distinct models (no object twice, no parameter shared: the
    same object trained k times is one model, and its file could not be read back) that agree on
    every :data:`_INTERFACE` field; the message names the members, and the field and its two values."""
    seen: dict[int, int] = {}  # id of a member, or of a tensor it holds -> the member
    for j, m in enumerate(members):
        for obj in {id(t): t for t in (m, *m.parameters(), *m.buffers())}.values():  # (tied weights once)
            i = seen.setdefault(id(obj), j)
            if i != j:
                what = "is the same model object as" if m is members[i] else "shares weights with"
                raise ValueError(f"ensemble member {j} {what} member {i}: pass independent copies, e.g. "
                                 "[type(model).from_config(model.config) for _ in range(k)] (fresh weights) or "
                                 "[copy.deepcopy(model) for _ in range(k)], or use Ensemble.from_dataset(dataset, "
                                 "size=k, ...)")
    first = members[0]
    for j, m in enumerate(members):
        for key in _INTERFACE:
            a, b = getattr(first.config, key, None), getattr(m.config, key, None)
            if key in _ONLY_WITH:
                field, value = _ONLY_WITH[key]
                if not getattr(first.config, field, None) == getattr(m.config, field, None) == value:
                    continue
            same = sorted(a) == sorted(b) if key in _UNORDERED and a is not None and b is not None else a == b
            if not same:
                raise ValueError(f"ensemble members must read and predict the same things: member 0 has "
                                 f"{key}={a!r}, member {j} has {key}={b!r}")


def _member_entry(model: Model) -> dict[str, Any]:
    from rnnkit.models.io import _jsonable

    cls = type(model)
    return {"class": cls.__name__, "module": cls.__module__, "config": _jsonable(model.config_dict())}


def _build_member(entry: Mapping[str, Any]) -> Model:
    from rnnkit.models.io import _model_class, _typed_config

    if not isinstance(entry, Mapping) or "class" not in entry or "config" not in entry:
        raise ValueError(f"an ensemble member must be a Model or a {{'class', 'config'}} mapping, got {entry!r}")
    cls = _model_class(str(entry["class"]), entry.get("module"))
    return cls.from_config(_typed_config(cls, dict(entry["config"])))


def _kind(model: Model) -> str:
    """``"classification"``, ``"regression"``, ``"forecasting"``, ``"tagging"``, ``"generation"``, or
    ``"other"`` (members whose predictions an ensemble cannot combine: it trains, not predicts)."""
    if isinstance(model, Forecaster):
        return "forecasting"
    if isinstance(model, SequenceTagger):
        return "tagging"
    if isinstance(model, Seq2Seq | ConditionedGenerator | LanguageModel):
        return "generation"
    task = getattr(model.config, "task", None)
    if task == "classification" and hasattr(model, "predict_proba"):
        return "classification"
    if task == "regression":
        return "regression"
    return "other"


def mixture_loss(members: Sequence[Any], outs: Sequence[ModelOutput], batch: Batch) -> Tensor | None:
    """The loss of the ensemble's prediction, the mixture ``mean_j p_j`` of the members'
    distributions, defined as a member defines its evaluation loss (see the module docstring), from
    the members' outputs ``outs`` for ``batch`` (with targets: each has its loss); None where the
    members predict no distribution (regression, forecasts)."""
    first, kind = members[0], _kind(members[0])
    if kind not in ("classification", "tagging", "generation") or any(o.logits is None for o in outs):
        return None
    logits = [o.logits.float() for o in outs if o.logits is not None]
    log_k = math.log(len(logits))
    if isinstance(first, LanguageModel):  # the next tokens: y, or x shifted
        _, targets, _, target_lengths = first._inputs_targets(batch)
        mask = lengths_to_mask(target_lengths, targets.shape[1])
    elif batch.y is None:
        return None
    elif kind == "tagging":
        mask = batch.mask()
        targets = batch.y.masked_fill(~mask, 0)
        if first.crf is not None:  # a distribution over whole tag sequences
            log_p = torch.stack([-m.crf.nll(lg, targets, mask, reduction="none")
                                 for m, lg in zip(members, logits)])  # (k, B)
            return -(log_p.logsumexp(0) - log_k).sum() / mask.sum().clamp_min(1)
    else:  # classes (B,); or Seq2Seq's, a ConditionedGenerator's tokens (B, L), teacher-forced
        targets = batch.y
        mask = batch.y_mask() if batch.y_lengths is not None else torch.ones_like(targets, dtype=torch.bool)
    mixed = torch.stack([lg.log_softmax(-1) for lg in logits]).logsumexp(0) - log_k  # (B[, T], V): log mean_j p_j
    if kind == "classification":  # mixed is normalised: cross_entropy's log_softmax leaves it as it is
        c = first.config
        # an evaluation loss, as each member's is: the plain NLL, without the training's label smoothing
        return classification_loss(mixed, targets, class_weights=getattr(c, "class_weights", None))
    nll = -mixed.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return (nll * mask).sum() / mask.sum().clamp_min(1)

