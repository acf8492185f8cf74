"""``rnnkit predict`` reads its CSV files itself and hands pandas' :class:`Table` the lines it found,
through the public :meth:`Table.from_lines`, not the private ``_starts``: a time error names the
line where the row was in the file, not a row number."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

from rnnkit.cli import predict_table
from rnnkit.data.formats import DataFileError
from rnnkit.data.formats.tables import Table, series_rows


def test_a_table_of_rows_read_elsewhere_names_their_lines() -> None:
    table = Table.from_lines(pd.DataFrame({"t": ["3", "1", "1"]}), "h.csv", [2, 5, 9])
    assert [table.line(i) for i in range(3)] == [2, 5, 9]
    with pytest.raises(DataFileError, match=r"h\.csv, line 9, field 't': time '1' appears twice"):
        series_rows(table, None, "t")


def test_from_lines_needs_one_line_per_row() -> None:
    with pytest.raises(ValueError, match="one line per row of the frame: 1 for 2 rows"):
        Table.from_lines(pd.DataFrame({"t": [1, 2]}), "h.csv", [2])


def test_predict_builds_its_tables_through_the_public_constructor() -> None:
    assert "_starts" not in inspect.getsource(predict_table)
