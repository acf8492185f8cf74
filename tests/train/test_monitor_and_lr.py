"""The Trainer refuses a monitor no epoch computes before training; history's lr is the rate the epoch's
last step took; checkpoint_every needs a run folder."""

from __future__ import annotations

import math

import pytest
import torch
from tinyrun import tiny_model, toy_classification

from rnnkit.train import Callback, Trainer

FAST = {"batch_size": 16, "lr": 1e-2, "progress": False, "evaluate_test": False, "report": False}


class _CountEpochs(Callback):
    def __init__(self) -> None:
        self.started = 0

    def on_epoch_start(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        self.started += 1


def test_a_misspelt_monitor_fails_before_the_first_epoch(tmp_path) -> None:
    data = toy_classification(48, valid=16, test=0)
    epochs = _CountEpochs()
    trainer = Trainer(epochs=2, monitor="valid_acuracy", run_dir=tmp_path / "run", callbacks=[epochs], **FAST)
    with pytest.raises(ValueError, match=r"'valid_acuracy' is not computed.*valid_accuracy"):
        trainer.fit(tiny_model(data), data)
    assert epochs.started == 0
    assert not (tmp_path / "run" / "history.csv").exists()


def test_a_valid_monitor_without_a_valid_split_names_the_cure() -> None:
    data = toy_classification(48, valid=0, test=0)
    with pytest.raises(ValueError, match="has no valid split.*valid_fraction"):
        Trainer(epochs=1, monitor="valid_accuracy", **FAST).fit(tiny_model(data), data)


def test_every_column_an_epoch_computes_is_accepted() -> None:
    data = toy_classification(48, valid=16, test=0)
    for monitor in ("valid_loss", "valid_accuracy", "valid_macro_f1", "train_loss"):
        history = Trainer(epochs=1, monitor=monitor, **FAST).fit(tiny_model(data), data)
        assert history.monitor == monitor and history.best is not None


def test_the_monitor_check_leaves_the_run_s_random_numbers_alone() -> None:
    """The check scores valid examples: dropout's masks and the batches must be the ones drawn without it."""
    data = toy_classification(64, valid=16, test=0)
    weights = []
    for monitor in (None, "valid_macro_f1"):
        model = tiny_model(data, dropout=0.3)
        Trainer(epochs=2, seed=5, monitor=monitor, restore_best=False, **FAST).fit(model, data)
        weights.append(model.state_dict())
    for k, v in weights[0].items():
        assert torch.equal(v, weights[1][k]), k


@pytest.mark.parametrize("schedule", ["cosine", "none"])
def test_history_lr_is_the_rate_of_the_epoch_s_last_step(schedule: str) -> None:
    data = toy_classification(48, valid=16, test=0)  # 3 steps an epoch
    history = Trainer(epochs=2, schedule=schedule, warmup_steps=2, **FAST).fit(tiny_model(data), data)
    total, warmup = 6, 2

    def rate(step: int) -> float:  # the schedule's rate at 0-based optimizer step `step`
        if step < warmup:
            return 1e-2 * (step + 1) / warmup
        if schedule == "none":
            return 1e-2
        return 1e-2 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))

    assert history.column("lr") == pytest.approx([rate(2), rate(5)])
    assert history.rows[-1]["lr"] > 0  # a cosine run's last step still learns (the next rate, 0, is unused)


def test_plateau_history_lr_is_the_rate_the_epoch_trained_with() -> None:
    data = toy_classification(48, valid=16, test=0)
    history = Trainer(epochs=2, schedule="plateau", **FAST).fit(tiny_model(data), data)
    assert history.column("lr") == pytest.approx([1e-2, 1e-2])


def test_checkpoint_every_without_a_run_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="checkpoint_every=5 .*run_dir is not set"):
        Trainer(epochs=1, checkpoint_every=5, **FAST)


def test_a_language_model_s_evaluation_skips_one_token_texts_at_any_batch_size() -> None:
    from rnnkit.data.batch import Example
    from rnnkit.data.dataset import DatasetInfo
    from rnnkit.models.one_to_many import LanguageModel
    from rnnkit.train.evaluation import evaluate_split

    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=12, hidden_size=8, embed_dim=4)
    info = DatasetInfo(name="toy", shape="one-to-many", task="generation", input_kind="tokens", metric="perplexity",
                       higher_is_better=False)
    texts = [Example(x=torch.tensor([4, 5, 6, 7])), Example(x=torch.tensor([5])), Example(x=torch.tensor([6, 7]))]
    scores = [evaluate_split(lm, texts, info, batch_size=b) for b in (3, 2, 1)]
    for other in scores[1:]:  # the one-token text has no next token: it counts for nothing, alone or not
        assert other["loss"] == pytest.approx(scores[0]["loss"], rel=1e-5)
