"""GRU cell (Cho et al. 2014), torch's gate layout (r, z, n) and parameter names."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import ProjectedCell, State


class GRUCell(ProjectedCell):
    r"""One GRU step, the same equations, gate layout (r, z, n) and parameters as ``torch.nn.GRU``.

    .. math::
        r &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n &= \tanh(W_{in} x_t + b_{in} + r \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z) \odot n + z \odot h_{t-1}

    With ``layer_norm=True`` the products ``W_ih x`` and ``W_hh h`` are layer-normalised (over all
    3H pre-activations) before the biases are added.

    Args:
        input_size: I, features per step.
        hidden_size: H.
        bias: learn ``bias_ih`` and ``bias_hh`` (3H each).
        layer_norm: normalise the two products.

    Shape: ``x_t`` (B, I), state ``h`` (B, H) -> ``y_t = h`` (B, H), ``h``.

    Example::

        cell = GRUCell(8, 16)
        y, h = cell(torch.randn(4, 8))
    """

    num_gates = 3

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, layer_norm: bool = False) -> None:
        super().__init__(input_size, hidden_size, bias=bias, layer_norm=layer_norm)
        self.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih`` (layer-normalised product when ``layer_norm``): (..., I) -> (..., 3H)."""
        if self.ln_ih is None:
            return F.linear(x, self.weight_ih, self.bias_ih)  # (B, T, 3H)
        xp = self.ln_ih(F.linear(x, self.weight_ih))
        return xp if self.bias_ih is None else xp + self.bias_ih

    def step_projected(self, xp_t: Tensor, state: State | None, *, h_mask: Tensor | None = None,
                       weight_hh: Tensor | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(xp_t.shape[0], device=xp_t.device, dtype=xp_t.dtype)
        h = state if isinstance(state, Tensor) else state[0]
        w = self.weight_hh if weight_hh is None else weight_hh
        h_in = h if h_mask is None else h * h_mask
        if self.ln_hh is None:
            hp = F.linear(h_in, w, self.bias_hh)  # (B, 3H)
        else:
            hp = self.ln_hh(torch.mm(h_in, w.t()))
            hp = hp if self.bias_hh is None else hp + self.bias_hh
        xr, xz, xn = xp_t.chunk(3, 1)
        hr, hz, hn = hp.chunk(3, 1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = n + z * (h - n)  # (1 - z) n + z h
        return h, h

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        self.check_step(x_t, state)
        return self.step_projected(self.project_input(x_t), state)
