"""The text layout of ``csv:``/``parquet:`` tables: one row per example, a text column and a target.

    rnnkit.datasets.load("csv:reviews.csv", text="review", target="label", tokenizer="char")

A file like::

    review,label
    "Great phone, battery lasts two days",pos
    "Broke after a week.
    Would not buy again",neg

gives one example per row: ``x`` the token ids of the text ``(T,)``, ``y`` the class id (or a float
for regression). Quoted fields may span lines; errors name the line where the row starts.

Options:
    text (required): the text column, or a list of columns joined with a newline (e.g. title and
        body). target (required): the label column.
    task: ``"classification"`` (default for text, boolean and integer targets) or ``"regression"``
        (default for float targets).
    tokenizer: ``"word"`` (default), ``"char"`` or ``"bpe"``; vocab_size (BPE), min_freq, max_size,
        lowercase. The tokenizer is fitted on the training split only (``dataset.extras["tokenizer"]``);
        unseen tokens encode to ``<unk>``. No text is truncated.
    test: a second file of the same layout (default: a seeded ``test_fraction`` of the rows); a test
        label unseen in the training file is an error naming its line.
    valid_fraction (0.1), test_fraction (0.2), seed (0), name, read_options.

A row whose text is missing or blank, or whose target is missing, is an error that names the file,
the line and the column, and counts such rows: rnnkit never drops a row silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset, Task
from rnnkit.data.formats.csv_checks import check_stray_quotes
from rnnkit.data.formats.errors import DataFileError
from rnnkit.data.formats.splits import LabelIndex, check_fractions, file_tokenizer, split_records
from rnnkit.data.formats.tables import Table, as_list, read_table, table_kind


@dataclass
class TextRow:
    """One example of the table: its text, its raw label and where it came from."""

    text: str
    label: Any
    path: str
    line: int


def row_count(n: int) -> str:
    """``"1 row"``, ``"3 rows"``: how many rows an error is about."""
    return f"{n} row" if n == 1 else f"{n} rows"


# pandas' default missing-value markers (the read_csv docs' list): a target that reads so is missing
TARGET_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
             "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def text_read_options(path: str | Path, read_options: dict[str, Any] | None,
                      columns: Sequence[str] = (), *, target: str | None = None) -> dict[str, Any]:
    """``read_options`` for a table of texts: in a CSV only an empty cell is missing, so that a review
    that reads "NA", "null" or "None" stays text (pandas would read those as missing values), and the
    text ``columns`` are read as strings exactly as written (pandas would make ``00501`` ``501.0``).
    The ``target`` column keeps pandas' missing-value markers (``nan``, ``NA``, ...), as in the other
    table layouts: a float target with a ``nan`` is a missing target, not a column of text labels."""
    opts = dict(read_options or {})
    if table_kind(Path(path)) == "csv":
        if "keep_default_na" not in opts and "na_values" not in opts:
            na: Any = [""] if target is None else {c: [""] for c in columns} | {target: TARGET_NA}
            opts.update(keep_default_na=False, na_values=na)
        if "dtype" not in opts and "converters" not in opts:
            opts["dtype"] = {c: str for c in columns}
    return opts


def _texts(table: Table, columns: list[str]) -> list[str]:
    """The text of every row (columns joined by a newline); a missing or blank one is an error."""
    frame = table.frame
    parts = []
    for c in columns:
        col = frame[c]
        missing = np.flatnonzero(col.isna().to_numpy())
        if missing.size:
            raise DataFileError(table.path, f"missing text ({row_count(missing.size)} in this column); every row "
                                "needs text: clean the file or drop those rows", line=table.line(int(missing[0])),
                                field=c)
        odd = [i for i, v in enumerate(col) if not isinstance(v, str)]
        if odd:  # a JSON list or number, a Parquet array: str() would make up a text
            value = col.iloc[odd[0]]
            raise DataFileError(table.path, f"the text is a {type(value).__name__} ({str(value)[:40]}), not a string "
                                f"({row_count(len(odd))} like it); write each row's text as one string",
                                line=table.line(odd[0]), field=c)
        parts.append(list(col))
    texts = ["\n".join(row) for row in zip(*parts)]
    blank = [i for i, t in enumerate(texts) if not t.strip()]
    if blank:
        raise DataFileError(table.path, f"blank text ({row_count(len(blank))}): an example needs at least one token",
                            line=table.line(blank[0]), field=columns[0] if len(columns) == 1 else str(columns))
    return texts


def _check_target(table: Table, target: str) -> None:
    """A missing target is an error naming its line (before the task is read from the column's type, which
    a ``nan`` would turn from numbers to text); so is a stray quote that swallows the next row."""
    raw = table.frame[target]
    missing = np.flatnonzero(raw.isna().to_numpy())
    if missing.size:
        raise DataFileError(table.path, f"missing target ({row_count(missing.size)})", line=table.line(int(missing[0])),
                            field=target)
    opts = table.read_options or {}
    if table.kind == "csv" and "quoting" not in opts:
        known = {str(v) for v in raw}
        floats = raw.dtype.kind == "f"
        check_stray_quotes(table.path, opts, table.frame, table.line, target,
                           lambda v: v in known or (floats and _is_number(v)))


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _read_rows(table: Table, *, text: list[str], target: str, task: Task) -> list[TextRow]:
    texts = _texts(table, text)
    raw = table.frame[target]
    labels: list[Any] = list(table.numbers(target)) if task == "regression" else [str(v) for v in raw]
    return [TextRow(t, y, table.path, table.line(i)) for i, (t, y) in enumerate(zip(texts, labels))]


def load_text_table(path: str, *, text: str | Sequence[str], target: str, task: Task | None = None,
                    tokenizer: str = "word", vocab_size: int = 1000, min_freq: int = 1, max_size: int | None = None,
                    lowercase: bool = False, test: str | None = None, valid_fraction: float = 0.1,
                    test_fraction: float = 0.2, seed: int = 0, name: str | None = None,
                    read_options: dict[str, Any] | None = None) -> SequenceDataset:
    """Text examples from a table, one per row (see the module docstring)."""
    check_fractions(valid_fraction, test_fraction)
    columns = as_list(text)
    if not columns:
        raise ValueError(f"loading {path} as text needs text=COLUMN (or a list of columns)")
    if target in columns:
        raise ValueError(f"the target column {target!r} is also a text column")
    tables = [read_table(path, read_options=text_read_options(path, read_options, columns, target=target))]
    if test is not None:
        tables.append(read_table(test, read_options=text_read_options(test, read_options, columns, target=target)))
    for t in tables:
        t.need(columns, "text")
        t.need([target], "target")
        _check_target(t, target)
    kind: Task = task or ("regression" if tables[0].frame[target].dtype.kind == "f" else "classification")
    if kind not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression' for text rows, got {kind!r}")
    read = [_read_rows(t, text=columns, target=target, task=kind) for t in tables]
    labels = None if kind == "regression" else LabelIndex(r.label for r in read[0])
    train_r, valid_r, test_r = split_records(read[0], read[1] if test is not None else None,
                                             valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed)
    tok = file_tokenizer(tokenizer, vocab_size=vocab_size, min_freq=min_freq, max_size=max_size,
                         lowercase=lowercase).fit(r.text for r in train_r)

    def examples(rows: list[TextRow]) -> ExampleList:
        out = []
        for r in rows:
            ids = tok.encode(r.text)
            if not ids:
                raise DataFileError(r.path, f"the text gives no {tokenizer} tokens", line=r.line, field=columns[0])
            if labels is None:
                y = torch.tensor(float(r.label), dtype=torch.float32)
            else:
                y = torch.tensor(labels.encode(r.label, path=r.path, line=r.line, field=target), dtype=torch.int64)
            out.append(Example(x=torch.tensor(ids, dtype=torch.int64), y=y, meta={"file": r.path, "line": r.line}))
        return ExampleList(out)

    info = DatasetInfo(
        name=name or Path(path).stem, shape="many-to-one", task=kind, input_kind="tokens",
        description=f"text rows from {path}", input_vocab=tok.vocab,
        classes=None if labels is None else labels.classes, num_targets=1 if labels is None else None,
        source=str(path), metric="rmse" if kind == "regression" else "accuracy",
        higher_is_better=kind != "regression",
        extra={"tokenizer": tokenizer, "text": columns, "test_from": "test file" if test is not None
               else f"seeded {test_fraction} of the rows"})
    return SequenceDataset(info=info, train=examples(train_r), valid=examples(valid_r), test=examples(test_r),
                           extras={"tokenizer": tok})


__all__ = ["load_text_table"]
