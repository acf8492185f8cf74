"""csv/parquet/jsonl: forecasting series, long-format sequences and text rows round-trip; bad cells are named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import rnnkit.datasets
from rnnkit.data.formats import DataFileError


def series_frame(n: int = 60) -> pd.DataFrame:
    t = np.arange(n)
    return pd.DataFrame({"month": pd.date_range("2000-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"),
                         "passengers": 100 + t + 10 * np.sin(t), "promo": (t % 3 == 0).astype(float),
                         "temp": np.cos(t)})


def long_frame() -> pd.DataFrame:
    rows = []
    for s, (label, n) in enumerate([("wave", 3), ("clap", 2), ("wave", 4), ("clap", 1), ("wave", 2),
                                     ("clap", 3), ("wave", 2), ("clap", 2), ("wave", 3), ("clap", 4)]):
        for t in range(n):
            rows.append({"sample": f"s{s}", "t": t, "ax": s + 0.1 * t, "ay": -s - t, "label": label})
    return pd.DataFrame(rows)


def save(frame: pd.DataFrame, path) -> str:
    if str(path).endswith(".parquet"):
        frame.to_parquet(path)
    elif str(path).endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_forecasting_round_trip(tmp_path, suffix: str) -> None:
    frame = series_frame()
    shuffled = frame.sample(frac=1.0, random_state=0)  # the time column puts it back in order
    path = save(shuffled, tmp_path / f"air.{suffix}")
    ds = rnnkit.datasets.load(f"{suffix}:{path}", target="passengers", time="month", window=12, horizon=6,
                              features=["temp"], covariates=["promo"], scale=None)
    info = ds.info
    assert info.shape == "forecasting" and info.window == 12 and info.horizon == 6 and info.num_features == 2
    values = frame[["passengers", "temp"]].to_numpy(dtype=np.float32)
    for split in (ds.train, ds.valid, ds.test):
        for e in split.examples:
            s, t0 = e.meta["start"], e.meta["target_start"]
            assert np.allclose(e.x.numpy(), values[s:t0]) and np.allclose(e.y.numpy(), values[t0:t0 + 6, 0])
            assert np.allclose(e.future.numpy()[:, 0], frame["promo"].to_numpy()[t0:t0 + 6])
    # chronological: test targets are the last horizon, valid the one before, train before that
    assert [e.meta["target_start"] for e in ds.test.examples] == [54]
    assert [e.meta["target_start"] for e in ds.valid.examples] == [48]
    assert max(e.meta["target_stop"] for e in ds.train.examples) == 48


def test_forecast_scaler_sees_training_steps_only(tmp_path) -> None:
    frame = series_frame()
    frame.loc[50:, "passengers"] += 1000  # a jump inside valid/test must not move the scaler
    path = save(frame, tmp_path / "air.csv")
    ds = rnnkit.datasets.load(f"csv:{path}", target="passengers", window=12, horizon=6, scale="standard")
    scaler = ds.extras["scaler"]
    assert scaler.offset_[0] == pytest.approx(frame["passengers"][:48].mean())
    pred = scaler.inverse_transform(ds.test.examples[0].y.numpy()[:, None], features=[0])[:, 0]
    assert np.allclose(pred, frame["passengers"][54:60], rtol=1e-5)


def test_forecast_several_series_and_test_file(tmp_path) -> None:
    a, b = series_frame(40), series_frame(40)
    a["region"], b["region"] = "north", "south"
    whole = pd.concat([a, b])
    train = save(whole[whole.index < 34], tmp_path / "train.csv")
    test = save(whole[whole.index >= 34], tmp_path / "test.csv")
    ds = rnnkit.datasets.load(f"csv:{train}", test=test, target=["passengers", "temp"], id="region",
                              time="month", window=8, horizon=3, valid_size=0, stride=2)
    assert ds.info.num_targets == 2 and ds.info.extra["series"] == 2
    assert ds.test.examples[0].y.shape == (3, 2)
    assert {e.meta["series"] for e in ds.test.examples} == {"north", "south"}
    assert all(e.meta["target_start"] >= 34 for e in ds.test.examples)
    assert all(e.meta["target_stop"] <= 34 for e in ds.train.examples)
    # a test file must follow the training file in time: one that starts earlier, or repeats a step, is named
    for start in (20, 33):
        early = save(whole[whole.index >= start], tmp_path / f"early{start}.csv")
        with pytest.raises(DataFileError, match=r"early.*line 2, field 'month': series 'north' starts at time "
                                                r".* not after the training file's last time"):
            rnnkit.datasets.load(f"csv:{train}", test=early, target="passengers", id="region", time="month",
                                 window=8, horizon=3, valid_size=0)


def test_a_test_file_that_skips_steps_after_the_training_file(tmp_path) -> None:
    a, b = series_frame(40), series_frame(40)
    a["region"], b["region"] = "north", "south"
    whole = pd.concat([a, b])
    train = save(whole[whole.index < 34], tmp_path / "train.csv")
    north, south = whole.region == "north", whole.region == "south"
    late = save(whole[(whole.index >= 36) & north | (whole.index >= 34) & south], tmp_path / "late.csv")
    options = dict(target="passengers", id="region", time="month", window=8, horizon=3, valid_size=0)
    with pytest.raises(DataFileError, match=r"late.csv, line 2, field 'month': series 'north' starts at time .*not "
                                            r"the step after the training file's last time .*2 step\(s\) of 1 month "
                                            r"missing.*gaps='allow'"):
        rnnkit.datasets.load(f"csv:{train}", test=late, **options)
    ds = rnnkit.datasets.load(f"csv:{train}", test=late, gaps="allow", **options)  # meant to skip: read as is
    assert {e.meta["series"] for e in ds.test.examples} == {"north", "south"}


def test_nan_policy(tmp_path) -> None:
    frame = series_frame()
    frame.loc[7, "passengers"] = np.nan
    path = save(frame, tmp_path / "gaps.csv")
    with pytest.raises(DataFileError, match="missing value") as err:
        rnnkit.datasets.load(f"csv:{path}", target="passengers", window=12, horizon=6)
    assert f"{path}, line 9, field 'passengers'" in str(err.value)  # header is line 1, row 7 is line 9
    ds = rnnkit.datasets.load(f"csv:{path}", target="passengers", window=12, horizon=6, nan="interpolate",
                              scale=None)
    assert ds.info.extra["nan_filled"] == 1
    x = ds.train.examples[0].x[:, 0]
    assert x[7].item() == pytest.approx((frame["passengers"][6] + frame["passengers"][8]) / 2)


@pytest.mark.parametrize("options, message, field", [
    ({"target": "pasengers", "window": 4, "horizon": 2}, "target column 'pasengers' does not exist; the columns "
     "are \\['month', 'passengers', 'promo', 'temp'\\]", "pasengers"),
    ({"target": "passengers", "time": "when", "window": 4, "horizon": 2}, "column 'when' does not exist", "when"),
    ({"target": "passengers", "id": "sample"}, "column 'sample' does not exist", "sample"),
])
def test_columns_that_do_not_exist(tmp_path, options, message, field) -> None:
    path = save(series_frame(), tmp_path / "air.csv")
    with pytest.raises(DataFileError, match=message) as err:
        rnnkit.datasets.load(f"csv:{path}", **options)
    assert f"field '{field}'" in str(err.value) and "air.csv" in str(err.value)


def test_not_a_number_and_repeated_time(tmp_path) -> None:
    frame = series_frame().astype({"passengers": object})
    frame.loc[3, "passengers"] = "n/a!"
    path = save(frame, tmp_path / "text.csv")
    with pytest.raises(DataFileError, match="line 5, field 'passengers': 'n/a!' is not a number"):
        rnnkit.datasets.load(f"csv:{path}", target="passengers", window=4, horizon=2)
    frame = series_frame().astype({"promo": object})
    frame.loc[6, "promo"] = "-inf"  # a number, but not one a model can read: named like a missing value
    path = save(frame, tmp_path / "inf.csv")
    with pytest.raises(DataFileError, match="line 8, field 'promo': '-inf' is not a finite number"):
        rnnkit.datasets.load(f"csv:{path}", target="passengers", features=["promo"], window=4, horizon=2)
    frame = series_frame()
    frame.loc[5, "month"] = frame.loc[4, "month"]
    path = save(frame, tmp_path / "dup.csv")
    with pytest.raises(DataFileError, match="field 'month': time .* appears twice"):
        rnnkit.datasets.load(f"csv:{path}", target="passengers", time="month", window=4, horizon=2)


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_long_format_sequences_round_trip(tmp_path, suffix: str) -> None:
    frame = long_frame()
    path = save(frame.sample(frac=1.0, random_state=1), tmp_path / f"gestures.{suffix}")
    ds = rnnkit.datasets.load(f"{suffix}:{path}", id="sample", time="t", target="label", scale=None,
                              test_fraction=0.2, valid_fraction=0.25, seed=3)
    assert ds.info.shape == "many-to-one" and ds.info.task == "classification"
    assert ds.info.classes == ["clap", "wave"] and ds.info.num_features == 2
    assert ds.info.extra["features"] == ["ax", "ay"]
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (6, 2, 2)
    ids = [e.meta["id"] for split in (ds.train, ds.valid, ds.test) for e in split.examples]
    assert sorted(ids) == sorted(frame["sample"].unique())  # every sequence exactly once
    for split in (ds.train, ds.valid, ds.test):
        for e in split.examples:
            rows = frame[frame["sample"] == e.meta["id"]].sort_values("t")
            assert torch.allclose(e.x, torch.tensor(rows[["ax", "ay"]].to_numpy(), dtype=torch.float32))
            assert ds.info.classes[int(e.y)] == rows["label"].iloc[0]


def test_long_format_scaler_regression_and_tagging(tmp_path) -> None:
    frame = long_frame()
    frame["score"] = frame["sample"].str[1:].astype(float) / 10
    path = save(frame, tmp_path / "g.csv")
    ds = rnnkit.datasets.load(f"csv:{path}", id="sample", target="score", features=["ax", "ay"])
    assert ds.info.task == "regression" and ds.train.examples[0].y.dtype == torch.float32
    train_rows = np.concatenate([e.x.numpy() for e in ds.train.examples])
    assert np.allclose(train_rows.mean(axis=0), 0, atol=1e-5)  # standardised on train only
    frame["step"] = np.where(frame["t"] % 2 == 0, "even", "odd")
    path = save(frame, tmp_path / "tags.csv")
    tags = rnnkit.datasets.load(f"csv:{path}", id="sample", time="t", target="step", task="tagging",
                                features=["ax"])
    e = tags.train.examples[0]
    assert tags.info.shape == "synced" and e.y.shape == (e.x.shape[0],)
    assert [tags.info.classes[i] for i in e.y.tolist()] == ["even", "odd", "even", "odd"][: len(e.y)]


def test_long_format_errors(tmp_path) -> None:
    frame = long_frame()
    frame.loc[1, "label"] = "clap"  # s0 changes label on its second row (file line 3)
    path = save(frame, tmp_path / "mixed.csv")
    with pytest.raises(DataFileError, match="line 3, field 'label': the target changes within sequence 's0'"):
        rnnkit.datasets.load(f"csv:{path}", id="sample", target="label")
    test = long_frame()
    test.loc[5:8, "label"] = "bow"  # all of s2
    test = test[test["sample"] == "s2"]
    train = save(long_frame(), tmp_path / "train.csv")
    test_path = save(test, tmp_path / "test.csv")
    with pytest.raises(DataFileError, match="label 'bow' was not seen in the training data") as err:
        rnnkit.datasets.load(f"csv:{train}", test=test_path, id="sample", target="label")
    assert f"{test_path}, line 2" in str(err.value)
    frame = long_frame()
    frame.loc[2, "ay"] = np.nan
    path = save(frame, tmp_path / "nan.csv")
    with pytest.raises(DataFileError, match="line 4, field 'ay': missing value"):
        rnnkit.datasets.load(f"csv:{path}", id="sample", target="label")
    with pytest.raises(ValueError, match="needs id=COLUMN"):
        rnnkit.datasets.load(f"csv:{path}", target="label")


def test_a_missing_file_is_named_before_missing_options(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.csv' does not exist"):
        rnnkit.datasets.load(f"csv:{tmp_path / 'missing.csv'}")


REVIEWS = [("Great phone, battery lasts two days", "pos", 4.5),
           ("Broke after a week.\nWould not buy again", "neg", 1.0),
           ("good value", "pos", 4.0), ("awful screen", "neg", 2.0), ('love it "so much"', "pos", 5.0),
           ("screen cracked,\n\nreturned it", "neg", 1.5), ("works well", "pos", 4.0), ("too slow", "neg", 2.5)]


def reviews_frame() -> pd.DataFrame:
    return pd.DataFrame({"title": [f"review {i}" for i in range(len(REVIEWS))], "review": [r[0] for r in REVIEWS],
                         "label": [r[1] for r in REVIEWS], "stars": [r[2] for r in REVIEWS]})


def csv_start_lines(frame: pd.DataFrame) -> list[int]:
    """Where each row of ``frame.to_csv`` starts: after the header, one line per row plus its newlines."""
    lines, line = [], 2
    for _, row in frame.iterrows():
        lines.append(line)
        line += 1 + sum(str(v).count("\n") for v in row)
    return lines


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_text_rows_round_trip(tmp_path, suffix: str) -> None:
    frame = reviews_frame()
    path = save(frame, tmp_path / f"reviews.{suffix}")
    ds = rnnkit.datasets.load(f"{suffix}:{path}", text="review", target="label", tokenizer="char",
                              valid_fraction=0.0, test_fraction=0.0)
    assert ds.info.shape == "many-to-one" and ds.info.task == "classification" and ds.info.input_kind == "tokens"
    assert ds.info.classes == ["neg", "pos"] and len(ds.train) == len(REVIEWS)
    tok = ds.extras["tokenizer"]
    starts = csv_start_lines(frame) if suffix == "csv" else list(range(1, len(REVIEWS) + 1))  # one record a line
    for e, (text, label, _), line in zip(ds.train.examples, REVIEWS, starts):
        assert tok.decode(e.x.tolist()) == text  # quotes, commas and newlines inside the text survive
        assert ds.info.classes[int(e.y)] == label
        assert e.meta["line"] == line


def test_text_rows_regression_joined_columns_splits_and_unknown_tokens(tmp_path) -> None:
    path = save(reviews_frame(), tmp_path / "reviews.csv")
    ds = rnnkit.datasets.load(f"csv:{path}", text=["title", "review"], target="stars", valid_fraction=0.25,
                              test_fraction=0.25, seed=3)
    assert ds.info.task == "regression" and ds.info.num_targets == 1 and ds.info.metric == "rmse"
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (4, 2, 2)
    tok = ds.extras["tokenizer"]
    seen = {int(i) for e in ds.train.examples for i in e.x}
    by_line = {line: r for line, r in zip(csv_start_lines(reviews_frame()), REVIEWS)}
    for e in ds.train.examples + ds.valid.examples + ds.test.examples:
        text, _, stars = by_line[e.meta["line"]]
        assert float(e.y) == stars and e.y.dtype == torch.float32
        assert tok.encode(f"review {list(by_line).index(e.meta['line'])}\n{text}") == e.x.tolist()
    assert all(i in seen or i == tok.vocab.unk_id for e in ds.test.examples for i in e.x.tolist())


def test_text_rows_errors_name_the_line_where_the_row_starts(tmp_path) -> None:
    frame = reviews_frame()
    frame.loc[5, "review"] = "   "  # row 6 starts on line 8: rows 2 spans lines 3-4
    path = save(frame, tmp_path / "blank.csv")
    with pytest.raises(DataFileError, match=r"line 8, field 'review': blank text \(1 row\)"):
        rnnkit.datasets.load(f"csv:{path}", text="review", target="label")
    frame = reviews_frame()
    frame.loc[[6, 7], "review"] = np.nan
    path = save(frame, tmp_path / "missing.csv")
    with pytest.raises(DataFileError, match=r"line 11, field 'review': missing text \(2 rows in this column\)"):
        rnnkit.datasets.load(f"csv:{path}", text="review", target="label")
    frame = reviews_frame()
    frame.loc[3, "label"] = np.nan
    path = save(frame, tmp_path / "target.csv")
    with pytest.raises(DataFileError, match=r"line 6, field 'label': missing target \(1 row\)"):
        rnnkit.datasets.load(f"csv:{path}", text="review", target="label")
    with pytest.raises(DataFileError, match="text column 'body' does not exist; the columns are"):
        rnnkit.datasets.load(f"csv:{path}", text="body", target="label")
    train = save(reviews_frame(), tmp_path / "train.csv")
    test = reviews_frame().iloc[:3].copy()
    test.loc[2, "label"] = "mixed"
    test_path = save(test, tmp_path / "test.csv")
    with pytest.raises(DataFileError, match="label 'mixed' was not seen in the training data") as err:
        rnnkit.datasets.load(f"csv:{train}", test=test_path, text="review", target="label")
    assert f"{test_path}, line 5" in str(err.value)
    with pytest.raises(ValueError, match="does not go with horizon= or id="):
        rnnkit.datasets.load(f"csv:{train}", text="review", target="label", horizon=3)
    with pytest.raises(ValueError, match="also a text column"):
        rnnkit.datasets.load(f"csv:{train}", text=["review", "label"], target="label")


def test_numeric_errors_count_lines_of_quoted_fields_that_span_lines(tmp_path) -> None:
    """A long-format table with a multi-line quoted note column: the bad value's own line is named."""
    frame = long_frame()
    frame["note"] = ["first\nsecond" if i == 0 else "" for i in range(len(frame))]
    frame["ay"] = frame["ay"].astype(object)
    frame.loc[2, "ay"] = "oops"
    path = save(frame, tmp_path / "notes.csv")
    with pytest.raises(DataFileError, match=r"line 5, field 'ay': 'oops' is not a number"):
        rnnkit.datasets.load(f"csv:{path}", id="sample", target="label", features=["ax", "ay"])


def test_json_lines_name_their_own_line_past_blank_lines(tmp_path) -> None:
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"review": "good value", "label": "pos"}\n\n{"review": "awful", "label": "neg"}\n'
                    '{"review": "  ", "label": "neg"}\n')
    with pytest.raises(DataFileError, match=r"reviews.jsonl, line 4, field 'review': blank text"):
        rnnkit.datasets.load(f"jsonl:{path}", text="review", target="label")
    path.write_text('{"review": "good value", "label": "pos"}\n{"review": "awful", "label": \n')
    with pytest.raises(DataFileError, match="cannot be read as a JSON-lines file"):
        rnnkit.datasets.load(f"jsonl:{path}", text="review", target="label")
    with pytest.raises(ValueError, match="jsonl: reads files named .jsonl, .ndjson or .json"):
        rnnkit.datasets.load(f"jsonl:{tmp_path / 'reviews.txt'}", text="review", target="label")


def test_a_tsv_file_is_tab_separated(tmp_path) -> None:
    frame = reviews_frame()
    path = tmp_path / "reviews.tsv"
    frame.to_csv(path, sep="\t", index=False)
    ds = rnnkit.datasets.load(f"csv:{path}", text="review", target="label", valid_fraction=0.0, test_fraction=0.0)
    assert len(ds.train) == len(REVIEWS) and [e.meta["line"] for e in ds.train.examples] == csv_start_lines(frame)


def test_a_stray_quote_in_a_tsv_is_named_and_quoting_can_be_turned_off(tmp_path) -> None:
    """A stray quote would join the lines after it into one field, silently: it is an error naming the
    line, and ``read_options={"quoting": 3}`` reads quotes as text, every row kept."""
    rows = [("good phone", "pos"), ('"awesome battery', "pos"), ("bad phone", "neg"), ('it is 5" wide', "neg"),
            ("slow", "neg"), ("fast", "pos")]
    path = tmp_path / "reviews.tsv"
    path.write_text("review\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    with pytest.raises(DataFileError, match=r"reviews.tsv, line 3, field 'review': a quote .*quoting: 3"):
        rnnkit.datasets.load(f"csv:{path}", text="review", target="label")
    lone = tmp_path / "lone.tsv"  # one quote only: pandas reaches the end of the file inside it
    lone.write_text('review\tlabel\ngood\tpos\nbad\tneg\n"odd start\tpos\nfine\tneg\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=r"lone.tsv, line 4: a quote .* no quote closes .*quoting: 3"):
        rnnkit.datasets.load(f"csv:{lone}", text="review", target="label")
    ds = rnnkit.datasets.load(f"csv:{path}", text="review", target="label", valid_fraction=0.0, test_fraction=0.0,
                              read_options={"quoting": 3})
    tok = ds.extras["tokenizer"]
    def bare(text: str) -> str:  # the word tokenizer's decode puts a space between tokens
        return "".join(text.split())

    assert sorted(bare(tok.decode(e.x.tolist())) for e in ds.train.examples) == sorted(bare(t) for t, _ in rows)
    assert sorted(e.meta["line"] for e in ds.train.examples) == list(range(2, 8))


def test_text_times_that_are_dates_sort_as_dates(tmp_path) -> None:
    """``10/1/1957`` comes before ``2/1/1958``, though not as text (pandas 3 reads text as its string
    dtype, not object: the dates must still be read as dates)."""
    months = pd.date_range("1957-01-01", periods=30, freq="MS")
    frame = pd.DataFrame({"month": [f"{d.month}/{d.day}/{d.year}" for d in months], "passengers": np.arange(30.0)})
    path = save(frame.sample(frac=1.0, random_state=0), tmp_path / "us.csv")  # rows out of order
    ds = rnnkit.datasets.load(f"csv:{path}", target="passengers", time="month", window=6, horizon=3, scale=None)
    for e in ds.train.examples + ds.test.examples:
        assert torch.equal(torch.diff(e.x[:, 0]), torch.ones(5, dtype=e.x.dtype))


def test_texts_that_read_like_missing_values_stay_text(tmp_path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("review,label\nNA,neg\nnull,neg\nNone,pos\ngreat,pos\nnan,neg\n", encoding="utf-8")
    ds = rnnkit.datasets.load(f"csv:{path}", text="review", target="label", valid_fraction=0.0, test_fraction=0.0)
    tok = ds.extras["tokenizer"]
    assert sorted(tok.decode(e.x.tolist()) for e in ds.train.examples) == ["NA", "None", "great", "nan", "null"]
    path.write_text("review,label\ngood,pos\n,neg\n", encoding="utf-8")  # an empty cell is still missing
    with pytest.raises(DataFileError, match="line 3, field 'review': missing text"):
        rnnkit.datasets.load(f"csv:{path}", text="review", target="label")


def test_undecodable_bytes_and_bad_json_lines_are_named_by_line(tmp_path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"review,label\ngood,pos\nbad,neg\ncaf\xe9,pos\n")
    with pytest.raises(DataFileError, match=r"latin.csv, line 4: is not utf-8 text .*read_options"):
        rnnkit.datasets.load(f"csv:{path}", text="review", target="label")
    ds = rnnkit.datasets.load(f"csv:{path}", text="review", target="label", read_options={"encoding": "latin-1"},
                              valid_fraction=0.0, test_fraction=0.0)
    assert len(ds.train) == 3
    path = tmp_path / "rows.jsonl"
    path.write_text('{"review": "good", "label": "pos"}\n\n{"review": "bad" "label": "neg"}\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=r"rows.jsonl, line 3: cannot be read as a JSON-lines file"):
        rnnkit.datasets.load(f"jsonl:{path}", text="review", target="label")
