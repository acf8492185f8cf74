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


def test_width_one_is_greedy_under_a_positive_penalty_on_many_decoders(make_decoder):
    """The exact stop alone would let width 1 go on past greedy's eos when a longer hypothesis
    scores better under a positive penalty (7 of 200 such decoders at 1.0): width 1 stops there."""
    for seed in range(60):
        dec = make_decoder(100 + seed, contexts=4, vocab=5, max_length=6)
        g = greedy(dec, dec.init(range(4)), bos=BOS, eos=EOS, max_length=6)
        b = beam_search(dec, dec.init(range(4)), bos=BOS, eos=EOS, max_length=6, beam_size=1, length_penalty=1.0)
        assert torch.equal(b.tokens, g.tokens) and torch.equal(b.lengths, g.lengths), seed


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


def reference_beam(dec, ctx: int, *, max_length: int, beam_size: int, n_best: int,
                   alpha: float) -> list[tuple[float, list[int]]]:
    """The same beam as beam_search in plain Python, but never stopping before max_length.

    Each step keeps the 2K best finite extensions, finishes the eos ones among the first K and goes on
    with the K best others; at the end the live beams compete, cut at max_length. An exact stop rule
    gives the same n_best hypotheses as this one that never stops.
    """
    table, K = dec.table, beam_size
    live: list[tuple[float, list[int]]] = [(0.0, [])]
    finished: list[tuple[float, list[int]]] = []
    for t in range(max_length):
        row = min(t, table.shape[1] - 1)
        cands = [(s + float(table[ctx, row, seq[-1] if seq else BOS, v]), seq + [v])
                 for s, seq in live for v in range(table.shape[-1])]
        cands = sorted((c for c in cands if c[0] > float("-inf")), key=lambda c: c[0], reverse=True)[: 2 * K]
        finished += [(s / ((5 + t + 1) / 6) ** alpha, seq) for s, seq in cands[:K] if seq[-1] == EOS]
        live = [c for c in cands if c[1][-1] != EOS][:K]
    finished += [(s / ((5 + max_length) / 6) ** alpha, seq) for s, seq in live]
    return sorted(finished, key=lambda c: c[0], reverse=True)[:n_best]


def test_a_wide_beam_waits_for_a_live_beam_that_can_still_win(patient):
    """beam 3 holds three finished hypotheses (b eos, c eos, a a eos) by step 2, all worse than what
    its live ``a a a`` reaches; stopping there returned ``b eos`` (-4.0) where greedy finds ``a a a eos``."""
    g = greedy(patient, patient.init([0]), bos=BOS, eos=EOS, max_length=8)
    assert g.tokens[0, 0].tolist() == [3, 3, 3, EOS] and g.scores.item() == pytest.approx(-0.043, abs=1e-3)
    b = beam_search(patient, patient.init([0]), bos=BOS, eos=EOS, max_length=8, beam_size=3)
    assert b.tokens[0, 0].tolist() == [3, 3, 3, EOS]
    torch.testing.assert_close(b.scores.double(), g.scores.double(), atol=1e-5, rtol=0)
    for k in range(1, 5):
        b = beam_search(patient, patient.init([0]), bos=BOS, eos=EOS, max_length=8, beam_size=k)
        assert b.scores.item() >= g.scores.item() - 1e-5, f"beam_size={k} fell below greedy"


@pytest.mark.parametrize("name, alpha, want", [("long_winner", 1.0, [3, 3, 3, 3, 3, EOS]),
                                               ("short_winner", -1.0, [3, EOS])])
def test_the_bound_holds_at_either_end_of_the_lengths_left(request, name, alpha, want):
    """A live beam is hopeless only when even its best length (max_length for a positive penalty, the
    next step for a negative one) cannot lift it past the finished: each decoder has one that wins
    only at that length."""
    dec = request.getfixturevalue(name)
    out = beam_search(dec, dec.init([0]), bos=BOS, eos=EOS, max_length=6, beam_size=2, length_penalty=alpha)
    assert out.tokens[0, 0, : out.lengths[0, 0]].tolist() == want
    assert out.scores[0, 0].item() == pytest.approx(dec.seq_score(0, want, alpha), abs=1e-6)
    assert [seq for _, seq in reference_beam(dec, 0, max_length=6, beam_size=2, n_best=1, alpha=alpha)] == [want]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0, -0.5])
def test_stopping_early_never_changes_the_hypotheses(make_decoder, seed, alpha):
    """The stop rule is exact: the n_best hypotheses equal those of the same beam run to max_length."""
    max_length = 6
    dec = make_decoder(seed, contexts=6, vocab=5, max_length=max_length, sharpness=1.5)
    for beam_size, n_best in [(1, 1), (2, 1), (3, 2), (4, 3)]:
        out = beam_search(dec, dec.init(range(6)), bos=BOS, eos=EOS, max_length=max_length,
                          beam_size=beam_size, n_best=n_best, length_penalty=alpha)
        for b in range(6):
            ref = reference_beam(dec, b, max_length=max_length, beam_size=beam_size, n_best=n_best, alpha=alpha)
            got = [out.tokens[b, k, : out.lengths[b, k]].tolist() for k in range(n_best)]
            assert got == [seq for _, seq in ref], f"beam_size={beam_size} entry {b}"
            want = torch.tensor([s for s, _ in ref], dtype=torch.float64)
            torch.testing.assert_close(out.scores[b].double(), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("max_length", [4, 5])
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_full_width_beam_finds_the_best_of_all_hypotheses(make_decoder, enumerate_hypotheses, seed,
                                                          max_length, alpha):
    """A beam wide enough to hold every candidate of every step, stopped by the bound, is exhaustive."""
    vocab, contexts = 5, 3
    dec = make_decoder(100 + seed, contexts=contexts, vocab=vocab, max_length=max_length, sharpness=1.5)
    out = beam_search(dec, dec.init(range(contexts)), bos=BOS, eos=EOS, max_length=max_length,
                      beam_size=(vocab - 1) ** max_length * vocab, n_best=1, length_penalty=alpha)
    hyps = enumerate_hypotheses(vocab, max_length)
    for b in range(contexts):
        best = max(hyps, key=lambda s: dec.seq_score(b, s, alpha))
        assert out.tokens[b, 0, : out.lengths[b, 0]].tolist() == best
        assert out.scores[b, 0].item() == pytest.approx(dec.seq_score(b, best, alpha), abs=1e-5)


@pytest.mark.parametrize("beam_size", [1, 2, 3, 4])
def test_the_exported_beam_search_stops_where_beam_search_does(patient, beam_size):
    """``onnx_beam`` (numpy, for exported models) keeps the same stop rule: onnxruntime sessions are
    stood in for by the decoder itself."""
    from types import SimpleNamespace

    import numpy as np

    from rnnkit.cli.export_decoding import onnx_beam

    class Init:
        def get_outputs(self):
            return [SimpleNamespace(name="ctx"), SimpleNamespace(name="steps")]

        def run(self, _names, inputs):
            return [inputs["x"], np.zeros_like(inputs["x"])]

    class Step:
        def get_inputs(self):
            return [SimpleNamespace(name=n) for n in ("tokens", "ctx", "steps")]

        def get_outputs(self):
            return [SimpleNamespace(name=n) for n in ("log_probs", "next_ctx", "next_steps")]

        def run(self, _names, feed):
            log_probs, (ctx, steps) = patient.step(torch.as_tensor(feed["tokens"]),
                                                    (torch.as_tensor(feed["ctx"]), torch.as_tensor(feed["steps"])))
            return [log_probs.numpy(), ctx.numpy(), steps.numpy()]

    got = onnx_beam(Init(), Step(), {"x": np.zeros(1, dtype=np.int64)}, bos=BOS, eos=EOS, max_length=8,
                    beam_size=beam_size)
    b = beam_search(patient, patient.init([0]), bos=BOS, eos=EOS, max_length=8, beam_size=beam_size)
    assert got == [b.tokens[0, 0, : b.lengths[0, 0] - 1].tolist()]
