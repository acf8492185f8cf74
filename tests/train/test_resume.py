"""Resume after an interrupt mid-epoch equals the uninterrupted run with the same seed (with and without EMA)."""

from __future__ import annotations

import re

import pytest
import torch
from tinyrun import InterruptAt, InterruptAtEpochEnd, tiny_model, toy_classification

from rnnkit.train import CheckpointError, Trainer

# report=False: drawing plots/ costs ~2 s a fit here and plays no part in resuming (test_run_dir.py checks it)
SETTINGS = {"epochs": 2, "batch_size": 8, "lr": 1e-2, "progress": False, "report": False, "checkpoint_every": 2,
            "seed": 7}



@pytest.mark.parametrize("ema_decay", [None, 0.9])  # with EMA the shadow and its warm-up count must come back too
@pytest.mark.parametrize("interrupt_step", [3, 9])  # mid-epoch 1 (last checkpoint at step 2), mid-epoch 2 (at 8)
def test_resume_equals_uninterrupted_run(tmp_path, interrupt_step: int, ema_decay: float | None) -> None:
    # dropout makes the result depend on the RNG state, bucketing on the per-epoch batch plan
    data = toy_classification(48, valid=16, test=8)
    settings = {**SETTINGS, "ema_decay": ema_decay}
    full_model = tiny_model(data, dropout=0.3)
    full = Trainer(run_dir=str(tmp_path / "full"), **settings).fit(full_model, data)

    run = str(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir=run, callbacks=[InterruptAt(interrupt_step)], **settings).fit(tiny_model(data, dropout=0.3),
                                                                                      data)
    resumed_model = tiny_model(data, seed=99, dropout=0.3)  # different init: everything must come from the checkpoint
    resumed = Trainer(run_dir=run, resume=True, **settings).fit(resumed_model, data)

    assert len(resumed.rows) == len(full.rows)
    for a, b in zip(full.rows, resumed.rows):
        for key in a:
            if key != "seconds":
                assert b[key] == pytest.approx(a[key], abs=1e-6), key
    assert resumed.best_epoch == full.best_epoch
    assert resumed.test == pytest.approx(full.test, abs=1e-6)
    for k, v in full_model.state_dict().items():
        torch.testing.assert_close(resumed_model.state_dict()[k], v, atol=1e-6, rtol=0)


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path) -> None:
    data = toy_classification(16, valid=0, test=0)
    with pytest.raises(FileNotFoundError, match="has no checkpoint"):
        Trainer(run_dir=str(tmp_path), resume=True, progress=False).fit(tiny_model(data), data)


def test_an_early_stop_decided_before_an_interrupt_holds_after_resume(tmp_path) -> None:
    data = toy_classification(32, valid=8, test=0)
    settings = {**SETTINGS, "epochs": 8, "lr": 0.5, "early_stopping": 1, "checkpoint_every": 0}
    full = Trainer(run_dir=str(tmp_path / "full"), **settings).fit(tiny_model(data), data)
    assert len(full.rows) < 8  # it stopped early
    stop = len(full.rows)
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir=str(tmp_path / "cut"), callbacks=[InterruptAtEpochEnd(stop)], **settings).fit(
            tiny_model(data), data)
    resumed = Trainer(run_dir=str(tmp_path / "cut"), resume=True, **settings).fit(tiny_model(data), data)
    assert len(resumed.rows) == stop and resumed.best_epoch == full.best_epoch


def test_a_resume_keeps_the_settings_and_the_best_weights_it_was_trained_with(tmp_path) -> None:
    data = toy_classification(32, valid=8, test=0)
    run = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir=run, callbacks=[InterruptAtEpochEnd(1)], **SETTINGS).fit(tiny_model(data), data)
    for change, named in (({"batch_size": 16}, "batch_size 8 (now 16)"), ({"optimizer": "sgd"}, "optimizer 'adamw'"),
                          ({"lr": 0.1, "schedule": "none"}, "lr 0.01 (now 0.1), schedule 'cosine' (now 'none')")):
        with pytest.raises(CheckpointError, match=re.escape(named)):
            Trainer(run_dir=run, resume=True, **{**SETTINGS, **change}).fit(tiny_model(data), data)
    (tmp_path / "run" / "checkpoints" / "best.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"best.safetensors is missing: the weights of the best epoch \(1\)"):
        Trainer(run_dir=run, resume=True, **SETTINGS).fit(tiny_model(data), data)
    Trainer(run_dir=run, resume=True, **{**SETTINGS, "restore_best": False}).fit(tiny_model(data), data)


def test_a_fallback_monitor_keeps_its_direction_after_resume(tmp_path) -> None:
    """A metric the evaluation does not compute falls back to valid_loss, lower is better, after a
    resume as before it."""
    data = toy_classification(32, valid=8, test=0)
    data.info.metric = "auc"
    settings = {**SETTINGS, "epochs": 4, "lr": 0.3, "checkpoint_every": 0}
    with pytest.warns(UserWarning, match="valid_loss"):
        full = Trainer(run_dir=str(tmp_path / "full"), **settings).fit(tiny_model(data), data)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="valid_loss"):
        Trainer(run_dir=str(tmp_path / "cut"), callbacks=[InterruptAtEpochEnd(2)], **settings).fit(
            tiny_model(data), data)
    resumed = Trainer(run_dir=str(tmp_path / "cut"), resume=True, **settings).fit(tiny_model(data), data)
    assert not resumed.higher_is_better and resumed.best_epoch == full.best_epoch
    losses = [r["valid_loss"] for r in resumed.rows]
    assert resumed.best_epoch == losses.index(min(losses)) + 1


def test_without_restore_best_metrics_describe_the_saved_last_epoch(tmp_path) -> None:
    import json

    data = toy_classification(32, valid=8, test=8)
    history = Trainer(run_dir=str(tmp_path), **{**SETTINGS, "epochs": 3, "restore_best": False}).fit(
        tiny_model(data), data)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model_epoch"] == 3
    assert metrics["valid"]["loss"] == pytest.approx(history.rows[-1]["valid_loss"])


def test_a_resume_with_no_epochs_left_says_that_it_trains_nothing(tmp_path) -> None:
    data = toy_classification(32, valid=8, test=0)
    run = str(tmp_path / "run")
    Trainer(run_dir=run, **SETTINGS).fit(tiny_model(data), data)
    with pytest.warns(UserWarning, match="already holds 2 epochs and epochs=1: nothing is trained"):
        Trainer(run_dir=run, resume=True, **{**SETTINGS, "epochs": 1}).fit(tiny_model(data), data)


def test_resuming_an_ensemble_scored_before_the_mixture_loss_warns(tmp_path, monkeypatch) -> None:
    """An ensemble's valid loss was its members' mean until it became its mixture's: a run checkpointed
    before would compare epochs scored both ways, silently."""
    import warnings

    from rnnkit.models import Ensemble
    from rnnkit.train import trainer_runs  # (where the trainer writes its checkpoints)

    data = toy_classification(32, valid=16, test=0)
    settings = {**SETTINGS, "epochs": 1}

    def ensemble() -> Ensemble:
        torch.manual_seed(0)
        return Ensemble.from_dataset(data, size=2, model="SequenceClassifier", cell="gru", hidden_size=4,
                                     embed_dim=None)

    with monkeypatch.context() as m:  # a checkpoint as the code before wrote it: no ensemble_loss
        m.setattr(trainer_runs, "scores_mixture", lambda model: False)
        Trainer(run_dir=str(tmp_path / "old"), **settings).fit(ensemble(), data)
    with pytest.warns(UserWarning, match="checkpointed before rnnkit scored an ensemble's valid loss"):
        Trainer(run_dir=str(tmp_path / "old"), resume=True, **{**settings, "epochs": 2}).fit(ensemble(), data)
    Trainer(run_dir=str(tmp_path / "new"), **settings).fit(ensemble(), data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(run_dir=str(tmp_path / "new"), resume=True, **{**settings, "epochs": 2}).fit(ensemble(), data)
