"""``Trainer(resume=True)`` on a run whose last checkpoint is truncated, weights-only or gone says how to
start over and what that loses (no other checkpoint can stand in), and a new run never trains over
the epochs of an earlier one whose last checkpoint is gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tinyrun import InterruptAtEpochEnd, tiny_model, toy_classification

from rnnkit.train import CheckpointError, Trainer

FAST = {"batch_size": 8, "lr": 1e-2, "progress": False, "report": False, "seed": 3, "epochs": 3}
START_OVER = "start over with overwrite=True (the 2 epochs trained so far are lost), or train into another run_dir"


@pytest.fixture
def stopped(tmp_path: Path) -> tuple[Path, object]:
    """A 3-epoch run stopped at the end of its second epoch (its history and checkpoints written)."""
    data = toy_classification(24, valid=8, test=0)
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir=tmp_path / "run", callbacks=[InterruptAtEpochEnd(2)], **FAST).fit(tiny_model(data), data)
    return tmp_path / "run", data


def test_a_truncated_or_weights_only_last_checkpoint_says_how_to_start_over(stopped: tuple[Path, object]) -> None:
    run, data = stopped
    last = run / "checkpoints" / "last.safetensors"
    good = last.read_bytes()
    last.write_bytes(good[:5000])
    with pytest.raises(CheckpointError, match="corrupt or truncated") as caught:
        Trainer(run_dir=run, resume=True, **FAST).fit(tiny_model(data), data)  # type: ignore[arg-type]
    assert START_OVER in str(caught.value) and "another checkpoint" not in str(caught.value)
    shutil.copy(run / "checkpoints" / "best.safetensors", last)
    with pytest.raises(CheckpointError, match=r"holds no optimizer state \(a weights-only checkpoint\)") as caught:
        Trainer(run_dir=run, resume=True, **FAST).fit(tiny_model(data), data)  # type: ignore[arg-type]
    assert START_OVER in str(caught.value)


def test_a_new_run_does_not_train_over_epochs_whose_last_checkpoint_is_gone(stopped: tuple[Path, object]) -> None:
    run, data = stopped
    (run / "checkpoints" / "last.safetensors").unlink()
    history = (run / "history.csv").read_bytes()
    with pytest.raises(FileNotFoundError, match="has no checkpoint") as missing:
        Trainer(run_dir=run, resume=True, **FAST).fit(tiny_model(data), data)  # type: ignore[arg-type]
    assert START_OVER in str(missing.value)
    with pytest.raises(FileExistsError, match="holds an earlier run .*history.csv.* with no checkpoint") as held:
        Trainer(run_dir=run, **FAST).fit(tiny_model(data), data)  # type: ignore[arg-type]
    assert START_OVER in str(held.value)
    assert (run / "history.csv").read_bytes() == history and (run / "checkpoints" / "best.safetensors").is_file()
    Trainer(run_dir=run, overwrite=True, **FAST).fit(tiny_model(data), data)  # type: ignore[arg-type]
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3
