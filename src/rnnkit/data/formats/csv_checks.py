"""Checks on the records of a CSV file that pandas reads without a word, or reports by its own count
of rows: a row with more (or, for a reader that needs whole rows, fewer) fields than the header, and a
stray quote that swallows the next line.

Each reads the file again with Python's ``csv`` module, so that the line named is the line an editor
shows (a quoted field that spans lines makes pandas' row count and the file's lines differ).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.formats.errors import DataFileError

STRAY_QUOTE_FIX = "if quotes in this file are text, read it with read_options={quoting: 3} (no quoting)"


def _delimiter(opts: dict[str, Any]) -> str | None:
    delimiter = str(opts.get("sep", opts.get("delimiter", ",")))
    return delimiter if len(delimiter) == 1 else None


def _records(path: str | Path, opts: dict[str, Any], *, quoting: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` of each non-empty record, the header included."""
    delimiter = _delimiter(opts)
    if delimiter is None:
        return
    mode: Any = opts.get("quoting", csv.QUOTE_MINIMAL) if quoting is None else quoting  # pandas takes csv's modes
    with open(path, newline="", encoding=opts.get("encoding", "utf-8")) as f:
        reader = csv.reader(f, delimiter=delimiter, quotechar=str(opts.get("quotechar", '"')), quoting=mode)
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            if record:
                yield start, record


def check_extra_fields(path: str | Path, opts: dict[str, Any]) -> None:
    """Raise naming the file's line of the first row with more fields than the header (pandas names
    its own count of rows, which a quoted field that spans lines leaves behind the file's lines)."""
    try:
        records = _records(path, opts)
        header = next(records, None)
        if header is None:
            return
        for line, record in records:
            if len(record) > len(header[1]):
                delimiter = _delimiter(opts)
                raise DataFileError(path, f"{len(record)} fields, but the header names {len(header[1])} "
                                    f"{header[1]}; a field that holds the separator {delimiter!r} needs quotes "
                                    '("a, b")', line=line)
    except (OSError, UnicodeDecodeError, csv.Error):
        return


def check_field_counts(path: str | Path, opts: dict[str, Any]) -> None:
    """Raise naming the line of the first row whose number of fields is not the header's, more or
    fewer. pandas fills a short row's last columns with missing values, and reads a file whose every
    row has one field more than the header with the first column as its index: either way the
    columns shift under their names with no error. Training reads short rows (their missing values
    are refused where a column is used); ``rnnkit predict --column`` writes every row back, so it
    refuses them whole."""
    try:
        records = _records(path, opts)
        header = next(records, None)
        if header is None:
            return
        names = header[1]
        for line, record in records:
            if len(record) == 1 and not record[0].strip() and len(names) > 1:
                continue  # a line of spaces is no row (pandas skips it)
            if len(record) > len(names):
                check_extra_fields(path, opts)  # its message, as training gives it
            if len(record) < len(names):
                raise DataFileError(path, f"{len(record)} field(s), but the header names {len(names)} {names}; "
                                    "every row needs one field per column (a missing value is an empty field "
                                    f"between two {_delimiter(opts)!r})", line=line)
    except (OSError, UnicodeDecodeError, csv.Error):
        return


def check_stray_quotes(path: str | Path, opts: dict[str, Any], frame: Any, line_of: Callable[[int], int],
                       target: str, is_target: Callable[[str], bool]) -> None:
    """A quoted field that spans lines, opened on a line that, read without quotes, is already a whole
    row (the header's number of fields, and a target value that ``is_target`` accepts), was opened by
    a stray quote: the next line would be read into it, and its row lost, with no error. This says so.

    A legitimate multi-line field ends its first line inside the field, so that line has too few
    fields or no target: it is left alone. ``line_of(row)`` is the line where ``frame``'s row starts.
    """
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        return
    spanning: dict[int, str] = {}  # first line of a row with a field that spans lines -> that field's column
    for c in columns:
        if frame[c].dtype.kind == "O":
            for row in np.flatnonzero(frame[c].str.contains("\n", regex=False).fillna(False).to_numpy(dtype=bool)):
                spanning.setdefault(line_of(int(row)), c)
    if not spanning:
        return
    try:
        for line, record in _records(path, opts, quoting=csv.QUOTE_NONE):
            if line not in spanning:
                continue
            fields = [f.strip().strip(str(opts.get("quotechar", '"'))).strip() for f in record]
            if len(fields) == len(columns) and is_target(fields[columns.index(target)]):
                column = spanning[line]
                value = fields[columns.index(target)]
                raise DataFileError(path, f'a quote (") opens a field that runs on to line {line + 1}, but line '
                                    f"{line} is a whole row without it (target {value!r}), so line {line + 1}'s "
                                    f"row would be lost: remove the stray quote, or {STRAY_QUOTE_FIX}; pass "
                                    "read_options={quoting: 0} if the field is meant to span lines",
                                    line=line, field=column)
    except (OSError, UnicodeDecodeError, csv.Error):
        return


__all__ = ["STRAY_QUOTE_FIX", "check_extra_fields", "check_field_counts", "check_stray_quotes"]
