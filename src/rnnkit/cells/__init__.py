"""rnnkit.cells: one time step each. ``Recurrent`` runs any of them over a sequence.

Example::

    cell = make_cell("lstm", 8, 16, layer_norm=True)
    y, (h, c) = cell(torch.randn(4, 8))
"""

from __future__ import annotations

from typing import Any

from rnnkit.cells.base import Cell, State
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.min_gru import MinGRUCell
from rnnkit.cells.min_lstm import MinLSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell

CELLS: dict[str, type[Cell]] = {
    "rnn": SimpleRNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
    "mingru": MinGRUCell,
    "minlstm": MinLSTMCell,
}


def make_cell(name: str, input_size: int, hidden_size: int, **options: Any) -> Cell:
    """Build a cell by name (``"rnn"``, ``"lstm"``, ``"gru"``, ``"mingru"``, ``"minlstm"``).

    ``options`` go to the cell's constructor (e.g. ``layer_norm=True``, ``nonlinearity="relu"``);
    an option the cell does not take raises ``ValueError``.
    """
    if not isinstance(name, str) or name.lower() not in CELLS:
        raise ValueError(f"unknown cell {name!r}: use one of {sorted(CELLS)} or pass a Cell instance")
    cls = CELLS[name.lower()]
    try:
        return cls(input_size, hidden_size, **options)  # type: ignore[call-arg]
    except TypeError as e:
        raise ValueError(f"cell {name!r} does not take these options {sorted(options)}: {e}") from None


__all__ = ["CELLS", "Cell", "GRUCell", "LSTMCell", "MinGRUCell", "MinLSTMCell", "SimpleRNNCell", "State",
           "make_cell"]
