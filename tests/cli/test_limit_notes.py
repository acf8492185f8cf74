"""--limit is said where it cut: a note under the metrics table of `rnnkit train` and `rnnkit evaluate`
when the scored split lost examples, and the report's "cut by --limit" fact only for the splits that did
(how many of how many); a data set smaller than the limit keeps every example, and says nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.cli.main import main

TINY = ["--epochs", "1", "--hidden", "8", "--no-progress"]


def test_a_cut_test_split_is_noted_under_the_table_and_in_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "jv"
    assert main(["train", "--data", "japanese_vowels", "--model", "classifier", "--cell", "gru", "--limit", "40",
                 *TINY, "--out", str(out)]) == 0
    note = "note: test holds 40 of its 370 examples (--limit 40): not comparable with the published figures"
    assert note in capsys.readouterr().out
    report = (out / "report.html").read_text()
    assert "cut by --limit" in report and "test 40 of 370" in report and "train 40 of 216" in report
    assert main(["evaluate", str(out)]) == 0
    assert note in capsys.readouterr().out


def test_a_limit_that_cuts_nothing_says_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "air"
    assert main(["train", "--data", "air_passengers", "--model", "forecaster", "--limit", "40", *TINY,
                 "--out", str(out)]) == 0  # 13/1/1 windows: each under 40
    assert "note:" not in capsys.readouterr().out
    assert "cut by --limit" not in (out / "report.html").read_text()
