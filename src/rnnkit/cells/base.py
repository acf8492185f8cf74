"""The cell contract: one time step. ``Recurrent`` runs a cell over time."""

from __future__ import annotations

import torch
from torch import Tensor, nn

State = Tensor | tuple[Tensor, ...]


class Cell(nn.Module):
    """One step of a recurrent network.

    ``forward(x_t, state) -> (y_t, state)`` with ``x_t`` ``(B, input_size)``, ``y_t``
    ``(B, hidden_size)``. ``state`` is a tensor ``(B, H)`` or, for LSTM-like cells, a tuple
    ``(h, c)``. ``state_size`` is the number of tensors in the state. A cell may also implement
    ``forward_sequence(x, state, lengths) -> (outputs, state)`` (e.g. a parallel scan).
    """

    input_size: int
    hidden_size: int
    state_size: int = 1

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        raise NotImplementedError  # pragma: no cover

    def initial_state(self, batch_size: int, *, device: torch.device | None = None,
                      dtype: torch.dtype | None = None) -> State:
        zeros = [torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
                 for _ in range(self.state_size)]
        return zeros[0] if self.state_size == 1 else tuple(zeros)
