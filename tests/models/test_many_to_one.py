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

POOLINGS = ["last", "mean", "max", "attention"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and do not spin against other processes)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
