"""Parallel scans for linear recurrences ``h_t = a_t * h_{t-1} + b_t`` (pure functions)."""

from __future__ import annotations

import torch
from torch import Tensor

# Log-space cumulative sums lose float32 precision as |sum log a| grows with T (an absolute error of
# about |sum| * 1e-7 in log h); float64 keeps sequences of a million steps exact to ~1e-9.
_SCAN_DTYPE = torch.float64


def heinsen_scan_log(log_coeffs: Tensor, log_values: Tensor, dim: int = 1) -> Tensor:
    """``log h`` for ``h_t = a_t h_{t-1} + b_t``, ``h_{-1} = 0``, from ``log a`` and ``log b`` (b > 0).

    Two cumulative ops instead of T sequential steps:
    ``a*_t = Σ_{s≤t} log a_s``, ``log h_t = a*_t + logcumsumexp_{s≤t}(log b_s - a*_s)``.

    Args:
        log_coeffs: ``log a`` (..., T, ...), finite (0 < a; a = 0 exactly would give inf - inf).
        log_values: ``log b``, same shape.
        dim: the time dimension.

    Returns: ``log h``, same shape and dtype as the inputs.

    Example::

        log_h = heinsen_scan_log(torch.zeros(1, 3, 1).log_softmax(1), torch.zeros(1, 3, 1))
        h = log_h.exp()
    """
    # Heinsen 2023, "Efficient Parallelization of a Ubiquitous Sequential Computation", arXiv:2311.06281, §2.
    a_star = log_coeffs.cumsum(dim)
    return a_star + torch.logcumsumexp(log_values - a_star, dim)


def linear_scan_log(log_coeffs: Tensor, log_values: Tensor, h0: Tensor | None = None) -> Tensor:
    """``h_t = a_t h_{t-1} + b_t`` for all t at once, from ``log a`` and ``log b`` (b > 0), time on dim 1.

    ``h0`` may be any real tensor (it never goes through a log): ``h_t = h^0_t + (Π_{s≤t} a_s) h0``,
    where ``h^0`` is the scan from a zero state. The scan runs in float64 and the result is cast back.

    Args:
        log_coeffs: ``log a`` (B, T, H).
        log_values: ``log b`` (B, T, H).
        h0: the state before the first step (B, H), or None for zeros.

    Returns: ``h`` (B, T, H), the dtype of ``log_values``.

    Example::

        a, b = torch.rand(2, 5, 3), torch.rand(2, 5, 3)
        h = linear_scan_log(a.log(), b.log(), h0=torch.randn(2, 3))   # (2, 5, 3)
    """
    if log_coeffs.shape != log_values.shape or log_values.dim() != 3:
        raise ValueError(f"log_coeffs and log_values must both be (B, T, H), got {tuple(log_coeffs.shape)} "
                         f"and {tuple(log_values.shape)}")
    dtype = log_values.dtype
    la, lb = log_coeffs.to(_SCAN_DTYPE), log_values.to(_SCAN_DTYPE)
    h = heinsen_scan_log(la, lb).exp()  # (B, T, H)
    if h0 is not None:
        h = h + la.cumsum(1).exp() * h0.to(_SCAN_DTYPE).unsqueeze(1)
    return h.to(dtype)
