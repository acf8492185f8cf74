"""Graph-captured decoding: its per-token body equals the eager loop, and it steps aside off CUDA.

The CUDA replay itself runs in ``benchmarks/gpu_long_stream.sh``; here the same ``body`` runs
eagerly on the CPU, which is exactly what the graph records.
"""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import greedy, sample
from rnnkit.decoding.graphs import StaticDecode, graph_decode, map_tensors, sample_chooser, wants_graph
from rnnkit.models import LanguageModel
from rnnkit.models.one_to_many import DecoderState

BOS, EOS = 1, 2


def argmax(lp):
    return lp.argmax(-1)


def same(a, b):
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.lengths, b.lengths)
    torch.testing.assert_close(a.scores, b.scores)


def test_body_equals_greedy_on_table_decoders(make_decoder):
    for seed in range(4):
        dec = make_decoder(seed, contexts=6, vocab=4)
        state = dec.init(list(range(6)))
        for max_length in (1, 3, 8):
            got = StaticDecode(dec, state, argmax, bos=BOS, eos=EOS, max_length=max_length).run_eager()
            same(got, greedy(dec, state, bos=BOS, eos=EOS, max_length=max_length))


def test_body_equals_greedy_on_a_language_model_with_a_prompt():
    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=7, hidden_size=8, embed_dim=5, num_layers=2).eval()
    with torch.no_grad():
        state = lm.prompt_state(torch.tensor([[4, 5, 6], [5, 4, 0]]), torch.tensor([3, 2]))
        # the first step hands back the prompt's pending log-probs: the state layout changes once
        got = StaticDecode(lm, state, argmax, bos=1, eos=3, max_length=12).run_eager()
        same(got, greedy(lm, state, bos=1, eos=3, max_length=12))


def test_sampling_body_is_seeded_and_top_k_one_is_greedy(make_decoder):
    dec = make_decoder(5, contexts=3, vocab=5)
    state = dec.init([0, 1, 2])
    runs = [StaticDecode(dec, state, sample_chooser(generator=torch.Generator().manual_seed(7)), bos=BOS,
                         eos=EOS, max_length=6).run_eager() for _ in range(2)]
    same(*runs)
    top1 = StaticDecode(dec, state, sample_chooser(top_k=1, generator=torch.Generator().manual_seed(1)),
                        bos=BOS, eos=EOS, max_length=6).run_eager()
    same(top1, greedy(dec, state, bos=BOS, eos=EOS, max_length=6))


def test_exponential_race_draws_the_categorical_distribution():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    log_probs = probs.log().expand(40_000, -1)
    draws = sample_chooser(generator=torch.Generator().manual_seed(0))(log_probs)
    freq = torch.bincount(draws, minlength=4).double() / draws.numel()
    torch.testing.assert_close(freq, probs.double(), atol=0.01, rtol=0)  # ~4 standard errors


def test_steps_aside_off_cuda_or_without_opt_in(make_decoder):
    dec = make_decoder(0)
    state = dec.init([0, 1])
    assert not wants_graph(dec)
    dec.graph_step = True
    assert wants_graph(dec)
    assert graph_decode(dec, state, argmax, bos=BOS, eos=EOS, max_length=4) is None  # CPU state
    # greedy and sample still work for an opted-in decoder on the CPU (their eager loop)
    greedy(dec, state, bos=BOS, eos=EOS, max_length=4)
    sample(dec, state, bos=BOS, eos=EOS, max_length=4, generator=torch.Generator().manual_seed(0))


def test_map_tensors_keeps_structure():
    from typing import NamedTuple

    class S(NamedTuple):
        h: torch.Tensor
        extra: dict | None

    s = S(torch.ones(2), {"a": [torch.zeros(1), None]})
    out = map_tensors(s, lambda t: t + 1)
    assert isinstance(out, S) and torch.equal(out.h, torch.full((2,), 2.0))
    assert torch.equal(out.extra["a"][0], torch.ones(1)) and out.extra["a"][1] is None


def test_token_range_check_steps_aside_while_a_graph_is_captured(monkeypatch):
    """The embedding's range check reads ids on the host, which a CUDA graph capture forbids (the
    first GPU run of graph_decode failed there): while capturing it is skipped, otherwise it holds."""
    from rnnkit.layers import inputs

    enc = inputs.InputEncoder(vocab_size=5, embed_dim=3)
    bad = torch.tensor([[1, 7]])
    with pytest.raises(ValueError, match="token id out of range"):
        enc(bad)
    assert inputs._capturing(bad) is False  # a CPU tensor is never under capture

    def no_host_reads(self, *args, **kwargs):
        raise AssertionError("a host read while capturing")

    monkeypatch.setattr(inputs, "_capturing", lambda x: True)
    monkeypatch.setattr(torch.Tensor, "min", no_host_reads)
    monkeypatch.setattr(torch.Tensor, "max", no_host_reads)
    assert enc(torch.tensor([[1, 4]])).shape == (1, 2, 3)


def unrolled(dec, state, k, max_length):
    """What graph_decode replays with ``tokens_per_graph=k``: k bodies at a time, the host looking at
    ``finished`` only between groups, so a group may run past max_length or past every end."""
    run = StaticDecode(dec, state, argmax, bos=BOS, eos=EOS, max_length=max_length, unroll=k)
    while int(run.t) < max_length:
        for _ in range(k):
            run.body(adopt=True)
        if bool(run.finished.all()):
            break
    return run.result()


@pytest.mark.parametrize("k", [2, 3, 16])
def test_several_tokens_per_graph_equal_greedy(make_decoder, k):
    for seed in range(4):
        dec = make_decoder(seed, contexts=6, vocab=4)
        state = dec.init(list(range(6)))
        for max_length in (1, 3, 8):
            same(unrolled(dec, state, k, max_length), greedy(dec, state, bos=BOS, eos=EOS, max_length=max_length))


def test_several_tokens_per_graph_on_a_language_model_that_never_ends():
    """eos out of the vocabulary: every sequence runs to max_length, which 4 does not divide, so the
    last group runs past it; those tokens add to neither the output nor the score."""
    torch.manual_seed(1)
    lm = LanguageModel(vocab_size=9, hidden_size=8, embed_dim=5).eval()
    zeros = torch.zeros(1, 2, 8)
    with torch.no_grad():
        want = greedy(lm, DecoderState((zeros, zeros)), bos=BOS, eos=9, max_length=7)
        run = StaticDecode(lm, DecoderState((zeros, zeros)), argmax, bos=BOS, eos=9, max_length=7, unroll=4)
        for _ in range(8):
            run.body(adopt=True)
        got = run.result()
    same(got, want)
    assert got.tokens.shape[-1] == 7 and int(run.t) == 8


def test_unroll_and_tokens_per_graph_must_be_positive(make_decoder):
    dec = make_decoder(0, contexts=2, vocab=4)
    with pytest.raises(ValueError, match="unroll must be at least 1"):
        StaticDecode(dec, dec.init([0, 1]), argmax, bos=BOS, eos=EOS, max_length=3, unroll=0)
