"""The keywords every strategy shares (``check_decode_args``): ``max_length``, ``bos`` and ``eos`` must
be integers, and anything else is one ValueError naming the keyword, not a TypeError from
``range(3.0)`` deep in a decoding loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.decoding import beam_search, greedy, sample

BOS, EOS = 1, 2
STRATEGIES = {"greedy": greedy, "beam": beam_search, "sample": sample}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("name, value", [("max_length", 3.0), ("max_length", 2.5), ("max_length", "3"),
                                         ("max_length", None), ("max_length", True), ("bos", 1.0),
                                         ("eos", 2.0), ("eos", "2")])
def test_a_keyword_that_is_no_integer_is_named(make_decoder, strategy: str, name: str, value: object) -> None:
    dec = make_decoder(0)
    args: dict[str, object] = {"bos": BOS, "eos": EOS, "max_length": 3, name: value}
    with pytest.raises(ValueError, match=rf"^{name} must be an integer .*got {value!r} \({type(value).__name__}\)"):
        STRATEGIES[strategy](dec, dec.init([0, 1]), **args)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_numpy_and_tensor_integers_still_pass(make_decoder, strategy: str) -> None:
    dec = make_decoder(0)
    want = STRATEGIES[strategy](dec, dec.init([0, 1]), bos=BOS, eos=EOS, max_length=3,
                                **({"generator": torch.Generator().manual_seed(0)} if strategy == "sample" else {}))
    got = STRATEGIES[strategy](dec, dec.init([0, 1]), bos=np.int64(BOS), eos=torch.tensor(EOS),
                               max_length=np.int32(3),
                               **({"generator": torch.Generator().manual_seed(0)} if strategy == "sample" else {}))
    assert torch.equal(got.tokens, want.tokens) and torch.equal(got.lengths, want.lengths)
