"""Every task model answers bad input with one ValueError that names the argument, what it expected
and what it got; never a shape error from deep inside torch, and never a silently wrong result."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from rnnkit.data.batch import Batch
from rnnkit.models import (
    ConditionedGenerator,
    Ensemble,
    FeedForward,
    Forecaster,
    LanguageModel,
    Seq2Seq,
    SequenceClassifier,
    SequenceTagger,
)

L2 = torch.tensor([4, 2])
TOKENS = torch.tensor([[4, 5, 6, 7], [4, 5, 0, 0]])
TARGETS = torch.tensor([[4, 5, 2, 0], [6, 2, 0, 0]])
TARGET_LENGTHS = torch.tensor([3, 2])


def classifier(**kw) -> SequenceClassifier:
    return SequenceClassifier(num_outputs=3, cell="gru", num_features=2, embed_dim=None, hidden_size=4, **kw)


@pytest.mark.parametrize("y", [torch.tensor([[0, 1], [1, 0]]), torch.tensor([0, 1, 1]), torch.tensor([0])])
def test_class_targets_of_the_wrong_shape(y):
    batch = Batch(x=torch.randn(2, 4, 2), lengths=L2, y=y)
    message = r"classification targets y must be \(2,\).* got shape " + re.escape(str(tuple(y.shape)))
    with pytest.raises(ValueError, match=message):
        classifier()(batch)
    with pytest.raises(ValueError, match=r"classification targets y must be \(2,\)"):
        FeedForward(input_shape=(3,), num_outputs=2)(Batch(x=torch.randn(2, 3), y=y))
    with pytest.raises(ValueError, match=r"classification targets y must be \(2,\)"):
        Ensemble(members=[classifier(), classifier()])(batch)


def test_class_targets_of_shape_b_by_1_still_work():
    torch.manual_seed(0)
    model, x = classifier(), torch.randn(2, 4, 2)
    flat = model(Batch(x=x, lengths=L2, y=torch.tensor([0, 2]))).loss
    column = model(Batch(x=x, lengths=L2, y=torch.tensor([[0], [2]]))).loss
    assert torch.equal(flat, column)


@pytest.mark.parametrize("y", [torch.zeros(1, 4), torch.zeros(4)])
def test_regression_targets_with_the_right_count_but_wrong_rows(y):
    model = SequenceClassifier(num_outputs=2, task="regression", num_features=2, embed_dim=None, hidden_size=4)
    message = re.escape(f"regression targets have shape {tuple(y.shape)}, predictions (2, 2)")
    with pytest.raises(ValueError, match=message):
        model(Batch(x=torch.randn(2, 4, 2), lengths=L2, y=y))


def test_int_features_are_refused_with_input_norm_too():
    model = classifier(input_norm=True, conv_channels=(4,), conv_kernel_sizes=(3,))
    with pytest.raises(ValueError, match="this model reads float features, got a torch.int64 tensor"):
        model(Batch(x=torch.ones(2, 4, 2, dtype=torch.long), lengths=L2))


def test_bool_token_ids():
    model = SequenceClassifier(num_outputs=2, vocab_size=8, embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match=r"this model reads token ids \(int64\), got a torch.bool tensor"):
        model(Batch(x=TOKENS.bool(), lengths=L2))


def test_feedforward_dtype_and_empty_batch():
    model = FeedForward(input_shape=(3,), num_outputs=2)
    with pytest.raises(ValueError, match="batch.x is torch.float64 but the model's parameters are torch.float32"):
        model(Batch(x=torch.randn(2, 3, dtype=torch.float64)))
    with pytest.raises(ValueError, match=r"batch.x holds no items, got shape \(0, 3\)"):
        model(Batch(x=torch.randn(0, 3), y=torch.zeros(0, dtype=torch.long)))  # was a NaN loss


@pytest.mark.parametrize("crf", [False, True])
def test_tagger_float_tags(crf):
    model = SequenceTagger(num_tags=3, vocab_size=8, embed_dim=4, hidden_size=4, crf=crf)
    with pytest.raises(ValueError, match="tagging targets y must be int64 tag ids, got torch.float32"):
        model(Batch(x=TOKENS, lengths=L2, y=TARGETS.float() % 3, y_lengths=L2))


@pytest.mark.parametrize("y_lengths,message", [
    (torch.tensor([5, 2]), r"y_lengths must be between 1 and L=4 \(y's length\), got min 2 and max 5"),
    (torch.tensor([3, 0]), "y_lengths must be between 1 and L=4 .* got min 0"),
    (torch.tensor([3, 2, 1]), r"y_lengths must be \(2,\) int64, one target length per sequence, got torch.int64 \(3"),
    (torch.tensor([3.0, 2.0]), r"y_lengths must be \(2,\) int64.* got torch.float32"),
])
def test_seq2seq_and_generator_target_lengths(y_lengths, message):
    s2s = Seq2Seq(src_vocab_size=8, tgt_vocab_size=8, embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match=message):
        s2s(Batch(x=TOKENS, lengths=L2, y=TARGETS, y_lengths=y_lengths))
    gen = ConditionedGenerator(vocab_size=8, cond_shape=(3,), embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match=message):
        gen(Batch(x=None, cond=torch.randn(2, 3), y=TARGETS, y_lengths=y_lengths))


def test_batch_sizes_that_disagree():
    s2s = Seq2Seq(src_vocab_size=8, tgt_vocab_size=8, embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match="batch.y has 3 target sequences but batch.x has 2 inputs"):
        s2s(Batch(x=TOKENS, lengths=L2, y=TARGETS[[0, 1, 0]], y_lengths=torch.tensor([3, 2, 3])))
    gen = ConditionedGenerator(vocab_size=8, cond_shape=(3,), embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match="batch.cond holds 3 conditions but batch.y 2 target sequences"):
        gen(Batch(x=None, cond=torch.randn(3, 3), y=TARGETS, y_lengths=TARGET_LENGTHS))


def test_generator_condition_dtype_and_max_length():
    gen = ConditionedGenerator(vocab_size=8, cond_shape=(3,), embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match="cond is torch.float64 but the model's parameters are torch.float32"):
        gen.generate(torch.randn(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="max_length must be >= 1, got 0"):  # 0 used to mean the default
        gen.generate(torch.randn(2, 3), max_length=0)


def test_language_model_lengths_targets_and_prompts():
    lm = LanguageModel(vocab_size=8, embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match=r"batch.lengths must be between 1 and T=4 \(x's time dimension\), got min 0 "
                                         r"and max 4 \(row 1\); an example needs at least one step"):
        lm(Batch(x=TOKENS, lengths=torch.tensor([4, 0])))  # was a loss that skipped the row
    with pytest.raises(ValueError, match="batch.lengths must be between 1 and T=4 .* max 5"):
        lm(Batch(x=TOKENS, lengths=torch.tensor([5, 2])))
    with pytest.raises(ValueError, match=r"batch.lengths must be \(2,\) int64"):
        lm(Batch(x=TOKENS, lengths=torch.tensor([4, 2, 1])))
    with pytest.raises(ValueError, match="target tokens y must be int64 token ids, got torch.float32"):
        lm(Batch(x=TOKENS, lengths=L2, y=TOKENS.float()))
    with pytest.raises(ValueError, match="prompt_ids must be integer token ids, got torch.float32"):
        lm.generate(torch.tensor([1.5, 2.0]), max_length=3)  # was truncated to [1, 2]
    with pytest.raises(ValueError, match=r"needs at least one sequence of at least one token, got x \(2, 0\)"):
        lm(Batch(x=torch.zeros(2, 0, dtype=torch.long)))


def forecaster(**kw) -> Forecaster:
    return Forecaster(horizon=2, num_features=1, cell="gru", hidden_size=4, **kw)


def test_forecaster_batch_checks():
    model, x = forecaster(), torch.randn(2, 6, 1)
    with pytest.raises(ValueError, match=r"batch.lengths must be \(2,\), one length per window, got \(3,\)"):
        model(Batch(x=x, lengths=torch.tensor([6, 2, 3])))
    with pytest.raises(ValueError, match="batch.x is torch.float64 but the model's parameters are torch.float32"):
        model(Batch(x=x.double()))
    with pytest.raises(ValueError, match=r"infinity in the input window \(at valid steps\) of batch items \[1\]"):
        model(Batch(x=torch.cat([x[:1], torch.full((1, 6, 1), math.inf)])))
    with pytest.raises(ValueError, match=r"NaN or infinity in batch.y \(the targets\) of batch items \[0\]"):
        model(Batch(x=x, y=torch.tensor([[math.nan, 1.0], [1.0, 1.0]])))
    with pytest.raises(TypeError, match=r"Forecaster.predict takes a Batch, got a Tensor: wrap the inputs, .*; for a "
                                        r"raw series call forecast\(series\)"):
        model.predict(x)
    future = Forecaster(horizon=2, num_features=1, num_future=1, hidden_size=4)
    with pytest.raises(ValueError, match=r"batch.future of shape \(B, 2, 1\) with B = 2 .* got \(3, 2, 1\)"):
        future(Batch(x=x, future=torch.randn(3, 2, 1)))


def test_forecast_arguments():
    model = forecaster()
    with pytest.raises(TypeError, match="horizon must be an int .* got 1.5"):
        model.forecast(torch.randn(6), 1.5)
    with pytest.raises(ValueError, match="infinity in the input window"):
        model.forecast(np.array([1.0, np.inf, 2.0]))
    with pytest.raises(TypeError, match="series must be numbers"):
        model.forecast("abc")
    torch.manual_seed(0)
    series = torch.randn(6)
    assert torch.equal(model.forecast(series, 2), model.forecast(series, np.int64(2)))


@pytest.mark.parametrize("build, message", [
    (lambda: Forecaster(horizon=3, hidden_size="64"), r"Forecaster: hidden_size must be an int, got '64' \(str\)"),
    (lambda: Forecaster(horizon=3, highway=None), r"Forecaster: highway must be an int, got None"),
    (lambda: Forecaster(horizon=3, dropout="0.1"), r"Forecaster: dropout must be a number, got '0.1'"),
    (lambda: SequenceClassifier(num_outputs=2, num_features=1, hidden_size=True),
     r"SequenceClassifier: hidden_size must be an int, got True \(bool\)"),
    (lambda: Seq2Seq(tgt_vocab_size=10, src_vocab_size=10, bidirectional="no"),
     r"Seq2Seq: bidirectional must be a bool, got 'no'"),
    (lambda: Seq2Seq(tgt_vocab_size=10, src_vocab_size=10.5), r"src_vocab_size must be an int or None, got 10.5"),
    # lists given as text or as one number (rnnkit train --set quantiles=0.05,0.5,0.95) were read character
    # by character, or failed in tuple(): "could not convert string to float: '.'"
    (lambda: Forecaster(horizon=3, head="quantile", quantiles="0.05,0.5,0.95"),
     r"quantiles must be a list of numbers \(e.g. \[0.1, 0.5, 0.9\]\), got '0.05,0.5,0.95' \(str\)"),
    (lambda: SequenceClassifier(num_outputs=9, num_features=1, class_weights="None"),
     r"class_weights must be a list of numbers \(e.g. \[0.1, 0.5, 0.9\]\) or None, got 'None'"),
    (lambda: SequenceClassifier(num_outputs=2, num_features=1, conv_channels=5),
     r"conv_channels must be a list of ints \(e.g. \[128, 256, 128\]\), got 5 \(int\)"),
    (lambda: SequenceClassifier(num_outputs=2, num_features=1, conv_channels=[4, "a"]),
     r"conv_channels must be a list of ints"),
])
def test_an_option_of_the_wrong_type_is_named(build, message):
    """Checked against the config's annotations before anything is built (a string size used to
    fail inside torch.empty, None inside int())."""
    with pytest.raises(TypeError, match=message):
        build()


def test_options_of_the_right_types_pass_the_check_and_numpy_scalars_become_python_numbers():
    import json

    model = Forecaster(horizon=np.int64(3), hidden_size=np.int32(8), dropout=np.float32(0.5), window=None)
    assert model.config.hidden_size == 8 and type(model.config.hidden_size) is int
    assert type(model.config.horizon) is int and type(model.config.dropout) is float
    json.dumps(model.config_dict())  # saves as plain JSON (numpy scalars would not)
    s2s = Seq2Seq(tgt_vocab_size=10, src_vocab_size=10, bidirectional=np.bool_(False), hidden_size=8, embed_dim=4)
    assert s2s.config.bidirectional is False
    Forecaster(horizon=3, dropout=0)  # an int where a float is due


@pytest.mark.parametrize("build", [
    lambda: classifier(),
    lambda: classifier(conv_channels=(8, 8), conv_kernel_sizes=(3, 3), input_norm=True),
    lambda: SequenceTagger(num_tags=3, cell="lstm", num_features=2, embed_dim=None, hidden_size=4),
    lambda: Forecaster(horizon=2, num_features=2, num_targets=1, cell="gru", hidden_size=4),
])
def test_padding_is_no_data_but_a_nan_at_a_valid_step_is_an_error(build):
    """Ragged series padded with NaN (as numpy and aeon pad them) give what zero padding gives, loss and
    gradients finite; a NaN inside a series is one ValueError naming its batch item."""
    torch.manual_seed(0)
    model = build()
    x = torch.randn(2, 4, 2) + 3
    y = torch.randn(2, 2) if isinstance(model, Forecaster) else (
        torch.tensor([[0, 1, 2, 0], [1, 2, 0, 0]]) if isinstance(model, SequenceTagger) else torch.tensor([0, 2]))
    results = []
    for fill in (0.0, float("nan"), float("inf")):
        padded = x.clone()
        padded[1, 2:] = fill
        model.zero_grad()
        out = model(Batch(x=padded, lengths=L2, y=y))
        out.loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        results.append(out.loss.detach())
    torch.testing.assert_close(results[1], results[0])
    torch.testing.assert_close(results[2], results[0])
    bad = x.clone()
    bad[1, 1, 0] = float("nan")  # step 1 of item 1 is inside its length (2)
    with pytest.raises(ValueError, match=r"NaN in .* \(at valid steps\) of batch items \[1\]; fill or drop"):
        model(Batch(x=bad, lengths=L2, y=y))


@pytest.mark.parametrize("value, shown", [
    (list(range(10_000)) + ["a"], r"got \[0, 1, 2, .{40,80}\.\.\. \(list\)$"),
    (torch.zeros(300, 300), r"got a Tensor of shape \(300, 300\) and dtype torch.float32$"),
    (np.zeros((50, 50)), r"got a ndarray of shape \(50, 50\) and dtype float64$"),
])
def test_an_option_of_the_wrong_type_is_shown_short(value, shown):
    """A big value (a long list, a tensor, a model) is described, not printed whole."""
    with pytest.raises(TypeError, match=r"^SequenceClassifier: conv_channels must be a list of ints .*" + shown) \
            as info:
        classifier(conv_channels=value)
    assert len(str(info.value)) < 300 and "\n" not in str(info.value)


def test_a_model_given_as_an_option_is_named_by_its_class():
    other = classifier()
    with pytest.raises(TypeError, match=r"^SequenceClassifier: hidden_size must be an int, got a SequenceClassifier$"):
        SequenceClassifier(num_outputs=3, num_features=2, hidden_size=other)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "forward"])
def test_a_bare_tensor_or_array_for_a_batch_says_to_wrap_it(method: str) -> None:
    model = classifier()
    for bare in (torch.randn(3, 5, 2), np.zeros((3, 5, 2), dtype=np.float32)):
        with pytest.raises(TypeError, match=rf"SequenceClassifier.{method} takes a Batch, got a "
                                            rf"{type(bare).__name__}: wrap the inputs, Batch\(x=x, lengths=lengths\).*"
                                            r"or use the scikit-learn-style estimators"):
            getattr(model, method)(bare)
    assert getattr(model, method)(Batch(x=torch.randn(3, 5, 2), lengths=torch.tensor([5, 3, 1]))) is not None
