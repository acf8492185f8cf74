"""``greedy(..., fused=True, banned=...)``: the Triton kernels know no ban, so where they chose a
banned token the decode runs again with the ban (on the CPU through Triton's interpreter)."""

import pytest
import torch

from triton_interpreter import use_triton_interpreter

use_triton_interpreter("rnnkit.ops.triton_cells", "rnnkit.ops.triton_decode")
from rnnkit.decoding import greedy  # noqa: E402
from rnnkit.decoding.ban import TokenBan  # noqa: E402
from rnnkit.decoding.fused_greedy import fused_greedy  # noqa: E402
from rnnkit.decoding.greedy import decode_one_path  # noqa: E402
from rnnkit.models import LanguageModel  # noqa: E402
from rnnkit.models.one_to_many import DecoderState  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
UNK, BOS, EOS = 1, 2, 3
HIDDEN = 16  # small: Triton's interpreter runs each of the (HIDDEN / 8) x batch programs per token in Python


def test_fused_greedy_decodes_again_with_the_ban_where_the_kernels_chose_a_banned_token():
    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=24, embed_dim=16, hidden_size=HIDDEN).to(DEVICE).eval()
    with torch.no_grad():
        lm.head.bias[UNK] = 8.0  # <unk> first at every step
    zeros = torch.zeros(1, 1, HIDDEN, device=DEVICE)  # one row (two zero rows decode alike; a ban hit is per decode)
    state = DecoderState((zeros, zeros))
    with torch.no_grad():
        free = fused_greedy(lm, state, bos=BOS, eos=EOS, max_length=3)
        got = greedy(lm, state, bos=BOS, eos=EOS, max_length=3, fused=True, banned=[UNK])
        want = decode_one_path(lm, state, lambda lp: TokenBan([UNK])(lp).argmax(-1), bos=BOS, eos=EOS,
                               max_length=3)
    assert free is not None and (free.tokens[:, 0, 0] == UNK).all()
    assert torch.equal(got.tokens, want.tokens) and not (got.tokens == UNK).any()
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # a ban it never meets leaves the kernels' result as it is
        kept = greedy(lm, state, bos=BOS, eos=EOS, max_length=3, fused=True, banned=[23])
    if not (free.tokens == 23).any():
        assert torch.equal(kept.tokens, free.tokens)
    with pytest.raises(ValueError, match="every token"):
        greedy(lm, state, bos=BOS, eos=EOS, max_length=3, fused=True, banned=list(range(24)))
