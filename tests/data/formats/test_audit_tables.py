"""Audit of csv/jsonl tables: no row lost for a missing id or time, no time column sorted as text,
text kept as written, no later split's value in an earlier one, and splits that leave training
data, all checked at load time."""

from __future__ import annotations

import pytest

import rnnkit.datasets
from rnnkit.data.dataset import split_train_valid
from rnnkit.data.formats import DataFileError

SERIES = {"target": "y", "time": "t", "window": 3, "horizon": 3}


def write(path, header: str, rows: list[str]) -> str:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return str(path)


def steps(n: int, gaps: dict[int, str] | None = None) -> list[str]:
    return [f"{t},{(gaps or {}).get(t, float(t))}" for t in range(n)]


def test_a_row_without_an_id_is_named_in_sequences_and_series(tmp_path) -> None:
    seqs = write(tmp_path / "s.csv", "sample,t,ax,label",
                 ["s1,0,0.1,wave", "s1,1,0.2,wave", ",2,0.3,wave", "s2,0,0.5,clap", "s2,1,0.6,clap"])
    with pytest.raises(DataFileError, match=r"s.csv, line 4, field 'sample': missing id"):
        rnnkit.datasets.load(f"csv:{seqs}", id="sample", time="t", target="label")
    rows = [f"a,{t},{t}.0" for t in range(20)]
    rows[4] = ",4,4.0"
    series = write(tmp_path / "f.csv", "id,t,y", rows)
    with pytest.raises(DataFileError, match=r"f.csv, line 6, field 'id': missing id"):
        rnnkit.datasets.load(f"csv:{series}", id="id", **SERIES)


@pytest.mark.parametrize("times", [["0", "", "1"], ["2021-01-02", "", "2021-01-01"]])
def test_a_row_without_a_time_is_named(tmp_path, times: list[str]) -> None:
    seqs = write(tmp_path / "s.csv", "sample,t,ax,label",
                 [f"s1,{t},0.{i},wave" for i, t in enumerate(times)] + ["s2,0,0.5,clap"])
    with pytest.raises(DataFileError, match=r"s.csv, line 3, field 't': missing time"):
        rnnkit.datasets.load(f"csv:{seqs}", id="sample", time="t", target="label")
    series = write(tmp_path / "f.csv", "t,y", steps(20, {}) + [",20.0"])
    with pytest.raises(DataFileError, match=r"f.csv, line 22, field 't': missing time"):
        rnnkit.datasets.load(f"csv:{series}", **SERIES)


def test_day_first_dates_are_an_error_or_read_with_time_format(tmp_path) -> None:
    days = [f"{d:02d}/{m:02d}/2020" for m in (1, 2) for d in range(1, 25)]  # dd/mm/yyyy, in time order
    path = write(tmp_path / "dmy.csv", "date,y", [f"{day},{i}" for i, day in enumerate(days)])
    with pytest.raises(DataFileError, match=r"dmy.csv, line 14, field 'date': time '13/01/2020' is neither a "
                                            r"number nor a date.*time_format="):
        rnnkit.datasets.load(f"csv:{path}", target="y", time="date", window=3, horizon=2)
    ds = rnnkit.datasets.load(f"csv:{path}", target="y", time="date", window=3, horizon=2, time_format="%d/%m/%Y",
                              gaps="allow")  # 25-31 January are missing: a gap, refused without gaps="allow"
    for e in ds.train.examples + ds.valid.examples + ds.test.examples:  # the file's order: y is the step
        assert e.x[:, 0].tolist() == list(range(e.meta["start"], e.meta["start"] + 3))
    with pytest.raises(DataFileError, match=r"line 2, field 'date': time '01/01/2020' does not match time_format"):
        rnnkit.datasets.load(f"csv:{path}", target="y", time="date", window=3, horizon=2, time_format="%Y-%m-%d")


def test_text_that_looks_like_a_number_is_kept_as_written(tmp_path) -> None:
    path = write(tmp_path / "codes.csv", "code,label", ["00501,a", "1.50,b", "007,a", "1e3,b"])
    ds = rnnkit.datasets.load(f"csv:{path}", text="code", target="label", tokenizer="char",
                              valid_fraction=0.0, test_fraction=0.0)
    tok = ds.extras["tokenizer"]
    assert [tok.decode(e.x.tolist()) for e in ds.train.examples] == ["00501", "1.50", "007", "1e3"]
    assert [e.meta["line"] for e in ds.train.examples] == [2, 3, 4, 5]


def test_a_test_file_shorter_than_the_horizon_is_named(tmp_path) -> None:
    train = write(tmp_path / "train.csv", "t,y", steps(20))
    test = write(tmp_path / "short.csv", "t,y", ["20,20", "21,21"])
    with pytest.raises(DataFileError, match=r"short.csv.*2 step\(s\), fewer than horizon=3") as err:
        rnnkit.datasets.load(f"csv:{train}", test=test, **SERIES)
    assert str(err.value).startswith(test)


@pytest.mark.parametrize("gap, spike, split", [(13, 14, "train"), (16, 17, "valid")])
def test_filling_a_gap_never_reads_a_later_split(tmp_path, gap: int, spike: int, split: str) -> None:
    """20 steps, horizon 3: train targets end at step 13, valid holds 14-16, test 17-19. A gap just
    before a split ends, next to a spike in the following split, must not be filled from the spike."""
    path = write(tmp_path / "gap.csv", "t,y", steps(20, {gap: "", spike: "1000"}))
    ds = rnnkit.datasets.load(f"csv:{path}", nan="interpolate", **SERIES)
    assert ds.info.extra["nan_filled"] == 1
    for e in getattr(ds, split).examples:
        assert float(e.x.max()) < 100 and float(e.y.max()) < 100
    filled = next(e for e in ds.train.examples + ds.valid.examples + ds.test.examples
                  if e.meta["target_start"] <= gap < e.meta["target_stop"])
    assert float(filled.y[gap - filled.meta["target_start"]]) == gap - 1  # the last value before it, carried


def test_a_gap_inside_a_split_is_still_interpolated(tmp_path) -> None:
    path = write(tmp_path / "gap.csv", "t,y", steps(20, {6: ""}))
    ds = rnnkit.datasets.load(f"csv:{path}", nan="interpolate", **SERIES)
    e = next(e for e in ds.train.examples if e.meta["target_start"] <= 6 < e.meta["target_stop"])
    assert float(e.y[6 - e.meta["target_start"]]) == pytest.approx(6.0)


def test_fractions_that_leave_no_training_data_are_refused_at_load_time(tmp_path) -> None:
    path = write(tmp_path / "small.csv", "review,label", [f"text {i},c{i % 2}" for i in range(10)])
    with pytest.raises(ValueError, match=r"10 record\(s\): test_fraction 0.95 takes 10 for test.*none to train on"):
        rnnkit.datasets.load(f"csv:{path}", text="review", target="label", test_fraction=0.95, valid_fraction=0.5)
    with pytest.raises(ValueError, match=r"valid_fraction 0.9 of 2 example\(s\) takes 2 for valid"):
        split_train_valid([1, 2], 0.9)
    assert split_train_valid([1, 2, 3], 0.5, seed=0)[0]  # one left to train on: fine


def test_a_byte_order_mark_in_a_json_lines_table(tmp_path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"review": "a b", "label": "pos"}\n\n{"review": "c", "label": "neg"}\n'
                     b'{"review": "d", "label": null}\n')
    with pytest.raises(DataFileError, match=r"j.jsonl, line 4, field 'label': missing target"):
        rnnkit.datasets.load(f"jsonl:{path}", text="review", target="label")
