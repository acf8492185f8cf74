"""Decoding audit fixes: a caller's tensor arguments are read as ints, never changed; extreme
temperatures sample (tiny: as greedy; huge: uniformly over the tokens not banned) or are refused
(``inf``) with a message, not a NaN from torch; ``top_k`` must be a positive integer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.decoding import greedy, sample
from rnnkit.decoding.sample import filter_logits
from rnnkit.models import LanguageModel

BOS, EOS = 1, 2


class Float32:
    """A decoder of the conftest's (float64 tables) that returns float32 log-probs, as models do: a
    float64 row takes 1e39 or 1e-300 in its stride, float32 overflows."""

    def __init__(self, dec) -> None:  # type: ignore[no-untyped-def]
        self.dec, self.init = dec, dec.init

    def step(self, tokens, state):  # type: ignore[no-untyped-def]
        log_probs, state = self.dec.step(tokens, state)
        return log_probs.float(), state

    def reorder(self, state, index):  # type: ignore[no-untyped-def]
        return self.dec.reorder(state, index)


def test_a_tensor_max_length_is_not_changed_and_decodes_as_its_int() -> None:
    """The C++ greedy loop of a prompted language model counted ``max_length`` down in place."""
    torch.manual_seed(4)
    lm = LanguageModel(vocab_size=11, embed_dim=8, hidden_size=16).eval()
    want = lm.generate([4, 5], max_length=4)
    given = torch.tensor(4)
    got = lm.generate([4, 5], max_length=given)
    assert int(given) == 4, "the caller's tensor was changed"
    assert torch.equal(got.tokens, want.tokens) and torch.equal(got.lengths, want.lengths)


@pytest.mark.parametrize("strategy", [greedy, sample])
def test_one_element_1d_tensors_pass_as_the_docstring_says(make_decoder, strategy) -> None:
    dec = make_decoder(0)
    seeded = {"generator": torch.Generator().manual_seed(0)} if strategy is sample else {}
    want = strategy(dec, dec.init([0, 1]), bos=BOS, eos=EOS, max_length=3, **seeded)
    seeded = {"generator": torch.Generator().manual_seed(0)} if strategy is sample else {}
    got = strategy(dec, dec.init([0, 1]), bos=torch.tensor([BOS]), eos=torch.tensor([EOS]),
                   max_length=torch.tensor([3]), **seeded)
    assert torch.equal(got.tokens, want.tokens) and torch.equal(got.lengths, want.lengths)


def test_a_tiny_temperature_samples_as_greedy_with_a_ban(make_decoder) -> None:
    dec = Float32(make_decoder(1))
    want = greedy(dec, dec.init([0, 1, 2, 3]), bos=BOS, eos=EOS, max_length=4, banned=[0])
    for t in (1e-40, 1e-300):
        got = sample(dec, dec.init([0, 1, 2, 3]), bos=BOS, eos=EOS, max_length=4, temperature=t, banned=[0],
                     generator=torch.Generator().manual_seed(0))
        assert torch.equal(got.tokens, want.tokens), t
    lp = torch.tensor([[-0.5, -0.6, float("-inf")]])
    assert filter_logits(lp, temperature=1e-40).softmax(-1).tolist() == [[1.0, 0.0, 0.0]]


def test_a_huge_temperature_draws_uniformly_among_the_tokens_not_banned(make_decoder) -> None:
    dec = Float32(make_decoder(2))  # vocabulary of 5: with 0 and 1 banned, 2, 3 and 4 are left
    n = 3000
    out = sample(dec, dec.init([i % 4 for i in range(n)]), bos=BOS, eos=EOS, max_length=1, temperature=1e39,
                 banned=[0, 1], generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(out.tokens[:, 0, 0], minlength=5) / n
    assert counts[:2].tolist() == [0.0, 0.0]
    assert torch.allclose(counts[2:], torch.full((3,), 1 / 3), atol=0.04), counts


@pytest.mark.parametrize("t", [float("inf"), float("nan"), -1.0])
def test_a_non_finite_temperature_is_refused_by_name(make_decoder, t: float) -> None:
    dec = make_decoder(0)
    with pytest.raises(ValueError, match="^temperature must be"):
        sample(dec, dec.init([0, 1]), bos=BOS, eos=EOS, max_length=3, temperature=t, banned=[0])


@pytest.mark.parametrize("k", [2.5, True, "2"])
def test_top_k_must_be_a_positive_integer(make_decoder, k: object) -> None:
    dec = make_decoder(0)
    with pytest.raises(ValueError, match=r"^top_k must be a positive integer .*got"):
        sample(dec, dec.init([0, 1]), bos=BOS, eos=EOS, max_length=3, top_k=k)  # type: ignore[arg-type]


def test_top_k_as_a_numpy_integer_is_its_int(make_decoder) -> None:
    dec = make_decoder(0)
    want = sample(dec, dec.init([0, 1]), bos=BOS, eos=EOS, max_length=3, top_k=2,
                  generator=torch.Generator().manual_seed(0))
    got = sample(dec, dec.init([0, 1]), bos=BOS, eos=EOS, max_length=3, top_k=np.int64(2),  # type: ignore[arg-type]
                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(got.tokens, want.tokens)
