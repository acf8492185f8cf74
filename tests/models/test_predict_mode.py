"""predict and predict_proba run in evaluation mode whatever mode the model is in, and leave it there:
a model fresh from Trainer.fit is in training mode, and its dropout would make predictions random."""

from __future__ import annotations

import torch

from rnnkit.data.batch import Batch
from rnnkit.models import SequenceClassifier, SequenceTagger


def _batch() -> Batch:
    g = torch.Generator().manual_seed(0)
    return Batch(x=torch.randn(6, 9, 3, generator=g), lengths=torch.tensor([9, 8, 7, 5, 3, 1]))


def test_a_classifier_in_training_mode_predicts_as_in_evaluation_mode() -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(num_outputs=4, num_features=3, hidden_size=16, dropout=0.5, augment_jitter=0.5)
    batch = _batch()
    expected_probs, expected = model.eval().predict_proba(batch), model.predict(batch)
    model.train()
    for _ in range(3):  # dropout and jitter on would make every call a new draw
        assert torch.equal(model.predict_proba(batch), expected_probs)
        assert torch.equal(model.predict(batch), expected)
    assert model.training and all(m.training for m in model.modules())


def test_predict_puts_back_each_part_s_own_mode() -> None:
    torch.manual_seed(0)
    model = SequenceTagger(num_tags=5, num_features=3, hidden_size=8, dropout=0.5)
    model.train()
    frozen = next(m for m in model.modules() if isinstance(m, torch.nn.Dropout))
    frozen.eval()  # a part a user froze stays frozen
    model.predict(_batch())
    assert model.training and not frozen.training
    model.eval()
    model.predict(_batch())
    assert not any(m.training for m in model.modules())
