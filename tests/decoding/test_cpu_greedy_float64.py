"""The C++ greedy loop keeps a float64 model's prompt scores in float64."""

from __future__ import annotations

import torch

from rnnkit.decoding import greedy
from rnnkit.decoding.greedy import decode_one_path
from rnnkit.models import LanguageModel
from rnnkit.models.one_to_many import DecoderState


def test_a_float64_prompts_first_token_is_not_rounded_to_float32() -> None:
    """The prompt's last log-probs were cast to float32 before the first arg-max: two tokens 1e-9 apart
    became a tie, and the first (token 4) won where the model prefers token 5."""
    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=8, embed_dim=4, hidden_size=5).double().eval()
    with torch.no_grad():
        state = lm.prompt_state(torch.tensor([[4, 5, 6]]))
        logits = torch.tensor([[-3.0, -3.0, -3.0, -3.0, 0.0, 1e-9, -3.0, -3.0]], dtype=torch.float64)
        state = DecoderState(state.rnn, None, logits.log_softmax(-1))
        fast = greedy(lm, state, bos=2, eos=3, max_length=4)
        plain = decode_one_path(lm, state, lambda lp: lp.argmax(-1), bos=2, eos=3, max_length=4)
    assert fast.tokens[0, 0].tolist() == plain.tokens[0, 0].tolist() and fast.tokens[0, 0, 0] == 5
    torch.testing.assert_close(fast.scores, plain.scores, rtol=0, atol=1e-5)  # the C++ loop sums in its own order
