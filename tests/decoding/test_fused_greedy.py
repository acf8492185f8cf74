"""Greedy decoding through the fused Triton kernels (``decoding/fused_greedy.py``) equals the eager
loop: tokens, lengths and scores, over several layers, batch rows, vocabulary blocks and early ends.

The kernels run on the CPU through Triton's interpreter (``TRITON_INTERPRET=1``, set here before
the kernels are defined); with CUDA the same tests run the compiled kernels, replayed from a graph.
"""


import pytest
import torch

from triton_interpreter import use_triton_interpreter

use_triton_interpreter("rnnkit.ops.triton_cells", "rnnkit.ops.triton_decode")
from rnnkit.decoding import greedy  # noqa: E402
from rnnkit.decoding.base import Generated  # noqa: E402
from rnnkit.decoding.fused_greedy import fused_greedy  # noqa: E402
from rnnkit.decoding.greedy import decode_one_path  # noqa: E402
from rnnkit.models import LanguageModel  # noqa: E402
from rnnkit.models.one_to_many import DecoderState  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
BOS = 1
# Sizes kept small: the interpreter runs every program of a launch in Python, so a test costs about
# (hidden / bu) x batch x layers x tokens programs. Hidden 16 with bu 8 still makes two programs share
# each layer (the cross-program sum of the head's shares and the last-ticket program), and with bk 8 the
# embedding's and the state's columns still span two blocks; 150 words span two vocabulary blocks of the
# default tiles (128) and three of the small ones (64), the last one partial.
HIDDEN, EMBED, VOCAB = 16, 16, 150


def argmax(lp):
    return lp.argmax(-1)


def model(vocab: int, layers: int, seed: int) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(vocab_size=vocab, embed_dim=EMBED, hidden_size=HIDDEN, num_layers=layers).to(DEVICE).eval()


def check(lm: LanguageModel, state: DecoderState, eos: int, max_length: int) -> Generated:
    """The fused decode equals the eager loop; returns the fused decode."""
    with torch.no_grad():
        want = decode_one_path(lm, state, argmax, bos=BOS, eos=eos, max_length=max_length)
        got = fused_greedy(lm, state, bos=BOS, eos=eos, max_length=max_length)
    assert got is not None
    assert torch.equal(got.tokens, want.tokens) and torch.equal(got.lengths, want.lengths)
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-5, atol=1e-5)
    return got


@pytest.fixture
def tiles(request, monkeypatch):
    """The default tiles, and tiles small enough that every loop of the kernels crosses block edges
    (hidden units, the embedding's and the state's columns, the vocabulary), with the head fused into
    the top layer's kernel (its partial logits summed by the last program) and in a kernel apart."""
    if request.param != "default tiles":
        import rnnkit.ops.triton_decode as td

        fused = int(request.param == "small tiles")
        monkeypatch.setattr(td, "TILES", {"bu": 8, "bk": 8, "bv": 64, "head_bk": 8, "fused_head": fused,
                                          "per_graph": 4})
        assert HIDDEN > 8 and EMBED > 8 and VOCAB > 64  # more than one block of each


# Every tiling with 1 and 2 layers, but for the head apart 2 layers only: its kernels for 1 layer
# (_lstm_layer from the tokens, then _head_choose) are launched with the same constexprs for 2 layers,
# which add _lstm_layer from the layer below.
@pytest.mark.parametrize("tiles, layers", [("default tiles", 1), ("default tiles", 2), ("small tiles", 1),
                                           ("small tiles", 2), ("small tiles, head apart", 2)],
                         indirect=["tiles"])
def test_equals_the_eager_loop_from_a_given_state(layers, tiles):
    lm = model(VOCAB, layers, seed=layers)  # VOCAB words: the head runs over several vocabulary blocks
    g = torch.Generator().manual_seed(0)
    h, c = (torch.randn(layers, 2, HIDDEN, generator=g).to(DEVICE) for _ in range(2))
    check(lm, DecoderState((h, c)), eos=VOCAB, max_length=3)  # eos out of the vocabulary: no early end


def test_rows_that_end_early_are_fed_eos_and_padded():
    lm = model(40, 2, seed=3)
    g = torch.Generator().manual_seed(1)
    h, c = (torch.randn(2, 3, HIDDEN, generator=g).to(DEVICE) for _ in range(2))
    state = DecoderState((h, c))
    with torch.no_grad():
        free = decode_one_path(lm, state, argmax, bos=BOS, eos=40, max_length=4).tokens[:, 0]
    eos = int(free[0, 2])  # a token row 0 emits third: it ends there (or sooner), the others when they emit it
    out = check(lm, state, eos=eos, max_length=4)
    assert int(out.lengths[0, 0]) <= 3
    assert int(out.lengths[:, 0].max()) > int(out.lengths[0, 0])  # another row decodes on after row 0 ended


def test_a_zero_state_and_a_single_token():
    lm = model(24, 1, seed=5)
    zeros = torch.zeros(1, 2, HIDDEN, device=DEVICE)
    check(lm, DecoderState((zeros, zeros)), eos=24, max_length=1)
    check(lm, DecoderState((zeros, zeros)), eos=24, max_length=4)


def test_greedy_fused_is_opt_in_and_says_what_it_needs():
    lm = model(24, 1, seed=6)
    zeros = torch.zeros(1, 1, HIDDEN, device=DEVICE)
    with torch.no_grad():
        got = greedy(lm, DecoderState((zeros, zeros)), bos=BOS, eos=24, max_length=5, fused=True)
        want = decode_one_path(lm, DecoderState((zeros, zeros)), argmax, bos=BOS, eos=24, max_length=5)
    assert torch.equal(got.tokens, want.tokens)
    torch.manual_seed(0)
    normed = LanguageModel(vocab_size=24, embed_dim=EMBED, hidden_size=HIDDEN, cell="lstm").to(DEVICE).eval()
    normed.rnn.cells[0].layer_norm = True  # a cell the kernels do not compute
    assert normed.fused_greedy_plan(DecoderState(None)) is None
    with torch.no_grad(), pytest.raises(ValueError, match="fused=True needs a token LSTM decoder"):
        greedy(normed, DecoderState(None), bos=BOS, eos=24, max_length=5, fused=True)
    with torch.no_grad(), pytest.raises(ValueError, match="precision must be 'full'"):
        greedy(lm, DecoderState(None), bos=BOS, eos=24, max_length=5, fused=True, precision="int8")
    with pytest.raises(ValueError):  # gradients on: no plan (the kernels record no autograd graph)
        greedy.__wrapped__(lm, DecoderState(None), bos=BOS, eos=24, max_length=5, fused=True)


def test_a_kept_graph_starts_from_each_calls_state_and_is_captured_again_when_the_weights_change():
    """On CUDA the second call replays the first call's graph (decoding/fused_greedy.py keeps it): it
    must start from its own state, leave the first result alone, and not outlive an in-place update
    of the weights (an optimizer step bumps their version). On the CPU nothing is kept: the same
    checks hold trivially there."""
    lm = model(50, 2, seed=7)
    g = torch.Generator().manual_seed(2)
    states = [DecoderState(tuple(torch.randn(2, 2, HIDDEN, generator=g).to(DEVICE) for _ in range(2)))
              for _ in range(2)]
    with torch.no_grad():
        first = fused_greedy(lm, states[0], bos=BOS, eos=50, max_length=3)
        kept = first.tokens.clone()
        second = fused_greedy(lm, states[1], bos=BOS, eos=50, max_length=3)
        assert torch.equal(first.tokens, kept)  # the kept buffers were not handed out
        for state, got in zip(states, (first, second)):
            want = decode_one_path(lm, state, argmax, bos=BOS, eos=50, max_length=3)
            assert torch.equal(got.tokens, want.tokens)
        assert not torch.equal(first.tokens, second.tokens)  # the two states decode differently
        lm.head.bias.add_(torch.linspace(-3, 3, 50, device=DEVICE))  # in place: same tensor, new version
        want = decode_one_path(lm, states[0], argmax, bos=BOS, eos=50, max_length=3)
        assert not torch.equal(want.tokens, kept)  # the update changes the decode
    check(lm, states[0], eos=50, max_length=3)


def test_decode_tiles_from_the_environment():
    import rnnkit.ops.triton_decode as td

    assert td.tiles_from_env("") == td.DEFAULT_TILES
    assert td.tiles_from_env("4,512,128,256,0,32") == {"bu": 4, "bk": 512, "bv": 128, "head_bk": 256,
                                                       "fused_head": 0, "per_graph": 32}
    for bad in ("4,512", "4,500,128,256,1,16", "4,512,128,256,2,16", "a,b,c,d,e,f"):
        with pytest.raises(ValueError, match="RNNKIT_DECODE_TILES"):
            td.tiles_from_env(bad)
