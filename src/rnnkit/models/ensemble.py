"""``Ensemble``: k models of one class trained side by side, their predictions averaged.

A deep ensemble (Lakshminarayanan et al. 2017, "Simple and scalable predictive uncertainty
estimation using deep ensembles") differs only in each member's initial weights and dropout masks;
InceptionTime's published figures are such an ensemble of five. How the members are combined:

=================  ============================================================================
members            ``predict``
=================  ============================================================================
classifiers        the arg-max of the mean class probabilities (``predict_proba``)
regression         the mean (or, ``combine="median"``, the median) of the members' values
forecasters        the mean (or median) of the point forecasts; ``sample`` draws from the mixture
taggers            the arg-max of the mean per-step tag probabilities; with a CRF the mean posterior
                   marginals, decoded as the best path the tag scheme allows (``CRF.decode_allowed``)
generators         one search over the mean next-token probability,
(seq2seq, lm,      ``log mean_j p_j(token | prefix)`` (:class:`EnsembleDecoder`): greedy or beam search
conditioned)       as the member would run it
=================  ============================================================================

Training: the Trainer minimises ``extras["objective"]``, the *sum* of the members' losses, so each
member gets exactly the gradient it would get alone, and clips each member's gradient on its own
(:meth:`Ensemble.clip_groups`): with any optimizer, a member trains as it would alone, on the same
batches. ``loss`` (the training loss the Trainer reports) is the members' *mean* loss, on the scale
of one model's.

Evaluation scores the ensemble's own prediction: in eval mode, with targets, ``forward`` adds
``extras["mixture_loss"]`` (:func:`mixture_loss`), the member's loss taken on the mixture ``mean_j
p_j`` instead of on ``p_j``, and evaluation reports it as ``loss`` (so ``perplexity = exp(loss)``).
For classifiers it is the cross-entropy of the mean class probabilities (with the class weights and
label smoothing the member's own evaluation loss has); for generators and taggers ``-log mean_j
p_j(target)`` per valid target token; for CRF taggers ``-log mean_j p_j(tag sequence)`` per valid
step. It is at most the members' mean loss (log is concave). Regression and forecasting ensembles
have none: their loss stays the members' mean (the combined values are scored by mae, rmse ...).
Validation metrics, early stopping and the restored best epoch are thus the ensemble's.

A saved ensemble is one ``model.safetensors`` (members' weights under ``members.<j>.``; the header
holds each member's class and config), so ``rnnkit.load``, ``rnnkit evaluate`` and ``rnnkit
predict`` rebuild it like any model.

The members' entries, kinds and mixture loss live in :mod:`rnnkit.models.ensemble_members`; the
mixed decoder and the start of decoding in :mod:`rnnkit.models.ensemble_decoding`.

Example:
    >>> model = Ensemble.from_dataset(dataset, size=5, model="SequenceClassifier", cell="lstm")
    >>> Trainer(epochs=20).fit(model, dataset)
    >>> probs = model.predict_proba(batch)         # (B, C), the members' mean
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.batch import Batch
from rnnkit.data.dataset import SequenceDataset
from rnnkit.decoding import Generated, beam_search
from rnnkit.decoding.ban import config_ban
from rnnkit.decoding.base import check_decode_args
from rnnkit.models.base import MODELS, Model, ModelOutput
from rnnkit.models.ensemble_decoding import EnsembleDecoder as EnsembleDecoder
from rnnkit.models.ensemble_decoding import _batch_call as _batch_call
from rnnkit.models.ensemble_decoding import _cond_call as _cond_call
from rnnkit.models.ensemble_decoding import _prompt_call as _prompt_call
from rnnkit.models.ensemble_decoding import configured_method as configured_method
from rnnkit.models.ensemble_decoding import decoding_start as decoding_start
from rnnkit.models.ensemble_decoding import first_member as first_member
from rnnkit.models.ensemble_members import _INTERFACE as _INTERFACE
from rnnkit.models.ensemble_members import _build_member as _build_member
from rnnkit.models.ensemble_members import _kind as _kind
from rnnkit.models.ensemble_members import _member_entry as _member_entry
from rnnkit.models.ensemble_members import check_members
from rnnkit.models.ensemble_members import mixture_loss as mixture_loss
from rnnkit.models.forecaster import SAMPLED_LEVELS, check_levels, quantiles_of_paths
from rnnkit.models.one_to_many import _METHODS, ConditionedGenerator, LanguageModel

COMBINE = ("mean", "median")


@dataclass(frozen=True)
class EnsembleConfig:
    """``members``: each member's ``{"class", "module", "config"}`` (what rebuilding it needs);
    ``combine``: ``"mean"`` or ``"median"`` of real-valued predictions (regression, forecasts);
    probabilities are always averaged."""

    members: tuple[dict[str, Any], ...]
    combine: str = "mean"


class Ensemble(Model):
    """k models of one class whose predictions are averaged (see the module docstring).

    Args:
        members: the member models (or their ``{"class", "config"}`` entries, as the config holds
            them): distinct models (not one object twice) of one class, agreeing on what they read
            and predict (input shape, vocabularies, classes, tags, horizon, covariates ...).
        combine: ``"mean"`` or ``"median"`` of real-valued predictions.

    Shape: as the members'. ``forward`` -> ``ModelOutput(loss = the members' mean loss,
    extras["objective"] = their sum, extras["member_losses"], and in eval mode
    extras["mixture_loss"] = the loss of the ensemble's prediction)``.
    """

    config_class = EnsembleConfig

    @classmethod
    def _refuse_options(cls, options: dict[str, Any]) -> None:
        # ahead of Model's type check, which would say "a list of values" (the config holds entries)
        members = options.get("members")
        if isinstance(members, Model | Mapping):
            raise TypeError(f"members must be a list of models, got one {type(members).__name__}: "
                            "Ensemble(members=[model_1, model_2, ...])")

    def __init__(self, *, members: Sequence[Model | Mapping[str, Any]], combine: str = "mean") -> None:
        super().__init__()
        if not len(members):  # (one model, not in a list, is refused in _refuse_options)
            raise ValueError("members must be a non-empty list of models")
        if combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {combine!r}")
        built = [m if isinstance(m, Model) else _build_member(m) for m in members]
        first = built[0]
        for j, m in enumerate(built):
            if isinstance(m, Ensemble):
                raise ValueError("an ensemble member cannot be an Ensemble: list the models themselves")
            if type(m) is not type(first):
                raise ValueError(f"ensemble members must be of one class: member 0 is {type(first).__name__}, "
                                 f"member {j} is {type(m).__name__}")
        check_members(built)
        self.members = nn.ModuleList(built)
        self.config = EnsembleConfig(members=tuple(_member_entry(m) for m in built), combine=combine)
        self.kind = _kind(first)  # what the members predict, and so how they are combined

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, *, size: int = 5, model: str | type[Model] = "SequenceClassifier",
                     combine: str = "mean", **hyper: Any) -> Ensemble:
        """``size`` members of ``model`` (a class or its name), each ``model.from_dataset(dataset,
        **hyper)``; they draw their initial weights one after another from torch's generator."""
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        if isinstance(model, str):
            import rnnkit.models  # noqa: F401  (registers every model class)

            if model not in MODELS:
                raise ValueError(f"unknown model class {model!r}; known: {sorted(MODELS)}")
            model = MODELS[model]
        return cls(members=[model.from_dataset(dataset, **hyper) for _ in range(size)], combine=combine)

    # --- training ------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> ModelOutput:
        outs = [m(batch) for m in self._each]
        kind, logits, predictions = self.kind, None, None
        if kind == "classification" and all(o.logits is not None for o in outs):  # log of the mean probabilities
            logits = torch.stack([o.logits.float().log_softmax(-1) for o in outs]).logsumexp(0) - math.log(len(outs))
        elif kind in ("regression", "forecasting") and all(o.predictions is not None for o in outs):
            predictions = self._combine([o.predictions for o in outs])
        losses = [o.loss for o in outs]
        if any(loss is None for loss in losses):
            return ModelOutput(logits=logits, predictions=predictions, extras={"members": outs})
        stacked = torch.stack([loss for loss in losses if loss is not None])  # (k,)
        extras: dict[str, Any] = {"objective": stacked.sum(), "member_losses": stacked.detach(), "members": outs}
        mixture = None if self.training else mixture_loss(self._each, outs, batch)  # what evaluation reports
        if mixture is not None:
            extras["mixture_loss"] = mixture
        return ModelOutput(loss=stacked.mean(), logits=logits, predictions=predictions, extras=extras)

    @property
    def _each(self) -> list[Any]:
        """The members, typed loosely: each has its own class's methods (predict_proba, forecast ...)."""
        return list(self.members)

    def clip_groups(self) -> list[list[nn.Parameter]]:
        """Each member's parameters: the Trainer clips each group's gradient norm on its own."""
        return [list(m.parameters()) for m in self._each]

    # --- prediction ----------------------------------------------------------------------------
    def _combine(self, values: list[Tensor]) -> Tensor:
        stacked = torch.stack(values)  # (k, ...)
        if self.config.combine != "median":
            return stacked.mean(dim=0)
        ordered, k = stacked.sort(dim=0).values, stacked.shape[0]  # torch's median takes the lower middle
        return (ordered[(k - 1) // 2] + ordered[k // 2]) / 2  # of an even count: the mean of the two

    @torch.no_grad()
    def predict_proba(self, batch: Batch) -> Tensor:
        """The members' mean probabilities: classes ``(B, C)``, or per-step tags ``(B, T, K)``."""
        if self.kind not in ("classification", "tagging"):
            raise ValueError(f"predict_proba is for classifiers and taggers, not {self.kind}")
        return torch.stack([m.predict_proba(batch) for m in self._each]).mean(dim=0)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Any:
        """What one member's ``predict`` returns, from the combined prediction (see the module docstring)."""
        kind = self.kind
        if kind == "classification":
            return self.predict_proba(batch).argmax(dim=-1)
        if kind in ("regression", "forecasting"):
            return self._combine([m.predict(batch) for m in self._each])
        if kind == "tagging":
            probs = self.predict_proba(batch)  # (B, T, K)
            mask = batch.mask()
            crf = self._each[0].crf
            if crf is not None:
                return crf.decode_allowed(probs.clamp_min(1e-30).log(), mask)[0]
            return probs.argmax(dim=-1).masked_fill(~mask, 0)
        first = self._each[0]
        if kind == "other":
            raise TypeError(f"Ensemble cannot combine {type(first).__name__} predictions: it averages classifiers, "
                            "taggers, regressors, forecasters and generators (rnnkit.models)")
        return self.generate(batch, method=configured_method(self))

    def generate(self, inputs: Batch | Tensor | Sequence[int], *args: Any, **kwargs: Any) -> Generated:
        """Decode with the members' mean next-token probabilities, called as a member is called:

        - ``generate(batch, method="greedy", *, ban_unk=False, **kw)``, any generators: from
          ``batch.cond`` (conditioned), the sources ``batch.x`` (seq2seq) or the prompts ``batch.x``
          with ``lengths`` (language models);
        - ``generate(cond, *, method="greedy", max_length=None, ban_unk=False, **kw)``, as
          :meth:`ConditionedGenerator.generate`;
        - ``generate(prompt_ids, max_length=50, method="greedy", *, prompt_lengths=None,
          ban_unk=False, **kw)``, as :meth:`LanguageModel.generate`.

        ``method``: ``"greedy"``, ``"beam"`` or ``"sample"``; ``kw`` go to the decoding function
        (``banned`` too; ``max_length`` defaults to the members' own). As the members'
        ``generate``: ``<pad>`` and ``bos`` are never generated, ``<unk>`` not with ``ban_unk``."""
        if self.kind != "generation":
            raise ValueError(f"generate is for generators, not {self.kind}")
        first = self._each[0]
        if isinstance(inputs, Batch):
            batch, method, ban_unk, kwargs = _batch_call(inputs, *args, **kwargs)
        elif isinstance(first, ConditionedGenerator):
            batch, method, ban_unk, kwargs = _cond_call(torch.as_tensor(inputs), *args, **kwargs)
        elif isinstance(first, LanguageModel):
            batch, method, ban_unk, kwargs = _prompt_call(inputs, *args, **kwargs)
            batch = batch.to(self.device)  # as LanguageModel.generate: prompt ids (a list, say) to the model's device
        else:
            raise TypeError(f"an ensemble of {type(first).__name__} models generates for a Batch, as its members do; "
                            f"got {type(inputs).__name__}")
        if method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
        with self.decoding():
            decoder, states = self.decoding_start(batch)
            c = self._each[0].config
            kwargs.setdefault("max_length", getattr(c, "max_length", 50))
            check_decode_args(bos=c.bos_id, eos=c.eos_id, max_length=kwargs["max_length"])
            kwargs["banned"] = config_ban(c, ban_unk=ban_unk, banned=kwargs.get("banned"))
            if _METHODS[method] is beam_search:
                kwargs.setdefault("beam_size", getattr(c, "beam_size", 4))
                kwargs.setdefault("length_penalty", getattr(c, "length_penalty", 0.0))
            return _METHODS[method](decoder, states, bos=c.bos_id, eos=c.eos_id, **kwargs)

    def decoding_start(self, batch: Batch) -> tuple[EnsembleDecoder, tuple[Any, ...]]:
        """The members' decoders as one :class:`EnsembleDecoder` and their initial states for ``batch``
        (see :func:`decoding_start`)."""
        for m in self._each:
            if isinstance(m, ConditionedGenerator) and batch.cond is None:
                raise ValueError("an ensemble of ConditionedGenerators needs batch.cond")
            if isinstance(m, LanguageModel) and batch.x is None:
                raise ValueError("an ensemble of LanguageModels needs batch.x as the prompt")
        starts = [decoding_start(m, batch) for m in self._each]
        return EnsembleDecoder([d for d, _ in starts]), tuple(s for _, s in starts)

    # --- forecasting ---------------------------------------------------------------------------
    @torch.no_grad()
    def forecast(self, series: Any, horizon: int | None = None, *, future: Any = None) -> Any:
        """The members' combined :meth:`Forecaster.forecast` (numpy in -> numpy out)."""
        if self.kind != "forecasting":
            raise ValueError(f"forecast is for forecasters, not {self.kind}")
        outs = [m.forecast(series, horizon, future=future) for m in self._each]
        if isinstance(outs[0], Tensor):
            return self._combine(outs)
        return self._combine([torch.as_tensor(o) for o in outs]).numpy()

    @torch.no_grad()
    def sample(self, batch: Batch, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` paths ``(n, B, H[, K])`` from the mixture of the members: member ``j`` draws
        ``n // k`` of them (the first ``n % k`` members one more)."""
        if self.kind != "forecasting":
            raise ValueError(f"sample is for forecasters, not {self.kind}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        k, head = len(self.members), self._head()
        if head != "gaussian":
            raise ValueError(f"sample() draws from the members' Gaussian heads, but this ensemble's {k} members have "
                             f"head={head!r}: train the members with head='gaussian' "
                             "(Ensemble.from_dataset(dataset, model='Forecaster', head='gaussian'))")
        counts = [n // k + (1 if j < n % k else 0) for j in range(k)]
        return torch.cat([m.sample(batch, c, generator=generator) for m, c in zip(self._each, counts) if c])

    @torch.no_grad()
    def quantiles(self, batch: Batch, levels: Sequence[float] | None = None, *, samples: int = 1000,
                  generator: torch.Generator | None = None) -> Tensor:
        """Forecast quantiles ``(B, H[, K], Q)`` of the ensemble: read off ``samples`` paths of the
        members' mixture (Gaussian heads), or the members' quantiles averaged level by level (quantile
        heads; Vincentisation). See :meth:`Forecaster.quantiles`."""
        if self.kind != "forecasting":
            raise ValueError(f"quantiles is for forecasters, not {self.kind}")
        head = self._head()
        if head == "quantile":  # level by level: each member asked for the same levels, in the same order
            levels = list(self._each[0].config.quantiles) if levels is None else levels
            return torch.stack([m.quantiles(batch, levels) for m in self._each]).mean(0)
        levels = check_levels(levels, SAMPLED_LEVELS)
        if head != "gaussian":  # the spread of a few point forecasts is no forecast interval: none is made up
            k = len(self.members)
            raise ValueError(f"this ensemble's {k} members have head={head!r}, point forecasts without a "
                             "distribution, so the ensemble has no quantiles: train the members with "
                             "head='gaussian' (any levels) or head='quantile' "
                             "(Ensemble.from_dataset(dataset, model='Forecaster', head=...))")
        return quantiles_of_paths(self.sample, batch, levels, samples, generator)

    def _head(self) -> str:
        heads = {getattr(m.config, "head", "point") for m in self._each}
        if len(heads) > 1:
            raise ValueError(f"the members forecast with different heads {sorted(heads)}: quantiles and samples "
                             "need one kind")
        return heads.pop()



__all__ = ["Ensemble", "EnsembleConfig", "EnsembleDecoder", "configured_method", "decoding_start", "mixture_loss"]
