"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"), with normalised, time-independent gates."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.min_gru import MinCell, log_g


class MinLSTMCell(MinCell):
    r"""One minLSTM step (Feng et al. 2024, §3.2): forget and input gates read only ``x_t`` and are
    normalised to sum to one.

    .. math::
        f_t &= \sigma(W_f x_t + b_f), \quad i_t = \sigma(W_i x_t + b_i), \quad
        \tilde h_t = g(W_h x_t + b_h) \\
        f'_t &= \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t} \\
        h_t &= f'_t \odot h_{t-1} + i'_t \odot \tilde h_t

    computed in log space (``log f' = -softplus(d)``, ``log i' = -softplus(-d)`` with
    ``d = softplus(-k_f) - softplus(-k_i)``), so the whole sequence is one parallel scan
    (``forward_sequence``). ``weight_ih`` stacks ``[W_f; W_i; W_h]`` (3H, I). The state is ``h`` only.

    Args:
        input_size: I.
        hidden_size: H.
        bias: learn ``bias_ih`` (3H).

    Shape: ``x_t`` (B, I), state ``h`` (B, H) -> ``y_t = h`` (B, H), ``h``.

    Example::

        cell = MinLSTMCell(8, 16)
        out, h = cell.forward_sequence(torch.randn(4, 100, 8))   # (4, 100, 16), (4, 16)
    """

    num_gates = 3

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        """``log f'`` and ``log(i' h̃)`` from the projected input (..., 3H)."""
        k_f, k_i, h_tilde = xp.chunk(3, -1)
        d = F.softplus(-k_f) - F.softplus(-k_i)
        return -F.softplus(d), -F.softplus(-d) + log_g(h_tilde)
