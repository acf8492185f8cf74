"""The log-space parallel scan equals the sequential recurrence, also over very long sequences."""

import pytest
import torch

from rnnkit.ops.scan import heinsen_scan_log, linear_scan_log


def sequential(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    h = torch.zeros_like(a[:, 0]) if h0 is None else h0
    out = []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
        h = a_t * h + b_t
        out.append(h)
    return torch.stack(out, 1)


def test_heinsen_scan_log_matches_brute_force():
    torch.manual_seed(0)
    a, b = torch.rand(2, 9, 3, dtype=torch.float64), torch.rand(2, 9, 3, dtype=torch.float64) + 0.1
    log_h = heinsen_scan_log(a.log(), b.log())
    torch.testing.assert_close(log_h.exp(), sequential(a, b), rtol=1e-12, atol=1e-12)


def test_linear_scan_with_signed_initial_state():
    torch.manual_seed(1)
    a, b = torch.rand(3, 20, 4), torch.rand(3, 20, 4) + 0.01
    h0 = torch.randn(3, 4)  # negative entries: h0 never goes through a log
    h = linear_scan_log(a.log(), b.log(), h0)
    assert h.dtype == torch.float32 and h.shape == (3, 20, 4)
    torch.testing.assert_close(h, sequential(a.double(), b.double(), h0.double()).float(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("strength", [1.0, 20.0])
def test_stable_over_twenty_thousand_steps(strength):
    # strength 20: gates near 0 or 1, where a float32 log-space cumsum would lose ~1e-3.
    torch.manual_seed(2)
    T = 20_000
    k = torch.randn(1, T, 2) * strength
    a, b = torch.sigmoid(-k), torch.sigmoid(k) * (torch.rand(1, T, 2) + 0.5)
    h = linear_scan_log(a.log(), b.log())
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h, sequential(a.double(), b.double()).float(), rtol=1e-5, atol=1e-6)


def test_gradients_are_finite_and_match_sequential():
    torch.manual_seed(3)
    la = torch.randn(2, 50, 3, dtype=torch.float64).sigmoid().log().requires_grad_()
    lb = torch.randn(2, 50, 3, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda a, b, h: linear_scan_log(a, b, h), (la, lb, h0))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"\(B, T, H\)"):
        linear_scan_log(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))
