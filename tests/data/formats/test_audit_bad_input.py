"""Second audit of bad input: a stray quote that swallows a row, a float target with a ``nan``, missing
months in a series, and errors that named the wrong line, pandas' count of rows, or a byte offset."""

from __future__ import annotations

import json

import pytest

import rnnkit.datasets
from rnnkit.data.formats import DataFileError

TEXT = {"text": "review", "target": "label"}


def write(path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def reviews(n: int = 20) -> list[str]:
    return ["review,label"] + [f'"review {i}",{"pos" if i % 2 else "neg"}' for i in range(n)]


def test_a_stray_quote_that_swallows_the_next_row_is_named(tmp_path) -> None:
    lines = reviews()
    lines[4:5] = ['"Broke after a week.', 'Would not buy again",neg']  # a real multi-line field: lines 5-6
    lines[10] = '"nice one,pos'  # line 11: a whole row, but its quote runs on to line 12
    path = write(tmp_path / "r.csv", lines)
    with pytest.raises(DataFileError, match="stray quote") as err:
        rnnkit.datasets.load(f"csv:{path}", **TEXT)
    assert f"{path}, line 11, field 'review'" in str(err.value)
    lines[10] = '"nice one",pos'
    ds = rnnkit.datasets.load(f"csv:{write(tmp_path / 'ok.csv', lines)}", **TEXT)  # the multi-line field still reads
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 20


def test_a_nan_float_target_in_a_text_table_is_a_missing_target(tmp_path) -> None:
    path = write(tmp_path / "f.csv", ["review,label"] + [f'"text {i}",{i / 10}' for i in range(20)] + ['"text x",nan'])
    with pytest.raises(DataFileError, match="missing target") as err:
        rnnkit.datasets.load(f"csv:{path}", **TEXT)
    assert f"{path}, line 22, field 'label'" in str(err.value)


def test_missing_months_in_a_series_are_named(tmp_path) -> None:
    months = [f"{1949 + m // 12}-{m % 12 + 1:02d}" for m in range(40)]
    del months[9:13]  # 1949-10 .. 1950-01 missing: line 10 is 1949-09, line 11 is 1950-02
    path = write(tmp_path / "g.csv", ["month,passengers"] + [f"{m},{100 + i}" for i, m in enumerate(months)])
    options = {"target": "passengers", "time": "month", "window": 6, "horizon": 3}
    with pytest.raises(DataFileError, match=r"'1949-09' \(line 10\) to '1950-02', 4 step\(s\) of 1 month") as err:
        rnnkit.datasets.load(f"csv:{path}", **options)
    assert f"{path}, line 11, field 'month'" in str(err.value)
    assert len(rnnkit.datasets.load(f"csv:{path}", gaps="allow", **options).train) > 0
    irregular = [0, 1, 3, 4, 8, 9, 15, 16, 17, 21, 22, 30, 31, 33, 40, 41, 44, 50, 52, 60]  # no usual step
    odd = write(tmp_path / "i.csv", ["t,y"] + [f"{t},{i}" for i, t in enumerate(irregular)])
    assert len(rnnkit.datasets.load(f"csv:{odd}", target="y", time="t", window=3, horizon=2).train) > 0


def test_a_non_number_time_names_its_own_line_and_value(tmp_path) -> None:
    rows = [f"s{i // 5},{i % 5},0.{i},{'wave' if i // 5 % 2 else 'clap'}" for i in range(30)]
    rows[8] = "s1,x,0.5,wave"  # line 10
    path = write(tmp_path / "s.csv", ["sample,t,ax,label"] + rows)
    with pytest.raises(DataFileError, match="time 'x' is not a number") as err:
        rnnkit.datasets.load(f"csv:{path}", id="sample", time="t", target="label")
    assert f"{path}, line 10, field 't'" in str(err.value)


def test_an_extra_field_after_a_multi_line_field_names_the_file_line(tmp_path) -> None:
    lines = reviews()
    lines[4:5] = ['"Broke after a week.', 'Would not buy again",neg']
    lines[10] = '"nice one",pos,extra'  # line 11; pandas calls it line 10
    path = write(tmp_path / "x.csv", lines)
    with pytest.raises(DataFileError, match="3 fields, but the header names 2") as err:
        rnnkit.datasets.load(f"csv:{path}", **TEXT)
    assert f"{path}, line 11:" in str(err.value)
    assert "Expected" not in str(err.value)


@pytest.mark.parametrize("prefix, lines", [
    ("pairs", [f"word {i}\t{i}" for i in range(12)]),
    ("text", [f"line {i}" for i in range(12)]),
    ("conll", [f"tok{i} NN" if i % 4 else "" for i in range(12)]),
])
def test_bytes_that_are_not_utf8_are_named_by_line_and_column(tmp_path, prefix: str, lines: list[str]) -> None:
    path = tmp_path / "bad.txt"
    raw = "".join(line + "\n" for line in lines).encode("utf-8").split(b"\n")
    raw[9] = "café\t1".encode("latin-1") if prefix == "pairs" else "café NN".encode("latin-1")  # line 10, column 4
    path.write_bytes(b"\n".join(raw))
    with pytest.raises(DataFileError, match=r"column 4\); re-encode the file as UTF-8") as err:
        rnnkit.datasets.load(f"{prefix}:{path}")
    assert f"{path}, line 10:" in str(err.value)


def test_a_one_column_header_with_semicolons_suggests_the_separator(tmp_path) -> None:
    path = write(tmp_path / "s.csv", ["month;passengers"] + [f"{m};{m}" for m in range(20)])
    with pytest.raises(DataFileError, match=r"separated by ';', pass read_options=\{sep: ';'\}"):
        rnnkit.datasets.load(f"csv:{path}", target="passengers", window=3, horizon=2)


def test_a_ts_case_without_its_label_says_so(tmp_path) -> None:
    path = write(tmp_path / "a.ts", ["@problemName a", "@classLabel true up down", "@data", "1,2:3,4:up",
                                     "1,2:3,4:down", "1,2,3:4,5,6"])
    with pytest.raises(DataFileError, match="is this case's label missing") as err:
        rnnkit.datasets.load(f"ts:{path}")
    assert f"{path}, line 6," in str(err.value)


def test_a_json_text_that_is_a_list_is_refused(tmp_path) -> None:
    rows = [{"review": f"thing {i}", "label": "pos" if i % 2 else "neg"} for i in range(16)]
    rows[9]["review"] = ["a", "b"]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DataFileError, match="the text is a list") as err:
        rnnkit.datasets.load(f"jsonl:{path}", **TEXT)
    assert f"{path}, line 10, field 'review'" in str(err.value)


@pytest.mark.parametrize("key, value", [("window", "abc"), ("horizon", 2.5), ("stride", True), ("test_size", "3")])
def test_a_step_count_that_is_not_a_whole_number_is_named(tmp_path, key: str, value: object) -> None:
    path = write(tmp_path / "s.csv", ["t,y"] + [f"{t},{t % 7}" for t in range(40)])
    options: dict[str, object] = {"target": "y", "time": "t", "window": 6, "horizon": 3, key: value}
    with pytest.raises(ValueError, match=rf"{key} must be a whole number of steps, got {value!r}"):
        rnnkit.datasets.load(f"csv:{path}", **options)
