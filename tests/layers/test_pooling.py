"""Pooling over padded recurrent outputs: padding, whatever it holds, never changes a pooled vector."""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers.pooling import SequencePooling


@pytest.mark.parametrize("mode", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("fill", [float("nan"), float("inf"), 1e4])
def test_padding_never_reaches_a_pooled_vector(mode: str, fill: float) -> None:
    torch.manual_seed(0)
    pool = SequencePooling(mode, 6)
    outputs, lengths = torch.randn(2, 4, 6), torch.tensor([4, 2])
    padded = outputs.clone()
    padded[1, 2:] = fill
    alone = pool(outputs[1:, :2], lengths[1:]).vector
    with torch.no_grad():
        got = pool(padded, lengths).vector
    torch.testing.assert_close(got[1:], alone.detach())
    torch.testing.assert_close(got[:1], pool(outputs[:1], lengths[:1]).vector.detach())
