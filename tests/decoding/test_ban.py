"""Banned tokens (decoding/ban.py): greedy, beam search and sampling never emit them, sampling
renormalises over the tokens left, scores stay the decoder's own, and the fast greedy paths agree."""

from __future__ import annotations

import importlib

import pytest
import torch

from rnnkit.decoding import beam_search, greedy, sample, score_sequences
from rnnkit.decoding.ban import TokenBan, output_ban
from rnnkit.decoding.cpu_greedy import cpu_greedy
from rnnkit.decoding.greedy import decode_one_path
from rnnkit.models import LanguageModel
from rnnkit.models.one_to_many import DecoderState
from rnnkit.ops import cpu_stream

PAD, UNK, BOS, EOS = 0, 1, 2, 3  # the Vocab's specials
LOGITS = torch.tensor([0.0, 6.0, 0.0, -8.0, 3.0, 2.0, 1.0])  # <unk> far ahead, then 4, 5, 6; eos late


class UnkLover:
    """Puts most of the mass on ``<unk>`` at every step; eos is the likeliest from step ``end``.

    State: the step counter ``(B,)``.
    """

    def __init__(self, end: int = 3) -> None:
        self.end = end

    def step(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = LOGITS.repeat(len(tokens), 1)
        logits[state >= self.end, EOS] = 9.0
        return logits.log_softmax(-1), state + 1

    def reorder(self, state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return state[index]


def run(method: str, banned: list[int] | None, batch: int = 3, **kw: object):
    state = torch.zeros(batch, dtype=torch.long)
    if method == "greedy":
        return greedy(UnkLover(), state, bos=BOS, eos=EOS, max_length=8, banned=banned)
    if method == "beam":
        return beam_search(UnkLover(), state, bos=BOS, eos=EOS, max_length=8, beam_size=3, n_best=2,
                           banned=banned)
    return sample(UnkLover(), state, bos=BOS, eos=EOS, max_length=8, banned=banned,
                  generator=torch.Generator().manual_seed(0), **kw)


def emitted(out) -> set[int]:
    return {t for rows in out.sequences() for seq in rows for t in seq}


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_every_strategy_emits_unk_without_the_ban_and_never_with_it(method):
    assert UNK in emitted(run(method, None, batch=32))
    banned = run(method, [UNK], batch=32)
    assert UNK not in emitted(banned)
    assert int(banned.lengths.min()) > 0, "every hypothesis still has tokens"


def test_greedy_and_beam_take_the_best_allowed_token_and_score_with_the_decoders_log_probs():
    for out in (run("greedy", [UNK]), run("beam", [UNK])):
        assert out.sequences()[0][0] == [4, 4, 4, EOS]
        state = torch.zeros(3, dtype=torch.long)
        want = score_sequences(UnkLover(), state, out.tokens[:, 0], bos=BOS, lengths=out.lengths[:, 0])
        torch.testing.assert_close(out.scores[:, 0].double(), want, atol=1e-5, rtol=0)
    assert run("greedy", [UNK, 4]).sequences()[0][0] == [5, 5, 5, EOS]


def test_sampling_renormalises_over_the_tokens_left():
    n = 20_000
    out = sample(UnkLover(end=0), torch.zeros(n, dtype=torch.long), bos=BOS, eos=EOS, max_length=1,
                 banned=[UNK, EOS], generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(out.tokens[:, 0, 0], minlength=7).double() / n
    want = LOGITS.double().index_fill(0, torch.tensor([UNK, EOS]), float("-inf")).softmax(-1)
    torch.testing.assert_close(freq, want, atol=0.015, rtol=0)


@pytest.mark.parametrize("filters", [{"top_k": 1}, {"top_p": 0.5}, {"top_k": 2, "temperature": 0.01}])
def test_top_k_and_top_p_choose_among_the_allowed_tokens(filters):
    """Without the ban, top-k 1 / top-p 0.5 keep only <unk>: the ban comes first, so they keep 4."""
    out = run("sample", [UNK], batch=16, **filters)
    assert {seq[0] for rows in out.sequences() for seq in rows} == {4}


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_banning_every_token_is_a_clear_error(method):
    with pytest.raises(ValueError, match="every token of the vocabulary"):
        run(method, list(range(7)))


def test_beam_search_with_min_length_and_every_token_but_eos_banned_is_a_clear_error():
    """It returned empty hypotheses scored -inf: eos is forbidden before min_length, everything else banned."""
    state = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="min_length=3 forbids eos for the first steps"):
        beam_search(UnkLover(), state, bos=BOS, eos=EOS, max_length=8, beam_size=2, min_length=3,
                    banned=[0, 1, 2, 4, 5, 6])
    out = beam_search(UnkLover(), state, bos=BOS, eos=EOS, max_length=8, beam_size=2, min_length=3,
                      banned=[0, 1, 2, 4, 5])  # token 6 is left
    assert out.sequences()[0][0][:2] == [6, 6]


def test_ids_outside_the_vocabulary_are_ignored_and_negative_ids_refused():
    assert torch.equal(run("greedy", [UNK, 100]).tokens, run("greedy", [UNK]).tokens)
    with pytest.raises(ValueError, match=">= 0"):
        TokenBan([-1])
    assert not TokenBan(None) and not TokenBan([])


def test_output_ban_is_pad_and_bos_plus_unk_on_request_and_never_eos():
    assert output_ban(bos=BOS, eos=EOS) == [PAD, BOS]
    assert output_ban(bos=BOS, eos=EOS, unk=UNK) == [PAD, UNK, BOS]
    assert output_ban(bos=BOS, eos=EOS, unk=UNK, banned=[5, UNK]) == [PAD, UNK, BOS, 5]
    assert output_ban(bos=BOS, eos=PAD) == [BOS], "a pad that ends sequences stays allowed"
    with pytest.raises(ValueError, match="eos"):
        output_ban(bos=BOS, eos=UNK, unk=UNK)
    with pytest.raises(ValueError, match="eos"):
        output_ban(bos=BOS, eos=EOS, banned=[EOS])


# --- the C++ greedy loop (decoding/cpu_greedy.py) knows no ban -------------------------------------

needs_cpp = pytest.mark.skipif(cpu_stream.load_library() is None, reason="no C++ compiler here")


def unk_lm(seed: int = 0) -> tuple[LanguageModel, DecoderState]:
    """A token LSTM whose head puts <unk> first, and a random state for 3 rows."""
    torch.manual_seed(seed)
    lm = LanguageModel(vocab_size=12, embed_dim=8, hidden_size=16).eval()
    with torch.no_grad():
        lm.head.bias[UNK] = 8.0
    return lm, DecoderState((torch.randn(1, 3, 16), torch.randn(1, 3, 16)))


@needs_cpp
def test_the_cpp_loop_decodes_again_with_the_ban_where_it_chose_a_banned_token():
    lm, state = unk_lm()
    with torch.no_grad():
        free = cpu_greedy(lm, state, bos=BOS, eos=EOS, max_length=6)
        got = greedy(lm, state, bos=BOS, eos=EOS, max_length=6, banned=[UNK])
        want = decode_one_path(lm, state, lambda lp: TokenBan([UNK])(lp).argmax(-1), bos=BOS, eos=EOS,
                               max_length=6)
    assert free is not None and UNK in free.tokens.tolist()[0][0]
    assert torch.equal(got.tokens, want.tokens) and UNK not in emitted(got)
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-5, atol=1e-5)
    with torch.no_grad(), pytest.warns(UserWarning, match="decoding again in float32 with the ban"):
        low = greedy(lm, state, bos=BOS, eos=EOS, max_length=6, banned=[UNK], precision="bfloat16")
    assert torch.equal(low.tokens, want.tokens)


@needs_cpp
def test_the_cpp_result_stands_where_it_chose_no_banned_token(monkeypatch):
    lm, state = unk_lm()
    with torch.no_grad():
        free = cpu_greedy(lm, state, bos=BOS, eos=EOS, max_length=6)
    assert free is not None
    never = sorted(set(range(12)) - emitted(free) - {EOS})[0]

    def no_eager(*args, **kwargs):
        raise AssertionError("the eager loop ran")

    # the module, not the function that rnnkit.decoding exports under its name
    monkeypatch.setattr(importlib.import_module("rnnkit.decoding.greedy"), "decode_one_path", no_eager)
    with torch.no_grad():
        got = greedy(lm, state, bos=BOS, eos=EOS, max_length=6, banned=[never])
    assert torch.equal(got.tokens, free.tokens) and torch.equal(got.scores, free.scores)
