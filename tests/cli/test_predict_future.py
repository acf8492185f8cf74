"""``rnnkit predict RUN HISTORY --future FILE``: the covariates' rows hold the steps that follow the
history. When both files hold the run's time column, a future that starts before the history's last
time, overlaps it, or skips a step (after the history or between its own rows) is refused with one
line naming the future file, the line and both times; a run trained with ``gaps=allow`` is held to
the order alone."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from predict_checks import MONTHS, monthly_forecaster
from predict_checks import error_line as _error_line
from predict_checks import predict as _predict
from predict_checks import train as _train

from rnnkit.cli.main import main


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["predict", *argv]) == 2
    return _error_line(capsys)


@pytest.fixture(scope="module")
def monthly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Passengers by month with a promotion flag known in advance (window 12, horizon 3)."""
    return monthly_forecaster(tmp_path_factory.mktemp("predict_future"), "monthly")


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """1953-01 to 1953-12, shuffled: the history's last time is 1953-12 on line 2 of the file."""
    months = MONTHS[48:]
    order = [11, *range(11)]
    path = tmp_path / "hist.csv"
    path.write_text("month,passengers,promo\n" + "".join(f"{months[i]},{130 + 2 * i:.1f},{i % 3 == 0:d}\n"
                                                         for i in order))
    return path


def _future(tmp_path: Path, months: list[str], header: str = "month,promo") -> Path:
    path = tmp_path / "fut.csv"
    path.write_text(header + "\n" + "".join(f"{m},{i % 2}\n" for i, m in enumerate(months)))
    return path


def test_a_future_that_follows_the_history_is_read_in_time_order(
        monthly: Path, history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ordered = _predict([str(monthly), str(history), "--future", str(_future(tmp_path, ["1954-01", "1954-02",
                                                                                       "1954-03"]))], capsys)
    assert ordered[0] == "forecast for the next 3 steps:"
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("month,promo\n1954-03,0\n1954-01,0\n1954-02,1\n")
    assert _predict([str(monthly), str(history), "--future", str(shuffled)], capsys) == ordered


@pytest.mark.parametrize("months, line, first", [
    (["1952-12", "1953-01", "1953-02"], 2, "1952-12"),  # before the history
    (["1953-11", "1953-12", "1954-01"], 2, "1953-11"),  # overlapping its last steps
    (["1953-12", "1954-01", "1954-02"], 2, "1953-12"),  # repeating its last step
])
def test_a_future_that_starts_before_or_overlaps_the_history_is_refused(
        monthly: Path, history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], months: list[str],
        line: int, first: str) -> None:
    future = _future(tmp_path, months)
    error = _refused([str(monthly), str(history), "--future", str(future)], capsys)
    assert f"{future}, line {line}" in error, error
    assert f"'{first}'" in error and "'1953-12'" in error and f"{history}, line 2" in error, error
    assert "not after the history's last time" in error, error


def test_a_future_with_a_gap_after_the_history_or_between_its_rows_is_refused(
        monthly: Path, history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    future = _future(tmp_path, ["1954-02", "1954-03", "1954-04"])  # 1954-01 skipped
    error = _refused([str(monthly), str(history), "--future", str(future)], capsys)
    assert f"{future}, line 2" in error and "'1954-02'" in error and "'1953-12'" in error, error
    assert f"{history}, line 2" in error and "1 month" in error, error
    future.write_text("month,promo\n1954-04,0\n1954-01,1\n1954-02,0\n")  # sorted: 01, 02, 04 (03 skipped)
    error = _refused([str(monthly), str(history), "--future", str(future)], capsys)
    assert f"{future}, line 2" in error and "'1954-04'" in error and "'1954-02'" in error, error
    assert "line 4" in error, error  # where the time before it is


def test_the_history_on_standard_input_is_checked_too(
        monthly: Path, history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(history.read_text()))
    future = _future(tmp_path, ["1953-12", "1954-01", "1954-02"])
    error = _refused([str(monthly), "-", "--future", str(future)], capsys)
    assert f"{future}, line 2" in error and "<stdin>, line 2" in error, error


def test_numeric_times_and_files_without_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = np.arange(60)
    data = tmp_path / "sales.csv"
    data.write_text("day,sales,promo\n" + "".join(f"{i},{100 + i + 5 * np.sin(i):.2f},{i % 4 == 0:d}\n" for i in t))
    run = _train(data, tmp_path / "daily", "target=sales", "time=day", "window=8", "horizon=2", "covariates=[promo]")
    hist = tmp_path / "h.csv"
    hist.write_text("day,sales\n" + "".join(f"{i},{100 + i:.2f}\n" for i in range(40, 50)))
    future = tmp_path / "f.csv"
    future.write_text("day,promo\n50,1\n51,0\n")
    assert len(_predict([str(run), str(hist), "--future", str(future)], capsys)) == 2
    future.write_text("day,promo\n49,1\n50,0\n")
    error = _refused([str(run), str(hist), "--future", str(future)], capsys)
    assert f"{future}, line 2" in error and "'49'" in error and f"{hist}, line 11" in error, error
    future.write_text("day,promo\n50,1\n52,0\n")
    error = _refused([str(run), str(hist), "--future", str(future)], capsys)
    assert f"{future}, line 3" in error and "'52'" in error and "'50'" in error, error
    future.write_text("promo\n1\n0\n")  # no time column: nothing to check against
    assert len(_predict([str(run), str(hist), "--future", str(future)], capsys)) == 2
    plain = tmp_path / "plain.csv"  # a history without its times: nothing to check against either
    plain.write_text("sales\n" + "".join(f"{100 + i:.2f}\n" for i in range(40, 50)))
    future.write_text("day,promo\n3,1\n9,0\n")
    assert len(_predict([str(run), str(plain), "--future", str(future)], capsys)) == 2


def test_a_run_trained_with_gaps_allowed_is_held_to_the_order_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    days = [i for i in range(70) if i % 10 != 7]  # a series that skips a day now and then
    data = tmp_path / "skips.csv"
    data.write_text("day,sales,promo\n" + "".join(f"{i},{100 + i:.2f},{i % 4 == 0:d}\n" for i in days))
    run = _train(data, tmp_path / "skips", "target=sales", "time=day", "window=8", "horizon=2",
                 "covariates=[promo]", "gaps=allow")
    hist = tmp_path / "h.csv"
    hist.write_text("day,sales\n" + "".join(f"{i},{100 + i:.2f}\n" for i in range(40, 50)))
    future = tmp_path / "f.csv"
    future.write_text("day,promo\n51,1\n53,0\n")
    assert len(_predict([str(run), str(hist), "--future", str(future)], capsys)) == 2
    future.write_text("day,promo\n48,1\n53,0\n")
    error = _refused([str(run), str(hist), "--future", str(future)], capsys)
    assert f"{future}, line 2" in error and "'48'" in error and "'49'" in error, error
