"""``folder:`` a folder of text files by class (the aclImdb layout) -> many-to-one classification.

Load it with::

    rnnkit.datasets.load("folder:aclImdb", tokenizer="word", lowercase=True)

Layout: ``ROOT/train/CLASS/*.txt`` and ``ROOT/test/CLASS/*.txt``; each file is one example and its
folder name is its label. Without a ``train`` folder, ``ROOT/CLASS/*.txt`` is read as training
data and the test split is a seeded ``test_fraction``. Folders named in ``ignore`` (default
``("unsup",)``, aclImdb's unlabelled reviews) are skipped; ``classes=[...]`` keeps only those.
A test class folder that is not a training class is an error; so is an empty file or one that is
not valid text in ``encoding`` (the message names the file).

Options: tokenizer (``"word"`` default, ``"char"``, ``"bpe"``), vocab_size (BPE), min_freq,
max_size, lowercase, classes, ignore, suffix (``".txt"``), encoding (``"utf-8"``),
valid_fraction (0.1), test_fraction (0.2, only without a test folder), seed (0), name.

Examples: ``x`` token ids ``(T,)``, ``y`` the class id. The tokenizer is fitted on the training split
only (``dataset.extras["tokenizer"]``); unseen tokens encode to ``<unk>``. No text is truncated.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.datasets.registry import register_format
from rnnkit.data.formats.errors import DataFileError, check_exists
from rnnkit.data.formats.splits import LabelIndex, check_fractions, file_tokenizer, split_records

Doc = tuple[str, str, Path]  # text, label, file


def read_class_folder(folder: Path, *, classes: Sequence[str] | None, ignore: Sequence[str], suffix: str,
                      encoding: str) -> list[Doc]:
    """Read every ``folder/CLASS/*SUFFIX`` file as ``(text, CLASS, file)``, sorted by class then name."""
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and d.name not in ignore)
    if classes is not None:
        missing = [c for c in classes if not (folder / c).is_dir()]
        if missing:
            raise FileNotFoundError(f"{folder} has no class folder(s) {missing}; it has "
                                    f"{[d.name for d in subdirs]}")
        subdirs = [folder / c for c in classes]
    docs: list[Doc] = []
    # a UTF-8 byte-order mark is not text: read the file as the same file without one
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    for d in subdirs:
        for f in sorted(d.glob(f"*{suffix}")):
            try:
                text = f.read_text(encoding=codec)
            except UnicodeDecodeError as e:
                line = f.read_bytes()[: e.start].count(b"\n") + 1
                raise DataFileError(f, f"is not valid {encoding} text ({e.reason} at byte {e.start})",
                                    line=line) from e
            if not text.strip():
                raise DataFileError(f, "is empty: an example needs at least one token", line=1)
            docs.append((text, d.name, f))
    if not docs:
        raise FileNotFoundError(f"no *{suffix} files in class folders under {folder} "
                                f"(expected {folder}/CLASS/*{suffix})")
    return docs


@register_format("folder")
def load_folder(path: str, *, tokenizer: str = "word", vocab_size: int = 1000, min_freq: int = 1,
                max_size: int | None = None, lowercase: bool = False, classes: Sequence[str] | None = None,
                ignore: Sequence[str] = ("unsup",), suffix: str = ".txt", encoding: str = "utf-8",
                valid_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                name: str | None = None) -> SequenceDataset:
    """Load a folder of text files by class (see the module docstring for layout and options)."""
    check_fractions(valid_fraction, test_fraction)
    root = check_exists(path, "folder")
    read: dict[str, Any] = {"classes": classes, "ignore": ignore, "suffix": suffix, "encoding": encoding}
    has_split = (root / "train").is_dir()
    train_docs = read_class_folder(root / "train" if has_split else root, **read)
    test_docs = read_class_folder(root / "test", **read) if has_split and (root / "test").is_dir() else None
    labels = LabelIndex(d[1] for d in train_docs)
    train_d, valid_d, test_d = split_records(train_docs, test_docs, valid_fraction=valid_fraction,
                                             test_fraction=test_fraction, seed=seed)
    tok = file_tokenizer(tokenizer, vocab_size=vocab_size, min_freq=min_freq, max_size=max_size,
                         lowercase=lowercase).fit(d[0] for d in train_d)

    def examples(docs: list[Doc]) -> ExampleList:
        out = []
        for text, label, f in docs:
            ids = tok.encode(text)
            if not ids:
                raise DataFileError(f, f"gives no {tokenizer} tokens", line=1)
            y = labels.encode(label, path=f, field="class folder")
            out.append(Example(x=torch.tensor(ids, dtype=torch.int64), y=torch.tensor(y), meta={"file": str(f)}))
        return ExampleList(out)

    info = DatasetInfo(
        name=name or root.name, shape="many-to-one", task="classification", input_kind="tokens",
        description=f"text files by class from {root}", input_vocab=tok.vocab, classes=labels.classes,
        source=str(root), metric="accuracy", extra={"tokenizer": tokenizer, "test_from": (
            "test folder" if test_docs is not None else f"seeded {test_fraction} of train")})
    return SequenceDataset(info=info, train=examples(train_d), valid=examples(valid_d), test=examples(test_d),
                           extras={"tokenizer": tok})


__all__ = ["load_folder", "read_class_folder"]
