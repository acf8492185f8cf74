"""``rnnkit train`` on an interrupted run: a last checkpoint that is truncated, weights-only or gone
says how to start over and what that loses, and a plain run never trains over the earlier run's
epochs; a resume with fewer epochs than the run holds is refused and changes nothing, one that
trains nothing says so in a ``note:`` line; SIGTERM stops as Ctrl-C does."""

from __future__ import annotations

import shutil
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from rnnkit.cli.main import main
from rnnkit.train import Callback, Trainer

BASE = ["train", "--data", "japanese_vowels", "--model", "classifier", "--hidden", "8", "--batch-size", "8",
        "--seed", "3", "--limit", "30", "--no-progress", "--no-report"]
RECORD = ("config.yaml", "run.yaml", "history.csv", "metrics.json", "model.safetensors", "info.json",
          "checkpoints/best.safetensors", "checkpoints/last.safetensors")


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("model: ")]
    assert len(err) == 1, f"expected one error line, got:\n{err}"
    return err[0]


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in RECORD if (folder / name).is_file()}


class _StopAtEpoch(Callback):
    """Ctrl-C (or SIGTERM, ``signum``) as epoch ``epoch`` (0-based) starts: the epochs before it are checkpointed."""

    def __init__(self, epoch: int, signum: int | None = None) -> None:
        self.epoch, self.signum = epoch, signum

    def on_batch_end(self, trainer: Any, state: Any) -> None:
        if state.epoch == self.epoch:
            if self.signum is None:
                raise KeyboardInterrupt
            import os

            os.kill(os.getpid(), self.signum)


def _interrupted_run(out: Path, monkeypatch: pytest.MonkeyPatch, stop: _StopAtEpoch) -> int:
    original = Trainer.__init__

    def interrupted(self, *, callbacks=(), **settings):  # type: ignore[no-untyped-def]
        original(self, callbacks=[*callbacks, stop], **settings)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "__init__", interrupted)
        return main([*BASE, "--epochs", "3", "--out", str(out)])


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-epoch run stopped by Ctrl-C in its third epoch: two epochs in history.csv and the last checkpoint."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    with pytest.MonkeyPatch.context() as m:
        assert _interrupted_run(out, m, _StopAtEpoch(2)) == 130
    return out


@pytest.fixture
def run(stopped_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    shutil.copytree(stopped_run, tmp_path / "run")
    capsys.readouterr()
    return tmp_path / "run"


def test_a_truncated_last_checkpoint_says_how_to_start_over_and_what_is_lost(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    last = run / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:5000])
    assert main([*BASE, "--epochs", "3", "--out", str(run), "--resume"]) == 2
    line = _error_line(capsys)
    assert f"--resume: checkpoint {last} is corrupt or truncated" in line, line
    assert "resume from another checkpoint" not in line and "delete it" not in line, line  # no way to do either
    assert "start over with --overwrite (the 2 epochs trained so far are lost)" in line, line
    assert main([*BASE, "--epochs", "3", "--out", str(run), "--overwrite"]) == 0  # the way it names works


def test_a_weights_only_checkpoint_in_place_of_the_last_says_so_and_how_to_start_over(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(run / "checkpoints" / "best.safetensors", run / "checkpoints" / "last.safetensors")
    before = _files(run)
    assert main([*BASE, "--epochs", "3", "--out", str(run), "--resume"]) == 2
    line = _error_line(capsys)
    assert "holds no optimizer state (a weights-only checkpoint" in line, line
    assert "start over with --overwrite (the 2 epochs trained so far are lost)" in line, line
    assert _files(run) == before


def test_a_run_without_its_last_checkpoint_is_not_trained_over(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run / "checkpoints" / "last.safetensors").unlink()  # as the advice "delete it" left it
    before = _files(run)
    assert main([*BASE, "--epochs", "3", "--out", str(run), "--resume"]) == 2
    line = _error_line(capsys)
    assert "has no checkpoint to continue from" in line and "run without --resume" not in line, line
    assert "start over with --overwrite (the 2 epochs trained so far are lost)" in line, line
    assert main([*BASE, "--epochs", "3", "--out", str(run)]) == 2  # as for a finished run: --overwrite or --out
    line = _error_line(capsys)
    assert f"{run} holds an earlier run" in line and "--overwrite" in line and "2 epochs" in line, line
    assert _files(run) == before  # its history and best weights are kept
    assert main([*BASE, "--epochs", "3", "--out", str(run), "--overwrite"]) == 0


def test_a_resume_with_fewer_epochs_than_the_run_holds_is_refused_and_changes_nothing(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--epochs", "3", "--out", str(run), "--resume"]) == 0  # finished: 3 epochs
    before = _files(run)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw Python warning either
        assert main([*BASE, "--epochs", "2", "--out", str(run), "--resume"]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"rnnkit train: error: --resume: the run in {run} already holds 3 epochs"), line
    assert "--epochs 3" in line and "--overwrite" in line, line
    assert _files(run) == before  # config.yaml and run.yaml keep epochs: 3, as history.csv and metrics.json


def test_a_resume_that_trains_nothing_says_so_in_a_note_line(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():  # shown as `python` shows warnings (pytest records them instead)
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(message, category, filename, lineno, line))
        assert main([*BASE, "--epochs", "2", "--out", str(run), "--resume"]) == 0  # it holds 2 epochs
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    notes = [line for line in err if "nothing is trained" in line]
    assert notes == [f"note: {run} already holds 2 epochs and --epochs 2: nothing is trained (raise --epochs, or "
                     "epochs under train: in the config or recipe, to extend the run)"], err
    assert not any("Warning" in line for line in err), err


def test_sigterm_stops_as_ctrl_c_does_and_the_handler_is_put_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))  # not a kill, if unhandled
    try:
        out = tmp_path / "run"
        handler = signal.getsignal(signal.SIGTERM)
        assert _interrupted_run(out, monkeypatch, _StopAtEpoch(1, signal.SIGTERM)) == 143
        assert signal.getsignal(signal.SIGTERM) is handler and received == []
        line = _error_line(capsys)
        last = out / "checkpoints" / "last.safetensors"
        assert line == f"rnnkit train: interrupted; the last checkpoint is {last}; run the same command with " \
                       "--resume to continue", line
        assert main([*BASE, "--epochs", "3", "--out", str(out), "--resume"]) == 0
        assert len((out / "history.csv").read_text().splitlines()) == 1 + 3
    finally:
        signal.signal(signal.SIGTERM, previous)
