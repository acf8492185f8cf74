"""Data shipped inside installed packages: find a package's files without importing it, read
them with errors that name the file and line, split items stably, and assemble a dataset.

Importing a package such as scikit-learn or music21 costs seconds; its data files only need the
package's folder, which ``importlib.util.find_spec`` gives without running the package.
"""

from __future__ import annotations

import dataclasses
import hashlib
import numbers
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset, split_train_valid
from rnnkit.data.vocab import Vocab


class ShippedDataError(ValueError):
    """A file shipped in a package is missing or malformed; the message names the file and line."""


def package_file(package: str, *parts: str) -> Path:
    """Path of ``parts`` inside the installed ``package`` (not imported).

    Raises:
        ShippedDataError: the package is not installed or does not hold the file.
    """
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ShippedDataError(
            f"package {package!r} is not installed; install rnnkit's data extra: pip install 'rnnkit[data]'")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root.joinpath(*parts)
    if not path.exists():
        raise ShippedDataError(f"{path} is missing from the installed {package!r} package "
                               f"(a version without its data files?); reinstall {package}")
    return path


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The file's lines without line endings; an undecodable file names the file and the line."""
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ShippedDataError(f"{path}:{line}: not valid {encoding} ({e.reason})") from e
    return text.splitlines()


def hash_fraction(key: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by ``key`` alone: the same on every machine and Python version."""
    digest = hashlib.md5(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def make_dataset(
    info: DatasetInfo,
    train_pool: Sequence[Example],
    test: Sequence[Example],
    *,
    valid_fraction: float,
    seed: int,
    **updates: Any,
) -> SequenceDataset:
    """Carve ``valid`` from ``train_pool`` with ``seed`` and attach a copy of ``info`` with ``updates``.

    The registered (static) info is never changed: each load gets its own copy, with the
    vocabularies, classes and extras learned while loading.
    """
    train, valid = split_train_valid(train_pool, valid_fraction, seed=seed)
    return make_splits(info, train, valid, test, **updates)


def make_splits(info: DatasetInfo, train: Sequence[Example], valid: Sequence[Example], test: Sequence[Example],
                **updates: Any) -> SequenceDataset:
    """The three splits as given, with a copy of ``info`` with ``updates`` (``extra`` is merged into the
    registered extras), as :func:`make_dataset` attaches it."""
    extra = {**info.extra, **updates.pop("extra", {})}
    loaded = dataclasses.replace(info, extra=extra, **updates)
    return SequenceDataset(loaded, ExampleList(train), ExampleList(valid), ExampleList(test))


def encode_all(vocab: Vocab, sequences: Sequence[Sequence[str]], *, eos: bool = False) -> list[Tensor]:
    """Encode many token sequences at once: one ``(T_i,)`` int64 tensor each (``<eos>`` appended
    when ``eos``); unknown tokens become ``<unk>`` (or their ending token) as in :meth:`Vocab.encode`.

    One tensor is built for all ids and split into views, which is ~5x faster than a tensor per
    sequence on corpora of a million tokens.
    """
    end = ("eos",)  # not a string, so no data token can be it: its id is looked up below
    tokens: Iterator[Any] = (chain.from_iterable(chain(s, (end,)) for s in sequences) if eos
                             else chain.from_iterable(sequences))
    lengths = [len(s) + int(eos) for s in sequences]
    stoi: dict[Any, int] = {**vocab.stoi, end: vocab.eos_id} if eos else vocab.stoi
    found = ((stoi[t] if t in stoi else vocab.unknown_id(t)) for t in tokens) if vocab.has_endings else (
        map(stoi.get, tokens, repeat(vocab.unk_id)))
    ids = np.fromiter(found, dtype=np.int64, count=sum(lengths))
    return list(torch.from_numpy(ids).split(lengths))


def labels(values: Sequence[int]) -> list[Tensor]:
    """One ``()`` int64 tensor per class id."""
    return list(torch.tensor(list(values), dtype=torch.int64).unbind())
