"""SequenceTagger: learns running parity, padding-invariant, CRF constraints hold, every cell runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from rnnkit.data.batch import Batch, Example, collate
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.layers.crf import bio_constraints
from rnnkit.models.synced import SequenceTagger, SequenceTaggerConfig

CELLS = ["rnn", "lstm", "gru", "mingru", "minlstm"]



def fit(model: torch.nn.Module, next_batch: Callable[[], Batch], *, lr: float, steps: int) -> None:
    """Adam for ``steps`` steps, each on a fresh batch from ``next_batch``."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model(next_batch()).loss
        opt.zero_grad()
        loss.backward()
        opt.step()


def parity_batch(n: int, gen: torch.Generator, max_len: int = 12) -> Batch:
    examples = []
    for _ in range(n):
        T = int(torch.randint(3, max_len + 1, (1,), generator=gen))
        bits = torch.randint(0, 2, (T,), generator=gen)
        examples.append(Example(x=bits.float().unsqueeze(1), y=bits.cumsum(0) % 2))
    return collate(examples)


def test_learns_running_parity_of_a_bit_stream():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = SequenceTagger(num_tags=2, num_features=1, cell="gru", hidden_size=24, bidirectional=False)
    fit(model, lambda: parity_batch(32, gen), lr=0.02, steps=150)
    test = parity_batch(200, torch.Generator().manual_seed(99), max_len=16)  # longer than trained on
    pred, mask = model.predict(test), test.mask()
    accuracy = (pred == test.y)[mask].float().mean().item()
    assert accuracy >= 0.97, f"per-step parity accuracy {accuracy:.3f}"
    assert (pred[~mask] == 0).all()


@pytest.mark.parametrize("bigram_buckets", [0, 64])
@pytest.mark.parametrize("crf", [False, True])
def test_padding_never_changes_outputs_or_loss(crf, bigram_buckets):
    torch.manual_seed(1)
    model = SequenceTagger(num_tags=4, vocab_size=20, embed_dim=8, hidden_size=10, crf=crf,
                           bigram_buckets=bigram_buckets, bigram_dim=4).eval()
    xs = [torch.randint(4, 20, (n,)) for n in (5, 2, 7)]
    ys = [torch.randint(0, 4, (n,)) for n in (5, 2, 7)]
    batch = collate([Example(x=x, y=y) for x, y in zip(xs, ys)])
    out = model(batch)
    total_steps = 0
    weighted = torch.tensor(0.0)
    for i, (x, y) in enumerate(zip(xs, ys)):
        alone = model(collate([Example(x=x, y=y)]))
        n = len(x)
        torch.testing.assert_close(alone.logits[0], out.logits[i, :n], atol=1e-5, rtol=0)
        assert torch.equal(model.predict(collate([Example(x=x)]))[0], model.predict(batch)[i, :n])
        weighted = weighted + alone.loss * n
        total_steps += n
    torch.testing.assert_close(out.loss, weighted / total_steps, atol=1e-5, rtol=0)
    # garbage in the padding changes nothing either
    noisy = Batch(x=batch.x.clone(), lengths=batch.lengths, y=batch.y, y_lengths=batch.y_lengths)
    noisy.x[1, 2:] = 19
    torch.testing.assert_close(model(noisy).loss, out.loss)
    torch.testing.assert_close(model(noisy).logits[1, :2], out.logits[1, :2])  # the right bigram of the last step


def test_crf_tagger_never_predicts_a_forbidden_transition():
    torch.manual_seed(2)
    tags = ("O", "B-A", "I-A", "B-B", "I-B")
    model = SequenceTagger(num_tags=5, vocab_size=30, hidden_size=8, crf=True, tag_scheme="BIO", tags=tags)
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 0.0, 5.0]))  # push towards I-*
    c = bio_constraints(tags)
    batch = collate([Example(x=torch.randint(4, 30, (int(n),))) for n in torch.randint(1, 9, (40,))])
    pred = model.predict(batch)
    for row, n in zip(pred.tolist(), batch.lengths.tolist()):
        assert c.start[row[0]], row
        assert all(c.transitions[a, b] for a, b in zip(row[: n - 1], row[1:n])), row


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("inputs", ["tokens", "features"])
def test_every_cell_builds_and_trains_one_step(cell, inputs):
    torch.manual_seed(3)
    kw = {"vocab_size": 12} if inputs == "tokens" else {"num_features": 3}
    model = SequenceTagger(num_tags=3, cell=cell, hidden_size=6, num_layers=2, crf=inputs == "tokens", **kw)
    xs = [torch.randint(4, 12, (n,)) if inputs == "tokens" else torch.randn(n, 3) for n in (4, 1, 3)]
    batch = collate([Example(x=x, y=torch.randint(0, 3, (len(x),))) for x in xs])
    out = model(batch)
    assert out.logits.shape == (3, 4, 3) and out.loss.ndim == 0
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert model.predict(batch).shape == (3, 4)


def test_from_dataset_and_config_round_trip():
    vocab = Vocab.build([list("abc")])
    info = DatasetInfo(name="toy", shape="synced", task="tagging", input_kind="tokens", input_vocab=vocab,
                       classes=["O", "B-X", "I-X"])
    ex = ExampleList([Example(x=torch.tensor([4, 5]), y=torch.tensor([1, 2]))])
    model = SequenceTagger.from_dataset(SequenceDataset(info, ex, ex, ex), hidden_size=8, crf=True,
                                        tag_scheme="BIO")
    assert model.config.vocab_size == len(vocab) and model.config.num_tags == 3
    assert isinstance(model.config, SequenceTaggerConfig)
    clone = SequenceTagger.from_config(model.config_dict())
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()  # the suggested dropout would draw different masks
    batch = collate(list(ex))
    torch.testing.assert_close(clone(batch).logits, model(batch).logits)
    feats = DatasetInfo(name="frames", shape="synced", task="tagging", input_kind="features", num_features=7,
                        classes=["a", "b"])
    assert SequenceTagger.from_dataset(SequenceDataset(feats, ex, ex, ex)).config.num_features == 7


def test_bad_batches_are_explained():
    model = SequenceTagger(num_tags=3, num_features=2, hidden_size=4)
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        model(collate([Example(x=torch.randn(3, 5))]))
    with pytest.raises(ValueError, match="tag ids must be in"):
        model(collate([Example(x=torch.randn(3, 2), y=torch.tensor([0, 1, 3]))]))
    with pytest.raises(ValueError, match=r"y must be \(B, T\) = \(1, 3\)"):
        model(collate([Example(x=torch.randn(3, 2), y=torch.tensor([0, 1]))]))
    two = collate([Example(x=torch.randn(3, 2), y=torch.tensor([0, 1])), Example(x=torch.randn(2, 2),
                                                                                  y=torch.tensor([0, 1, 1]))])
    with pytest.raises(ValueError, match="y_lengths differs"):
        model(two)
    with pytest.raises(ValueError, match="tag_scheme"):
        SequenceTagger(num_tags=2, num_features=2, tag_scheme="BIO")


def moving_pattern_batch(n: int, gen: torch.Generator, canvas: int = 8) -> Batch:
    """Frames of a canvas with one of two 3x3 patterns (a cross or a square) at a random place; the
    label of a frame is its pattern. A CNN sees the pattern wherever it is; raw pixels do not."""
    cross = torch.tensor([[0.0, 1, 0], [1, 1, 1], [0, 1, 0]])
    square = torch.tensor([[1.0, 1, 1], [1, 0, 1], [1, 1, 1]])
    examples = []
    for _ in range(n):
        T = int(torch.randint(3, 9, (1,), generator=gen))
        y = torch.randint(0, 2, (T,), generator=gen)
        frames = torch.zeros(T, canvas, canvas)
        for t in range(T):
            r, c = torch.randint(0, canvas - 2, (2,), generator=gen).tolist()
            frames[t, r:r + 3, c:c + 3] = cross if y[t] == 0 else square
        examples.append(Example(x=frames.view(T, -1), y=y))
    return collate(examples)


def test_conv_frames_learn_a_pattern_wherever_it_moves():
    """Regression: moving_digits scored ~20% per frame when raw 256-pixel frames went straight into
    the GRU; a CNN shared over frames (frame_shape) reads the digit wherever it has drifted."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = SequenceTagger(num_tags=2, num_features=64, frame_shape=(1, 8, 8), embed_dim=16, conv_channels=(8,),
                           cell="gru", hidden_size=16)
    fit(model, lambda: moving_pattern_batch(16, gen), lr=0.01, steps=40)
    model.eval()
    test = moving_pattern_batch(100, torch.Generator().manual_seed(99))
    pred, mask = model.predict(test), test.mask()
    accuracy = (pred == test.y)[mask].float().mean().item()
    assert accuracy >= 0.95, f"per-frame accuracy {accuracy:.3f}"


def test_conv_frames_ignore_padding_even_in_training():
    """Padding frames never reach the CNN: batch-norm statistics, outputs and loss are those of the
    valid frames alone, in training mode too."""
    torch.manual_seed(1)
    model = SequenceTagger(num_tags=3, num_features=36, frame_shape=(1, 6, 6), embed_dim=8, conv_channels=(4,),
                           hidden_size=8).train()
    gen = torch.Generator().manual_seed(1)
    xs = [torch.rand(n, 36, generator=gen) for n in (5, 2, 7)]
    ys = [torch.randint(0, 3, (n,), generator=gen) for n in (5, 2, 7)]
    padded = collate([Example(x=x, y=y) for x, y in zip(xs, ys)])
    noisy = Batch(x=padded.x.clone(), lengths=padded.lengths, y=padded.y, y_lengths=padded.y_lengths)
    noisy.x[1, 2:] = 5.0  # garbage in the padding
    out, out_noisy = model(padded), model(noisy)
    torch.testing.assert_close(out_noisy.loss, out.loss)
    torch.testing.assert_close(out_noisy.logits[padded.mask()], out.logits[padded.mask()])


def test_conv_frames_from_a_video_dataset_and_config_round_trip():
    info = DatasetInfo(name="video", shape="synced", task="tagging", input_kind="features", num_features=16,
                       classes=["a", "b"], extra={"canvas": 4})
    ex = ExampleList([Example(x=torch.rand(3, 16), y=torch.tensor([0, 1, 1]))])
    data = SequenceDataset(info, ex, ex, ex)
    model = SequenceTagger.from_dataset(data, frame_encoder="conv", hidden_size=8, conv_channels=(4,)).eval()
    assert model.config.frame_shape == (1, 4, 4)
    clone = SequenceTagger.from_config(model.config_dict()).eval()
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()  # the suggested dropout would draw different masks
    batch = collate(list(ex))
    torch.testing.assert_close(clone(batch).logits, model(batch).logits)
    with pytest.raises(ValueError, match="frame_encoder"):
        SequenceTagger.from_dataset(data, frame_encoder="lstm")
    with pytest.raises(ValueError, match="frame_shape"):
        SequenceTagger(num_tags=2, num_features=10, frame_shape=(1, 4, 4))


def test_word_dropout_reads_tokens_as_unknown_in_training_only():
    torch.manual_seed(0)
    model = SequenceTagger(num_tags=2, vocab_size=20, embed_dim=4, hidden_size=4, word_dropout=0.5)
    seen: list[torch.Tensor] = []
    model.encoder.register_forward_hook(lambda _m, args, _out: seen.append(args[0].clone()))
    x = torch.full((64, 10), 7)
    x[:, 8:] = Vocab.pad_id
    batch = Batch(x=x, y=torch.zeros(64, 10, dtype=torch.long), lengths=torch.full((64,), 8))
    model.train()
    model(batch)
    read = seen[-1]
    unknown = (read == Vocab.unk_id).float()
    assert 0.4 < unknown[:, :8].mean() < 0.6 and unknown[:, 8:].sum() == 0  # padding stays padding
    assert ((read == 7) | (read == Vocab.unk_id))[:, :8].all()
    model.eval()
    model(batch)
    assert torch.equal(seen[-1], x)
    with pytest.raises(ValueError, match="word_dropout"):
        SequenceTagger(num_tags=2, num_features=3, word_dropout=0.1)
    with pytest.raises(ValueError, match="word_dropout"):
        SequenceTagger(num_tags=2, vocab_size=20, word_dropout=1.0)
