"""TEMPORARY Recurrent: delegates to torch.nn.RNN/LSTM/GRU. Replaced by the foundation work.

Public API as in DESIGN.md so the layers above can be built and tested meanwhile.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

State = Tensor | tuple[Tensor, Tensor]


class RecurrentOutput(NamedTuple):
    outputs: Tensor  # (B, T, D*H)
    state: State  # h (L*D, B, H) or (h, c)


_TORCH = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Recurrent(nn.Module):
    def __init__(self, cell: str, input_size: int, hidden_size: int, *, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 zoneout: float = 0.0, weight_drop: float = 0.0, layer_norm: bool = False,
                 backend: str = "auto") -> None:
        super().__init__()
        if cell not in _TORCH:
            raise ValueError(f"temporary Recurrent supports {sorted(_TORCH)}, got {cell!r}")
        self.cell_name = cell
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bidirectional = num_layers, bidirectional
        self.rnn = _TORCH[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                                bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)

    @property
    def backend(self) -> str:
        return "torch"

    @property
    def output_size(self) -> int:
        return self.hidden_size * (2 if self.bidirectional else 1)

    def forward(self, x: Tensor, lengths: Tensor | None = None,
                state: State | None = None) -> RecurrentOutput:
        T = x.shape[1]
        if lengths is None:
            out, st = self.rnn(x, state)
            return RecurrentOutput(out, st)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, st = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        return RecurrentOutput(out, st)

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        out, st = self.rnn(x_t.unsqueeze(1), state)
        return out.squeeze(1), st
