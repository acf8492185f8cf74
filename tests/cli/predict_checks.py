"""Helpers of the ``rnnkit predict`` tests: run the command, read its one error line, and train the
tiny monthly forecaster the table tests predict with and the character language model of names
that the decoding tests sample from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli.main import main

MONTHS = [f"{1949 + i // 12}-{i % 12 + 1:02d}" for i in range(60)]


def train_names_lm(folder: Path) -> Path:
    """A character language model of a few names after one epoch (a few seconds): ``folder/lm``."""
    data = folder / "names.txt"
    data.write_text("\n".join(["anna", "bert", "carl", "dora", "emil"] * 6) + "\n", encoding="utf-8")
    run = folder / "lm"
    assert main(["train", "--data", f"text:{data}", "--hidden", "8", "--epochs", "1", "--out", str(run),
                 "--no-progress"]) == 0
    return run


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's stderr, which must be one line."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, f"expected one error line, got:\n{err}"
    return err


def predict(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    """``rnnkit predict *argv``'s output lines; it must succeed."""
    capsys.readouterr()
    assert main(["predict", *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out.splitlines()


def train(data: Path, run: Path, *options: str) -> Path:
    """A one-epoch run of 8 units on the CSV ``data`` with the data ``options`` (``KEY=VALUE``)."""
    flags = [f for o in options for f in ("--data-option", o)]
    assert main(["train", "--data", f"csv:{data}", *flags, "--hidden", "8", "--epochs", "1", "--out", str(run),
                 "--no-progress", "--no-report"]) == 0
    return run


def monthly_forecaster(folder: Path, name: str) -> Path:
    """Passengers by month with a promotion flag known in advance (window 12, horizon 3), trained in
    ``folder / name``."""
    data = folder / "air.csv"
    data.write_text("month,passengers,promo\n" + "".join(
        f"{m},{112 + 2 * i + 15 * np.sin(i / 2):.1f},{i % 3 == 0:d}\n" for i, m in enumerate(MONTHS)))
    return train(data, folder / name, "target=passengers", "time=month", "window=12", "horizon=3",
                 "covariates=[promo]")
