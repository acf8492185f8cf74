"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): gates that read only the input, so a
whole sequence is one parallel scan."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import Cell, State, check_sizes
from rnnkit.data.batch import check_lengths
from rnnkit.ops.scan import linear_scan_log


def g(x: Tensor) -> Tensor:
    """The positive activation of Feng et al. (§3.1.2): ``x + 0.5`` for x ≥ 0, ``σ(x)`` below."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)`` computed without overflow."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


class MinCell(Cell):
    """Shared parts of minGRU and minLSTM: one input projection ``weight_ih`` (G, I), ``bias_ih`` (G),
    a state ``h`` only, and ``forward_sequence`` through :func:`rnnkit.ops.scan.linear_scan_log`.
    Subclasses give ``num_gates`` and ``log_coefficients(xp) -> (log a, log b)`` of
    ``h_t = a_t h_{t-1} + b_t``."""

    num_gates: int = 2

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))
        self.bias_ih: nn.Parameter | None = nn.Parameter(torch.empty(G)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.input_size)  # nn.Linear's default, as in the paper's code
        nn.init.uniform_(self.weight_ih, -bound, bound)
        if self.bias_ih is not None:
            nn.init.uniform_(self.bias_ih, -bound, bound)

    def spawn(self, input_size: int) -> Cell:
        return type(self)(input_size, self.hidden_size, bias=self.bias).to(self.weight_ih)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def project_input(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih``: (..., I) -> (..., G)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError  # pragma: no cover

    def step_projected(self, xp_t: Tensor, state: State | None, *, h_mask: Tensor | None = None,
                       weight_hh: Tensor | None = None) -> tuple[Tensor, State]:
        if h_mask is not None or weight_hh is not None:
            raise ValueError(f"{type(self).__name__} has no recurrent weight; recurrent_dropout and "
                             "weight_drop do not apply to it")
        log_a, log_b = self.log_coefficients(xp_t)
        h = log_b.exp()  # (B, H)
        if state is not None:
            h = h + log_a.exp() * (state if isinstance(state, Tensor) else state[0])
        return h, h

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        self.check_step(x_t, state)
        return self.step_projected(self.project_input(x_t), state)

    def _check_sequence(self, x: Tensor, state: State | None, lengths: Tensor | None) -> None:
        """Shapes always; the lengths' range only on the CPU (reading them on a GPU would wait for the
        device at every layer, and ``Recurrent`` has checked them once already)."""
        name = type(self).__name__
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[2] != self.input_size:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}.forward_sequence: x must be (batch, time, input_size) = (B, T, "
                             f"{self.input_size}), got {got}")
        p = next(self.parameters(), None)
        if p is not None and x.dtype != p.dtype and not torch.is_autocast_enabled(x.device.type):
            raise ValueError(f"{name}.forward_sequence: x is {x.dtype} but the cell's parameters are {p.dtype}; "
                             f"convert one of them (x.to({p.dtype}) or cell.to(x.dtype))")
        B, T = x.shape[0], x.shape[1]
        h0 = state if state is None or isinstance(state, Tensor) else state[0]
        if h0 is not None and h0.shape != (B, self.hidden_size):
            raise ValueError(f"{name}.forward_sequence: state must be (batch, hidden_size) = ({B}, "
                             f"{self.hidden_size}), got {tuple(h0.shape)}")
        if lengths is not None:
            check_lengths(lengths, B, T, name=f"{name}.forward_sequence: lengths", host_only=True)

    def forward_sequence(self, x: Tensor, state: State | None = None,
                         lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps at once by the log-space parallel scan.

        Shape: ``x`` (B, T, I), ``state`` (B, H) or None, ``lengths`` (B,) or None ->
        outputs (B, T, H), zero past each length, and ``h`` at each sequence's last valid step (B, H).
        """
        self._check_sequence(x, state, lengths)
        log_a, log_b = self.log_coefficients(self.project_input(x))  # (B, T, H) each
        h0 = None if state is None else (state if isinstance(state, Tensor) else state[0])
        h = linear_scan_log(log_a, log_b, h0)  # (B, T, H)
        if lengths is None:
            return h, h[:, -1]
        last = (lengths.to(h.device) - 1).view(-1, 1, 1).expand(-1, 1, h.shape[2])
        final = h.gather(1, last).squeeze(1)
        valid = torch.arange(h.shape[1], device=h.device).view(1, -1, 1) < lengths.to(h.device).view(-1, 1, 1)
        return h * valid, final


class MinGRUCell(MinCell):
    r"""One minGRU step (Feng et al. 2024, §3.1): the gates read only ``x_t``.

    .. math::
        z_t &= \sigma(W_z x_t + b_z), \qquad \tilde h_t = g(W_h x_t + b_h) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    with ``g(x) = x + 0.5`` for x ≥ 0 and ``σ(x)`` below, so ``h̃ > 0`` and the whole sequence is a
    log-space parallel scan (``forward_sequence``). ``weight_ih`` stacks ``[W_z; W_h]`` (2H, I).

    Args:
        input_size: I.
        hidden_size: H.
        bias: learn ``bias_ih`` (2H).

    Shape: ``x_t`` (B, I), state ``h`` (B, H) -> ``y_t = h`` (B, H), ``h``.

    Example::

        cell = MinGRUCell(8, 16)
        out, h = cell.forward_sequence(torch.randn(4, 100, 8))   # (4, 100, 16), (4, 16)
    """

    num_gates = 2

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        """``log(1 - z)`` and ``log(z h̃)`` from the projected input (..., 2H)."""
        k, h_tilde = xp.chunk(2, -1)
        return -F.softplus(k), -F.softplus(-k) + log_g(h_tilde)
