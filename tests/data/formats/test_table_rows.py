"""Rows of a csv:/jsonl: table that pandas reads without a word but wrongly: every row one field longer
than the header (pandas makes the first column the index, and the columns shift under their names),
and a JSON-lines line that is JSON but no object (pandas fails with a TypeError naming no line, or
reads ``[]`` as a row of nothing). Each is a DataFileError naming the file and the line, and
``rnnkit train`` says so in one line instead of blaming the data options."""

from __future__ import annotations

from pathlib import Path

import pytest

import rnnkit.datasets
from rnnkit.cli.main import main
from rnnkit.data.formats import DataFileError
from rnnkit.data.formats.tables import read_table

REVIEWS = ["great phone !,pos", "terrible ok,neg", "nice good,pos", "bad awful,neg"]


def test_every_row_one_field_longer_than_the_header_is_named_by_its_line(tmp_path: Path) -> None:
    data = tmp_path / "rag.csv"
    data.write_text("review,label\n" + "".join(f"{REVIEWS[i % 4]},{i}\n" for i in range(40)))
    with pytest.raises(DataFileError, match=r"rag.csv, line 2: 3 fields, but the header names 2"):
        read_table(data)
    with pytest.raises(DataFileError, match=r"rag.csv, line 2: 3 fields, but the header names 2"):
        rnnkit.datasets.load(f"csv:{data}", text="review", target="label")
    data.write_text("review,label\n" + "".join(f"{REVIEWS[i % 4]}\n" for i in range(40)))
    assert read_table(data).frame["review"].iloc[1] == "terrible ok"  # whole rows: read as before


@pytest.mark.parametrize("line, kind", [("[1,2]", "a list"), ("5", "a number"), ('"pos"', "a string"),
                                        ("null", "null"), ("true", "true or false"), ("[]", "a list")])
def test_a_json_line_that_is_no_object_is_named_by_its_line(tmp_path: Path, line: str, kind: str) -> None:
    data = tmp_path / "arr.jsonl"
    data.write_text('{"review": "great phone", "label": "pos"}\n\n' + line + "\n"
                    + '{"review": "terrible", "label": "neg"}\n' * 20)
    with pytest.raises(DataFileError, match=rf'arr.jsonl, line 3: a JSON object \(\{{"field": value, \.\.\.\}}\) '
                                            rf"is expected, got {kind}"):
        rnnkit.datasets.load(f"jsonl:{data}", text="review", target="label")


def test_train_names_the_line_not_its_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "arr.jsonl"
    data.write_text('{"review": "great phone", "label": "pos"}\n[1,2]\n{"review": "terrible", "label": "neg"}\n')
    capsys.readouterr()
    assert main(["train", "--data", f"jsonl:{data}", "--data-option", "text=review", "--data-option", "target=label",
                 "--epochs", "1", "--hidden", "8", "--out", str(tmp_path / "never"), "--no-progress",
                 "--no-report"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (f'rnnkit train: error: {data}, line 2: a JSON object ({{"field": value, ...}}) is expected, '
                     "got a list: each line of a JSON-lines file is one row, its fields named"), error
    data.write_text('{"review": "great phone", "label": "pos"}\n{"review": "terr\n')  # not JSON: as before
    assert main(["train", "--data", f"jsonl:{data}", "--data-option", "text=review", "--data-option", "target=label",
                 "--out", str(tmp_path / "never"), "--no-progress", "--no-report"]) == 2
    assert f"{data}, line 2: cannot be read as a JSON-lines file" in capsys.readouterr().err
