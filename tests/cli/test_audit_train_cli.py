"""``rnnkit train``: a resume with other model, data or trainer settings is one refusal naming each
difference, a run interrupted before its first checkpoint is simply run again, and run.yaml is
written with the folder's normal file mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rnnkit.cli.main import main
from rnnkit.train import Callback, Trainer

BASE = ["train", "--data", "japanese_vowels", "--model", "classifier", "--hidden", "4", "--dropout", "0.3",
        "--limit", "20", "--no-progress", "--no-report"]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, f"expected one error line, got:\n{err}"
    return err


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_resume_with_other_settings_names_each_difference_and_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    base = [*BASE, "--out", str(out), "--train-option", "ema_decay=0.9"]
    assert main([*base, "--epochs", "1"]) == 0
    before = _files(out)
    capsys.readouterr()
    for extra, named in ((["--dropout", "0.0"], "dropout 0.3 (now 0.0)"),
                         (["--limit", "16"], "limit 20 (now 16)"),
                         (["--precision", "bf16"], "precision 'fp32' (now 'bf16')"),
                         (["--train-option", "ema_decay=0.5"], "ema_decay 0.9 (now 0.5)")):
        assert main([*base, "--epochs", "2", "--resume", *extra]) == 2
        line = _error_line(capsys)
        assert line.startswith("rnnkit train: error: --resume:") and named in line, line
        assert "--overwrite" in line
        assert _files(out) == before
    assert main([*base, "--epochs", "2", "--resume", "--dropout", "0.0", "--limit", "16", "--lr", "0.1"]) == 2
    line = _error_line(capsys)
    assert all(s in line for s in ("dropout 0.3 (now 0.0)", "limit 20 (now 16)", "lr 0.001 (now 0.1)")), line
    # more epochs extend the run; the progress and report flags only change what is shown
    assert main([*BASE[:-2], "--out", str(out), "--train-option", "ema_decay=0.9", "--epochs", "2", "--resume"]) == 0


class _Interrupt(Callback):
    def on_batch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # as Ctrl-C in the first batch, before any checkpoint


def test_a_run_interrupted_before_its_first_checkpoint_is_run_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    base = [*BASE, "--epochs", "1", "--out", str(out)]
    original = Trainer.__init__

    def interrupted(self, *, callbacks=(), **settings):  # type: ignore[no-untyped-def]
        original(self, callbacks=[*callbacks, _Interrupt()], **settings)

    monkeypatch.setattr(Trainer, "__init__", interrupted)
    assert main(base) == 130
    assert "no checkpoint was written yet" in _error_line(capsys)
    assert (out / "run.yaml").is_file() and (out / "config.yaml").is_file()
    monkeypatch.undo()
    assert main([*base, "--resume"]) == 2
    assert "run without --resume to start afresh" in _error_line(capsys)
    assert main(base) == 0  # nothing was trained there: the folder is reused
    assert (out / "model.safetensors").is_file()


def test_run_yaml_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert main([*BASE, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    finally:
        os.umask(old)
    for name in ("run.yaml", "config.yaml", "model.safetensors", "checkpoints/last.safetensors"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name


def test_a_folder_without_a_run_keeps_what_is_not_rnnkits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "project"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "mine.png").write_bytes(b"png")
    (out / "config.yaml").write_text("learning: fast\n")  # a config of one's own
    base = [*BASE, "--epochs", "1", "--out", str(out)]
    assert main(base) == 2
    assert "is not an rnnkit run's config" in _error_line(capsys)
    (out / "config.yaml").unlink()
    assert main(base) == 0
    assert (out / "plots" / "mine.png").read_bytes() == b"png"
