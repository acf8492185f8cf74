"""Sampling: seeded reproducibility, the right distribution, and top-k / top-p respected."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import greedy, sample, score_sequences
from rnnkit.decoding.sample import filter_logits

BOS, EOS = 1, 2
PROBS = torch.tensor([0.05, 0.0, 0.15, 0.30, 0.40, 0.10])  # id 1 (bos) is never produced


class OneStep:
    """Every entry draws one token from ``PROBS``; eos follows on the next step."""

    def __init__(self):
        self.seen: list[torch.Tensor] = []

    def step(self, tokens, state):
        lp = PROBS.clamp_min(1e-12).log().expand(len(tokens), -1).clone()
        lp[tokens != BOS] = torch.tensor([-1e9, -1e9, 0.0, -1e9, -1e9, -1e9])
        self.seen.append(lp)
        return lp, state

    def reorder(self, state, index):
        return state[index]


def frequencies(out, V=6):
    return torch.bincount(out.tokens[:, 0, 0], minlength=V).double() / out.tokens.shape[0]


def test_same_seed_same_output_and_other_seeds_differ(make_decoder):
    dec = make_decoder(1, contexts=8, vocab=6, max_length=8, sharpness=0.5)
    runs = [sample(dec, dec.init(range(8)), bos=BOS, eos=EOS, max_length=8,
                   generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert torch.equal(runs[0].tokens, runs[1].tokens) and torch.equal(runs[0].scores, runs[1].scores)
    assert not torch.equal(runs[0].tokens, runs[2].tokens)


def test_draws_follow_the_distribution():
    n = 40_000
    out = sample(OneStep(), torch.zeros(n, 1), bos=BOS, eos=EOS, max_length=3,
                 generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(frequencies(out), PROBS.double(), atol=0.01, rtol=0)
    hot = sample(OneStep(), torch.zeros(n, 1), bos=BOS, eos=EOS, max_length=3, temperature=0.5,
                 generator=torch.Generator().manual_seed(0))
    sharpened = PROBS.double() ** 2 / (PROBS.double() ** 2).sum()
    torch.testing.assert_close(frequencies(hot), sharpened, atol=0.01, rtol=0)


def test_top_k_and_top_p_keep_only_the_allowed_tokens():
    n = 20_000
    top2 = sample(OneStep(), torch.zeros(n, 1), bos=BOS, eos=EOS, max_length=2, top_k=2,
                  generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(frequencies(top2), torch.tensor([0, 0, 0, 3 / 7, 4 / 7, 0]).double(),
                               atol=0.015, rtol=0)
    # mass of {4, 3} = 0.70 >= 0.6, so the nucleus is exactly those two tokens
    nucleus = sample(OneStep(), torch.zeros(n, 1), bos=BOS, eos=EOS, max_length=2, top_p=0.6,
                     generator=torch.Generator().manual_seed(1))
    assert set(nucleus.tokens[:, 0, 0].unique().tolist()) == {3, 4}
    tiny = sample(OneStep(), torch.zeros(100, 1), bos=BOS, eos=EOS, max_length=2, top_p=0.01)
    assert (tiny.tokens[:, 0, 0] == 4).all(), "the most probable token is always kept"


def test_top_k_one_is_greedy_and_scores_are_model_log_probs(make_decoder):
    dec = make_decoder(2, contexts=5, vocab=6, max_length=6)
    g = greedy(dec, dec.init(range(5)), bos=BOS, eos=EOS, max_length=6)
    s = sample(dec, dec.init(range(5)), bos=BOS, eos=EOS, max_length=6, top_k=1, temperature=3.0)
    assert torch.equal(s.tokens, g.tokens)
    torch.testing.assert_close(s.scores, g.scores)
    r = sample(dec, dec.init(range(5)), bos=BOS, eos=EOS, max_length=6, top_p=0.9,
               generator=torch.Generator().manual_seed(3))
    teacher = score_sequences(dec, dec.init(range(5)), r.tokens[:, 0], bos=BOS, lengths=r.lengths[:, 0])
    torch.testing.assert_close(r.scores[:, 0].double(), teacher, atol=1e-5, rtol=0)


def test_filter_logits_unit():
    lp = torch.tensor([[0.1, 0.2, 0.3, 0.4]]).log()
    assert torch.isinf(filter_logits(lp, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isinf(filter_logits(lp, top_p=0.5)).tolist() == [[True, True, False, False]]
    assert torch.isinf(filter_logits(lp, top_p=0.75)).tolist() == [[True, False, False, False]]
    torch.testing.assert_close(filter_logits(lp, temperature=2.0), lp / 2)


@pytest.mark.parametrize("kw", [{"temperature": 0.0}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}])
def test_bad_arguments_are_explained(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        sample(OneStep(), torch.zeros(1, 1), bos=BOS, eos=EOS, max_length=2, **kw)
