"""``csv:``, ``parquet:`` and ``jsonl:`` tables (pandas) -> forecasting, sequence classification/regression,
or text.

A JSON-lines file (``.jsonl``, ``.ndjson`` or ``.json``: one JSON object per line, the keys being the
columns) is read as a table in any layout, by ``jsonl:`` or by its suffix.

Three layouts, chosen by the options:

**Time series for forecasting** (``horizon=`` given)::

    rnnkit.datasets.load("csv:passengers.csv", target="passengers", time="month", window=24, horizon=12)

One row per time step; ``target`` (a column or a list) is forecast ``horizon`` steps ahead from
``window`` past steps; ``features=[...]`` adds past-only input columns; ``covariates=[...]``
are known in advance and given over the horizon as ``future``; ``id=`` splits a long table into
several series. The split is chronological (see :mod:`rnnkit.data.formats.table_forecast`).

**Sequences for classification / regression / tagging** (``id=`` given, no ``horizon``)::

    rnnkit.datasets.load("csv:gestures.csv", id="sample", time="t", target="label")

Long format: one row per step, ``id,time,feature1,feature2,...,label``; the rows of one id form
one sequence (ordered by ``time`` if given, else file order). The label must be the same on
every row of a sequence, unless ``task="tagging"`` (one label per step). Features default to
every column other than id, time and target. See :mod:`rnnkit.data.formats.table_sequences`.

**Text, one example per row** (``text=`` given)::

    rnnkit.datasets.load("csv:reviews.csv", text="review", target="label", tokenizer="char")

Each row's text (quoted fields may span lines) is tokenized into ``x``; its target is a class, or a
number with ``task="regression"``. See :mod:`rnnkit.data.formats.table_text` for its options.

Common options: test (a second file of the same layout), time_format (the ``pandas.to_datetime``
format of a text time column, such as ``"%d/%m/%Y"``), nan (``"raise"`` default or
``"interpolate"``), scale (``"standard"`` default, ``"minmax"`` or None; fitted on the training
split only and kept in ``dataset.extras["scaler"]``), valid_fraction, test_fraction, seed, name,
read_options (a dict passed to ``pandas.read_csv`` / ``read_parquet`` / ``read_json``).

Errors name the file, the line (CSV: the line in the file where the row starts, the header being
line 1; JSON lines: the object's line; Parquet: the row, counting from 1) and the column: a target or
other column that does not exist (listing the columns that do), a value that is not a number, a
missing value under ``nan="raise"``, a row without its id or time, a time column that is neither
numbers nor dates all through. A UTF-8 byte-order mark is read as nothing.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rnnkit.data.dataset import SequenceDataset
from rnnkit.data.datasets.registry import register_format
from rnnkit.data.formats.csv_checks import check_extra_fields
from rnnkit.data.formats.errors import DataFileError, check_exists
from rnnkit.data.formats.table_lines import (
    bad_byte_line,
    bad_json_line,
    check_json_objects,
    csv_record_lines,
    json_record_lines,
)
from rnnkit.data.scalers import MinMaxScaler, Scaler, StandardScaler
from rnnkit.data.windows import NanPolicy, fill_missing

ScaleKind = Literal["standard", "minmax"] | None


TableKind = Literal["csv", "parquet", "jsonl"]
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass
class Table:
    """A pandas frame read from a file, with the file's line numbering for error messages."""

    frame: Any  # pandas.DataFrame (pandas is imported lazily)
    path: str
    kind: TableKind = "csv"
    read_options: dict[str, Any] | None = None
    _starts: list[int] | None = field(default=None, repr=False)

    @classmethod
    def from_lines(cls, frame: Any, path: str, lines: Sequence[int]) -> Table:
        """A table whose rows were read elsewhere (``rnnkit predict`` reads its CSV files itself),
        with the file line of each row: errors about frame row ``i`` name line ``lines[i]``.

        Example:
            >>> table = Table.from_lines(pandas.DataFrame({"t": ["b", "a"]}), "h.csv", [2, 5])
            >>> table.line(1)
            5
        """
        if len(lines) != len(frame):
            raise ValueError(f"lines must give one line per row of the frame: {len(lines)} for {len(frame)} rows")
        return cls(frame=frame, path=str(path), _starts=[int(n) for n in lines])

    def line(self, row: int) -> int:
        """The 1-based file line (CSV, JSON lines) or row (Parquet) of frame row ``row``.

        A CSV row whose quoted field spans lines makes every later row start further down the file,
        and JSON lines may sit between blank lines: the lines are then found by reading the file once
        (on the first call), as long as that reading agrees with pandas on the number of rows; else
        one line per row after the header is assumed.
        """
        if self.kind != "parquet" and self._starts is None:
            starts = (csv_record_lines(self.path, self.read_options) if self.kind == "csv"
                      else json_record_lines(self.path))
            self._starts = starts if starts is not None and len(starts) == len(self.frame) else []
        if self._starts:
            return self._starts[int(row)]
        return int(row) + (1 if self.kind == "csv" else 0) + 1

    def need(self, columns: Sequence[str], role: str) -> None:
        """Raise naming the first of ``columns`` that the table lacks, and the columns it has."""
        for c in columns:
            if c not in self.frame.columns:
                names = [str(k) for k in self.frame.columns]
                seps = [s for s in (";", "\t", "|") if len(names) == 1 and s in names[0]]
                hint = (f"; the header reads as one column: if the file is separated by {seps[0]!r}, pass "
                        f"read_options={{sep: {seps[0]!r}}}") if seps else ""
                raise DataFileError(self.path, f"{role} column {c!r} does not exist; the columns are {names}{hint}",
                                    field=str(c))

    def numbers(self, column: str, *, rows: np.ndarray | None = None) -> np.ndarray:
        """``column`` as float64 (NaN where empty); a value that is not a number, or is infinite, is an error."""
        import pandas as pd

        raw = self.frame[column] if rows is None else self.frame[column].iloc[rows]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy())
        if bad.size:
            r = int(raw.index[bad[0]])
            raise DataFileError(self.path, f"{raw.iloc[bad[0]]!r} is not a number", line=self.line(r),
                                field=str(column))
        infinite = np.flatnonzero(np.isinf(values))  # 'inf', '1e999': a number, but no model can read it
        if infinite.size:
            r = int(raw.index[infinite[0]])
            raise DataFileError(self.path, f"{str(raw.iloc[infinite[0]])!r} is not a finite number "
                                f"({infinite.size} in this column here)", line=self.line(r), field=str(column))
        return values

    def check_missing(self, column: str, values: np.ndarray, rows: np.ndarray, what: str = "value") -> None:
        """Raise at the first NaN of ``values`` (the rows ``rows`` of ``column``)."""
        nan = np.flatnonzero(np.isnan(values))
        if nan.size:
            raise DataFileError(self.path, f"missing {what} ({nan.size} in this column here); pass "
                                "nan='interpolate' to fill values linearly in time, or clean the file",
                                line=self.line(int(rows[nan[0]])), field=str(column))


def table_kind(path: str | Path) -> TableKind:
    """``parquet`` for ``.parquet``/``.pq``, ``jsonl`` for ``.jsonl``/``.ndjson``/``.json``, else ``csv``."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "jsonl" if suffix in JSON_SUFFIXES else "csv"


def read_table(path: str | Path, *, read_options: dict[str, Any] | None = None) -> Table:
    """Read a CSV file (any suffix but those below; tab-separated for ``.tsv``), a ``.parquet``/``.pq``
    file, or a JSON-lines file (``.jsonl``/``.ndjson``/``.json``: one JSON object per line)."""
    import pandas as pd

    p = check_exists(path)
    kind = table_kind(p)
    what = {"csv": "CSV table", "parquet": "Parquet table", "jsonl": "JSON-lines file (one object per line)"}[kind]
    opts = dict(read_options or {})
    if kind == "csv" and p.suffix.lower() == ".tsv" and "sep" not in opts and "delimiter" not in opts:
        opts["sep"] = "\t"  # a .tsv file is tab-separated unless read_options say otherwise
    if kind == "jsonl" and opts.get("lines", True):
        check_json_objects(p, str(opts.get("encoding", "utf-8-sig")))
    try:
        if kind == "parquet":
            frame = pd.read_parquet(p, **opts)
        elif kind == "jsonl":
            frame = pd.read_json(p, **{"lines": True, "dtype": False, "encoding": "utf-8-sig", **opts})
        else:
            frame = pd.read_csv(p, **opts)
    except pd.errors.ParserError as e:
        quote = re.search(r"EOF inside string starting at row (\d+)", str(e))
        if quote and kind == "csv":  # a quote opened and never closed: with a header, row N is line N + 1
            hint = "; if quotes in this file are text, read it with read_options={quoting: 3} (no quoting)" \
                if opts.get("sep", opts.get("delimiter")) == "\t" else ""
            raise DataFileError(p, f'a quote (") opens a field that no quote closes before the end of the file{hint}',
                                line=int(quote.group(1)) + 1) from e
        if kind == "csv" and "Expected" in str(e):  # pandas counts rows, not the file's lines: find the line
            check_extra_fields(p, opts)
        raise DataFileError(p, f"is not a well-formed {what}: {e}") from e
    except UnicodeDecodeError as e:
        encoding = str(opts.get("encoding", "utf-8"))
        raise DataFileError(p, f"is not {encoding} text ({e.reason}); pass read_options={{encoding: ...}} with the "
                            "file's encoding", line=bad_byte_line(p, encoding)) from e
    except (ValueError, TypeError, OSError, pd.errors.EmptyDataError) as e:  # (TypeError: pandas on odd JSON)
        line = bad_json_line(p) if kind == "jsonl" else None
        raise DataFileError(p, f"cannot be read as a {what}: {e}", line=line) from e
    if len(frame) == 0:
        raise DataFileError(p, "has no data rows")
    if kind == "csv" and "index_col" not in opts and not isinstance(frame.index, pd.RangeIndex):
        check_extra_fields(p, opts)  # every row one field longer: pandas made the first column the index
    if kind == "csv" and opts.get("sep", opts.get("delimiter")) == "\t" and "quoting" not in opts:
        _check_tab_quotes(frame, p, opts)
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    return Table(frame=frame, path=str(p), kind=kind, read_options=opts)


def _check_tab_quotes(frame: Any, path: Path, opts: dict[str, Any]) -> None:
    """A tab-separated field that holds a tab was opened by a quote (CSV quoting, which pandas
    writes and reads) that the file never closed: a stray ``"`` in a TSV whose quotes are text. The
    rows up to the next quote would be read as one field, with no error; this says so instead."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind in "biufcmM":  # numbers and times hold no tabs
            continue
        hit = next((i for i, v in enumerate(values) if isinstance(v, str) and "\t" in v), None)
        if hit is not None:
            starts = csv_record_lines(path, opts)
            line = starts[hit] if starts is not None and hit < len(starts) else None
            raise DataFileError(path, 'a quote (") opens a field that runs over tabs and lines to the next quote; '
                                "if quotes in this file are text, read it with read_options={quoting: 3} (no "
                                "quoting)", line=line, field=str(column))


def time_stamps(table: Table, time: str, time_format: str | None = None) -> Any:
    """The ``time`` column as comparable values: numbers, or dates (text read with ``time_format``,
    a ``pandas.to_datetime`` format such as ``"%d/%m/%Y"``, else in the format of the first value),
    so that ``1/2/1958`` sorts after ``12/1/1957``. A missing time, or text that reads neither as
    numbers nor as dates all through the column, is an error naming the first such row: sorting
    such a column as text would put ``13/01/2020`` between ``12/01`` and ``14/01`` of other months."""
    import pandas as pd

    stamps = table.frame[time]
    missing = np.flatnonzero(stamps.isna().to_numpy())
    if missing.size:
        raise DataFileError(table.path, f"missing time ({missing.size} in this column); every row needs its "
                            "time step", line=table.line(int(missing[0])), field=time)
    if stamps.dtype.kind in "mM" or (stamps.dtype.kind in "biufc" and time_format is None):
        return stamps
    if time_format is None:
        numbers = pd.to_numeric(stamps, errors="coerce")
        if numbers.notna().all():
            return numbers
        if not np.isnan(numbers.iloc[0]):  # the first time is a number: so should the others be
            bad = np.flatnonzero(numbers.isna().to_numpy())
            raise DataFileError(table.path, f"time {str(stamps.iloc[int(bad[0])])!r} is not a number, as the first "
                                f"time {str(stamps.iloc[0])!r} is ({bad.size} such in this column)",
                                line=table.line(int(bad[0])), field=time)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dates = pd.to_datetime(stamps.astype(str), errors="coerce", format=time_format)
        except (ValueError, TypeError) as e:
            raise DataFileError(table.path, f"time_format {time_format!r} is not a date format: {e}",
                                field=time) from e
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        value = str(stamps.iloc[int(bad[0])])
        how = (f"does not match time_format {time_format!r}" if time_format is not None else
               f"is neither a number nor a date in the format of the first time {str(stamps.iloc[0])!r}")
        raise DataFileError(table.path, f"time {value!r} {how} ({bad.size} such in this column); pass "
                            "time_format= with the dates' format (e.g. '%d/%m/%Y' for 31/01/2020), or write "
                            "ISO dates (2020-01-31)", line=table.line(int(bad[0])), field=time)
    return dates


def series_rows(table: Table, id_col: str | None, time: str | None,
                time_format: str | None = None) -> dict[str, np.ndarray]:
    """Row indices of each series, in time order; a row without an id or a time is an error."""
    frame = table.frame
    if id_col is not None:
        missing = np.flatnonzero(frame[id_col].isna().to_numpy())
        if missing.size:
            raise DataFileError(table.path, f"missing id ({missing.size} in this column); every row needs the id "
                                "of the series it belongs to", line=table.line(int(missing[0])), field=id_col)
    groups = {"series": np.arange(len(frame))} if id_col is None else {
        str(k): np.asarray(v) for k, v in frame.groupby(id_col, sort=False).indices.items()}
    if time is None:
        return groups
    stamps = time_stamps(table, time, time_format)
    out = {}
    for key, rows in groups.items():
        t = stamps.iloc[rows].to_numpy()
        order = np.argsort(t, kind="stable")
        rows, t = rows[order], t[order]
        dup = np.flatnonzero(t[1:] == t[:-1])
        if dup.size:
            row = int(rows[dup[0] + 1])
            raise DataFileError(table.path, f"time {str(frame[time].iloc[row])!r} appears twice in series "
                                f"{key!r}", line=table.line(row), field=time)
        out[key] = rows
    return out


def numeric_block(table: Table, columns: Sequence[str], rows: np.ndarray, nan: NanPolicy) -> tuple[np.ndarray, int]:
    """``(len(rows), len(columns))`` float64 of those rows, with the NaN policy applied; and the
    number of values filled."""
    cols = []
    for c in columns:
        values = table.numbers(c, rows=rows)
        if nan == "raise":
            table.check_missing(c, values, rows)
        cols.append(values)
    data = np.stack(cols, axis=1)
    if nan == "raise":
        return data, 0
    try:
        return fill_missing(data, policy=nan, name=f"{table.path} columns {list(columns)}")
    except ValueError as e:
        raise DataFileError(table.path, str(e)) from e


def make_scaler(kind: ScaleKind) -> Scaler | None:
    if kind is None:
        return None
    if kind == "standard":
        return StandardScaler()
    if kind == "minmax":
        return MinMaxScaler()
    raise ValueError(f"scale must be 'standard', 'minmax' or None, got {kind!r}")


def as_list(columns: str | Sequence[str] | None) -> list[str]:
    if columns is None:
        return []
    return [columns] if isinstance(columns, str) else [str(c) for c in columns]


def load_table(path: str, *, target: str | Sequence[str] | None = None, horizon: int | None = None,
               **options: Any) -> SequenceDataset:
    """Dispatch to the forecasting layout (``horizon`` given), the text layout (``text`` given) or
    the sequence layout."""
    from rnnkit.data.formats.table_forecast import load_series_table
    from rnnkit.data.formats.table_sequences import load_sequence_table
    from rnnkit.data.formats.table_text import load_text_table

    check_exists(path)  # a missing file first: it is the error the user can act on
    if target is None:
        raise ValueError(f"loading {path} needs target=COLUMN (the column to predict)")
    if options.get("text") is not None:
        if horizon is not None or options.get("id") is not None:
            raise ValueError("text= reads one example per row: it does not go with horizon= or id=")
        if not isinstance(target, str):
            raise ValueError(f"the text layout takes one target column, got {list(target)}")
        return load_text_table(path, target=target, **options)
    options.pop("text", None)
    if horizon is not None:
        return load_series_table(path, target=target, horizon=horizon, **options)
    if options.get("window") is not None:
        raise ValueError("window= is for forecasting: give horizon= too (how many steps to forecast)")
    options.pop("window", None)
    if isinstance(target, str):
        return load_sequence_table(path, target=target, **options)
    raise ValueError(f"the sequence layout takes one target column, got {list(target)}")


@register_format("csv")
def load_csv(path: str, **options: Any) -> SequenceDataset:
    """``load("csv:FILE", target=..., ...)`` (see the module docstring)."""
    return load_table(path, **options)


@register_format("parquet")
def load_parquet(path: str, **options: Any) -> SequenceDataset:
    """``load("parquet:FILE", target=..., ...)`` (see the module docstring)."""
    return load_table(path, **options)


@register_format("jsonl")
def load_jsonl(path: str, **options: Any) -> SequenceDataset:
    """``load("jsonl:FILE", target=..., ...)``: a JSON-lines file, one object (row) per line, in any
    of the layouts (see the module docstring)."""
    if table_kind(path) != "jsonl":
        raise ValueError(f"jsonl: reads files named .jsonl, .ndjson or .json, not {Path(path).name!r}")
    return load_table(path, **options)


__all__ = ["Table", "as_list", "load_csv", "load_jsonl", "load_parquet", "load_table", "make_scaler", "numeric_block",
           "read_table", "series_rows", "table_kind"]
