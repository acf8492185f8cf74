"""``rnnkit predict`` on a scaled monthly forecaster: a history that skips a month is refused with the
located message training gives for such a file, and a run folder whose ``extras/`` (or its index
``extras.json``) is gone, while its info.json records ``scale='standard'``, is unusable for predict
and export alike (it once lost its scaler in silence, and every forecast changed)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from predict_checks import error_line
from predict_checks import predict as _predict
from predict_checks import train as _train

from rnnkit.cli.main import main
from rnnkit.cli.predict_table import Layout, read_sequences

MONTHS = [f"{1949 + i // 12}-{i % 12 + 1:02d}" for i in range(96)]
ROWS = [f"{m},{112 + 2 * i + 15 * np.sin(i / 2):.1f}\n" for i, m in enumerate(MONTHS)]


@pytest.fixture(scope="module")
def air(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Passengers by month, scaled (window 12, horizon 6)."""
    folder = tmp_path_factory.mktemp("predict_run_checks")
    data = folder / "air.csv"
    data.write_text("month,passengers\n" + "".join(ROWS))
    return _train(data, folder / "air", "target=passengers", "time=month", "window=12", "horizon=6",
                  "scale=standard")


def _without(path: Path, rows: list[str], month: str) -> Path:
    path.write_text("month,passengers\n" + "".join(r for r in rows if not r.startswith(month)))
    return path


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    return error_line(capsys)


def test_a_history_with_a_missing_month_is_refused_as_training_refuses_it(
        air: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = _without(tmp_path / "h_gap.csv", ROWS[:25], "1950-07")  # 1950-06 -> 1950-08 once read as one step
    error = _refused(["predict", str(air), str(history)], capsys)
    located = (f"{history}, line 20, field 'month': series 'series' jumps from time '1950-06' (line 19) to "
               "'1950-08', 1 step(s) of 1 month missing")
    assert located in error, error
    data = _without(tmp_path / "gap.csv", ROWS, "1950-07")  # training on such a file: the same words
    trained = _refused(["train", "--data", f"csv:{data}", "--data-option", "target=passengers", "--data-option",
                        "time=month", "--data-option", "window=12", "--data-option", "horizon=6", "--epochs", "1",
                        "--hidden", "8", "--out", str(tmp_path / "never"), "--no-progress", "--no-report"], capsys)
    assert located.replace(str(history), str(data)) in trained, trained
    history.write_text("month,passengers\n" + "".join(reversed(ROWS[:25])))  # unordered: sorted, as in training
    assert len(_predict([str(air), str(history)], capsys)) == 2
    history.write_text("month,passengers\n" + "".join(ROWS[:25] + ROWS[24:25]))  # a month twice: refused
    error = _refused(["predict", str(air), str(history)], capsys)
    assert "line 27, field 'month': time '1951-01' appears twice" in error, error


def test_a_run_trained_with_gaps_allowed_reads_a_history_with_a_gap(tmp_path: Path) -> None:
    history = _without(tmp_path / "h_gap.csv", ROWS[:25], "1950-07")
    rows = read_sequences(history, ["passengers"], layout=Layout(time_column="month", gaps="allow"), steps=True)
    assert len(rows[0].values) == 24
    rows = read_sequences(history, ["passengers"], layout=Layout(time_column="month"))  # not a history: as before
    assert len(rows[0].values) == 24


@pytest.mark.parametrize("lost", ["extras", "extras/extras.json"])
def test_a_run_folder_that_lost_its_scaler_is_unusable_for_predict_and_export(
        air: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], lost: str) -> None:
    history = tmp_path / "h.csv"
    history.write_text("month,passengers\n" + "".join(ROWS[:25]))
    assert re.fullmatch(r"[-\d. ]+", _predict([str(air), str(history)], capsys)[1])  # the whole run forecasts
    run = tmp_path / "air"
    shutil.copytree(air, run)
    gone = run / lost
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    for command in (["predict", str(run), str(history)], ["export", str(run), "--out", str(tmp_path / "x")]):
        error = _refused(command, capsys)
        assert f"error: unusable run folder: {gone}" in error and "scale='standard'" in error, error
