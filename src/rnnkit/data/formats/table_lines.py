"""Where a table file's rows and faults lie, by line: pandas counts rows, and users open files at lines.

A CSV row whose quoted field spans lines starts further down the file than its row number says, and
JSON lines may sit between blank lines; :class:`~rnnkit.data.formats.tables.Table` finds its rows'
lines here. A byte that the encoding cannot decode, or a line that is not one JSON object, is named
by its line too (pandas names a buffer offset, or nothing), as is a line of JSON that is no object.

    >>> csv_record_lines("air.csv", None)  # the line where each data row starts, header skipped
    [2, 3, 5]
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from rnnkit.data.formats.errors import DataFileError, file_lines, read_utf8

CSV_OPTIONS = {"sep", "delimiter", "encoding", "quotechar", "quoting", "keep_default_na", "na_values", "dtype",
               "converters"}  # options that leave the file's records (and so their lines) as they are


def csv_record_lines(path: str | Path, read_options: dict[str, Any] | None) -> list[int] | None:
    """The line on which each data row of a CSV file starts (the header skipped, blank lines
    skipped as pandas skips them); None when ``read_options`` asks pandas for more than a
    separator, an encoding, a quote character, a quoting mode, missing-value markers or column types,
    or when the file cannot be read that way."""
    opts = dict(read_options or {})
    if set(opts) - CSV_OPTIONS:
        return None
    delimiter = str(opts.get("sep", opts.get("delimiter", ",")))
    if len(delimiter) != 1:
        return None
    starts: list[int] = []
    try:
        with open(path, newline="", encoding=opts.get("encoding", "utf-8")) as f:
            reader = csv.reader(f, delimiter=delimiter, quotechar=str(opts.get("quotechar", '"')),
                                quoting=opts.get("quoting", csv.QUOTE_MINIMAL))
            while True:
                start = reader.line_num + 1
                try:
                    record = next(reader)
                except StopIteration:
                    break
                if record:  # pandas skips empty lines (skip_blank_lines)
                    starts.append(start)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return starts[1:]  # the first record is the header


def json_record_lines(path: str | Path) -> list[int] | None:
    """The line of each record of a JSON-lines file (blank lines skipped); None if unreadable."""
    try:
        return [i for i, text in enumerate(file_lines(read_utf8(Path(path))), start=1) if text.strip()]
    except (OSError, DataFileError):
        return None


def bad_byte_line(path: Path, encoding: str) -> int | None:
    """The line of the first byte that ``encoding`` cannot decode (pandas reports a buffer offset)."""
    try:
        raw = path.read_bytes()
        raw.decode(encoding)
    except UnicodeDecodeError as e:
        return raw.count(b"\n", 0, e.start) + 1
    except (OSError, LookupError):
        return None
    return None


def bad_json_line(path: Path) -> int | None:
    """The first line of a JSON-lines file that is not one JSON object (pandas does not say which)."""
    import json

    try:
        lines = file_lines(read_utf8(Path(path)))
    except (OSError, DataFileError):
        return None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            if not isinstance(json.loads(line), dict):
                return n
        except ValueError:
            return n
    return None


JSON_KINDS = {list: "a list", str: "a string", bool: "true or false", int: "a number", float: "a number",
              type(None): "null"}


def check_json_objects(path: Path, encoding: str = "utf-8-sig") -> None:
    """Raise naming the first line of a JSON-lines file that is valid JSON but not an object (``[1, 2]``,
    ``5``, ``"text"``, ``null``): pandas fails on most with a TypeError that names no line (``cannot
    convert dictionary update sequence ...``) and reads ``[]`` as a row of missing values. A line that
    is not JSON at all is left to the reader, whose error :func:`bad_json_line` places."""
    import json

    try:
        text = path.read_bytes().decode(encoding).removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError, LookupError):
        return  # the reader says what is wrong with the file
    for n, line in enumerate(file_lines(text), start=1):
        if not line.strip() or line.lstrip().startswith("{"):  # JSON that opens with { is an object
            continue
        try:
            value = json.loads(line)
        except ValueError:
            return
        raise DataFileError(path, f'a JSON object ({{"field": value, ...}}) is expected, got '
                            f"{JSON_KINDS.get(type(value), type(value).__name__)}: each line of a JSON-lines "
                            "file is one row, its fields named", line=n)


__all__ = ["CSV_OPTIONS", "bad_byte_line", "bad_json_line", "check_json_objects", "csv_record_lines",
           "json_record_lines"]
