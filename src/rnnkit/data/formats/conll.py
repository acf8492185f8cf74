"""``conll:`` CoNLL / CoNLL-U tagging files -> synchronous many-to-many (one tag per token).

Load it with::

    rnnkit.datasets.load("conll:en_ewt-ud-train.conllu", test="en_ewt-ud-test.conllu")
    rnnkit.datasets.load("conll:eng.train", token_column=0, tag_column=-1)   # CoNLL-2003 NER

Layout: one token per line, columns separated by ``separator``; sentences separated by blank
lines. Defaults follow the file: a ``.conllu`` file is tab-separated with the token in column 1
(FORM) and the tag in column 3 (UPOS), its ``#`` comment lines are skipped, and so are its
multiword-token lines (ID ``3-4``) and empty nodes (ID ``5.1``); any other file is
whitespace-separated with the token in column 0 and the tag in the last column, ``-DOCSTART-``
lines are skipped, and a line starting with ``#`` is a token like any other (CoNLL-2000 has
``# # B-NP``) unless ``comment="#"`` says the file has comment lines (``comment=""``: none, even
in a ``.conllu`` file). Columns count from 0; negative counts from the end. Every token line of a
file has the same number of columns as its first one: a line with fewer or more (a missing NER
column would make the chunk tag the class) is an error naming the file, the line and both counts.

Options: test (a second file), token_column, tag_column, separator, comment, lowercase,
min_freq, max_size (input vocabulary), valid_fraction (0.1), test_fraction (0.2), seed (0), name.

Examples: ``x`` word ids ``(T,)``, ``y`` tag ids ``(T,)`` (``info.classes`` are the tag names,
from the training file). Words unseen in training encode to ``<unk>``; a tag unseen in training
is an error naming the file and line. A line with too few columns names its file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.datasets.registry import register_format
from rnnkit.data.formats.errors import DataFileError, check_exists, file_lines, read_utf8
from rnnkit.data.formats.splits import LabelIndex, check_fractions, split_records
from rnnkit.data.vocab import Vocab


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]
    path: str
    lines: list[int]  # source line of each token


def read_conll(path: str | Path, *, token_column: int | None = None, tag_column: int | None = None,
               separator: str | None = None, comment: str | None = None) -> list[Sentence]:
    """Parse a CoNLL or CoNLL-U file into sentences (defaults depend on the suffix; see module doc)."""
    p = check_exists(path)
    conllu = p.suffix.lower() == ".conllu"
    if comment is None:
        comment = "#" if conllu else ""  # '#' is CoNLL-U's comment; in plain CoNLL it is a token
    first: tuple[int, int] | None = None  # (columns, line) of the file's first token line
    tok_col = token_column if token_column is not None else (1 if conllu else 0)
    tag_col = tag_column if tag_column is not None else (3 if conllu else -1)
    sep = separator if separator is not None else ("\t" if conllu else None)
    need = max(c + 1 if c >= 0 else -c for c in (tok_col, tag_col))
    sentences: list[Sentence] = []
    current = Sentence([], [], str(p), [])

    def close() -> None:
        nonlocal current
        if current.tokens:
            sentences.append(current)
        current = Sentence([], [], str(p), [])

    text = read_utf8(p)
    for n, line in enumerate(file_lines(text), start=1):
        if not line.strip():
            close()
            continue
        if comment and line.startswith(comment):
            continue
        cols = line.split(sep) if sep is not None else line.split()
        if conllu and ("-" in cols[0] or "." in cols[0]):
            continue  # multiword token range or empty node: not a surface token of its own
        if not conllu and cols[0] == "-DOCSTART-":
            continue
        if len(cols) < need:
            missing = tok_col if len(cols) <= tok_col or len(cols) < -tok_col else tag_col
            raise DataFileError(p, f"{len(cols)} column(s), but the token is in column {tok_col} and the tag "
                                f"in column {tag_col}", line=n, field=f"column {missing}")
        if tok_col % len(cols) == tag_col % len(cols):  # e.g. one column read as both token (0) and tag (-1)
            raise DataFileError(p, f"{len(cols)} column(s): the token (column {tok_col}) and the tag (column "
                                f"{tag_col}) would be the same field; every token line needs its tag",
                                line=n, field=f"column {tag_col}")
        if first is None:
            first = (len(cols), n)
        elif len(cols) != first[0]:
            raise DataFileError(p, f"{len(cols)} column(s), but the file's first token line (line {first[1]}) has "
                                f"{first[0]}: every token line needs the same columns, or the tag is read from "
                                "another column", line=n, field=f"column {min(len(cols), first[0])}")
        token, tag = cols[tok_col], cols[tag_col]
        for field, value, col in (("token", token, tok_col), ("tag", tag, tag_col)):
            if not value.strip():
                raise DataFileError(p, f"empty {field}", line=n, field=f"column {col}")
        current.tokens.append(token)
        current.tags.append(tag)
        current.lines.append(n)
    close()
    if not sentences:
        raise DataFileError(p, "holds no sentences")
    return sentences


@register_format("conll")
def load_conll(path: str, *, test: str | None = None, token_column: int | None = None,
               tag_column: int | None = None, separator: str | None = None, comment: str | None = None,
               lowercase: bool = False, min_freq: int = 1, max_size: int | None = None,
               valid_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
               name: str | None = None) -> SequenceDataset:
    """Load CoNLL/CoNLL-U tagging data (see the module docstring for layout and options)."""
    check_fractions(valid_fraction, test_fraction)
    read = partial(read_conll, token_column=token_column, tag_column=tag_column, separator=separator,
                   comment=comment)
    train_s, test_s = read(path), None if test is None else read(test)
    tags = LabelIndex(t for s in train_s for t in s.tags)
    train_s, valid_s, test_s = split_records(train_s, test_s, valid_fraction=valid_fraction,
                                             test_fraction=test_fraction, seed=seed)

    def norm(tokens: list[str]) -> list[str]:
        return [t.lower() for t in tokens] if lowercase else tokens

    vocab = Vocab.build((norm(s.tokens) for s in train_s), min_freq=min_freq, max_size=max_size)

    def examples(sents: list[Sentence]) -> ExampleList:
        out = []
        for s in sents:
            y = [tags.encode(t, path=s.path, line=n, field="tag") for t, n in zip(s.tags, s.lines)]
            out.append(Example(x=torch.tensor(vocab.encode(norm(s.tokens)), dtype=torch.int64),
                               y=torch.tensor(y, dtype=torch.int64),
                               meta={"file": s.path, "line": s.lines[0]}))
        return ExampleList(out)

    info = DatasetInfo(
        name=name or Path(path).stem, shape="synced", task="tagging", input_kind="tokens",
        description=f"tagged sentences from {path}", input_vocab=vocab, classes=tags.classes,
        source=str(path), metric="accuracy", extra={"lowercase": lowercase})
    return SequenceDataset(info=info, train=examples(train_s), valid=examples(valid_s), test=examples(test_s),
                           extras={"vocab": vocab})


__all__ = ["Sentence", "load_conll", "read_conll"]
