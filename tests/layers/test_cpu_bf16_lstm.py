"""An LSTM under CPU bfloat16 autocast where oneDNN has no bfloat16 LSTM (CPUs without AVX-512):
``nn.LSTM`` fails there ("could not create a primitive descriptor"); rnnkit's torch backend runs
torch's own bfloat16 kernel instead."""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers import Recurrent, backends


@pytest.mark.parametrize("lengths", [None, [5, 3, 1]])
def test_lstm_under_bf16_autocast_without_onednn_bf16(monkeypatch: pytest.MonkeyPatch,
                                                      lengths: list[int] | None) -> None:
    monkeypatch.setattr(backends, "_onednn_bf16", lambda: False)  # as on a CPU without AVX-512
    torch.manual_seed(0)
    layer = Recurrent("lstm", 4, 8, num_layers=2)
    x = torch.randn(3, 5, 4)
    n = None if lengths is None else torch.tensor(lengths)
    with torch.no_grad():
        expected, _ = layer(x, lengths=n)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, (h, c) = layer(x, lengths=n)
    assert y.dtype == torch.bfloat16 and h.dtype == torch.bfloat16
    assert torch.allclose(y.float(), expected, atol=5e-2)
    y.float().sum().backward()  # the float32 weights get their gradients through the casts
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in layer.parameters())
