"""Generation audit fixes: half-precision LSTM generators decode on the CPU (the C++ step declines
bfloat16 and float16, the generic step runs them), ``generate`` takes a ban as a tensor or an array,
and beam search on an empty batch returns an empty result, as greedy does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit import Recurrent
from rnnkit.data.batch import Batch
from rnnkit.models import ConditionedGenerator, LanguageModel, Seq2Seq

SIZES = {"embed_dim": 8, "hidden_size": 8}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_lstm_steps_as_its_forward(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    layer = Recurrent("lstm", 4, 8, num_layers=2).to(dtype).eval()
    x = torch.randn(2, 3, 4, dtype=dtype)
    want = layer(x).outputs
    state = None
    with torch.no_grad():
        for t in range(3):
            y, state = layer.step(x[:, t], state)
            torch.testing.assert_close(y, want[:, t], atol=2e-2, rtol=0)


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_every_generator_generates_in_bfloat16(method: str) -> None:
    torch.manual_seed(0)
    bf16 = torch.bfloat16
    g = {"generator": torch.Generator().manual_seed(0)} if method == "sample" else {}
    lm = LanguageModel(vocab_size=11, **SIZES).to(bf16).eval()
    cg = ConditionedGenerator(vocab_size=10, cond_shape=(5,), cond_size=8, **SIZES).to(bf16).eval()
    s2s = Seq2Seq(src_vocab_size=12, tgt_vocab_size=9, max_length=4, **SIZES).to(bf16).eval()
    outs = [lm.generate(torch.tensor([[4, 5], [6, 7]]), max_length=4, method=method, **g),
            cg.generate(torch.randn(2, 5, dtype=bf16), max_length=4, method=method, **g),
            s2s.generate(Batch(x=torch.tensor([[4, 5, 6], [7, 8, 9]]), lengths=torch.tensor([3, 3])), method, **g)]
    for out in outs:
        assert out.tokens.shape[0] == 2 and bool((out.lengths >= 1).all())
        assert bool(torch.isfinite(out.scores).all())


def test_the_lm_steps_in_bfloat16_past_its_prompt() -> None:
    """A random model may end on the prompt's own eos; forbid eos for the first tokens so that it steps."""
    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=11, **SIZES).to(torch.bfloat16).eval()
    out = lm.generate([4, 5], max_length=4, method="beam", beam_size=2, min_length=3)
    assert int(out.lengths[0, 0]) >= 3


@pytest.mark.parametrize("banned", [torch.tensor([5, 6]), np.array([5, 6]), torch.tensor([], dtype=torch.long),
                                    torch.tensor([5])])
def test_generate_takes_a_ban_as_a_tensor_or_an_array(banned: object) -> None:
    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=11, **SIZES).eval()
    want = lm.generate([4, 5], max_length=5, method="sample", banned=list(np.asarray(banned).tolist()),
                       generator=torch.Generator().manual_seed(1))
    got = lm.generate([4, 5], max_length=5, method="sample", banned=banned, generator=torch.Generator().manual_seed(1))
    assert torch.equal(got.tokens, want.tokens)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        lm.generate([4, 5], max_length=5, banned=torch.tensor([5, 11]))


def test_beam_on_an_empty_batch_is_empty_as_greedy() -> None:
    cg = ConditionedGenerator(vocab_size=10, cond_shape=(5,), cond_size=8, **SIZES).eval()
    greedy = cg.generate(torch.randn(0, 5), max_length=4)
    beam = cg.generate(torch.randn(0, 5), method="beam", max_length=4, beam_size=3, n_best=2)
    assert tuple(greedy.tokens.shape) == (0, 1, 0)
    assert tuple(beam.tokens.shape) == (0, 2, 0) and tuple(beam.lengths.shape) == tuple(beam.scores.shape) == (0, 2)
    assert beam.sequences() == []
