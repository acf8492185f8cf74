"""``rnnkit predict RUN TABLE``: a CSV input is read as training reads its table. An empty cell is a
missing value named by file, line and column (nothing shifts into its place), a quoted field stays
whole, rows are sorted by the run's time column, a table of several ids gives one answer per id, and
a file in another encoding is named by its line with a fix that predict offers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from predict_checks import MONTHS, monthly_forecaster
from predict_checks import error_line as _error_line
from predict_checks import predict as _predict
from predict_checks import train as _train

from rnnkit.cli.main import main


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Passengers by month with a promotion flag known in advance (window 12, horizon 3)."""
    return monthly_forecaster(tmp_path_factory.mktemp("predict_table"), "f0")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gestures in the long format: one row per step, ``sample`` naming the sequence, ``t`` its step."""
    folder = tmp_path_factory.mktemp("predict_table")
    rng = np.random.default_rng(0)
    rows = ["sample,t,ax,ay,label"]
    for s in range(30):
        label = ("clap", "wave")[s % 2]
        rows += [f"s{s},{t},{rng.random() + s % 2:.3f},{rng.random():.3f},{label}" for t in range(5)]
    data = folder / "gest.csv"
    data.write_text("\n".join(rows) + "\n")
    return _train(data, folder / "cl0", "id=sample", "time=t", "target=label")


HISTORY = [(m, f"{130 + 2 * i + 10 * np.sin(i):.1f}", i % 3 == 0) for i, m in enumerate(MONTHS[48:])]


def _history(path: Path, rows: list[tuple[str, str, bool]]) -> Path:
    path.write_text("month,passengers,promo\n" + "".join(f"{m},{v},{p:d}\n" for m, v, p in rows))
    return path


@pytest.fixture
def future(tmp_path: Path) -> Path:
    path = tmp_path / "fut.csv"
    path.write_text("month,promo\n1954-01,1\n1954-02,0\n1954-03,0\n")
    return path


def test_an_empty_cell_is_an_error_naming_file_line_and_column_not_a_shift(
        forecaster: Path, classifier: Path, future: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(HISTORY)
    rows[5] = (rows[5][0], "", rows[5][2])  # line 7: 1953-06,,0 once read the promo flag as passengers
    hist = _history(tmp_path / "hist.csv", rows)
    capsys.readouterr()
    assert main(["predict", str(forecaster), str(hist), "--future", str(future)]) == 2
    error = _error_line(capsys)
    assert "hist.csv, line 7: missing value" in error and "column 'passengers'" in error
    lead = tmp_path / "lead.csv"  # an empty first cell once shifted 0.2 into ax
    lead.write_text("ax,ay,z\n,0.2,0.3\n0.5,0.6,0.7\n")
    capsys.readouterr()
    assert main(["predict", str(classifier), str(lead)]) == 2
    error = _error_line(capsys)
    assert "lead.csv, line 2: missing value" in error and "column 'ax'" in error


def test_a_quoted_field_with_a_space_stays_one_field(classifier: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    steps = [(0.1, 0.2), (0.3, 0.4), (0.9, 0.1)]
    quoted, plain = tmp_path / "quoted.csv", tmp_path / "plain.csv"
    quoted.write_text("sample,t,ax,ay,label\n" + "".join(f'"s 1",{t},{a},{b},wave\n' for t, (a, b) in enumerate(steps)))
    plain.write_text("ax,ay\n" + "".join(f"{a},{b}\n" for a, b in steps))
    # one id, "s 1" whole, answered as a table of ids answers; the same class and probability as the plain rows
    answer = _predict([str(classifier), str(plain)], capsys)[1].strip()  # "wave: 0.616"
    assert _predict([str(classifier), str(quoted)], capsys) == ["s 1\t" + answer.replace(": ", "\t")]


def test_a_table_of_one_id_answers_as_a_table_of_several(classifier: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    rows = "".join(f"{key},{t},{0.1 * t},{0.2},wave\n" for key in ("a", "b") for t in range(3))
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text("sample,t,ax,ay,label\n" + rows[: len(rows) // 2])
    two.write_text("sample,t,ax,ay,label\n" + rows)
    first, both = _predict([str(classifier), str(one)], capsys), _predict([str(classifier), str(two)], capsys)
    assert first == both[:1] and len(both) == 2 and both[1].startswith("b\t")


def test_rows_are_sorted_by_the_runs_time_column_as_in_training(
        forecaster: Path, future: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ordered = _predict([str(forecaster), str(_history(tmp_path / "h.csv", HISTORY)), "--future", str(future)], capsys)
    shuffled = [HISTORY[i] for i in np.random.default_rng(1).permutation(len(HISTORY))]
    for rows in (HISTORY[::-1], shuffled):
        hist = _history(tmp_path / "r.csv", rows)
        assert _predict([str(forecaster), str(hist), "--future", str(future)], capsys) == ordered
    future.write_text("month,promo\n1954-03,0\n1954-01,1\n1954-02,0\n")  # covariates sorted by time too
    assert _predict([str(forecaster), str(tmp_path / "h.csv"), "--future", str(future)], capsys) == ordered
    dup = _history(tmp_path / "dup.csv", [*HISTORY, HISTORY[4]])
    future.write_text("month,promo\n1954-01,1\n1954-02,0\n1954-03,0\n")
    assert main(["predict", str(forecaster), str(dup), "--future", str(future)]) == 2
    error = _error_line(capsys)
    assert "dup.csv, line 14, field 'month': time '1953-05' appears twice" in error


def test_a_table_of_several_ids_gives_one_answer_per_id_in_file_order(
        classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    seqs = {"s7": rng.random((5, 2)) + 1, "s0": rng.random((4, 2))}
    both = tmp_path / "both.csv"
    both.write_text("sample,t,ax,ay,label\n" + "".join(
        f"{k},{t},{a:.3f},{b:.3f},x\n" for k, x in seqs.items() for t, (a, b) in enumerate(x)))
    out = _predict([str(classifier), str(both)], capsys)
    assert [line.split("\t")[0] for line in out] == ["s7", "s0"]
    for line, (key, x) in zip(out, seqs.items()):
        alone = tmp_path / f"{key}.csv"
        alone.write_text("ax,ay\n" + "".join(f"{a:.3f},{b:.3f}\n" for a, b in x))
        single = _predict([str(classifier), str(alone), "--top", "1"], capsys)
        label, prob = line.split("\t")[1:]
        assert single[0] == label and single[1].strip() == f"{label}: {prob}"


def test_another_encoding_is_named_by_its_line_with_a_fix_predict_offers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("review,label\n" + "".join(f"{w} cafe,{y}\n" for w, y in (("bon", "pos"), ("mauvais", "neg"))) * 20)
    run = _train(data, tmp_path / "tx0", "text=review", "target=label")
    new = tmp_path / "new.csv"
    new.write_bytes("id,review\n1,bon cafe\n2,mauvais café\n".encode("latin-1"))
    capsys.readouterr()
    for flags in (["--column", "review"], []):
        assert main(["predict", str(run), str(new), *flags]) == 2
        error = _error_line(capsys)
        assert "new.csv" in error and "line 3" in error and "--encoding" in error, flags
        assert "read_options" not in error and not re.search(r"byte \d", error), flags  # a line, not an offset
    assert len(_predict([str(run), str(new), "--column", "review", "--encoding", "latin-1"], capsys)) == 2


def test_a_table_with_more_columns_than_features_names_the_file(
        classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    three = tmp_path / "three.csv"
    three.write_text("0.8,0.7,7\n0.4,0.2,7\n0.5,0.4,7\n")
    capsys.readouterr()
    assert main(["predict", str(classifier), str(three)]) == 2
    error = _error_line(capsys)
    assert error.startswith("rnnkit predict: error: " + str(three)) and "got 3 columns" in error
