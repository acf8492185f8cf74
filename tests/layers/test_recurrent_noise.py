"""dropout, recurrent_dropout, zoneout and weight_drop: identity at eval, masks
drawn once per sequence / forward and reused at every step."""

import pytest
import torch
from recurrent_checks import cpu_fused_builds, off_torch_cpu_backend

from rnnkit import Recurrent
from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell


class SpyLSTMCell(LSTMCell):
    """Records the masks and weights each step receives."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.seen = []

    def step_projected(self, xp_t, state, *, h_mask=None, weight_hh=None):
        self.seen.append((h_mask, weight_hh))
        return super().step_projected(xp_t, state, h_mask=h_mask, weight_hh=weight_hh)


def plain_copy(layer):
    plain = Recurrent("lstm", layer.input_size, layer.hidden_size, num_layers=layer.num_layers,
                      bidirectional=layer.bidirectional)
    plain.load_state_dict(layer.state_dict())
    return plain.eval()


@pytest.mark.parametrize("option", ["recurrent_dropout", "weight_drop", "dropout"])
def test_identity_at_eval(option):
    torch.manual_seed(0)
    layer = Recurrent("lstm", 3, 4, num_layers=2, bidirectional=True, **{option: 0.5}).eval()
    x = torch.randn(2, 6, 3)
    out = layer(x, torch.tensor([6, 3])).outputs
    torch.testing.assert_close(out, plain_copy(layer)(x, torch.tensor([6, 3])).outputs)
    assert layer.backend == "torch"  # at eval the fused op computes it exactly
    layer.train()
    assert not torch.allclose(layer(x).outputs, plain_copy(layer)(x).outputs)


def test_recurrent_dropout_leaves_torch_in_training():
    # torch's op has no recurrent dropout: in training the fused C++ kernel runs it (the loop where it
    # cannot build); at eval, where it is the identity, torch's op does.
    layer = Recurrent("lstm", 3, 4, recurrent_dropout=0.3)
    assert layer.backend == off_torch_cpu_backend()
    assert "'torch' cannot:" in layer.explain() and "recurrent_dropout" in layer.explain()
    assert layer.eval().backend == "torch"


@pytest.mark.parametrize("option", ["recurrent_dropout", "weight_drop"])
def test_one_mask_per_forward_reused_at_every_step(option):
    torch.manual_seed(0)
    cell = SpyLSTMCell(3, 4)
    layer = Recurrent(cell, 3, 4, backend="loop", **{option: 0.5}).train()
    x = torch.randn(8, 5, 3)
    masks = []
    for _ in range(2):
        cell.seen.clear()
        layer(x)
        index = 0 if option == "recurrent_dropout" else 1
        steps = [s[index] for s in cell.seen]
        assert len(steps) == 5 and all(m is not None for m in steps)
        assert all(torch.equal(m, steps[0]) for m in steps)  # the same mask at every step
        masks.append(steps[0])
    m = masks[0]
    assert not torch.equal(masks[0], masks[1])  # a fresh one at the next forward
    if option == "recurrent_dropout":
        assert m.shape == (8, 4) and set(m.unique().tolist()) == {0.0, 2.0}  # one mask per sequence
    else:
        kept = m != 0
        torch.testing.assert_close(m[kept], cell.weight_hh[kept] * 2)
        assert 0.2 < kept.float().mean() < 0.8


def test_weight_drop_on_torch_equals_the_loop():
    # Both backends draw one DropConnect mask per cell in the same order: same seed, same result.
    layer = Recurrent("gru", 3, 4, num_layers=2, bidirectional=True, weight_drop=0.5).train()
    assert layer.backend == "torch"
    x = torch.randn(2, 6, 3)
    outs = []
    for backend in ("torch", "loop"):
        layer.backend = backend
        torch.manual_seed(7)
        outs.append(layer(x, torch.tensor([6, 2])).outputs)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-6)


def zoneout_steps(cls, backend):
    """A zoneout layer run on ``backend`` in training mode, then each step's ``(out_t, h_prev,
    update)``: the layer's output, the previous output, and what the cell alone makes of them."""
    torch.manual_seed(0)
    cell = cls(3, 64)
    layer = Recurrent(cell, 3, 64, zoneout=0.4, backend=backend).train()
    x = torch.randn(16, 6, 3)
    with torch.no_grad():
        out = layer(x).outputs
        h = torch.zeros(16, 64)
        for t in range(6):
            yield out[:, t], h, cell(x[:, t], h)[0]
            h = out[:, t]


@pytest.mark.parametrize("cls", [SimpleRNNCell, GRUCell])
def test_zoneout_keeps_each_unit_or_updates_it(cls):
    # The loop steps the cell itself, so each unit is bit for bit the previous value or the update.
    kept_masks = []
    for out_t, h, new in zoneout_steps(cls, "loop"):
        kept = out_t == h
        assert torch.where(kept, h, new).equal(out_t)  # each unit: previous value or the update
        kept_masks.append(kept)
    rate = torch.stack(kept_masks[1:]).float().mean().item()
    assert 0.3 < rate < 0.5
    assert not torch.equal(kept_masks[1], kept_masks[2])  # a fresh mask at every step


@pytest.mark.skipif(not cpu_fused_builds(), reason="the cpu-fused C++ kernel is unavailable here")
@pytest.mark.parametrize("cls", [SimpleRNNCell, GRUCell])
def test_zoneout_on_cpu_fused_keeps_each_unit_or_updates_it(cls):
    # The C++ kernel computes h = new + z (h_prev - new) in its own arithmetic: each unit is the
    # previous value or the cell's update to float32 rounding, with the same keep rate.
    kept_masks = []
    for out_t, h, new in zoneout_steps(cls, "cpu-fused"):
        kept = (out_t - h).abs() <= 1e-6
        updated = (out_t - new).abs() <= 1e-5
        assert (kept | updated).all()  # each unit: previous value or the update
        kept_masks.append(kept & ~updated)  # units the update would have changed, but did not
    changed = torch.stack(kept_masks[1:])
    rate = changed.float().mean().item()
    assert 0.25 < rate < 0.5  # a bit under 0.4: a unit whose update is within 1e-5 of h counts as neither
    assert not torch.equal(kept_masks[1], kept_masks[2])  # a fresh mask at every step


def test_zoneout_at_eval_is_the_identity():
    torch.manual_seed(0)
    cell = LSTMCell(3, 4)
    layer = Recurrent(cell, 3, 4, zoneout=0.25).eval()
    x = torch.randn(2, 5, 3)
    out, (h_n, c_n) = layer(x)
    h, c = torch.zeros(2, 4), torch.zeros(2, 4)
    for x_t in x.unbind(1):
        _, (h, c) = cell(x_t, (h, c))
    torch.testing.assert_close(out[:, -1], h)
    torch.testing.assert_close(h_n[0], h)
    torch.testing.assert_close(c_n[0], c)
    plain = Recurrent("lstm", 3, 4).eval()
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(plain(x).outputs, out)
    assert layer.backend == "torch"  # at eval zoneout is the identity, so the fused op runs it


def test_dropout_only_between_layers():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3)
    one = Recurrent("gru", 3, 4, dropout=0.5).train()
    torch.testing.assert_close(one(x).outputs, one.eval()(x).outputs)  # nothing after the last layer
    two = Recurrent("gru", 3, 4, num_layers=2, dropout=0.5, backend="loop").train()
    assert not torch.allclose(two(x).outputs, two.eval()(x).outputs)
