"""The tables ``rnnkit predict`` reads: a history or a sequence (one row per step), and ``--future``.

A file is read as a CSV table, its delimiter that of the first line (a tab, a comma or a semicolon,
whichever it holds most of; a ``.tsv`` file is tab-separated), its quoted fields kept whole
(``"s 1"`` is one field). A first line with no delimiter at all makes a whitespace-separated file:
plain numbers (and a header of plain names), as ``1.5 2 3`` is on the command line. An empty cell is
a missing value and an error that names the file, the line and the column, as in training: nothing
shifts into its place.

A header line (a first line with a field that is no number) names the columns: the run's feature
columns are then read by name, and, when the run was trained with ``id=`` or ``time=`` and the file
holds those columns, the rows are grouped into one sequence per id (in the order the ids first
appear) and each is sorted by time as training sorts it, a repeated or missing time being an error;
a forecaster's history that skips a step of its regular series is an error too, as in training.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.cli.main import CLIError

# what a history with a gap can do (training's own advice, time_gaps.GAP_ADVICE, is about its data options)
HISTORY_GAP_ADVICE = ("the forecaster reads its window as consecutive steps: add the missing rows with their "
                      "values, or pass a history that skips no step")
STDIN = Path("-")  # INPUT "-": standard input, read as a file would be (told apart by identity, not name)
DELIMITERS = "\t,;"


@dataclass(frozen=True)
class Layout:
    """How to read an input table: the run's own ``id`` and ``time`` columns (its data options), and
    the file's text encoding."""

    id_column: str | None = None
    time_column: str | None = None
    time_format: str | None = None
    encoding: str = "utf-8"
    gaps: str = "raise"  # the run's gaps= option: "allow" when its series may skip steps

    @classmethod
    def of_run(cls, data_options: dict[str, Any] | None, encoding: str | None = None) -> Layout:
        opts = data_options or {}

        def text(key: str) -> str | None:
            return str(opts[key]) if isinstance(opts.get(key), (str, int)) else None

        return cls(id_column=text("id"), time_column=text("time"), time_format=text("time_format"),
                   encoding=encoding or "utf-8", gaps=text("gaps") or "raise")


@dataclass(frozen=True)
class Rows:
    """One sequence of a table, in time order: its id (None for a file of one), its values
    ``(rows, columns)``, the file's name, each row's line, and each row's time as written when the
    file holds the layout's time column (else None)."""

    key: str | None
    values: Any
    name: str
    lines: list[int]
    times: list[str] | None = None


def name_of(path: Path) -> str:
    return "<stdin>" if path is STDIN else str(path)


def not_text(name: str, raw: bytes, error: UnicodeDecodeError, encoding: str) -> CLIError:
    """The error for a file that ``encoding`` cannot decode: its line, and what to do about it."""
    label = "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig") else encoding
    line = raw.count(b"\n", 0, error.start) + 1
    return CLIError(f"{name}: not a {label} text file (line {line}: {error.reason}); re-encode it as UTF-8 "
                    "(e.g. iconv -f latin1 -t utf-8), or pass --encoding with the file's encoding (e.g. "
                    "--encoding latin-1)")


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A file's text (all of standard input for :data:`STDIN`), or a one-line error naming the file
    (and the line of a byte that ``encoding`` cannot decode)."""
    import sys

    if path is STDIN:
        return sys.stdin.read()
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise not_text(str(path), raw, e, encoding) from e
    except LookupError as e:
        raise CLIError(f"--encoding {encoding}: no such text encoding") from e


def check_encoding(path: Path, encoding: str) -> None:
    """Raise :func:`not_text`'s error when ``encoding`` cannot decode the file (pandas names a byte
    offset in its buffer, not a line)."""
    read_text(path, encoding)


def parse_value(part: str) -> float:
    """One field as a finite number; ValueError saying what is wrong with it."""
    try:
        value = float(part)
    except ValueError:
        raise ValueError(f"{part[:20]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{part!r} is not a finite number")
    return value


def numbers(text: str) -> list[float]:
    """``"1, 2.5 3"`` -> ``[1.0, 2.5, 3.0]``; ValueError naming the first value that is not a finite number."""
    try:
        return [parse_value(p) for p in re.split(r"[\s,;]+", text.strip()) if p]
    except ValueError as e:
        hint = "fill or drop missing values first" if "finite" in str(e) else "expected numbers separated by " \
            "spaces or commas"
        raise ValueError(f"{e} ({hint})") from None


def delimiter_of(line: str) -> str | None:
    """The delimiter a first line uses most (quoted text left out), None for whitespace-separated."""
    bare = re.sub(r'"[^"]*"', "", line)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else None


def records(text: str, name: str, *, tsv: bool = False) -> list[tuple[int, list[str]]]:
    """The file's records as ``(line where it starts, fields stripped of spaces)``, blank lines
    skipped; empty fields are kept (as ``""``)."""
    text = text.removeprefix("\ufeff")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = "\t" if tsv else delimiter_of(first)
    out: list[tuple[int, list[str]]] = []
    if delimiter is None:  # whitespace-separated: one record per line
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                out.append((n, next(csv.reader([line.strip()], delimiter=" ", skipinitialspace=True))))
        return out
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise CLIError(f"{name}, line {start}: is not well-formed CSV: {e}") from e
        if any(f.strip() for f in fields) or len(fields) > 1:  # a blank line is no record; ",," is one
            out.append((start, [f.strip() for f in fields]))
    return out


def is_header(fields: list[str]) -> bool:
    """A first record with a field that is no number at all (``nan`` is one: a missing value, and
    ``2 3`` two numbers in one field, both refused later)."""
    for f in fields:
        try:
            [float(p) for p in f.split()]
        except ValueError:
            return True
    return False


def read_table(path: Path, columns: list[str] | None = None, *, header_required: bool = False,
               layout: Layout | None = None) -> list[tuple[str | None, Any]]:
    """A table of numbers as ``(id, (rows, columns) float32 array)`` pairs, one per sequence: the
    keys and values of :func:`read_sequences`."""
    return [(s.key, s.values) for s in read_sequences(path, columns, header_required=header_required, layout=layout)]


def read_sequences(path: Path, columns: list[str] | None = None, *, header_required: bool = False,
                   layout: Layout | None = None, steps: bool = False) -> list[Rows]:
    """A table of numbers as :class:`Rows`, one per sequence; errors name the file, the line and the
    column.

    With a header, ``columns`` (the run's feature names) are taken by name, in the run's order,
    whatever else the file holds; a file without a header is read by position, unless
    ``header_required``. When the header holds the ``layout``'s id column, each id is one sequence (in
    the order the ids first appear), else the file is one (id None); when it holds its time column,
    each sequence is sorted by time as training sorts it (a repeated or missing time is an error).
    With ``steps`` (a forecaster's history), a regular series that skips a step is an error too, as
    training's ``gaps="raise"`` makes it, unless the run was trained with ``gaps="allow"``: a window
    across the gap would read steps apart as consecutive."""
    import numpy as np

    layout = layout or Layout()
    id_column, time_column = layout.id_column, layout.time_column
    name = name_of(path)
    rows = records(read_text(path, layout.encoding), name, tsv=path.suffix.lower() == ".tsv")
    header = bool(rows) and is_header(rows[0][1])
    if header_required and not header:
        raise CLIError(f"{name}: the first line must name the columns {columns}")
    names: list[str] = []
    header_line = 0
    pick: list[int] | None = None
    if header:
        header_line, names = rows[0][0], rows[0][1]
        rows = rows[1:]
        if columns:
            missing = [c for c in columns if c not in names]
            if missing:
                raise CLIError(f"{name}, line {header_line}: no column {missing[0]!r}; this run reads the columns "
                               f"{columns} and the header names {names}")
            pick = [names.index(c) for c in columns]
        elif id_column in names or time_column in names:
            pick = [i for i, c in enumerate(names) if c not in (id_column, time_column)]
    values = []
    for n, fields in rows:
        if header and pick is not None and len(fields) != len(names):
            raise _width(name, n, fields, names, header_line)
        chosen = pick if pick is not None else range(len(fields))
        row = []
        for i in chosen:
            column = repr(names[i]) if i < len(names) else str(i + 1)
            if not fields[i]:
                raise CLIError(f"{name}, line {n}: missing value (an empty cell) in column {column}: every step "
                               "needs one value per feature; fill it in")
            try:
                row.append(parse_value(fields[i]))
            except ValueError as e:
                raise CLIError(f"{name}, line {n}: {e} in column {column}: every step needs a finite number per "
                               "feature") from e
        if header and len(fields) != len(names):  # after the values: a word where a number belongs says more
            raise _width(name, n, fields, names, header_line)
        values.append(row)
        if len(row) != len(values[0]):
            raise CLIError(f"{name}, line {n}: {len(row)} value(s), but line {rows[0][0]} has "
                           f"{len(values[0])}; every row (time step) needs one value per feature")
    if not values:
        raise CLIError(f"{name}: no rows of numbers (one row per time step, one column per feature)")
    array = np.asarray(values, dtype=np.float32)
    timed = time_column if time_column in names else None
    ids = id_column if id_column in names else None
    groups = _sequences(rows, names, name, ids, timed, layout.time_format, steps and layout.gaps != "allow")
    if groups is None:
        return [Rows(None, array, name, [n for n, _ in rows])]
    at = names.index(timed) if timed is not None else None
    # a file without the id column is one sequence, with no id (series_rows names it "series")
    return [Rows(key if ids is not None else None, array[order], name, [rows[i][0] for i in order],
                 None if at is None else [rows[i][1][at] for i in order]) for key, order in groups.items()]


def _width(name: str, line: int, fields: list[str], names: list[str], header_line: int) -> CLIError:
    return CLIError(f"{name}, line {line}: {len(fields)} field(s), but the header (line {header_line}) names "
                    f"{len(names)} column(s): every row needs one field per column (an empty one is missing)")


def _sequences(rows: list[tuple[int, list[str]]], names: list[str], name: str, id_column: str | None,
               time_column: str | None, time_format: str | None, gaps: bool = False) -> dict[str, Any] | None:
    """Row indices of each id in time order, found as training finds them (``series_rows``), or None
    when the file holds neither column; with ``gaps``, a series that skips a step is refused as
    training refuses it (``check_gaps``)."""
    if id_column is None and time_column is None:
        return None
    import pandas as pd

    from rnnkit.data.formats import DataFileError
    from rnnkit.data.formats.tables import Table, series_rows, time_stamps
    from rnnkit.data.formats.time_gaps import check_gaps

    frame = pd.DataFrame({c: [fields[names.index(c)] or None for _, fields in rows]
                          for c in (id_column, time_column) if c is not None})
    table = Table.from_lines(frame, name, [n for n, _ in rows])  # the lines as read here
    try:
        groups = series_rows(table, id_column, time_column, time_format)
        if gaps and time_column is not None:
            stamps = time_stamps(table, time_column, time_format)
            for key, order in groups.items():
                check_gaps(table, key, order, stamps, time_column, advice=HISTORY_GAP_ADVICE)
        return groups
    except DataFileError as e:
        raise CLIError(str(e).splitlines()[0]) from e


__all__ = ["Layout", "Rows", "STDIN", "check_encoding", "name_of", "numbers", "read_sequences", "read_table",
           "read_text", "records"]
