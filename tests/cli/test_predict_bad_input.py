"""``rnnkit predict RUN TABLE --column NAME`` on a table that training would refuse: a CSV row with more
or fewer fields than its header, a JSON-lines line that is JSON but no object, and a run folder that
lost the tokenizer its info.json records. Each is one error line naming the file and the line (or the
missing file), never a table written back with its columns shifted, nor a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from predict_checks import error_line
from predict_checks import predict as _predict
from predict_checks import train as _train

from rnnkit.cli.main import main

REVIEWS = ["great phone !,pos", "terrible ok,neg", "nice good,pos", "bad awful,neg"]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A word-tokenized text classifier of ``review`` -> ``label``."""
    folder = tmp_path_factory.mktemp("predict_bad_input")
    data = folder / "rev.csv"
    data.write_text("review,label\n" + "".join(REVIEWS[i % 4] + "\n" for i in range(40)))
    return _train(data, folder / "rev", "text=review", "target=label")


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["predict", *argv]) == 2
    return error_line(capsys)


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
def test_a_row_with_more_fields_than_the_header_is_refused_by_its_line(
        reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, sep: str) -> None:
    # every row one field longer: pandas once made the reviews the index, and out.csv read "2,3,," / "5,6,,"
    table = tmp_path / f"ragged{suffix}"
    table.write_text(f"review{sep}x\ngreat phone{sep}2{sep}3\nterrible{sep}5{sep}6\n")
    out = tmp_path / "out.csv"
    error = _refused([str(reviews), str(table), "--column", "review", "--output", str(out)], capsys)
    assert f"{table}, line 2: 3 fields, but the header names 2" in error, error
    assert not out.exists()


def test_a_row_with_fewer_fields_than_the_header_is_refused_by_its_line(
        reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "short.csv"
    table.write_text("review,x\ngreat phone,2\nterrible\n")  # line 3 once came back with an empty x
    out = tmp_path / "out.csv"
    error = _refused([str(reviews), str(table), "--column", "review", "--output", str(out)], capsys)
    assert f"{table}, line 3: 1 field(s), but the header names 2" in error, error
    assert not out.exists()
    table.write_text("review,x\ngreat phone,2\nterrible,\n")  # an empty field is a field: read as before
    assert _predict([str(reviews), str(table), "--column", "review"], capsys)[1].split("\t")[0] in ("pos", "neg")


@pytest.mark.parametrize("line, kind", [("[1,2]", "a list"), ("5", "a number"), ('"great"', "a string"),
                                        ("null", "null"), ("[]", "a list")])
def test_a_json_line_that_is_no_object_is_named_by_its_line(
        reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, kind: str) -> None:
    table = tmp_path / "arr.jsonl"  # [1,2] once ended in a TypeError traceback; [] in a row of nothing
    table.write_text('{"review": "great phone"}\n' + line + '\n{"review": "terrible"}\n')
    error = _refused([str(reviews), str(table), "--column", "review"], capsys)
    assert f'{table}, line 2: a JSON object ({{"field": value, ...}}) is expected, got {kind}' in error, error


@pytest.mark.parametrize("lost", ["extras", "extras/extras.json"])
def test_a_run_folder_that_lost_its_tokenizer_is_unusable(
        reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], lost: str) -> None:
    run = tmp_path / "rev"
    shutil.copytree(reviews, run)
    gone = run / lost
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    error = _refused([str(run), "great phone"], capsys)
    assert error.startswith("rnnkit predict: error: unusable run folder: ") and str(gone) in error, error
    assert "tokenizer='word'" in error, error
