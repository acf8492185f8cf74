"""Resume, extension and run-folder rules of the Trainer: a resume with other settings is refused
naming each, a plateau schedule follows a fallback monitor, a run cut by max_steps extends into the
straight run, a folder holding a run is never trained over silently, and run files get normal modes."""

from __future__ import annotations

import os
import re
import stat
import warnings
from pathlib import Path

import pytest
import torch
from tinyrun import InterruptAt, InterruptAtEpochEnd, tiny_model, toy_classification

from rnnkit.data.batch import Example
from rnnkit.data.dataset import ExampleList
from rnnkit.train import CheckpointError, Trainer

FAST = {"batch_size": 8, "lr": 1e-2, "progress": False, "report": False, "seed": 3}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, atol=0, rtol=0)


# --- defect 1: a resume with other settings ---------------------------------------------------------


def test_a_resume_with_other_precision_ema_decay_or_model_options_is_refused_naming_each(tmp_path: Path) -> None:
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    settings = {**FAST, "epochs": 1, "ema_decay": 0.9}
    Trainer(run_dir=run, **settings).fit(tiny_model(data, dropout=0.3), data)
    before = _files(run)
    for change, model_options, named in (
            ({"precision": "bf16"}, {"dropout": 0.3}, "precision 'fp32' (now 'bf16')"),
            ({"ema_decay": 0.5}, {"dropout": 0.3}, "ema_decay 0.9 (now 0.5)"),
            ({}, {"dropout": 0.0}, "dropout 0.3 (now 0.0)"),
            ({"lr": 0.1, "ema_decay": 0.99}, {"dropout": 0.1},
             "lr 0.01 (now 0.1), ema_decay 0.9 (now 0.99), model dropout 0.3 (now 0.1)")):
        with pytest.raises(CheckpointError, match=re.escape(named)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bf16 on a CPU without bfloat16 instructions says it is slow
            Trainer(run_dir=run, resume=True, **{**settings, "epochs": 2, **change}).fit(
                tiny_model(data, **model_options), data)
        assert _files(run) == before  # refused before anything is written
    # what extends a run or only changes what is shown is allowed
    history = Trainer(run_dir=run, resume=True, **{**settings, "epochs": 2, "checkpoint_every": 1,
                                                   "eval_batch_size": 4}).fit(tiny_model(data, dropout=0.3), data)
    assert [r["epoch"] for r in history.rows] == [1, 2]


# --- defect 2: ReduceLROnPlateau and a fallback monitor -----------------------------------------------


def test_plateau_schedule_follows_the_fallback_monitor_down(tmp_path: Path) -> None:
    """The data set names a metric its evaluation does not compute (higher is better): the monitor
    falls back to valid_loss (lower is better) and the plateau schedule must then halve the rate when
    valid_loss keeps rising, not when it falls."""
    data = toy_classification(48, valid=16, test=0)
    # valid labels that disagree with the rule the model learns: valid_loss rises as it learns
    data.valid = ExampleList([Example(x=e.x, y=(e.y + 1) % 3) for e in data.valid.examples])
    data.info.metric, data.info.higher_is_better = "auc", True
    with pytest.warns(UserWarning, match="monitoring 'valid_loss'"):
        history = Trainer(**{**FAST, "epochs": 6, "lr": 0.05, "schedule": "plateau"}).fit(tiny_model(data), data)
    losses = [r["valid_loss"] for r in history.rows]
    assert history.monitor == "valid_loss" and not history.higher_is_better
    assert losses[-1] > losses[0]  # the situation: valid_loss rose
    assert min(r["lr"] for r in history.rows) < 0.05  # so the rate was cut


# --- defect 3: extending a run cut by max_steps ----------------------------------------------------------


@pytest.mark.parametrize("ema_decay", [None, 0.8])
def test_extending_a_run_cut_by_max_steps_equals_the_straight_run(tmp_path: Path, ema_decay: float | None) -> None:
    data = toy_classification(32, valid=8, test=8)  # 4 batches an epoch
    # lr 0.05: the train loss falls from epoch 1 to the cut epoch 2, which the test needs (with the
    # bucket sampler's batches of 2026-11-29, lr 0.01 left epoch 2's two batches above epoch 1's mean)
    settings = {**FAST, "lr": 0.05, "epochs": 4, "schedule": "none", "ema_decay": ema_decay, "monitor": "train_loss"}
    straight_model = tiny_model(data, dropout=0.3)
    straight = Trainer(run_dir=tmp_path / "straight", **settings).fit(straight_model, data)

    cut_model = tiny_model(data, dropout=0.3)
    cut = Trainer(run_dir=tmp_path / "cut", **settings, max_steps=6).fit(cut_model, data)
    assert [(r["epoch"], r["step"]) for r in cut.rows] == [(1, 4), (2, 6)]
    assert cut.best_epoch == 2  # the cut epoch's row is the best: its weights are the run's model
    # the same settings again: nothing more to train, the cut run stays as it was
    again_model = tiny_model(data, seed=5, dropout=0.3)
    again = Trainer(run_dir=tmp_path / "cut", resume=True, **settings, max_steps=6).fit(again_model, data)
    assert again.rows == cut.rows and again.best_epoch == cut.best_epoch
    _same_weights(cut_model, again_model)

    extended_model = tiny_model(data, seed=9, dropout=0.3)
    extended = Trainer(run_dir=tmp_path / "cut", resume=True, **settings).fit(extended_model, data)
    assert [(r["epoch"], r["step"]) for r in extended.rows] == [(1, 4), (2, 8), (3, 12), (4, 16)]
    for a, b in zip(straight.rows, extended.rows):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert extended.best_epoch == straight.best_epoch
    _same_weights(straight_model, extended_model)
    assert (tmp_path / "cut" / "history.csv").read_text().count("\n") == 5


# --- defect 5: the Python API and a folder that holds a run ------------------------------------------------


def test_a_folder_holding_a_run_is_refused_unless_resume_or_overwrite(tmp_path: Path) -> None:
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    Trainer(run_dir=run, **FAST, epochs=1).fit(tiny_model(data), data)
    (run / "extras" / "stale.json").write_text("{}")  # a leftover of the old run
    (run / "notes.txt").write_text("mine")  # not rnnkit's
    before = _files(run)
    with pytest.raises(FileExistsError, match="already holds a run.*resume=True.*overwrite=True"):
        Trainer(run_dir=run, **FAST, epochs=1).fit(tiny_model(data, hidden_size=4), data)
    assert _files(run) == before
    with pytest.raises(ValueError, match="resume=True and overwrite=True"):
        Trainer(run_dir=run, resume=True, overwrite=True, **FAST)
    Trainer(run_dir=run, overwrite=True, **FAST, epochs=1).fit(tiny_model(data, hidden_size=4), data)
    assert not (run / "extras" / "stale.json").exists() and (run / "notes.txt").read_text() == "mine"
    from rnnkit.train import load

    assert load(run).config.hidden_size == 4


def test_a_folder_whose_run_never_reached_a_checkpoint_is_reused(tmp_path: Path) -> None:
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir=run, callbacks=[InterruptAt(1)], **FAST, epochs=1).fit(tiny_model(data), data)
    assert (run / "config.yaml").is_file() and not (run / "checkpoints").exists()
    Trainer(run_dir=run, **FAST, epochs=1).fit(tiny_model(data), data)  # nothing was trained there: reused
    assert (run / "model.safetensors").is_file()


def test_an_interrupted_run_is_refused_without_resume(tmp_path: Path) -> None:
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir=run, callbacks=[InterruptAtEpochEnd(1)], **FAST, epochs=2).fit(tiny_model(data), data)
    with pytest.raises(FileExistsError, match="already holds a run"):
        Trainer(run_dir=run, **FAST, epochs=2).fit(tiny_model(data), data)
    Trainer(run_dir=run, resume=True, **FAST, epochs=2).fit(tiny_model(data), data)


# --- defect 6: file modes ---------------------------------------------------------------------------------


def test_run_files_follow_the_umask(tmp_path: Path) -> None:
    data = toy_classification(16, valid=8, test=0)
    old = os.umask(0o022)
    try:
        Trainer(run_dir=tmp_path / "run", **FAST, epochs=1).fit(tiny_model(data), data)
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.yaml", "metrics.json", "checkpoints/last.safetensors",
                 "checkpoints/best.safetensors"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name
