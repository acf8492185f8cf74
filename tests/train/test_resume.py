"""Resume after an interrupt mid-epoch equals the uninterrupted run with the same seed (with and without EMA)."""

from __future__ import annotations

import pytest
import torch
from tinyrun import InterruptAt, tiny_model, toy_classification

from rnnkit.train import Trainer

SETTINGS = {"epochs": 2, "batch_size": 8, "lr": 1e-2, "progress": False, "checkpoint_every": 2, "seed": 7}



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
