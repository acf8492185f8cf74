"""LSTM cell (Hochreiter & Schmidhuber 1997), torch's gate order and parameter names."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import ProjectedCell, State


class LSTMCell(ProjectedCell):
    r"""One LSTM step, the same equations, gate order (i, f, g, o) and parameters as ``torch.nn.LSTM``.

    .. math::
        i, f, g, o &= \text{split}_4(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \\
        c_t &= \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g) \\
        h_t &= \sigma(o) \odot \tanh(c_t)

    With ``layer_norm=True`` (Ba et al. 2016, as in Haste's LayerNormLSTM) the two products are
    normalised separately and so is the cell state on its way out:
    ``gates = LN_ih(W_ih x_t) + LN_hh(W_hh h_{t-1}) + b_ih + b_hh`` and
    ``h_t = σ(o) ⊙ tanh(LN_c(c_t))``.

    Args:
        input_size: I, features per step.
        hidden_size: H.
        bias: learn ``bias_ih`` and ``bias_hh`` (4H each).
        layer_norm: normalise the gate pre-activations and the cell state.
        forget_bias: when given, the forget-gate slice of ``bias_ih`` starts at this value and
            that of ``bias_hh`` at 0 (Jozefowicz et al. 2015 recommend 1.0).

    Shape: ``x_t`` (B, I), state ``(h, c)`` each (B, H) -> ``y_t = h`` (B, H), ``(h, c)``.

    Example::

        cell = LSTMCell(8, 16)
        y, (h, c) = cell(torch.randn(4, 8))
    """

    num_gates = 4
    state_size = 2

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, layer_norm: bool = False,
                 forget_bias: float | None = None) -> None:
        if forget_bias is not None and not bias:
            raise ValueError("forget_bias needs bias=True")
        super().__init__(input_size, hidden_size, bias=bias, layer_norm=layer_norm, forget_bias=forget_bias)
        self.forget_bias = forget_bias
        self.ln_c: nn.LayerNorm | None = nn.LayerNorm(hidden_size) if layer_norm else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if getattr(self, "ln_c", None) is not None:
            self.ln_c.reset_parameters()  # type: ignore[union-attr]
        if getattr(self, "forget_bias", None) is not None and self.bias_ih is not None:
            H = self.hidden_size
            with torch.no_grad():
                self.bias_ih[H:2 * H].fill_(self.forget_bias)  # type: ignore[arg-type]
                self.bias_hh[H:2 * H].zero_()  # type: ignore[index]

    def project_input(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih + b_hh``; with ``layer_norm``, ``LN_ih(W_ih x) + b_ih + b_hh``: (..., I) -> (..., 4H).

        This is the contract fused backends rely on: the step adds ``LN_hh(h W_hh^T)`` (shift included)."""
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh  # type: ignore[operator]
        if self.ln_ih is None:
            return F.linear(x, self.weight_ih, bias)  # (B, T, 4H)
        xp = self.ln_ih(F.linear(x, self.weight_ih))
        return xp if bias is None else xp + bias

    def step_projected(self, xp_t: Tensor, state: State | None, *, h_mask: Tensor | None = None,
                       weight_hh: Tensor | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(xp_t.shape[0], device=xp_t.device, dtype=xp_t.dtype)
        h, c = state
        w = self.weight_hh if weight_hh is None else weight_hh
        h_in = h if h_mask is None else h * h_mask
        if self.ln_hh is None:
            gates = torch.addmm(xp_t, h_in, w.t())  # (B, 4H)
        else:
            gates = xp_t + self.ln_hh(torch.mm(h_in, w.t()))
        H = self.hidden_size
        if_, g, o = gates.split([2 * H, H, H], 1)  # one sigmoid for i and f
        i, f = torch.sigmoid(if_).chunk(2, 1)
        c = torch.addcmul(f * c, i, torch.tanh(g))
        c_out = c if self.ln_c is None else self.ln_c(c)
        h = torch.sigmoid(o) * torch.tanh(c_out)
        return h, (h, c)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        self.check_step(x_t, state)
        return self.step_projected(self.project_input(x_t), state)
