"""SequenceDataset: train/valid/test splits plus the facts a model needs to size itself."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from torch.utils.data import Dataset

from rnnkit.data.batch import Batch, Example, collate
from rnnkit.data.vocab import Vocab

T = TypeVar("T")
Shape = Literal["one-to-one", "one-to-many", "many-to-one", "many-to-many", "synced", "forecasting"]
InputKind = Literal["tokens", "features", "image", "vector", "series", "none"]
Task = Literal["classification", "regression", "tagging", "seq2seq", "generation", "forecasting"]


@dataclass(frozen=True)
class PublishedResult:
    """A figure from the literature (or a measured baseline) to compare rnnkit's result with."""

    model: str
    metric: str
    value: float
    source: str
    note: str = ""


@dataclass
class DatasetInfo:
    """What a model needs to size itself, and what a person needs to trust the data.

    ``num_features``: F of float inputs; ``input_vocab``: for token inputs; ``classes``: class or tag
    names (many-to-one, synced); ``output_vocab``: for generated sequences; ``cond_shape``: the shape
    of one conditioning item (one-to-many); ``horizon``/``window`` for forecasting; ``metric``: the
    primary metric name; ``higher_is_better`` for it.
    """

    name: str
    shape: Shape
    task: Task
    input_kind: InputKind
    description: str = ""
    num_features: int | None = None
    input_vocab: Vocab | None = None
    output_vocab: Vocab | None = None
    classes: list[str] | None = None
    cond_shape: tuple[int, ...] | None = None
    horizon: int | None = None
    window: int | None = None
    num_targets: int | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    source: str = ""
    license: str = ""
    metric: str = ""
    higher_is_better: bool = True
    published: list[PublishedResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)


class ExampleList(Dataset[Example]):
    """A list of :class:`Example` as a torch Dataset."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]

    def lengths(self) -> list[int]:
        return [0 if e.x is None or e.x.dim() == 0 else int(e.x.shape[0]) for e in self.examples]


@dataclass
class SequenceDataset:
    """Train / valid / test splits and their :class:`DatasetInfo`.

    ``valid`` is carved from train with a seed (never from test) unless the source defines one.
    ``collate`` turns a list of examples into a :class:`Batch`. ``extras`` holds fitted pieces a
    run must save and reuse (a scaler, a tokenizer). ``load_name`` and ``load_options``: the name
    (a bundled data set or ``FORMAT:path``) and the keywords ``rnnkit.datasets.load`` was given,
    which a run folder records so that ``rnnkit evaluate``, ``predict`` and ``export`` rebuild the
    same splits and vocabularies.
    """

    info: DatasetInfo
    train: ExampleList
    valid: ExampleList
    test: ExampleList
    collate: Callable[[Sequence[Example]], Batch] = collate
    extras: dict[str, Any] = field(default_factory=dict)
    load_name: str | None = None
    load_options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.info.sizes = {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}

    def __repr__(self) -> str:
        s = self.info.sizes
        return (f"SequenceDataset({self.info.name!r}, {self.info.shape}, train={s['train']}, "
                f"valid={s['valid']}, test={s['test']})")


def valid_count(n: int, valid_fraction: float) -> int:
    """How many of ``n`` training items go to valid: ``round(n * valid_fraction)``, and at least one
    when ``valid_fraction`` is positive and there are two or more."""
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    n_valid = int(round(n * valid_fraction))
    return 1 if valid_fraction > 0 and n_valid == 0 and n > 1 else n_valid


def split_train_valid(
    examples: Sequence[T], valid_fraction: float, *, seed: int = 0
) -> tuple[list[T], list[T]]:
    """Seeded random split of training examples into (train, valid), order preserved in each.

    At least one item goes to valid when ``valid_fraction`` is positive and there are two or more;
    a fraction that would leave no training item is an error saying the counts.
    """
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_valid = valid_count(len(examples), valid_fraction)
    if examples and n_valid >= len(examples):
        raise ValueError(f"valid_fraction {valid_fraction} of {len(examples)} example(s) takes {n_valid} for valid "
                         "and leaves none to train on; use a smaller valid_fraction")
    valid_idx = set(order[:n_valid])
    train = [e for i, e in enumerate(examples) if i not in valid_idx]
    valid = [e for i, e in enumerate(examples) if i in valid_idx]
    return train, valid
