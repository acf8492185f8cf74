"""What every task model shares: ModelOutput, a frozen config, and rebuilding from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from rnnkit.data.batch import Batch
from rnnkit.data.dataset import SequenceDataset

MODELS: dict[str, type[Model]] = {}


@dataclass
class ModelOutput:
    """The fixed return type of every model's ``forward``.

    ``loss`` is set when the batch carries targets (padding ignored). ``logits`` for classifiers,
    taggers and generators; ``predictions`` for regression and forecasts; ``extras`` for the rest
    (attention weights, CRF paths, distribution parameters). ``extras["objective"]``, when present,
    is what the Trainer minimises instead of ``loss`` (an Ensemble: the sum of its members' losses,
    while ``loss`` reports their mean).
    """

    loss: Tensor | None = None
    logits: Tensor | None = None
    predictions: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Model(nn.Module):
    """Base class of the task models.

    Contract: ``__init__`` takes plain keyword arguments whose names equal the fields of
    ``config_class`` (a frozen dataclass); it stores ``self.config``. So a run is rebuilt with
    ``MODELS[name].from_config(config)``. Subclasses implement ``forward(batch) -> ModelOutput`` and
    ``from_dataset(dataset, **hyper)``.
    """

    config_class: ClassVar[type]
    config: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODELS[cls.__name__] = cls

    def forward(self, batch: Batch) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, batch: Batch) -> Any:  # pragma: no cover - abstract
        """Task-shaped predictions for a batch (no targets needed), used by evaluation and the CLI.

        classification: class ids ``(B,)``; regression: values ``(B,)`` or ``(B, K)``;
        tagging: tag ids ``(B, T)`` (Viterbi with a CRF), padding positions set to 0;
        seq2seq / generation: a ``decoding.Generated`` (tokens ``(B, n_best, L)``);
        forecasting: point forecasts ``(B, H)`` or ``(B, H, K)`` in the batch's units.
        """
        raise NotImplementedError

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> Model:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Any) -> Model:
        if isinstance(config, dict):
            config = cls.config_class(**config)
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/model.safetensors`` (weights, class and config); ``rnnkit.load(directory)`` rebuilds it."""
        from rnnkit.models.io import save_model

        return save_model(self, directory)

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")
