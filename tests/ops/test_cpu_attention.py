"""Additive attention scores in one compiled CPU pass (ops/cpu_attention.py) equal torch's ops,
forward and backward, and the Attention layer takes that pass."""

import pytest
import torch

from rnnkit.layers.attention import Attention
from rnnkit.ops import cpu_attention

pytestmark = pytest.mark.skipif(cpu_attention.load_library() is None, reason="no C++ compiler here")


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)], ids=["f32", "f64"])
@pytest.mark.parametrize("B, L, S, A", [(3, 4, 5, 7), (2, 1, 9, 33), (1, 6, 1, 1), (4, 15, 15, 192)])
def test_scores_and_gradients_equal_torch_ops(dtype, tol, B, L, S, A):
    torch.manual_seed(0)
    q = (torch.randn(B, L, A, dtype=dtype) * 3).requires_grad_()  # * 3: saturated tanh too
    k = torch.randn(B, S, A, dtype=dtype).requires_grad_()
    v = torch.randn(A, dtype=dtype).requires_grad_()
    got, want = cpu_attention.additive_scores(q, k, v), cpu_attention.torch_scores(q, k, v)
    torch.testing.assert_close(got, want, rtol=tol, atol=tol * A)
    g = torch.randn_like(want)
    g[:, :, S // 2] = 0  # a masked source step: its pairs are skipped in the backward pass
    for a, b in zip(torch.autograd.grad(got, (q, k, v), g), torch.autograd.grad(want, (q, k, v), g)):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * A)


def test_gradcheck_and_strided_inputs():
    torch.manual_seed(1)
    q = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    v = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cpu_attention.additive_scores, (q, k, v))
    kt = torch.randn(2, 5, 4, dtype=torch.float64).transpose(1, 2)  # not contiguous
    torch.testing.assert_close(cpu_attention.additive_scores(q, kt, v), cpu_attention.torch_scores(q, kt, v))


def test_other_dtypes_and_no_library_take_torch_ops(monkeypatch):
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(4)
    assert "dtypes" in cpu_attention.compiled_reason(q.double(), k, v)  # float64 mixed with float32
    assert "dtypes" in cpu_attention.compiled_reason(q.int(), k.int(), v.int())
    monkeypatch.setattr(cpu_attention, "load_library", lambda: None)
    assert "compiler" in cpu_attention.compiled_reason(q, k, v)
    torch.testing.assert_close(cpu_attention.additive_scores(q, k, v), cpu_attention.torch_scores(q, k, v))


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
def test_half_and_mixed_dtypes_run_the_compiled_pass_in_float32(monkeypatch, half):
    torch.manual_seed(3)
    q32, k32, v32 = torch.randn(2, 3, 6), torch.randn(2, 5, 6), torch.randn(6)
    calls = []
    real = cpu_attention._AdditiveScores.apply
    monkeypatch.setattr(cpu_attention._AdditiveScores, "apply", lambda *a: calls.append(a[0].dtype) or real(*a))
    # as under autocast: the projected query and keys in half precision, v a float32 parameter
    q, k = q32.to(half).requires_grad_(), k32.to(half).requires_grad_()
    v = v32.clone().requires_grad_()
    out = cpu_attention.additive_scores(q, k, v)
    assert calls == [torch.float32] and out.dtype == half
    # the same inputs, rounded as they were, scored in float64: one rounding of the result apart
    qd, kd, vd = (t.detach().double().requires_grad_() for t in (q, k, v))
    want = cpu_attention.torch_scores(qd, kd, vd)
    torch.testing.assert_close(out.double(), want, rtol=1e-2, atol=1e-2)
    ge = torch.randn(out.shape, dtype=torch.float64)
    out.backward(ge.to(half))
    want.backward(ge)
    assert (q.grad.dtype, k.grad.dtype, v.grad.dtype) == (half, half, torch.float32)
    for got, ref in ((q.grad, qd.grad), (k.grad, kd.grad), (v.grad, vd.grad)):
        torch.testing.assert_close(got.double(), ref, rtol=2e-2, atol=2e-2)
    calls.clear()
    cpu_attention.additive_scores(q32.to(half), k32.to(half), v32.to(half))  # all half: float32 too
    assert calls == [torch.float32]


def test_the_attention_layer_takes_the_compiled_pass_under_cpu_autocast(monkeypatch):
    torch.manual_seed(4)
    att = Attention("additive", query_size=6, key_size=8, hidden_size=10)
    query, keys = torch.randn(3, 6), torch.randn(3, 7, 8, requires_grad=True)
    calls = []
    real = cpu_attention._AdditiveScores.apply
    monkeypatch.setattr(cpu_attention._AdditiveScores, "apply", lambda *a: calls.append(1) or real(*a))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = att(query, keys)
    assert calls
    want = att(query, keys)  # float32
    torch.testing.assert_close(out.weights.float(), want.weights, rtol=0, atol=3e-2)
    out.context.float().sum().backward()
    assert keys.grad is not None and torch.isfinite(keys.grad).all() and att.v.weight.grad is not None


def test_the_attention_layer_takes_the_compiled_pass(monkeypatch):
    torch.manual_seed(2)
    att = Attention("additive", query_size=6, key_size=8, hidden_size=10)
    query, keys = torch.randn(3, 6), torch.randn(3, 7, 8)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] + [False] * 6])
    calls = []
    real = cpu_attention._AdditiveScores.apply
    monkeypatch.setattr(cpu_attention._AdditiveScores, "apply", lambda *a: calls.append(1) or real(*a))
    out = att(query, keys, mask=mask)
    assert calls
    prepared = att.key_proj(keys)
    scores = cpu_attention.torch_scores(att.query_proj(query).unsqueeze(1), prepared, att.v.weight.reshape(-1))
    want = torch.softmax(scores.squeeze(1).masked_fill(~mask, float("-inf")), -1)
    torch.testing.assert_close(out.weights, want)
    assert (out.weights[~mask] == 0).all()
