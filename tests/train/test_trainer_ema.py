"""Trainer(ema_decay=...): the shadow is the EMA with warm-up, evaluation and the returned model use it,
training follows the live weights, checkpoints carry it, bad values and mismatched checkpoints are refused."""

from __future__ import annotations

import math

import pytest
import torch
from tinyrun import tiny_model, toy_classification
from torch import nn

from rnnkit.train import Callback, CheckpointError, Trainer, load, load_checkpoint
from rnnkit.train.ema import WeightEMA

FAST = {"batch_size": 8, "lr": 1e-2, "progress": False, "evaluate_test": False, "report": False, "seed": 5}


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class LiveWeights(Callback):
    """Copies of the model's weights when the fit starts, after every optimizer step and at each epoch end."""

    def __init__(self) -> None:
        self.start: dict[str, torch.Tensor] = {}
        self.steps: list[dict[str, torch.Tensor]] = []
        self.epochs: list[dict[str, torch.Tensor]] = []

    def on_fit_start(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        self.start = _weights(state.model)

    def on_step_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        self.steps.append(_weights(state.model))

    def on_epoch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        self.epochs.append(_weights(state.model))


def test_shadow_is_the_hand_computed_ema_with_warm_up() -> None:
    data = toy_classification(48, valid=8, test=0)  # 6 steps per epoch, 12 in all
    decay = 0.5  # (1 + n) / (10 + n) reaches 0.5 at n = 8: both sides of the warm-up are exercised
    live = LiveWeights()
    model = tiny_model(data)
    Trainer(epochs=2, ema_decay=decay, restore_best=False, callbacks=[live], **FAST).fit(model, data)

    decays = [min(decay, (1 + n) / (10 + n)) for n in range(len(live.steps))]
    assert len(live.steps) == 12 and decays[0] == pytest.approx(0.1) and decays[-1] == decay and decays[7] < decay
    for name, start in live.start.items():
        shadow = start.double()
        for d, after_step in zip(decays, live.steps):
            shadow = d * shadow + (1 - d) * after_step[name].double()
        torch.testing.assert_close(model.state_dict()[name].double(), shadow, atol=1e-6, rtol=0)


def test_weight_ema_unit_warm_up_swap_and_buffers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = WeightEMA(model, decay=0.99)
    assert ema.names == ["0.weight", "0.bias", "1.weight", "1.bias"]  # parameters only, no running stats
    assert ema.next_decay() == pytest.approx(0.1)
    start = _weights(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.train()(torch.randn(8, 3))  # moves the live running statistics
    ema.update()
    assert ema.updates == 1 and ema.next_decay() == pytest.approx(2 / 11)
    live = _weights(model)
    pointers = [p.data_ptr() for p in model.parameters()]
    with ema.averaged():
        for name, p in model.named_parameters():
            torch.testing.assert_close(p.detach(), 0.1 * start[name] + 0.9 * live[name])
            assert p.requires_grad and p.grad_fn is None
        for name, b in model.named_buffers():  # buffers are the live model's, not averaged
            assert torch.equal(b, live[name])
    assert [p.data_ptr() for p in model.parameters()] == pointers  # values swapped, not storages
    for name, t in model.state_dict().items():
        assert torch.equal(t, live[name]), name


def test_returned_model_saved_model_and_metrics_use_the_averaged_weights(tmp_path) -> None:
    data = toy_classification(48, valid=16, test=16)
    live = LiveWeights()
    model = tiny_model(data, dropout=0.3)
    trainer = Trainer(epochs=3, ema_decay=0.9, monitor="valid_loss", run_dir=str(tmp_path), callbacks=[live],
                      **{**FAST, "evaluate_test": True})
    history = trainer.fit(model, data)
    best = history.best_epoch
    assert best is not None

    # the returned model is the best epoch's average: it scores exactly that epoch's row, not the live weights
    row = history.rows[best - 1]
    again = trainer.evaluate(model, data, split="valid")
    assert again == pytest.approx({k[len("valid_"):]: v for k, v in row.items() if k.startswith("valid_")}, abs=1e-7)
    assert any(not torch.equal(model.state_dict()[k], v) for k, v in live.epochs[best - 1].items())
    live_model = tiny_model(data, dropout=0.3)
    live_model.load_state_dict(live.epochs[best - 1])
    assert trainer.evaluate(live_model, data, split="valid")["loss"] != pytest.approx(row["valid_loss"], abs=1e-7)

    assert history.test == pytest.approx(trainer.evaluate(model, data, split="test"), abs=1e-7)
    best_ckpt = load_checkpoint(tmp_path / "checkpoints" / "best.safetensors").model
    run_model = load(tmp_path).state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(best_ckpt[k], v), k
        assert torch.equal(run_model[k], v), k


def test_without_restore_best_the_last_average_is_returned_and_scores_the_last_row() -> None:
    data = toy_classification(48, valid=16, test=0)
    model = tiny_model(data)
    trainer = Trainer(epochs=2, ema_decay=0.8, restore_best=False, **FAST)
    history = trainer.fit(model, data)
    assert trainer._ema is not None
    for name, shadow in trainer._ema.state_dict().items():
        assert torch.equal(model.state_dict()[name], shadow), name
    last = history.rows[-1]
    assert trainer.evaluate(model, data, split="valid")["loss"] == pytest.approx(last["valid_loss"], abs=1e-7)


def test_training_follows_the_live_weights_exactly() -> None:
    data = toy_classification(48, valid=16, test=0)
    runs = []
    for decay in (None, 0.9):
        live = LiveWeights()
        history = Trainer(epochs=2, ema_decay=decay, callbacks=[live], **FAST).fit(tiny_model(data, dropout=0.3), data)
        runs.append((live, history))
    (plain, plain_history), (averaged, averaged_history) = runs
    assert plain_history.column("train_loss") == averaged_history.column("train_loss")
    for a, b in zip(plain.steps + plain.epochs, averaged.steps + averaged.epochs):
        for k, v in a.items():
            assert torch.equal(b[k], v), k
    assert plain_history.column("valid_loss") != averaged_history.column("valid_loss")


def test_checkpoint_carries_the_shadow_and_the_update_count(tmp_path) -> None:
    data = toy_classification(24, valid=8, test=0)
    trainer = Trainer(epochs=1, ema_decay=0.9, run_dir=str(tmp_path), **FAST)
    trainer.fit(tiny_model(data), data)
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")
    assert ckpt.meta["ema"] == {"decay": 0.9, "updates": 3}
    assert trainer._ema is not None
    for name, shadow in trainer._ema.state_dict().items():
        assert torch.equal(ckpt.ema[name], shadow), name
    assert set(ckpt.ema) == {n for n, _ in tiny_model(data).named_parameters()}

    plain = tmp_path / "plain"
    Trainer(epochs=1, run_dir=str(plain), **FAST).fit(tiny_model(data), data)  # ema_decay=None: the old format
    old = load_checkpoint(plain / "checkpoints" / "last.safetensors")
    assert "ema" not in old.meta and old.ema == {}


def test_resume_with_ema_from_a_checkpoint_without_it_is_a_clear_error(tmp_path) -> None:
    data = toy_classification(24, valid=8, test=0)
    Trainer(epochs=1, run_dir=str(tmp_path), **FAST).fit(tiny_model(data), data)
    with pytest.raises(CheckpointError, match=r"holds no averaged \(EMA\) weights.*Resume without ema_decay"):
        Trainer(epochs=2, ema_decay=0.9, run_dir=str(tmp_path), resume=True, **FAST).fit(tiny_model(data), data)


def test_resume_without_ema_from_a_checkpoint_with_it_is_refused(tmp_path) -> None:
    # dropping the average would change validation, the best epoch and the saved model: refused as a lr change is
    data = toy_classification(24, valid=8, test=0)
    Trainer(epochs=1, ema_decay=0.9, run_dir=str(tmp_path), **FAST).fit(tiny_model(data), data)
    with pytest.raises(CheckpointError, match=r"ema_decay 0.9 \(now None\)"):
        Trainer(epochs=2, run_dir=str(tmp_path), resume=True, **FAST).fit(tiny_model(data), data)


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, -0.5, 1.5, math.nan, math.inf, "0.9", True])
def test_bad_decay_is_refused_naming_the_setting(bad: object) -> None:
    with pytest.raises(ValueError, match="ema_decay must be (between 0 and 1|a number)"):
        Trainer(ema_decay=bad)
    with pytest.raises(ValueError, match="ema_decay"):
        WeightEMA(nn.Linear(2, 2), bad)  # type: ignore[arg-type]


def test_yaml_train_section_takes_ema_decay(tmp_path) -> None:
    from rnnkit.cli.runspec import read_spec

    path = tmp_path / "run.yaml"
    path.write_text("data: japanese_vowels\nmodel: classifier\ntrain: {epochs: 3, ema_decay: 0.999}\n")
    spec = read_spec(path)
    assert spec.train == {"epochs": 3, "ema_decay": 0.999}
    assert Trainer(**spec.train).config.ema_decay == 0.999
    assert Trainer().config.ema_decay is None
