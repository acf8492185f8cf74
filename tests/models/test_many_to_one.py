"""SequenceClassifier: learns to separate two series families; padding and pooling are exact."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.batch import Batch, Example, collate
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.layers.pooling import SequencePooling, last_valid_step
from rnnkit.models import SequenceClassifier
from rnnkit.models.many_to_one import with_differences

POOLINGS = ["last", "mean", "max", "attention"]



def two_families(n: int, gen: torch.Generator) -> list[Example]:
    """Class 0: slow sine, class 1: fast sine; random phase, amplitude, length 12-24, noise."""
    out = []
    for i in range(n):
        label = i % 2
        T = int(torch.randint(12, 25, (1,), generator=gen))
        t = torch.arange(T, dtype=torch.float32)
        freq = 0.35 if label == 0 else 1.1
        phase = float(torch.rand(1, generator=gen)) * 2 * math.pi
        amp = 0.5 + float(torch.rand(1, generator=gen))
        x = amp * torch.sin(freq * t + phase) + 0.2 * torch.randn(T, generator=gen)
        out.append(Example(x=x.unsqueeze(-1), y=torch.tensor(label)))
    return out


def test_learns_to_separate_two_series_families() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    train, test = two_families(256, gen), collate(two_families(200, gen))
    model = SequenceClassifier(num_outputs=2, cell="gru", num_features=1, embed_dim=None, hidden_size=16)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for step in range(50):
        batch = collate([train[(step * 32 + j) % len(train)] for j in range(32)])
        loss = model(batch).loss
        assert loss is not None
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert test.y is not None
    accuracy = (model.predict(test) == test.y).float().mean().item()
    assert accuracy >= 0.95, accuracy


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_any_sequence(pooling: str, bidirectional: bool) -> None:
    torch.manual_seed(1)
    model = SequenceClassifier(num_outputs=3, cell="lstm", vocab_size=20, embed_dim=8, hidden_size=6,
                               pooling=pooling, bidirectional=bidirectional).eval()
    seqs = [torch.randint(4, 20, (n,)) for n in (5, 2, 7, 1)]
    ys = [torch.tensor(i % 3) for i in range(4)]
    batch = collate([Example(x=s, y=y) for s, y in zip(seqs, ys)])
    assert batch.x is not None
    wide = Batch(x=F.pad(batch.x, (0, 4), value=0), lengths=batch.lengths, y=batch.y)  # more padding
    out, out_wide = model(batch), model(wide)
    assert out.logits is not None and out_wide.logits is not None
    torch.testing.assert_close(out.logits, out_wide.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.loss, out_wide.loss)
    for i, s in enumerate(seqs):
        alone = model(Batch(x=s.unsqueeze(0), lengths=torch.tensor([len(s)]))).logits
        torch.testing.assert_close(alone, out.logits[i : i + 1], atol=1e-5, rtol=1e-5)


def test_token_features_ignore_whatever_the_padding_holds() -> None:
    """Hashed bigrams and the bag of n-grams read only each sequence's valid steps, whatever value
    pads the batch (a batch built by hand need not pad with 0)."""
    torch.manual_seed(3)
    model = SequenceClassifier(num_outputs=2, vocab_size=20, embed_dim=8, hidden_size=6, pooling="mean",
                               bigram_buckets=64, bigram_dim=4, ngram_buckets=64, ngram_dim=4).eval()
    seqs = [torch.randint(4, 20, (n,)) for n in (5, 2, 7)]
    batch = collate([Example(x=s, y=torch.tensor(i % 2)) for i, s in enumerate(seqs)])
    assert batch.x is not None and batch.lengths is not None
    noisy = Batch(x=batch.x.masked_fill(batch.mask() == 0, 13), lengths=batch.lengths, y=batch.y)
    out, out_noisy = model(batch), model(noisy)
    assert out.logits is not None and out_noisy.logits is not None
    torch.testing.assert_close(out_noisy.logits, out.logits)
    torch.testing.assert_close(out_noisy.loss, out.loss)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_pooling_takes_each_sequences_own_last_valid_step(bidirectional: bool) -> None:
    torch.manual_seed(2)
    model = SequenceClassifier(num_outputs=2, cell="gru", num_features=3, embed_dim=None, hidden_size=5,
                               bidirectional=bidirectional).eval()
    seqs = [torch.randn(n, 3) for n in (6, 3, 1)]
    batch = collate([Example(x=s) for s in seqs])
    pooled, _ = model.encode(batch)
    H = 5
    for i, s in enumerate(seqs):
        outputs = model.rnn(s.unsqueeze(0)).outputs[0]  # (T_i, D*H), no padding at all
        expected = outputs[-1] if not bidirectional else torch.cat([outputs[-1, :H], outputs[0, H:]])
        torch.testing.assert_close(pooled[i], expected, atol=1e-5, rtol=1e-5)


def test_pooling_modes_by_hand() -> None:
    out = torch.tensor([[[1.0, -1.0], [3.0, 5.0], [9.0, 9.0]]])  # (1, 3, 2); step 2 is padding
    lengths = torch.tensor([2])
    torch.testing.assert_close(SequencePooling("mean", 2)(out, lengths).vector, torch.tensor([[2.0, 2.0]]))
    torch.testing.assert_close(SequencePooling("max", 2)(out, lengths).vector, torch.tensor([[3.0, 5.0]]))
    torch.testing.assert_close(last_valid_step(out, lengths), torch.tensor([[3.0, 5.0]]))
    torch.testing.assert_close(last_valid_step(out, lengths, bidirectional=True), torch.tensor([[3.0, -1.0]]))
    attn = SequencePooling("attention", 2)(out, lengths)
    assert attn.weights is not None
    assert attn.weights[0, 2] == 0 and torch.isclose(attn.weights.sum(), torch.tensor(1.0))
    torch.testing.assert_close(attn.vector, torch.einsum("bt,btd->bd", attn.weights, out))


def test_attention_weights_sum_to_one_and_ignore_padding() -> None:
    model = SequenceClassifier(num_outputs=2, cell="rnn", vocab_size=10, embed_dim=4, hidden_size=4,
                               pooling="attention")
    batch = collate([Example(x=torch.tensor([4, 5, 6])), Example(x=torch.tensor([7]))])
    weights = model(batch).extras["attention"]
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert torch.all(weights[1, 1:] == 0)


def test_class_weights_label_smoothing_and_predict_proba() -> None:
    torch.manual_seed(3)
    model = SequenceClassifier(num_outputs=3, cell="gru", num_features=2, embed_dim=None, hidden_size=4,
                               class_weights=(1.0, 5.0, 0.5), label_smoothing=0.1)
    batch = Batch(x=torch.randn(4, 5, 2), y=torch.tensor([0, 1, 2, 1]))
    out = model(batch)
    assert out.logits is not None
    expected = F.cross_entropy(out.logits, batch.y, weight=torch.tensor([1.0, 5.0, 0.5]), label_smoothing=0.1)
    torch.testing.assert_close(out.loss, expected)
    with torch.no_grad():  # the eval loss (valid_loss, early stopping) is the plain NLL, as Seq2Seq's
        out = model.eval()(batch)
    plain = F.cross_entropy(out.logits, batch.y, weight=torch.tensor([1.0, 5.0, 0.5]))
    torch.testing.assert_close(out.loss, plain)
    assert not torch.allclose(plain, F.cross_entropy(out.logits, batch.y, weight=torch.tensor([1.0, 5.0, 0.5]),
                                                     label_smoothing=0.1))
    proba = model.predict_proba(batch)
    torch.testing.assert_close(proba.sum(-1), torch.ones(4))
    assert torch.equal(model.predict(batch), proba.argmax(-1))


@pytest.mark.parametrize("kind", ["mse", "huber"])
def test_regression_task(kind: str) -> None:
    model = SequenceClassifier(num_outputs=1, task="regression", cell="gru", num_features=2, embed_dim=None,
                               hidden_size=4, regression_loss=kind)
    batch = Batch(x=torch.randn(3, 4, 2), y=torch.tensor([0.5, -1.0, 2.0]))
    out = model(batch)
    assert out.predictions is not None and out.predictions.shape == (3,) and out.logits is None
    loss_fn = F.mse_loss if kind == "mse" else F.huber_loss
    torch.testing.assert_close(out.loss, loss_fn(out.predictions, batch.y))
    with pytest.raises(ValueError, match="predict_proba"):
        model.predict_proba(batch)


def test_bad_input_gets_a_clear_error() -> None:
    model = SequenceClassifier(num_outputs=2, cell="gru", num_features=3, embed_dim=None, hidden_size=4)
    with pytest.raises(ValueError, match=r"class id out of range \[0, 2\)"):
        model(Batch(x=torch.randn(2, 4, 3), y=torch.tensor([0, 2])))
    with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
        model(Batch(x=torch.randn(2, 4, 5)))
    with pytest.raises(ValueError, match="pooling must be one of"):
        SequenceClassifier(num_outputs=2, num_features=3, pooling="sum")
    with pytest.raises(ValueError, match="classification needs"):
        SequenceClassifier(num_outputs=1, num_features=3)


def test_from_dataset_reads_vocabulary_and_classes() -> None:
    vocab = Vocab.build([list("abcd")])
    examples = [Example(x=torch.tensor(vocab.encode(list(w))), y=torch.tensor(i % 3))
                for i, w in enumerate(["ab", "cda", "b", "dd"])]
    info = DatasetInfo(name="tiny", shape="many-to-one", task="classification", input_kind="tokens",
                       input_vocab=vocab, classes=["x", "y", "z"])
    ds = SequenceDataset(info, ExampleList(examples), ExampleList([]), ExampleList([]))
    model = SequenceClassifier.from_dataset(ds, cell="gru", hidden_size=8, embed_dim=4)
    assert model.config.vocab_size == len(vocab) and model.config.num_outputs == 3
    rebuilt = SequenceClassifier.from_config(model.config_dict())
    assert rebuilt.config == model.config
    assert model(collate(examples)).logits.shape == (4, 3)  # type: ignore[union-attr]


# --- the fully convolutional branch (LSTM-FCN / MLSTM-FCN) ---------------------------------------


def fcn_model(**kw) -> SequenceClassifier:
    options = dict(num_outputs=3, cell="gru", num_features=2, embed_dim=None, hidden_size=5,
                   conv_channels=(4, 6, 3), conv_kernel_sizes=(4, 3, 2), squeeze_excitation=2)
    return SequenceClassifier(**{**options, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_conv_branch_shapes(bidirectional: bool) -> None:
    model = fcn_model(bidirectional=bidirectional, pooling="attention")
    batch = Batch(x=torch.randn(4, 9, 2), lengths=torch.tensor([9, 4, 2, 1]), y=torch.tensor([0, 1, 2, 0]))
    vector, weights = model.encode(batch)
    assert vector.shape == (4, (2 if bidirectional else 1) * 5 + 3)  # recurrent then conv features
    assert weights is not None and weights.shape == (4, 9)
    out = model(batch)
    assert out.logits is not None and out.logits.shape == (4, 3) and out.loss is not None
    out.loss.backward()
    assert model.conv is not None and model.conv.convs[0].weight.grad is not None


@pytest.mark.parametrize("inputs", ["features", "normalised features", "differenced features", "token ids"])
def test_conv_branch_padding_does_not_change_any_sequence(inputs: str) -> None:
    torch.manual_seed(4)
    token_ids = inputs == "token ids"
    if token_ids:
        model = fcn_model(num_features=None, vocab_size=12, embed_dim=3)
        seqs = [torch.randint(1, 12, (n,)) for n in (7, 3, 1, 5)]
    else:
        model = fcn_model(input_norm=inputs == "normalised features",
                          input_differences=inputs == "differenced features")
        seqs = [torch.randn(n, 2) * torch.tensor([1.0, 10.0]) for n in (7, 3, 1, 5)]
    model.train()
    for _ in range(3):  # move the BatchNorm running statistics off their initial values
        model(collate([Example(x=s) for s in seqs]))
    model.eval()
    batch = collate([Example(x=s) for s in seqs])
    assert batch.x is not None
    pad = (0, 5) if token_ids else (0, 0, 0, 5)
    wide = Batch(x=F.pad(batch.x, pad, value=0 if token_ids else 3.0), lengths=batch.lengths)  # junk padding
    logits, logits_wide = model(batch).logits, model(wide).logits
    assert logits is not None and logits_wide is not None
    torch.testing.assert_close(logits, logits_wide, atol=1e-5, rtol=1e-5)
    for i, s in enumerate(seqs):
        alone = model(Batch(x=s.unsqueeze(0), lengths=torch.tensor([len(s)]))).logits
        torch.testing.assert_close(alone, logits[i : i + 1], atol=1e-5, rtol=1e-5)


def test_input_differences_by_hand() -> None:
    x = torch.tensor([[1.0, 4.0, 2.0, 7.0], [3.0, 5.0, 9.0, 9.0]]).unsqueeze(-1)  # (2, 4, 1)
    out = with_differences(x, torch.tensor([4, 2]), 1)
    torch.testing.assert_close(out[..., 0], x[..., 0])
    torch.testing.assert_close(out[..., 1], torch.tensor([[0.0, 3.0, -2.0, 5.0], [0.0, 2.0, 0.0, 0.0]]))
    model = fcn_model(input_differences=True)  # 2 features read as 4 by both branches
    assert model.encoder.num_features == 4 and model.conv is not None and model.conv.convs[0].in_channels == 4
    with pytest.raises(ValueError, match=r"features must be \(B, T, 2\), got \(2, 4, 1\)"):
        model(Batch(x=x, lengths=torch.tensor([4, 2])))
    with pytest.raises(ValueError, match="this model reads float features, got a torch.int64 tensor"):
        model(Batch(x=torch.ones(2, 4, 2, dtype=torch.long), lengths=torch.tensor([4, 2])))
    with pytest.raises(ValueError, match="input_differences reads float features"):
        fcn_model(num_features=None, vocab_size=12, embed_dim=3, input_differences=True)


def test_masked_batch_norm_reads_only_valid_steps() -> None:
    from rnnkit.layers.fcn import MaskedBatchNorm1d

    torch.manual_seed(5)
    norm, plain = MaskedBatchNorm1d(3), torch.nn.BatchNorm1d(3)
    x = torch.randn(2, 3, 6)
    mask = torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2]).unsqueeze(1)  # (B, 1, T)
    valid = torch.cat([x[0], x[1, :, :4]], dim=-1).unsqueeze(0)  # (1, 3, 10): only the valid steps
    out, expected = norm(x, mask), plain(valid)
    torch.testing.assert_close(torch.cat([out[0], out[1, :, :4]], dim=-1).unsqueeze(0), expected)
    torch.testing.assert_close(norm.running_mean, plain.running_mean)
    torch.testing.assert_close(norm.running_var, plain.running_var)
    torch.testing.assert_close(norm(x), plain(x))  # no mask: plain BatchNorm


def test_conv_branch_save_load_round_trip(tmp_path) -> None:
    from rnnkit.models.io import load_model

    torch.manual_seed(6)
    model = fcn_model(bidirectional=True)
    batch = Batch(x=torch.randn(3, 8, 2), lengths=torch.tensor([8, 5, 2]))
    model.train()
    model(batch)  # BatchNorm running statistics are saved too
    model.eval()
    model.save(tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, SequenceClassifier) and loaded.config == model.config
    assert loaded.config.conv_channels == (4, 6, 3) and loaded.config.squeeze_excitation == 2
    torch.testing.assert_close(loaded(batch).logits, model(batch).logits)
    rebuilt = SequenceClassifier.from_config(model.config_dict())
    assert rebuilt.config == model.config


def test_input_norm_learns_the_feature_scales() -> None:
    torch.manual_seed(7)
    model = fcn_model(input_norm=True, conv_channels=(), squeeze_excitation=0).train()
    for _ in range(200):
        model(Batch(x=torch.randn(8, 5, 2) * torch.tensor([0.1, 5.0]) + 3.0))
    assert model.input_norm is not None and model.input_norm.running_mean is not None
    scale = torch.tensor([0.1, 5.0])  # the running statistics are moving averages: allow 0.3 scale units
    assert torch.all((model.input_norm.running_mean - 3.0).abs() < 0.3 * scale)
    assert torch.all((model.input_norm.running_var.sqrt() - scale).abs() < 0.3 * scale)
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        model(Batch(x=torch.randn(2, 4, 5)))  # the encoder's message, not BatchNorm's


def test_conv_branch_lists_from_yaml_become_tuples() -> None:
    model = fcn_model(conv_channels=[4, 6, 3], conv_kernel_sizes=[4, 3, 2])
    assert model.config.conv_channels == (4, 6, 3) and model.config.conv_kernel_sizes == (4, 3, 2)
    hash(model.config)


def test_conv_branch_bad_settings_get_a_clear_error() -> None:
    with pytest.raises(ValueError, match="one positive kernel size per conv block"):
        fcn_model(conv_channels=(4, 6), conv_kernel_sizes=(8, 5, 3))
    with pytest.raises(ValueError, match="positive sizes"):
        fcn_model(conv_channels=(4, 0, 3))
    with pytest.raises(ValueError, match="reduction ratio"):
        fcn_model(squeeze_excitation=-1)
    with pytest.raises(ValueError, match="set conv_channels too"):
        fcn_model(conv_channels=())
    with pytest.raises(ValueError, match="input_norm z-normalises float features"):
        fcn_model(num_features=None, vocab_size=12, embed_dim=3, input_norm=True)
