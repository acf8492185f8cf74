"""The cell contract: one time step. ``Recurrent`` runs a cell over time.

A cell splits its step in two so that ``Recurrent`` can hoist the input projection out of the time
loop without knowing any gate equation: ``project_input(x)`` works on a whole sequence at once (one
matrix product), and ``step_projected(xp_t, state)`` does the recurrent part of one step.
``forward(x_t, state)`` is ``step_projected(project_input(x_t), state)``.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import torch
from torch import Tensor, nn

State = Tensor | tuple[Tensor, ...]


class Cell(nn.Module):
    """One step of a recurrent network.

    ``forward(x_t, state) -> (y_t, state)`` with ``x_t`` ``(B, input_size)``, ``y_t``
    ``(B, hidden_size)``. ``state`` is a tensor ``(B, H)`` or, for LSTM-like cells, a tuple
    ``(h, c)``. ``state_size`` is the number of tensors in the state. A cell may also implement
    ``forward_sequence(x, state, lengths) -> (outputs, state)`` (e.g. a parallel scan).

    A cell that only implements ``forward`` still runs in ``Recurrent``: the default
    ``project_input`` is the identity and the default ``step_projected`` calls ``forward``.
    Cells whose recurrence is a product with a ``weight_hh`` matrix set ``recurrent_weight = True``
    and honour the ``h_mask`` / ``weight_hh`` arguments of ``step_projected`` (used by
    ``recurrent_dropout`` and ``weight_drop``).
    """

    input_size: int
    hidden_size: int
    state_size: int = 1
    recurrent_weight: bool = False
    layer_norm: bool = False

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        raise NotImplementedError  # pragma: no cover

    def initial_state(self, batch_size: int, *, device: torch.device | None = None,
                      dtype: torch.dtype | None = None) -> State:
        if isinstance(batch_size, bool) or (isinstance(batch_size, int) and batch_size < 0):
            raise ValueError(f"{type(self).__name__}.initial_state: batch_size must be an int >= 0, got {batch_size!r}")
        zeros = [torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
                 for _ in range(self.state_size)]
        return zeros[0] if self.state_size == 1 else tuple(zeros)

    def check_step(self, x_t: Tensor, state: State | None) -> None:
        """ValueError unless ``x_t`` is ``(B, input_size)`` in the parameters' dtype and ``state``, when
        given, holds ``state_size`` tensors ``(B, hidden_size)``. The built-in cells' ``forward`` calls
        it; ``Recurrent``'s time loop (``step_projected``) does not: it checks the whole input once."""
        name, I, H = type(self).__name__, self.input_size, self.hidden_size
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[1] != I:
            got = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"{name}: x_t must be (batch, input_size) = (B, {I}), got {got}; "
                             "for a whole sequence use rnnkit.Recurrent")
        p = next(self.parameters(), None)
        if p is not None and x_t.dtype != p.dtype:
            raise ValueError(f"{name}: x_t is {x_t.dtype} but the cell's parameters are {p.dtype}; convert one of "
                             f"them (x_t.to({p.dtype}) or cell.to(x_t.dtype))")
        if state is None:
            return
        parts = (state,) if isinstance(state, Tensor) else tuple(state)
        B = x_t.shape[0]
        if len(parts) != self.state_size or not all(isinstance(t, Tensor) and t.shape == (B, H) for t in parts):
            layout = "h" if self.state_size == 1 else f"a tuple of {self.state_size} tensors (h, c)"
            got_parts = [tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__ for t in parts]
            raise ValueError(f"{name}: state must be {layout}, each (batch, hidden_size) = ({B}, {H}), got "
                             f"{got_parts}; pass state=None to start from zeros")

    def project_input(self, x: Tensor) -> Tensor:
        """The part of a step that depends on the input only, for a whole sequence ``(B, T, I)``
        or one step ``(B, I)``. Default: the identity."""
        return x

    def step_projected(self, xp_t: Tensor, state: State | None, *, h_mask: Tensor | None = None,
                       weight_hh: Tensor | None = None) -> tuple[Tensor, State]:
        """One step from a projected input ``xp_t`` (a slice of ``project_input``'s result).

        ``h_mask`` (B, H) multiplies ``h`` where it enters the recurrent product (variational
        recurrent dropout); ``weight_hh`` replaces the recurrent weight (DropConnect). The default
        implementation calls ``forward`` and accepts neither.
        """
        if h_mask is not None or weight_hh is not None:
            raise ValueError(f"{type(self).__name__} has no recurrent weight; recurrent_dropout and "
                             "weight_drop need a cell with recurrent_weight = True")
        return self(xp_t, state)

    def spawn(self, input_size: int) -> Cell:
        """A freshly initialised cell of the same kind and options reading ``input_size`` features
        (``Recurrent`` uses it for the reverse direction and the layers above the first)."""
        if input_size != self.input_size:
            raise ValueError(f"{type(self).__name__} cannot be re-created with input_size={input_size}; "
                             "implement spawn(input_size) on the cell to use it with num_layers > 1")
        cell = copy.deepcopy(self)
        reset = getattr(cell, "reset_parameters", None)
        if callable(reset):
            reset()
            return cell
        # no reset of its own: its parts that have one (nn.Linear ...) are drawn afresh; parameters of
        # its own stay copies, which a warning names (a reverse direction would start as this one)
        for part in cell.modules():
            part_reset = getattr(part, "reset_parameters", None)
            if part is not cell and callable(part_reset):
                part_reset()
        own = [name for name, _ in cell.named_parameters(recurse=False)]
        if own:
            warnings.warn(f"{type(self).__name__} has no reset_parameters(), so spawn() copies its parameters "
                          f"{own}: the cells Recurrent makes from it (the reverse direction, the layers above) "
                          "start with the same values. Define reset_parameters() (or spawn) on the cell",
                          UserWarning, stacklevel=2)
        return cell


def check_sizes(name: str, input_size: int, hidden_size: int) -> None:
    """Raise ``ValueError`` unless both sizes are positive integers."""
    for label, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name}: {label} must be an int > 0, got {value!r}")


class ProjectedCell(Cell):
    """A cell with torch's ``weight_ih`` (G, I), ``weight_hh`` (G, H), ``bias_ih``, ``bias_hh``
    parameters (G = ``num_gates * hidden_size``), initialised like ``torch.nn`` (uniform in
    ±1/sqrt(H)), and optional layer norms ``ln_ih`` / ``ln_hh`` over the G pre-activations.
    Subclasses store their constructor options in ``self.options`` so ``spawn`` can repeat them.
    """

    num_gates: int = 1
    recurrent_weight = True

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, layer_norm: bool = False,
                 **options: Any) -> None:
        super().__init__()
        check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.bias, self.layer_norm = bias, layer_norm
        self.options = {"bias": bias, "layer_norm": layer_norm, **options}
        G = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size))
        self.bias_ih: nn.Parameter | None = nn.Parameter(torch.empty(G)) if bias else None
        self.bias_hh: nn.Parameter | None = nn.Parameter(torch.empty(G)) if bias else None
        self.ln_ih: nn.LayerNorm | None = nn.LayerNorm(G) if layer_norm else None
        self.ln_hh: nn.LayerNorm | None = nn.LayerNorm(G) if layer_norm else None

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                nn.init.uniform_(p, -bound, bound)
        for ln in (self.ln_ih, self.ln_hh):
            if ln is not None:
                ln.reset_parameters()

    def spawn(self, input_size: int) -> Cell:
        return type(self)(input_size, self.hidden_size, **self.options).to(self.weight_ih)

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.input_size}, {self.hidden_size}, {opts}"
