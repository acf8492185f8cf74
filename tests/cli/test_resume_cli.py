"""``rnnkit train --resume`` and the run folder: other data with run.yaml gone, EMA dropped, a folder
left between the first best and last checkpoints, the recorded settings after a resume, a read-only
folder, evaluate on an unfinished run, and a model that does not fit the checkpoint."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import pytest
import yaml

from rnnkit.cli.main import main

BASE = ["--data", "japanese_vowels", "--model", "classifier", "--hidden", "8", "--batch-size", "8", "--seed", "3",
        "--no-progress", "--no-report"]


def _train(out: Path, *extra: str) -> int:
    return main(["train", *BASE, "--out", str(out), *extra])


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("model: ")]
    assert len(err) == 1, f"expected one error line, got:\n{err}"
    return err[0]


def test_a_resume_with_other_data_is_refused_when_run_yaml_is_gone(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _train(run, "--limit", "30", "--epochs", "1") == 0
    (run / "run.yaml").unlink()
    capsys.readouterr()
    assert _train(run, "--limit", "20", "--epochs", "2", "--resume") == 2
    assert "split sizes {'train': 30, 'valid': 30, 'test': 30} (now {'train': 20" in _error_line(capsys)
    (run / "info.json").unlink()  # the checkpoint's own record of the data
    assert _train(run, "--limit", "20", "--epochs", "2", "--resume") == 2
    assert "split sizes" in _error_line(capsys)
    assert _train(run, "--limit", "30", "--epochs", "2", "--resume") == 0
    assert (run / "run.yaml").is_file() and (run / "info.json").is_file()  # written again


def test_a_resume_without_the_runs_ema_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _train(run, "--limit", "30", "--epochs", "1", "--train-option", "ema_decay=0.9") == 0
    capsys.readouterr()
    assert _train(run, "--limit", "30", "--epochs", "2", "--resume") == 2
    assert "trained with other settings: ema_decay 0.9 (now None)" in _error_line(capsys)


def test_a_folder_left_with_only_best_safetensors_takes_a_plain_rerun(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _train(run, "--limit", "30", "--epochs", "1") == 0
    for name in ("model.safetensors", "metrics.json", "history.csv", "checkpoints/last.safetensors"):
        (run / name).unlink()  # as a kill right after the first best.safetensors leaves it
    capsys.readouterr()
    assert _train(run, "--limit", "30", "--epochs", "1", "--resume") == 2
    line = _error_line(capsys)
    assert "no checkpoint to continue from" in line and "run without --resume" in line
    assert _train(run, "--limit", "30", "--epochs", "1") == 0
    assert "held best.safetensors of a run stopped before its first last checkpoint" in capsys.readouterr().err
    assert (run / "model.safetensors").is_file()


def test_a_resume_records_its_settings_and_rewrites_deleted_files_for_evaluate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _train(run, "--limit", "30", "--epochs", "1") == 0
    assert _train(run, "--limit", "30", "--epochs", "2", "--resume") == 0
    assert yaml.safe_load((run / "run.yaml").read_text())["train"]["epochs"] == 2
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["epochs"] == 2
    for name in ("config.yaml", "info.json", "run.yaml"):
        (run / name).unlink()
    assert _train(run, "--limit", "30", "--epochs", "2", "--resume") == 0
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_a_read_only_run_folder_is_one_line_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):  # type: ignore[no-untyped-def]  # noqa: A002 - mkstemp's name
        if dir is not None and Path(dir).is_relative_to(run):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert _train(run, "--limit", "30", "--epochs", "1") == 2
    assert f"cannot write to the run folder {run}: Read-only file system" in _error_line(capsys)
    assert list(run.iterdir()) == []


def test_a_checkpoint_that_cannot_be_written_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from rnnkit.train import checkpoint as checkpoint_module

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(checkpoint_module, "save_file", read_only)
    assert _train(tmp_path / "run", "--limit", "30", "--epochs", "1") == 2
    line = _error_line(capsys)
    assert "training stopped: cannot write " in line and "best.safetensors: Read-only file system" in line


def test_evaluate_on_an_unfinished_run_says_how_to_finish_it(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _train(run, "--limit", "30", "--epochs", "1") == 0
    (run / "model.safetensors").unlink()  # as a run stopped after its last checkpoint
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    line = _error_line(capsys)
    assert "model.safetensors is missing. The run did not finish" in line
    assert f"rnnkit train --config {run / 'run.yaml'} --out {run} --resume" in line
    assert main(["train", "--config", str(run / "run.yaml"), "--out", str(run), "--resume", "--no-progress",
                 "--no-report"]) == 0  # the command it names finishes the run
    assert main(["evaluate", str(run)]) == 0


def test_an_ensemble_of_another_size_is_named_first_and_the_keys_cut(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _train(run, "--limit", "30", "--epochs", "1", "--ensemble", "2") == 0
    capsys.readouterr()
    assert _train(run, "--limit", "30", "--epochs", "2", "--ensemble", "3", "--resume") == 2
    line = _error_line(capsys)
    assert line.startswith(f"rnnkit train: error: --resume: the run in {run} was trained with ensemble 2 (now 3), ")
    assert len(line) < 700 and " more)" in line, line


def test_a_resume_with_all_its_epochs_says_so_in_the_commands_terms(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert _train(run, "--limit", "30", "--epochs", "1") == 0
    with pytest.warns(UserWarning, match="nothing is trained") as caught:
        assert _train(run, "--limit", "30", "--epochs", "1", "--resume") == 0
    said = " ".join(str(w.message) for w in caught)
    assert f"{run} already holds 1 epochs and --epochs 1: nothing is trained (raise --epochs" in said
    assert "epochs=" not in said and "pass more epochs" not in said  # the Python API's words


def test_a_resume_of_an_early_stopped_run_says_so_in_the_commands_terms(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # a model that cannot change: no batch-norm statistics (no convolutional branch, no input norm) and
    # weights that lr 1e-12 cannot move (below float32's resolution); epoch 2 scores as epoch 1 did, so
    # patience 1 is spent there, on any machine
    stop = ["--limit", "30", "--early-stopping", "1", "--lr", "1e-12", "--set", "conv_channels=null", "--set",
            "input_norm=false"]
    assert _train(run, *stop, "--epochs", "8") == 0
    stopped = len((run / "history.csv").read_text().splitlines()) - 1  # a header, then a row an epoch
    assert stopped == 2, "the run did not stop early: pick settings that make it"
    with pytest.warns(UserWarning, match="stopped early") as caught:
        assert _train(run, *stop, "--epochs", "12", "--resume") == 0
    said = " ".join(str(w.message) for w in caught)
    assert "stopped early (--early-stopping 1: " in said and "nothing more is trained for --epochs 12" in said
    assert "train a new run (--overwrite, or another --out) with more patience (--early-stopping N" in said
    assert "overwrite=True" not in said and "run_dir" not in said and "early_stopping=None" not in said


def test_a_refused_resume_points_at_the_files_that_hold_the_runs_settings(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _train(run, "--limit", "30", "--epochs", "1") == 0
    other = ["--limit", "30", "--epochs", "2", "--batch-size", "4", "--resume"]
    capsys.readouterr()
    assert _train(run, *other) == 2
    assert f"resume with the settings it was trained with ({run / 'run.yaml'})" in _error_line(capsys)
    (run / "run.yaml").unlink()  # the checks then read config.yaml, info.json and the checkpoint
    assert _train(run, *other) == 2
    line = _error_line(capsys)
    assert "batch_size 8 (now 4)" in line and "run.yaml" not in line, line
    assert f"({run / 'config.yaml'} and {run / 'info.json'})" in line, line
    (run / "config.yaml").unlink()
    assert _train(run, *other) == 2
    line = _error_line(capsys)
    assert "batch_size 8 (now 4)" in line and "run.yaml" not in line and "config.yaml" not in line, line
    assert f"({run / 'info.json'})" in line, line
    (run / "info.json").unlink()  # the settings are in the checkpoint alone: no file to point at
    assert _train(run, *other) == 2
    line = _error_line(capsys)
    assert "batch_size 8 (now 4)" in line and "resume with the settings it was trained with, or start" in line, line
