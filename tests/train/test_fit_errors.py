"""Trainer.fit names a model or data set of the wrong kind, and a NaN in the data, before training."""

from __future__ import annotations

import math

import pytest
import torch
from tinyrun import tiny_model, toy_classification

from rnnkit.data.batch import Example
from rnnkit.data.dataset import ExampleList, SequenceDataset
from rnnkit.train import Trainer


def trainer() -> Trainer:
    return Trainer(epochs=1, batch_size=8, progress=False, evaluate_test=False)


def test_fit_takes_a_module_and_a_sequence_dataset():
    data = toy_classification(16, valid=0, test=0)
    with pytest.raises(TypeError, match="Trainer.fit takes a model .* got NoneType"):
        trainer().fit(None, data)
    with pytest.raises(TypeError, match="takes a SequenceDataset .* got str; load one with rnnkit.datasets.load"):
        trainer().fit(tiny_model(data), "gunpoint")
    with pytest.raises(TypeError, match="takes a SequenceDataset .* got list"):
        trainer().fit(tiny_model(data), list(data.train))


def test_nan_in_the_data_is_named_before_the_loss_is():
    data = toy_classification(16, valid=0, test=0)
    bad = [Example(x=e.x.clone(), y=e.y, meta={"row": i}) for i, e in enumerate(data.train)]
    bad[3].x[1, 0] = math.nan
    broken = SequenceDataset(data.info, ExampleList(bad), ExampleList([]), ExampleList([]))
    with pytest.raises(ValueError, match=r"example \d+ \{'row': 3\} has NaN in x at step 1"):
        trainer().fit(tiny_model(data), broken)
    assert torch.isfinite(data.train[3].x).all()  # the original is untouched
