"""build_optimizer: decay on matrices only, and torch's fused Adam/AdamW (where it runs) makes the
same updates as the default implementation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.train.optim import build_optimizer


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Embedding(50, 8), nn.Flatten(), nn.Linear(24, 4))


@pytest.mark.parametrize("name, cls", [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam)])
def test_fused_adam_makes_the_same_updates(name, cls):
    net, ref = _net(0), _net(0)
    opt = build_optimizer(net, name=name, lr=0.01, weight_decay=0.1)
    assert isinstance(opt, cls) and opt.defaults.get("fused") is True
    decay = [p for p in ref.parameters() if p.dim() >= 2]
    rest = [p for p in ref.parameters() if p.dim() < 2]
    ref_opt = cls([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=0.01)
    x = torch.randint(0, 50, (16, 3))
    for _ in range(5):
        for model, o in ((net, opt), (ref, ref_opt)):
            o.zero_grad()
            model(x).pow(2).mean().backward()
            o.step()
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]


def test_without_a_fused_kernel_the_default_runs(monkeypatch):
    from rnnkit.train import optim

    assert optim._fusable(list(nn.Linear(3, 2).parameters()))
    assert not optim._fusable(list(nn.Linear(3, 2, device="meta").parameters()))

    class NoFused(torch.optim.AdamW):
        def __init__(self, params, **kw):
            if kw.get("fused"):
                raise RuntimeError("`fused=True` is not supported on this build")
            super().__init__(params, **kw)

    monkeypatch.setattr(torch.optim, "AdamW", NoFused)
    opt = build_optimizer(nn.Linear(3, 2), name="adamw", lr=0.01, weight_decay=0.0)
    assert isinstance(opt, NoFused) and not opt.defaults.get("fused")
    assert isinstance(build_optimizer(nn.Linear(3, 2), name="sgd", lr=0.01, weight_decay=0.0), torch.optim.SGD)


def test_fused_steps_advance_the_version_of_the_parameters_they_update():
    """torch's fused kernel leaves ``_version`` as it was; rnnkit's optimizer advances it, for the
    parameters the step updated (those with a gradient) and no others."""
    net = _net(1)
    frozen = nn.Linear(3, 3)  # in the optimizer, no gradient: not updated, not marked
    net.append(frozen)
    opt = build_optimizer(net, name="adamw", lr=0.01, weight_decay=0.1)
    assert opt.defaults.get("fused") is True
    net[:3](torch.randint(0, 50, (4, 3))).sum().backward()
    before = {id(p): p._version for p in net.parameters()}
    opt.step()
    for p in net.parameters():
        assert (p._version > before[id(p)]) == (p.grad is not None), p.shape


def test_packed_cpu_weights_follow_a_fused_step():
    """Recurrent.step on the CPU runs on packed copies of the weights, rebuilt when a parameter's
    version (or a sampled element: ops/cpu_stream.ParamsWatch) changes; after a step of the
    Trainer's fused AdamW it reads the new weights (with neither, it read the weights packed
    before the step)."""
    from rnnkit import Recurrent
    from rnnkit.ops import cpu_stream

    if cpu_stream.load_library() is None:
        pytest.skip("no C++ compiler here")
    torch.manual_seed(3)
    layer = Recurrent("lstm", 4, 6, num_layers=2)
    x = torch.randn(1, 4)
    opt = build_optimizer(layer, name="adamw", lr=0.05, weight_decay=0.0)
    assert opt.defaults.get("fused") is True
    with torch.no_grad():
        before, _ = layer.step(x)  # packs the weights
    layer(torch.randn(2, 5, 4)).outputs.pow(2).mean().backward()
    opt.step()
    with torch.no_grad():
        after, _ = layer.step(x)
        inp = x
        for cell in layer.cell_list:  # torch's own LSTM step on the updated weights
            out, _ = torch.lstm_cell(inp, (torch.zeros(1, 6), torch.zeros(1, 6)), cell.weight_ih, cell.weight_hh,
                                     cell.bias_ih, cell.bias_hh)
            inp = out
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, inp, rtol=1e-5, atol=1e-6)
