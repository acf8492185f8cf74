"""Beam search: width 1 is greedy, scores are teacher-forced log-probs, exhaustive beams are exact."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import beam_search, greedy, score_sequences
from rnnkit.decoding.beam import banned_ngram_tokens

BOS, EOS = 1, 2


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_width_one_equals_greedy(make_decoder, seed, alpha):
    dec = make_decoder(seed, contexts=8, vocab=6, max_length=7)
    g = greedy(dec, dec.init(range(8)), bos=BOS, eos=EOS, max_length=7)
    b = beam_search(dec, dec.init(range(8)), bos=BOS, eos=EOS, max_length=7, beam_size=1,
                    length_penalty=alpha)
    assert torch.equal(b.tokens, g.tokens) and torch.equal(b.lengths, g.lengths)
    expected = g.scores / ((5 + g.lengths.float()) / 6) ** alpha
    torch.testing.assert_close(b.scores.float(), expected.float(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("alpha", [0.0, 0.6, -0.5])
def test_scores_equal_teacher_forced_log_probs(make_decoder, alpha):
    dec = make_decoder(11, contexts=5, vocab=7, max_length=8, sharpness=1.0)
    out = beam_search(dec, dec.init(range(5)), bos=BOS, eos=EOS, max_length=8, beam_size=4, n_best=3,
                      length_penalty=alpha)
    assert out.tokens.shape[:2] == (5, 3)
    assert (out.scores[:, :-1] >= out.scores[:, 1:]).all(), "sorted best first"
    for k in range(3):
        teacher = score_sequences(dec, dec.init(range(5)), out.tokens[:, k], bos=BOS,
                                  lengths=out.lengths[:, k], length_penalty=alpha)
        torch.testing.assert_close(out.scores[:, k].double(), teacher, atol=1e-4, rtol=0)
    for b in range(5):
        seqs = [tuple(out.tokens[b, k, : out.lengths[b, k]].tolist()) for k in range(3)]
        assert len(set(seqs)) == 3, "n-best hypotheses are distinct"


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_exhaustive_beam_equals_brute_force(make_decoder, enumerate_hypotheses, alpha):
    vocab, max_length, n_best = 3, 4, 3
    dec = make_decoder(3, contexts=4, vocab=vocab, max_length=max_length, sharpness=1.5)
    hyps = enumerate_hypotheses(vocab, max_length)
    out = beam_search(dec, dec.init(range(4)), bos=BOS, eos=EOS, max_length=max_length,
                      beam_size=(vocab - 1) ** max_length * vocab, n_best=n_best, length_penalty=alpha)
    for b in range(4):
        ranked = sorted(hyps, key=lambda s: dec.seq_score(b, s, alpha), reverse=True)[:n_best]
        got = [out.tokens[b, k, : out.lengths[b, k]].tolist() for k in range(n_best)]
        assert got == ranked
        want = torch.tensor([dec.seq_score(b, s, alpha) for s in ranked])
        torch.testing.assert_close(out.scores[b].double(), want.double(), atol=1e-5, rtol=0)


def test_beam_finds_what_greedy_misses(trap):
    g = greedy(trap, trap.init([0]), bos=BOS, eos=EOS, max_length=3)
    b = beam_search(trap, trap.init([0]), bos=BOS, eos=EOS, max_length=3, beam_size=2)
    assert g.tokens[0, 0].tolist() == [3, EOS]
    assert b.tokens[0, 0].tolist() == [4, EOS]
    assert b.scores[0, 0].exp().item() == pytest.approx(0.36)
    assert g.scores[0, 0].exp().item() == pytest.approx(0.20)


def test_batch_entries_are_independent(make_decoder):
    dec = make_decoder(5, contexts=6, vocab=6, max_length=6)
    together = beam_search(dec, dec.init(range(6)), bos=BOS, eos=EOS, max_length=6, beam_size=3, n_best=2)
    for b in range(6):
        alone = beam_search(dec, dec.init([b]), bos=BOS, eos=EOS, max_length=6, beam_size=3, n_best=2)
        L = alone.tokens.shape[-1]
        assert torch.equal(alone.tokens[0], together.tokens[b, :, :L])
        assert (together.tokens[b, :, L:] == 0).all()
        torch.testing.assert_close(alone.scores[0], together.scores[b])


def test_min_length_delays_eos(trap):
    out = beam_search(trap, trap.init([0, 0]), bos=BOS, eos=EOS, max_length=3, beam_size=2, n_best=2,
                      min_length=3)
    assert (out.lengths == 3).all()
    assert (out.tokens[:, :, :2] != EOS).all()
    free = beam_search(trap, trap.init([0]), bos=BOS, eos=EOS, max_length=3, beam_size=2)
    assert int(free.lengths[0, 0]) == 2


def test_no_repeat_ngram_is_honoured():
    # A decoder that loves to alternate a, b, a, b... and never ends early.
    V, a, b = 5, 3, 4

    class Alternator:
        def step(self, tokens, state):
            logits = torch.full((len(tokens), V), -4.0)
            logits[:, EOS] = -8.0
            logits[tokens == a, b] = 2.0
            logits[tokens != a, a] = 2.0
            return logits.log_softmax(-1), state

        def reorder(self, state, index):
            return state[index]

    state = torch.zeros(2, 1)
    free = beam_search(Alternator(), state, bos=BOS, eos=EOS, max_length=8, beam_size=3)
    assert free.tokens[0, 0, :4].tolist() == [a, b, a, b]
    for n in (1, 2, 3):
        out = beam_search(Alternator(), state, bos=BOS, eos=EOS, max_length=8, beam_size=3, n_best=3,
                          no_repeat_ngram=n)
        for bb in range(2):
            for k in range(3):
                seq = out.tokens[bb, k, : out.lengths[bb, k]].tolist()
                grams = [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
                assert len(grams) == len(set(grams)), f"{n}-gram repeated in {seq}"


def test_banned_ngram_tokens_unit():
    hyps = torch.tensor([[3, 4, 3], [3, 3, 4]])
    banned = banned_ngram_tokens(hyps, 2, 6)
    assert banned[0].nonzero().flatten().tolist() == [4]  # "3 4" seen, last token is 3
    assert banned[1].nonzero().flatten().tolist() == []  # last is 4; no bigram starts with 4
    assert banned_ngram_tokens(hyps, 1, 6)[1].nonzero().flatten().tolist() == [3, 4]


def test_arguments_are_validated(trap):
    for kw, msg in [({"beam_size": 0}, "beam_size"), ({"n_best": 3, "beam_size": 2}, "n_best"),
                    ({"min_length": 9}, "min_length"), ({"no_repeat_ngram": -1}, "no_repeat_ngram")]:
        with pytest.raises(ValueError, match=msg):
            beam_search(trap, trap.init([0]), bos=BOS, eos=EOS, max_length=3, **kw)


def test_rows_past_the_hypotheses_that_exist_are_empty(make_decoder):
    """V=5 and one step: five one-token hypotheses at most (bos among them), so n_best=8 leaves rows
    with nothing in them: score -inf, length 0, padding, and never a copy of a pruned beam."""
    dec = make_decoder(3, contexts=2, vocab=5, max_length=1)
    out = beam_search(dec, dec.init(range(2)), bos=BOS, eos=EOS, max_length=1, beam_size=8, n_best=8)
    real = torch.isfinite(out.scores)
    assert int(real.sum(1).min()) >= 1 and not bool(real.all())
    assert bool((out.lengths[~real] == 0).all()) and bool((out.tokens[~real] == 0).all())
    for b in range(2):  # the real rows are distinct hypotheses, best first
        rows = [tuple(out.tokens[b, k, : int(out.lengths[b, k])].tolist()) for k in range(8) if bool(real[b, k])]
        assert len(set(rows)) == len(rows)
        assert torch.equal(out.scores[b][real[b]], out.scores[b][real[b]].sort(descending=True).values)
