"""NaN or infinity in what a model reads is one ValueError naming the batch items, in every problem
shape: Seq2Seq's source frames, ConditionedGenerator's condition and FeedForward's input, as the
tagger, classifier and forecaster already refuse them (tests/models/test_bad_input.py). Silently
they gave a NaN loss, <unk> rows, and (through attention) NaN in the healthy rows too.
Padding past a sequence's length is no data: NaN there stays accepted."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.batch import Batch
from rnnkit.models import ConditionedGenerator, FeedForward, Seq2Seq

NAN, INF = float("nan"), float("inf")
LENGTHS = torch.tensor([5, 3])
TARGETS, TARGET_LENGTHS = torch.tensor([[4, 3], [5, 3]]), torch.tensor([2, 2])


def seq2seq() -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(num_features=3, tgt_vocab_size=8, hidden_size=8, embed_dim=4, max_length=5)


@pytest.mark.parametrize("value, kind", [(NAN, "NaN"), (INF, "infinity")])
def test_seq2seq_refuses_a_missing_value_in_a_source_frame(value: float, kind: str) -> None:
    model = seq2seq()
    x = torch.randn(2, 5, 3)
    x[0, 1, 0] = value
    message = rf"{kind} in batch.x \(at valid steps\) of batch items \[0\]; fill or drop missing values"
    with pytest.raises(ValueError, match=message):
        model(Batch(x, LENGTHS, y=TARGETS, y_lengths=TARGET_LENGTHS))
    for method in ("greedy", "beam", "sample"):
        with pytest.raises(ValueError, match=message):
            model.generate(Batch(x, LENGTHS), method=method)
    with pytest.raises(ValueError, match=message):
        model(Batch(x, LENGTHS))  # the free run without targets


def test_seq2seq_takes_nan_padding_as_it_takes_zero_padding() -> None:
    model = seq2seq().eval()
    x = torch.randn(2, 5, 3)
    x[1, 3:] = 0.0
    padded = x.clone()
    padded[1, 3:] = NAN  # past item 1's length (3): ragged frames padded with NaN, as numpy pads them
    zero = model(Batch(x, LENGTHS, y=TARGETS, y_lengths=TARGET_LENGTHS)).loss
    nan = model(Batch(padded, LENGTHS, y=TARGETS, y_lengths=TARGET_LENGTHS)).loss
    assert zero is not None and nan is not None and torch.isfinite(nan)
    torch.testing.assert_close(nan, zero)
    assert torch.equal(model.generate(Batch(padded, LENGTHS)).tokens, model.generate(Batch(x, LENGTHS)).tokens)


@pytest.mark.parametrize("cond_shape, bad", [((5,), (1, 0)), ((1, 8, 8), (1, 0, 3, 4))])
@pytest.mark.parametrize("value, kind", [(NAN, "NaN"), (INF, "infinity")])
def test_a_missing_value_in_a_condition_is_refused_naming_its_row(cond_shape, bad, value, kind) -> None:
    torch.manual_seed(0)
    model = ConditionedGenerator(vocab_size=10, cond_shape=cond_shape, hidden_size=8, cond_size=8, embed_dim=4,
                                 conv_channels=(4,), max_length=4)
    cond = torch.randn(2, *cond_shape)
    cond[bad] = value
    message = rf"{kind} in the condition \(cond\) of batch items \[1\]; fill or drop missing values"
    with pytest.raises(ValueError, match=message):
        model(Batch(x=None, cond=cond, y=TARGETS, y_lengths=TARGET_LENGTHS))
    for method in ("greedy", "beam", "sample"):
        with pytest.raises(ValueError, match=message):
            model.generate(cond, method=method)
    with pytest.raises(ValueError, match=message):
        model.predict(Batch(x=None, cond=cond))
    cond[bad] = 0.0
    assert torch.isfinite(model(Batch(x=None, cond=cond, y=TARGETS, y_lengths=TARGET_LENGTHS)).loss)


@pytest.mark.parametrize("input_shape, bad", [((4,), (0, 2)), ((1, 6, 6), (0, 0, 2, 2))])
@pytest.mark.parametrize("value, kind", [(NAN, "NaN"), (INF, "infinity")])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_feedforward_refuses_a_missing_input_value(input_shape, bad, value, kind, task) -> None:
    torch.manual_seed(0)
    model = FeedForward(input_shape=input_shape, num_outputs=3, task=task, hidden_sizes=(8,), conv_channels=(4,))
    x = torch.randn(3, *input_shape)
    x[bad] = value
    y = torch.tensor([0, 1, 2]) if task == "classification" else torch.randn(3, 3)
    message = rf"{kind} in batch.x of batch items \[0\]; fill or drop missing values"
    with pytest.raises(ValueError, match=message):
        model(Batch(x=x, y=y))
    with pytest.raises(ValueError, match=message):
        model.predict(Batch(x=x))
    if task == "classification":
        with pytest.raises(ValueError, match=message):
            model.predict_proba(Batch(x=x))
    x[bad] = 0.0
    assert torch.isfinite(model(Batch(x=x, y=y)).loss)
