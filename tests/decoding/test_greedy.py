"""Greedy decoding against a plain-Python reference, and the Generated layout."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import Generated, greedy, score_sequences
from rnnkit.decoding.base import infer_batch

BOS, EOS = 1, 2


def reference_greedy(dec, ctx: int, max_length: int) -> list[int]:
    prev, out = BOS, []
    for t in range(max_length):
        tok = int(dec.table[ctx, min(t, dec.table.shape[1] - 1), prev].argmax())
        out.append(tok)
        if tok == EOS:
            break
        prev = tok
    return out


@pytest.mark.parametrize("seed", range(4))
def test_greedy_matches_python_reference_and_scores(make_decoder, seed):
    dec = make_decoder(seed, contexts=6, vocab=4)
    ctx = list(range(6))
    out = greedy(dec, dec.init(ctx), bos=BOS, eos=EOS, max_length=5)
    assert isinstance(out, Generated)
    assert out.tokens.shape[:2] == (6, 1) and out.lengths.shape == (6, 1) and out.scores.shape == (6, 1)
    for b in ctx:
        ref = reference_greedy(dec, b, 5)
        n = int(out.lengths[b, 0])
        assert out.tokens[b, 0, :n].tolist() == ref
        assert (out.tokens[b, 0, n:] == 0).all(), "positions past the length hold 0"
        assert out.scores[b, 0].item() == pytest.approx(dec.seq_score(b, ref), abs=1e-5)
    teacher = score_sequences(dec, dec.init(ctx), out.tokens[:, 0], bos=BOS, lengths=out.lengths[:, 0])
    torch.testing.assert_close(teacher.float(), out.scores[:, 0].float(), atol=1e-5, rtol=0)


def test_greedy_stops_as_soon_as_every_sequence_ended(trap):
    out = greedy(trap, trap.init([0, 0]), bos=BOS, eos=EOS, max_length=50)
    assert out.tokens[:, 0].tolist() == [[3, EOS], [3, EOS]]
    assert trap.calls == 2


def test_length_counts_eos_and_cut_sequences_have_max_length(make_decoder):
    dec = make_decoder(0, contexts=8, vocab=5)
    out = greedy(dec, dec.init(range(8)), bos=BOS, eos=EOS, max_length=3)
    for b in range(8):
        n = int(out.lengths[b, 0])
        seq = out.tokens[b, 0, :n].tolist()
        assert n == 3 or seq[-1] == EOS, "a sequence shorter than max_length ends with eos"
        assert EOS not in seq[:-1]
    assert (out.lengths < 3).any() and (out.tokens[:, 0, -1] != EOS).any(), "both cases were exercised"



def test_infer_batch_without_tensors_or_with_batch_size_method(trap):
    class Stateless:
        def step(self, tokens, state):
            return torch.log_softmax(torch.tensor([[0.0, 0.0, 5.0]]).expand(len(tokens), 3), -1), state

        def reorder(self, state, index):
            return state

    out = greedy(Stateless(), None, bos=0, eos=2, max_length=4)
    assert out.tokens.tolist() == [[[2]]]

    class Sized(Stateless):
        def batch_size(self, state):
            return 3

    assert greedy(Sized(), None, bos=0, eos=2, max_length=4).tokens.shape == (3, 1, 1)
    # an LSTM-like state (L, B, H) pair: the batch is the dimension that reorder shrinks
    h = torch.zeros(2, 5, 7)

    class Recurrentish(Stateless):
        def reorder(self, state, index):
            return state[0][:, index], state[1][:, index]

    assert infer_batch(Recurrentish(), (h, h)) == 5


def test_bad_arguments_are_explained(trap):
    with pytest.raises(ValueError, match="max_length"):
        greedy(trap, trap.init([0]), bos=BOS, eos=EOS, max_length=0)

    class Wrong:
        def step(self, tokens, state):
            return torch.zeros(len(tokens) + 1, 3), state

        def reorder(self, state, index):
            return state[index]

    with pytest.raises(ValueError, match="log_probs of shape"):
        greedy(Wrong(), torch.zeros(2, 1), bos=0, eos=2, max_length=3)
