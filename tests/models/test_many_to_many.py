"""Seq2Seq: learns to reverse digits, padding-invariant, decoder == teacher forcing, every cell runs."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.batch import Batch, Example, collate
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.decoding import score_sequences
from rnnkit.models.many_to_many import Seq2Seq, Seq2SeqConfig

CELLS = ["rnn", "lstm", "gru", "mingru", "minlstm"]
ATTENTION = ["none", "additive", "dot", "general"]
EOS = Vocab.eos_id



def reverse_batch(n: int, gen: torch.Generator, lo: int = 3, hi: int = 7) -> Batch:
    """Digits are ids 4..13; the target is the reversed string, then eos."""
    examples = []
    for _ in range(n):
        digits = torch.randint(4, 14, (int(torch.randint(lo, hi + 1, (1,), generator=gen)),), generator=gen)
        examples.append(Example(x=digits, y=torch.cat([digits.flip(0), torch.tensor([EOS])])))
    return collate(examples)


def exact_match(out, batch: Batch) -> float:
    hits = [out.tokens[b, 0, :n].tolist() == batch.y[b, :n].tolist() and int(out.lengths[b, 0]) == n
            for b, n in enumerate(batch.y_lengths.tolist())]
    return sum(hits) / len(hits)


def small(**kw) -> Seq2Seq:
    base = {"src_vocab_size": 14, "tgt_vocab_size": 14, "embed_dim": 8, "hidden_size": 12, "max_length": 12}
    return Seq2Seq(**{**base, **kw})


def test_learns_to_reverse_digit_strings():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = small(cell="gru", embed_dim=16, hidden_size=48, attention="additive")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[150], gamma=0.3)
    for _ in range(200):
        loss = model(reverse_batch(64, gen)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    model.eval()
    test = reverse_batch(200, torch.Generator().manual_seed(123))
    greedy_acc = exact_match(model.predict(test), test)
    beam_acc = exact_match(model.generate(test, method="beam", beam_size=3), test)
    assert greedy_acc >= 0.95, f"greedy exact match {greedy_acc:.3f}"
    assert beam_acc >= 0.95, f"beam exact match {beam_acc:.3f}"


@pytest.mark.parametrize("attention", ATTENTION)
def test_padding_never_changes_outputs_attention_or_loss(attention):
    torch.manual_seed(1)
    model = small(attention=attention, cell="lstm", hidden_size=16 if attention != "dot" else 24,
                  encoder_hidden_size=12, num_layers=2, decoder_num_layers=1).eval()
    gen = torch.Generator().manual_seed(1)
    items = [Example(x=torch.randint(4, 14, (s,), generator=gen), y=torch.cat(
        [torch.randint(4, 14, (t,), generator=gen), torch.tensor([EOS])])) for s, t in ((5, 2), (2, 6), (7, 4))]
    batch = collate(items)
    out = model(batch)
    if attention != "none":
        w = out.extras["attention"]
        assert w.shape == (3, batch.y.shape[1], batch.x.shape[1])
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:2]))
        assert (w.masked_select(~batch.mask()[:, None, :].expand_as(w)) == 0).all()
    else:
        assert "attention" not in out.extras
    weighted, steps = torch.tensor(0.0), 0
    together = model.generate(batch, method="beam", beam_size=2, n_best=2)
    for i, ex in enumerate(items):
        alone_batch = collate([ex])
        alone = model(alone_batch)
        S, L = len(ex.x), len(ex.y)
        torch.testing.assert_close(alone.logits[0], out.logits[i, :L], atol=1e-5, rtol=0)
        if attention != "none":
            torch.testing.assert_close(alone.extras["attention"][0], out.extras["attention"][i, :L, :S],
                                       atol=1e-6, rtol=0)
        solo = model.generate(alone_batch, method="beam", beam_size=2, n_best=2)
        assert torch.equal(solo.tokens[0], together.tokens[i, :, : solo.tokens.shape[-1]])
        weighted, steps = weighted + alone.loss * L, steps + L
    torch.testing.assert_close(out.loss, weighted / steps, atol=1e-5, rtol=0)


@pytest.mark.parametrize("feeding", [True, False])
def test_decoder_steps_agree_with_teacher_forced_forward(feeding):
    torch.manual_seed(2)
    model = small(attention="general", input_feeding=feeding, cell="gru").eval()
    batch = reverse_batch(4, torch.Generator().manual_seed(2))
    out = model.generate(batch, method="beam", beam_size=3, n_best=2, max_length=9)
    for k in range(2):
        y, n = out.tokens[:, k], out.lengths[:, k]
        recomputed = score_sequences(model.decoder, model.init_state(batch), y, bos=Vocab.bos_id, lengths=n)
        torch.testing.assert_close(out.scores[:, k].double(), recomputed, atol=1e-4, rtol=0)
        forced = model(Batch(x=batch.x, lengths=batch.lengths, y=y, y_lengths=n)).logits.log_softmax(-1)
        mask = torch.arange(y.shape[1]) < n[:, None]
        from_forward = (forced.gather(2, y.unsqueeze(2)).squeeze(2) * mask).sum(1)
        torch.testing.assert_close(out.scores[:, k], from_forward, atol=1e-4, rtol=0)


def test_scheduled_sampling_feeds_the_models_own_predictions():
    torch.manual_seed(3)
    batch = reverse_batch(5, torch.Generator().manual_seed(3))
    model = small(attention="dot", hidden_size=16, encoder_hidden_size=8, teacher_forcing=0.0)
    model.train()  # no dropout here: train() only switches scheduled sampling on
    free = model(batch).logits.argmax(-1)  # each step fed the previous step's arg-max
    g = model.generate(batch, method="greedy", max_length=batch.y.shape[1])
    for b, n in enumerate(g.lengths[:, 0].tolist()):
        assert free[b, :n].tolist() == g.tokens[b, 0, :n].tolist()
    model.eval()
    assert not torch.equal(model(batch).logits, model.train()(batch).logits), "eval is teacher forced"


def test_label_smoothing_spreads_the_training_target_and_leaves_the_eval_loss_plain():
    torch.manual_seed(4)
    batch = reverse_batch(6, torch.Generator().manual_seed(4))
    model = small(label_smoothing=0.2)
    plain = small()
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        logits = plain.train()(batch).logits
    mask = batch.y_mask()
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch.y, reduction="none")
    uniform = -logits.log_softmax(-1).mean(-1)  # cross-entropy against the uniform distribution
    want = (((0.8 * nll + 0.2 * uniform) * mask).sum() / mask.sum())
    assert model.train()(batch).loss.item() == pytest.approx(want.item(), rel=1e-5)
    assert model.eval()(batch).loss.item() == pytest.approx(plain.eval()(batch).loss.item(), rel=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        small(label_smoothing=1.0)


def test_forward_without_targets_runs_free_like_greedy():
    torch.manual_seed(6)
    model = small(attention="additive").eval()
    batch = reverse_batch(4, torch.Generator().manual_seed(8))
    out = model(Batch(x=batch.x, lengths=batch.lengths))
    g = model.generate(batch)
    assert out.loss is None and out.extras["attention"].shape[:2] == out.logits.shape[:2]
    assert out.logits.shape[1] == g.tokens.shape[-1]
    for b, n in enumerate(g.lengths[:, 0].tolist()):
        assert out.logits[b, :n].argmax(-1).tolist() == g.tokens[b, 0, :n].tolist()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [(2, 1), (1, 3)])
def test_bridge_connects_any_encoder_to_the_decoder(cell, layers):
    torch.manual_seed(4)
    model = small(cell=cell, num_layers=layers[0], decoder_num_layers=layers[1], encoder_hidden_size=7,
                  bidirectional=True)
    state = model.init_state(reverse_batch(3, torch.Generator().manual_seed(4)))
    parts = state.rnn if isinstance(state.rnn, tuple) else (state.rnn,)
    assert len(parts) == (2 if cell == "lstm" else 1)
    assert all(p.shape == (layers[1], 3, 12) for p in parts)
    model(reverse_batch(3, torch.Generator().manual_seed(5))).loss.backward()
    assert all(lin.weight.grad.abs().sum() > 0 for lin in model.bridge)


def test_tied_embeddings_share_one_matrix():
    tied, free = small(tie_embeddings=True), small()
    assert tied.decoder.out.weight is tied.decoder.embed.weight
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # saved: the output matrix (V x H), and the attentional vector shrinks from H=12 to E=8, which
    # feeds the decoder LSTM (4H x 4 fewer inputs) and leaves combine ([c; h] = 36 -> 4 fewer outputs)
    assert count(free) - count(tied) == 14 * 12 + 4 * 12 * (12 - 8) + (36 + 1) * (12 - 8)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_builds_trains_and_generates(cell):
    torch.manual_seed(5)
    model = small(cell=cell, num_layers=2)
    batch = reverse_batch(3, torch.Generator().manual_seed(6))
    out = model(batch)
    out.loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    for method in ("greedy", "beam", "sample"):
        gen = model.generate(batch, method=method, max_length=5)
        assert gen.tokens.shape[:2] == (3, 1) and (gen.lengths <= 5).all()


def test_frames_as_source_and_from_dataset():
    model = Seq2Seq(num_features=5, tgt_vocab_size=9, hidden_size=8, embed_dim=4)
    batch = collate([Example(x=torch.randn(6, 5), y=torch.tensor([4, 5, EOS])),
                     Example(x=torch.randn(3, 5), y=torch.tensor([EOS]))])
    assert model(batch).logits.shape == (2, 3, 9)
    with pytest.raises(ValueError, match=r"\(B, T, 5\)"):
        model(collate([Example(x=torch.randn(6, 4), y=torch.tensor([EOS]))]))
    src, tgt = Vocab.build([list("abc")]), Vocab.build([list("xyzw")])
    info = DatasetInfo(name="toy", shape="many-to-many", task="seq2seq", input_kind="tokens",
                       input_vocab=src, output_vocab=tgt)
    ex = ExampleList([Example(x=torch.tensor([4, 5]), y=torch.tensor([6, EOS]))])
    m = Seq2Seq.from_dataset(SequenceDataset(info, ex, ex, ex), hidden_size=8, attention="dot", bidirectional=False)
    assert (m.config.src_vocab_size, m.config.tgt_vocab_size) == (len(src), len(tgt))
    assert isinstance(m.config, Seq2SeqConfig)
    clone = Seq2Seq.from_config(m.config_dict())
    clone.load_state_dict(m.state_dict())
    b = collate(list(ex))
    torch.testing.assert_close(clone(b).logits, m(b).logits)
    assert m.config.max_length == 64  # short targets keep the default cap
    # targets of 100 tokens: the cap follows the data (it stayed at 64 and cut every output short)
    long = ExampleList([Example(x=torch.tensor([4, 5]), y=torch.tensor([6] * 99 + [EOS]))])
    assert Seq2Seq.from_dataset(SequenceDataset(info, long, ex, ex), hidden_size=8).config.max_length == 200
    assert Seq2Seq.from_dataset(SequenceDataset(info, long, ex, ex), max_length=10).config.max_length == 10


def test_bad_batches_and_options_are_explained():
    model = small()
    ok = reverse_batch(2, torch.Generator().manual_seed(7))
    with pytest.raises(ValueError, match="y_lengths"):
        model(Batch(x=ok.x, lengths=ok.lengths, y=ok.y))
    with pytest.raises(ValueError, match="target id out of range"):
        model(Batch(x=ok.x, lengths=ok.lengths, y=ok.y + 20, y_lengths=ok.y_lengths))
    with pytest.raises(ValueError, match="token id out of range"):
        model(Batch(x=ok.x + 20, lengths=ok.lengths, y=ok.y, y_lengths=ok.y_lengths))
    with pytest.raises(ValueError, match="general"):
        small(attention="dot", hidden_size=10, encoder_hidden_size=7)
    with pytest.raises(ValueError, match="attention must be"):
        small(attention="luong")
    with pytest.raises(ValueError, match="method"):
        model.generate(ok, method="topk")  # type: ignore[arg-type]


def test_generation_is_evaluation_whatever_mode_the_model_is_in():
    """Dropout stays off while decoding even when the model is training (a valid-time decode inside a
    training loop), no gradient is kept, and the model goes back to the mode it was in."""
    torch.manual_seed(0)
    model = small(dropout=0.5)
    batch = reverse_batch(6, torch.Generator().manual_seed(1))
    model.eval()
    reference = model.generate(batch)
    model.train()
    for method in ("greedy", "beam"):
        first, second = model.generate(batch, method=method), model.generate(batch, method=method)
        assert torch.equal(first.tokens, second.tokens) and torch.equal(first.scores, second.scores)
        assert not first.scores.requires_grad
    assert torch.equal(model.generate(batch).tokens, reference.tokens)
    assert model.training
    with pytest.raises(ValueError, match="method"):
        model.generate(batch, method="nucleus")
