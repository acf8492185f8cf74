"""Elman RNN cell, torch's parameter names; tanh or relu."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import ProjectedCell, State

NONLINEARITIES = ("tanh", "relu")


class SimpleRNNCell(ProjectedCell):
    r"""One Elman RNN step, the same equation and parameters as ``torch.nn.RNN``.

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \quad \phi \in \{\tanh, \text{relu}\}

    With ``layer_norm=True``: ``h_t = φ(LN_ih(W_ih x_t) + LN_hh(W_hh h_{t-1}) + b_ih + b_hh)``.

    Args:
        input_size: I, features per step.
        hidden_size: H.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: learn ``bias_ih`` and ``bias_hh`` (H each).
        layer_norm: normalise the two products.

    Shape: ``x_t`` (B, I), state ``h`` (B, H) -> ``y_t = h`` (B, H), ``h``.

    Example::

        cell = SimpleRNNCell(8, 16, nonlinearity="relu")
        y, h = cell(torch.randn(4, 8))
    """

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, *, nonlinearity: str = "tanh", bias: bool = True,
                 layer_norm: bool = False) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias=bias, layer_norm=layer_norm, nonlinearity=nonlinearity)
        self.nonlinearity = nonlinearity
        self._act = torch.tanh if nonlinearity == "tanh" else torch.relu
        self.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih + b_hh`` (layer-normalised product when ``layer_norm``): (..., I) -> (..., H)."""
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh  # type: ignore[operator]
        if self.ln_ih is None:
            return F.linear(x, self.weight_ih, bias)  # (B, T, H)
        xp = self.ln_ih(F.linear(x, self.weight_ih))
        return xp if bias is None else xp + bias

    def step_projected(self, xp_t: Tensor, state: State | None, *, h_mask: Tensor | None = None,
                       weight_hh: Tensor | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(xp_t.shape[0], device=xp_t.device, dtype=xp_t.dtype)
        h = state if isinstance(state, Tensor) else state[0]
        w = self.weight_hh if weight_hh is None else weight_hh
        h_in = h if h_mask is None else h * h_mask
        if self.ln_hh is None:
            h = self._act(torch.addmm(xp_t, h_in, w.t()))  # (B, H)
        else:
            h = self._act(xp_t + self.ln_hh(torch.mm(h_in, w.t())))
        return h, h

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        self.check_step(x_t, state)
        return self.step_projected(self.project_input(x_t), state)
