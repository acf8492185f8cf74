"""Fixes to the command line found by an audit: ``predict RUN -`` reads standard input as a file,
a missing file is not predicted as text, ``--output`` never overwrites the input, and ``tour --only``
takes a data set name and is checked before the tour announces its stops."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rnnkit.cli.main import main


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, f"expected one error line, got:\n{err}"
    assert not captured.out, "an error prints nothing on stdout"
    return err


def _predict(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["predict", *argv]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "dates"
    # 1000 + 100 dates, not the default 20000 + 2000 (seconds to write): the same 60-character vocabulary
    assert main(["train", "--data", "dates_iso", "--data-option", "n_train=1000", "--data-option", "n_test=100",
                 "--model", "seq2seq", "--hidden", "8", "--limit", "60",
                 "--epochs", "1", "--out", str(run), "--no-progress", "--no-report"]) == 0
    return run


@pytest.fixture(scope="module")
def air_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "air"
    assert main(["train", "--data", "air_passengers", "--hidden", "8", "--epochs", "1", "--set", "head=quantile",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    return run


def test_predict_dash_reads_standard_input_as_a_file(dates_run: Path, air_run: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    text = _predict([str(dates_run), "march 3, 2001"], capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO("march 3, 2001\n"))
    assert _predict([str(dates_run), "-"], capsys) == text  # the text piped in, not the text "-"
    history = tmp_path / "history.csv"
    history.write_text("passengers\n" + "".join(f"{v}\n" for v in range(100, 400, 10)))
    from_file = _predict([str(air_run), str(history)], capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO(history.read_text()))
    assert _predict([str(air_run), "-"], capsys) == from_file  # a table with its header, as the file is read
    monkeypatch.setattr("sys.stdin", io.StringIO("passengers\n100\n1 x\n"))
    assert main(["predict", str(air_run), "-"]) == 2
    assert "<stdin>, line 3: 'x' is not a number" in _error_line(capsys)


@pytest.mark.parametrize("make_input", [
    lambda tmp: str(tmp / "no_dir" / "history"),  # a path: absolute
    lambda tmp: "no_dir/history.parquet",  # a data suffix
    lambda tmp: "./history",  # a path: relative
])
def test_predict_a_missing_file_is_an_error_not_text(make_input: object, dates_run: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    raw = make_input(tmp_path)  # type: ignore[operator]
    assert main(["predict", str(dates_run), raw]) == 2
    assert f"input file {raw} does not exist (no such file" in _error_line(capsys)


@pytest.mark.parametrize("text", ["march 3, 2001", "12/25/1999", "awful slow phone"])
def test_predict_plain_text_is_still_text(text: str, dates_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(_predict([str(dates_run), text], capsys)) == 1  # one generated sequence, no error


def test_predict_output_never_overwrites_the_input(dates_run: Path, air_run: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    table = tmp_path / "dates.csv"
    table.write_text('date\n"march 3, 2001"\n12/25/1999\n', encoding="utf-8")
    lines = tmp_path / "dates.txt"
    lines.write_text("march 3, 2001\n", encoding="utf-8")
    history = tmp_path / "history.csv"
    history.write_text("passengers\n" + "".join(f"{v}\n" for v in range(100, 400, 10)))
    for run, path, flags in ((dates_run, table, ["--column", "date"]), (dates_run, lines, ["--lines"]),
                             (air_run, history, ["--quantiles"])):
        before = path.read_bytes()
        other_spelling = tmp_path / "sub" / ".." / path.name  # compared resolved
        assert main(["predict", str(run), str(path), *flags, "--output", str(other_spelling)]) == 2
        assert f"--output {other_spelling} is the input file" in _error_line(capsys)
        assert path.read_bytes() == before
    assert main(["predict", str(dates_run), str(table), "--column", "date", "--output", str(tmp_path / "o.csv")]) == 0
    assert "prediction" in (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()[0]


def test_tour_only_takes_a_data_set_and_says_so_in_one_stop(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tour", "--quick", "--only", "air_passengers", "--out", str(tmp_path / "tour")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"rnnkit tour --quick: 1 stop (forecasting) -> {tmp_path / 'tour'}/"
    assert (tmp_path / "tour" / "forecasting" / "report.html").is_file()


@pytest.mark.parametrize("only, hint", [("air_pasengers", " (did you mean air_passengers?)"),
                                        ("forcasting", " (did you mean forecasting?)"),
                                        ("zzz", ";")])
def test_tour_refuses_an_unknown_stop_before_announcing_any(only: str, hint: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tour", "--quick", "--only", only, "--out", str(tmp_path / "tour")]) == 2
    assert f"unknown tour stop(s) {only}{hint}" in _error_line(capsys)  # and nothing on stdout
    assert not (tmp_path / "tour").exists()
