"""What every file loader shares: seeded train/valid/test carving, label indices and tokenizers.

Splits: the test split comes from a file the user names (``test=PATH``) or, failing that, a seeded
``test_fraction`` of the training file; ``valid`` is then carved from what is left of train with
``valid_fraction`` and the same seed (never from test). Carving happens on raw records, before any
tokenizer or vocabulary is fitted, so that fitting sees the training split only.

Labels: classes are the labels of the training file, sorted (numerically when every label is a
number). A test label never seen in training is an error that names the file, the line and the
label; rnnkit never maps it to a class silently.

Tokenizers: the text loaders (``folder:``, ``pairs:``, tables with ``text=``) take the same options,
``tokenizer``, ``vocab_size`` (BPE only), ``min_freq``, ``max_size`` and ``lowercase``
(:func:`file_tokenizer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rnnkit.data.dataset import split_train_valid, valid_count
from rnnkit.data.formats.errors import DataFileError
from rnnkit.data.tokenizers import Tokenizer, make_tokenizer

T = TypeVar("T")


def seeded_split(items: Sequence[T], fraction: float, *, seed: int) -> tuple[list[T], list[T]]:
    """``(kept, carved)``: a seeded random ``fraction`` of ``items`` carved out, order preserved
    (the same split as :func:`rnnkit.data.dataset.split_train_valid`, whatever the items are)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"a split fraction must be in [0, 1), got {fraction}")
    return split_train_valid(items, fraction, seed=seed)


def split_records(train: Sequence[T], test: Sequence[T] | None, *, valid_fraction: float = 0.1,
                  test_fraction: float = 0.2, seed: int = 0) -> tuple[list[T], list[T], list[T]]:
    """``(train, valid, test)``: test given, or carved from train; valid carved from train. Fractions
    that leave no training record are an error saying the counts (raised here, at load time, not by
    the trainer later)."""
    n_test = 0 if test is not None else valid_count(len(train), test_fraction)
    n_valid = valid_count(len(train) - n_test, valid_fraction)
    if len(train) - n_test - n_valid < 1:
        taken = "" if test is not None else f"test_fraction {test_fraction} takes {n_test} for test, "
        raise ValueError(f"{len(train)} record(s): {taken}valid_fraction {valid_fraction} takes {n_valid} "
                         "for valid, which leaves none to train on; use smaller fractions (or a test file)")
    if test is None:
        rest, test_part = seeded_split(train, test_fraction, seed=seed)
    else:
        rest, test_part = list(train), list(test)
    kept, valid = seeded_split(rest, valid_fraction, seed=seed + 1)
    return kept, valid, test_part


def _label_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


class LabelIndex:
    """Class names <-> ids, built from the training labels only.

    Example:
        >>> idx = LabelIndex(["neg", "pos", "neg"])
        >>> idx.classes, idx.encode("pos", path="f.csv", line=2)
        (['neg', 'pos'], 1)
    """

    def __init__(self, labels: Iterable[str]) -> None:
        self.classes: list[str] = sorted(set(labels), key=_label_key)
        self._ids = {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.classes)

    def encode(self, label: str, *, path: str | Path, line: int | None = None,
               field: str | int | None = None, item: int | None = None) -> int:
        """The id of ``label``; a label unseen in training raises :class:`DataFileError`."""
        i = self._ids.get(label)
        if i is None:
            shown = self.classes if len(self.classes) <= 20 else self.classes[:20] + ["..."]
            raise DataFileError(path, f"label {label!r} was not seen in the training data; training "
                                f"labels are {shown}", line=line, field=field, item=item)
        return i


def check_fractions(valid_fraction: float, test_fraction: float) -> None:
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")


def file_tokenizer(kind: str, *, vocab_size: int, min_freq: int, max_size: int | None,
                   lowercase: bool) -> Tokenizer:
    """An unfitted tokenizer of ``kind`` with a text loader's options (``vocab_size`` goes to BPE alone)."""
    opts: dict[str, Any] = {"min_freq": min_freq, "max_size": max_size, "lowercase": lowercase}
    if kind == "bpe":
        opts["vocab_size"] = vocab_size
    return make_tokenizer(kind, **opts)


__all__ = ["LabelIndex", "check_fractions", "file_tokenizer", "seeded_split", "split_records"]
