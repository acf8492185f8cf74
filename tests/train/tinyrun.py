"""Tiny models and generated data sets for the train/ tests (they know nothing beyond the Model contract)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.models.base import Model, ModelOutput
from rnnkit.train import Callback


@dataclass(frozen=True)
class TinyGRUConfig:
    num_features: int
    num_classes: int
    hidden_size: int = 8
    dropout: float = 0.0


class TinyGRUClassifier(Model):
    """A GRU over the valid steps, its last state -> linear -> classes."""

    config_class = TinyGRUConfig

    def __init__(self, num_features: int, num_classes: int, hidden_size: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = TinyGRUConfig(num_features, num_classes, hidden_size, dropout)
        self.rnn = nn.GRU(num_features, hidden_size, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def logits(self, batch: Batch) -> torch.Tensor:
        assert batch.x is not None and batch.lengths is not None
        out, _ = self.rnn(batch.x)  # (B, T, H)
        last = out[torch.arange(out.shape[0]), batch.lengths - 1]  # (B, H)
        return self.head(self.drop(last))  # (B, K)

    def forward(self, batch: Batch) -> ModelOutput:
        logits = self.logits(batch)
        loss = nn.functional.cross_entropy(logits, batch.y) if batch.y is not None else None
        return ModelOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def predict(self, batch: Batch) -> torch.Tensor:
        return self.logits(batch).argmax(-1)

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: object) -> TinyGRUClassifier:
        info = dataset.info
        assert info.num_features is not None and info.num_classes is not None
        return cls(info.num_features, info.num_classes, **hyper)  # type: ignore[arg-type]


def toy_classification(n: int = 96, *, seed: int = 0, num_features: int = 2, valid: int = 24, test: int = 24,
                       name: str = "toy") -> SequenceDataset:
    """Variable-length sequences; the class is which third the mean of feature 0 falls in."""
    g = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(n + valid + test):
        length = int(torch.randint(4, 11, (1,), generator=g))
        x = torch.randn(length, num_features, generator=g)
        m = float(x[:, 0].mean())
        examples.append(Example(x=x, y=torch.tensor(0 if m < -0.2 else 1 if m < 0.2 else 2)))
    info = DatasetInfo(name=name, shape="many-to-one", task="classification", input_kind="features",
                       num_features=num_features, classes=["low", "mid", "high"], metric="accuracy")
    return SequenceDataset(info, ExampleList(examples[:n]), ExampleList(examples[n : n + valid]),
                           ExampleList(examples[n + valid :]))


def tiny_model(dataset: SequenceDataset, *, seed: int = 0, **hyper: object) -> TinyGRUClassifier:
    torch.manual_seed(seed)
    return TinyGRUClassifier.from_dataset(dataset, **hyper)


class InterruptAt(Callback):
    """Raises KeyboardInterrupt (as Ctrl-C or a kill would stop the run) after optimizer step ``step``,
    or with ``epoch_end=True`` once epoch ``step`` has ended (its checkpoint written)."""

    def __init__(self, step: int, *, epoch_end: bool = False) -> None:
        self.step, self.epoch_end = step, epoch_end

    def on_step_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        if not self.epoch_end and state.step == self.step:
            raise KeyboardInterrupt

    def on_epoch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        if self.epoch_end and state.epoch == self.step:
            raise KeyboardInterrupt


def InterruptAtEpochEnd(epoch: int) -> InterruptAt:  # noqa: N802 - reads as the callback it builds
    return InterruptAt(epoch, epoch_end=True)
