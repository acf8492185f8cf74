"""``Recurrent``: runs any cell over a sequence — layers, directions, lengths, regularisers — on the
fastest backend that computes the configuration exactly (see ``layers/backends.py``). The conversion
from torch's modules is in ``layers/recurrent_torch.py``, the wording of its checks in
``layers/recurrent_words.py``; both are reached through this module (their names importable here)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells import CELLS, Cell, make_cell
from rnnkit.cells import GRUCell as GRUCell  # (the three: importable from here, as before from_torch moved)
from rnnkit.cells import LSTMCell as LSTMCell
from rnnkit.cells import SimpleRNNCell as SimpleRNNCell
from rnnkit.data.batch import lengths_to_mask
from rnnkit.layers import recurrent_torch
from rnnkit.layers.backends import Backend, available_backends, get_backend, noisy_step, step_noise
from rnnkit.layers.recurrent_words import _as_lengths
from rnnkit.layers.recurrent_words import _check_rate as _check_rate
from rnnkit.layers.recurrent_words import _empty_examples as _empty_examples
from rnnkit.layers.recurrent_words import _join as _join
from rnnkit.ops.fast_step import fast_step
from rnnkit.ops.masks import zero_padding

if TYPE_CHECKING:
    from rnnkit.layers.stream import Stream

State = Tensor | tuple[Tensor, Tensor]  # h, or (h, c) for LSTM


class RecurrentOutput(NamedTuple):
    outputs: Tensor  # (B, T, D*H), zero past each length
    state: State  # h (L*D, B, H), or (h, c) for LSTM


class Recurrent(nn.Module):
    """Runs a cell over batch-first sequences: stacked layers, both directions, padding handled.

    Layer ``l``, direction ``d`` is ``self.cells[l * D + d]`` (torch's order), so parameter names and
    ``state_dict`` keys (``cells.0.weight_ih``, ...) do not depend on the backend: a layer trained on
    one backend loads and runs on any other.

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"``, ``"mingru"``, ``"minlstm"``, or a ``Cell`` instance (it
            becomes layer 0, forward direction; the others come from ``cell.spawn``).
        input_size: I, features per step.
        hidden_size: H.
        num_layers: L stacked layers.
        bidirectional: add a reverse direction (D = 2) that starts at each sequence's last valid step.
        dropout: dropout on the outputs of every layer but the last.
        recurrent_dropout: variational dropout on ``h`` where it enters the recurrent product, one
            mask per sequence reused at every step (Gal & Ghahramani 2016).
        zoneout: probability that a unit keeps its previous value at a step (Krueger et al. 2017);
            the identity at evaluation (a trained layer evaluates like one without zoneout).
        weight_drop: DropConnect on ``weight_hh``, one mask per forward (AWD-LSTM).
        layer_norm: layer-normalised cells (rnn, lstm, gru).
        backend: ``"auto"`` or a registered backend name (``"torch"``, ``"scan"``, ``"loop"``, ...).

    ``owner`` is None, or the name of the task model this layer runs in (a ``Model`` sets it on its
    layers): its rows are then the model user's examples, and an empty one is refused in their terms.

    Shape: ``x`` (B, T, I), ``lengths`` (B,) int64 -> outputs (B, T, D*H); state h (L*D, B, H),
    for LSTM ``(h, c)``.

    Example::

        rnn = Recurrent("lstm", 8, 16, num_layers=2, bidirectional=True)
        out, (h, c) = rnn(torch.randn(4, 10, 8), lengths=torch.tensor([10, 7, 3, 1]))
        print(rnn.backend, rnn.explain())
    """

    def __init__(self, cell: str | Cell, input_size: int, hidden_size: int, *, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 zoneout: float = 0.0, weight_drop: float = 0.0, layer_norm: bool = False,
                 backend: str = "auto") -> None:
        super().__init__()
        for label, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{label} must be an int > 0, got {value!r}")
        # numpy ints as Python's (sizes end up in configs saved as JSON)
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
        self.zoneout = _check_rate("zoneout", zoneout)
        self.weight_drop = _check_rate("weight_drop", weight_drop)
        first = self._first_cell(cell, layer_norm)
        self.layer_norm = bool(first.layer_norm)
        if (self.recurrent_dropout > 0 or self.weight_drop > 0) and not first.recurrent_weight:
            raise ValueError(f"recurrent_dropout and weight_drop act on a recurrent weight, which "
                             f"{type(first).__name__} does not have; use dropout or zoneout instead")
        D = self.num_directions
        cells = [first]
        for k in range(1, num_layers * D):
            cells.append(first.spawn(input_size if k < D else D * hidden_size))
        self.cells = nn.ModuleList(cells)
        self.backend = backend
        self.owner: str | None = None

    def _first_cell(self, cell: str | Cell, layer_norm: bool) -> Cell:
        if isinstance(cell, Cell):
            if (cell.input_size, cell.hidden_size) != (self.input_size, self.hidden_size):
                raise ValueError(f"the cell is ({cell.input_size}, {cell.hidden_size}) but Recurrent got "
                                 f"input_size={self.input_size}, hidden_size={self.hidden_size}; make them agree")
            if layer_norm and not cell.layer_norm:
                raise ValueError("layer_norm=True needs a cell built with layer_norm=True when a Cell is passed")
            return cell
        if not isinstance(cell, str) or cell.lower() not in CELLS:
            raise ValueError(f"unknown cell {cell!r}: use one of {sorted(CELLS)} or pass a Cell instance")
        if layer_norm and cell.lower() in ("mingru", "minlstm"):
            raise ValueError(f"layer_norm is available for 'rnn', 'lstm' and 'gru', not {cell!r}")
        options = {"layer_norm": True} if layer_norm else {}
        return make_cell(cell, self.input_size, self.hidden_size, **options)

    # --- properties ---------------------------------------------------------------------------

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """D * H, the feature size of ``outputs``."""
        return self.num_directions * self.hidden_size

    @property
    def cell_list(self) -> list[Cell]:
        """``self.cells`` typed: layer ``l``, direction ``d`` at ``l * D + d``."""
        return cast(list[Cell], list(self.cells))

    def _cell0(self) -> Cell:
        # without building cell_list: per-call overhead counts in a streaming step
        return cast(Cell, self.cells._modules["0"])

    def _first_parameter(self) -> Tensor:
        # the first cell's own (all cells share dtype and device): walking the whole module costs
        # more than a streaming step
        cell = self._cell0()
        for p in cell._parameters.values():
            if p is not None:
                return p
        return next(cell.parameters())

    @property
    def dtype(self) -> torch.dtype:
        return self._first_parameter().dtype

    @property
    def device(self) -> torch.device:
        return self._first_parameter().device

    @property
    def backend(self) -> str:
        """The backend that runs here now (it depends on dtype, device and training mode)."""
        return self._resolve().name

    @backend.setter
    def backend(self, name: str) -> None:
        if name != "auto":
            reason = get_backend(name).supports(self)
            if reason is not None:
                raise ValueError(f"backend={name!r} cannot run this layer: {reason}; use backend='auto'")
        self._requested = name

    def _resolve(self) -> Backend:
        if self._requested != "auto":
            backend = get_backend(self._requested)
            reason = backend.supports(self)
            if reason is not None:
                raise ValueError(f"backend={self._requested!r} cannot run this layer: {reason}; "
                                 "use backend='auto'")
            return backend
        for backend in available_backends():
            if backend.supports(self) is None:
                return backend
        raise RuntimeError("no registered backend supports this layer")  # pragma: no cover ('loop' always does)

    def explain(self) -> str:
        """One or two sentences: which backend runs and why the faster ones do not."""
        chosen = self._resolve()
        summary = getattr(chosen, "summary", "")
        where = f"{self.device.type}, {str(self.dtype).replace('torch.', '')}"
        head = f"Runs on '{chosen.name}' ({summary}; {where})" if summary else f"Runs on '{chosen.name}' ({where})"
        if self._requested != "auto":
            return f"{head} because backend='{chosen.name}' was requested."
        reasons: dict[str, list[str]] = {}  # one clause per reason, naming every backend it stops
        for backend in available_backends():
            if backend is chosen:
                break
            reason = str(backend.supports(self)).replace(f"'{backend.name}' ", "")
            reasons.setdefault(reason, []).append(f"'{backend.name}'")
        skipped = [f"{_join(names)} cannot: {reason}" for reason, names in reasons.items()]
        return f"{head}; " + ("; ".join(skipped) + "." if skipped else "no faster backend is registered.")

    def extra_repr(self) -> str:
        opts = [f"num_layers={self.num_layers}", f"bidirectional={self.bidirectional}"]
        for name in ("dropout", "recurrent_dropout", "zoneout", "weight_drop"):
            if getattr(self, name):
                opts.append(f"{name}={getattr(self, name)}")
        return ", ".join(opts + [f"backend={self._requested!r}"])

    # --- validation ---------------------------------------------------------------------------

    def _check_input(self, x: Tensor, lengths: Tensor | None, *, carried: bool = False) -> int | None:
        """ValueError unless ``x`` and ``lengths`` fit the layer; returns the shortest length where it
        was read (None without lengths, or under a tracer). ``carried``: a state is given, so a length
        of 0 is taken (the row passes its state through)."""
        if not isinstance(x, Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be (batch, time, features) batch-first, got {shape}; "
                             "add a batch dimension with x.unsqueeze(0) or use step() for one time step")
        B, T, F_ = x.shape
        if self.input_size != F_:
            raise ValueError(f"x has {F_} features per step but the layer was built with input_size="
                             f"{self.input_size}; project the input or rebuild the layer")
        if B == 0 or T == 0:
            raise ValueError(f"x must have at least one sequence and one step, got shape {tuple(x.shape)}")
        self._check_dtype(x, "x")
        if lengths is None:
            return None
        if not isinstance(lengths, Tensor) or lengths.dim() != 1 or lengths.shape[0] != B:
            shape = tuple(lengths.shape) if isinstance(lengths, Tensor) else type(lengths).__name__
            raise ValueError(f"lengths must be a (batch,) = ({B},) tensor of valid steps per sequence, got {shape}")
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor (int64), got {lengths.dtype}; use lengths.long()")
        if torch.compiler.is_compiling():
            # torch.export / torch.compile trace with symbolic values: reading them (.item()) would
            # stop the trace, so the range check becomes the compiled program's caller's duty
            return None
        lo, hi, least = int(lengths.min()), int(lengths.max()), 0 if carried else 1
        if lo < least and self.owner is not None:
            # a model's user passes no state (the advice below is not theirs): an empty example
            raise ValueError(_empty_examples(self.owner, lengths))
        if lo < least or hi > T:
            # without a state a row of length 0 is an empty example: the models rely on this refusal
            fix = "pad x to the longest one" if carried else \
                "drop empty sequences (or pass state=: a row of length 0 then passes its state through) " \
                "and pad x to the longest one"
            raise ValueError(f"lengths must be between {least} and T={T} (x's time dimension), got min {lo} and "
                             f"max {hi}; {fix}")
        return lo

    def _check_dtype(self, t: Tensor, name: str) -> None:
        """ValueError unless the input ``t`` (named ``name``) has the parameters' float dtype."""
        if not t.is_floating_point() or t.dtype != self.dtype:
            raise ValueError(f"{name} is {t.dtype} but the layer's parameters are {self.dtype}; "
                             f"convert one of them ({name}.to({self.dtype}) or layer.to({name}.dtype))")

    def _check_step_dtype(self, x_t: Tensor) -> None:
        """forward's dtype rule for one step: ``x_t`` of the parameters' dtype, or any float under
        autocast (the step casts it, as forward does)."""
        if not (x_t.is_floating_point() and torch.is_autocast_enabled(x_t.device.type)):
            self._check_dtype(x_t, "x_t")

    def _check_state(self, state: State | None, B: int, rows: int) -> tuple[Tensor, ...] | None:
        if state is None:
            return None
        k = self._cell0().state_size
        parts = (state,) if isinstance(state, Tensor) else tuple(state)
        expected = (rows, B, self.hidden_size)
        bad = len(parts) != k
        for p in parts:  # a loop, not any(): this runs at every streaming step
            bad = bad or not isinstance(p, Tensor) or p.shape != expected
        if bad:
            layout = "h" if k == 1 else f"a tuple of {k} tensors (h, c)"
            got = [tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__ for p in parts]
            raise ValueError(f"state must be {layout}, each (num_layers * num_directions, batch, hidden) = "
                             f"{expected}, got {got}; pass state=None to start from zeros")
        dtype = self.dtype
        for p in parts:
            if p.dtype != dtype:
                if not p.is_floating_point():  # an integer or bool state is a mistake, not a state to cast
                    raise ValueError(f"state is {p.dtype}, but a recurrent state holds the layer's floats "
                                     f"({dtype}); pass state.to({dtype}), or state=None to start from zeros")
                return tuple(p.to(dtype) for p in parts)
        return parts

    def _pack_state(self, parts: tuple[Tensor, ...]) -> State:
        return parts[0] if len(parts) == 1 else cast(tuple[Tensor, Tensor], tuple(parts))

    # --- running ------------------------------------------------------------------------------

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> RecurrentOutput:
        """Run every layer over ``x``.

        Args:
            x: (B, T, I) batch-first, right-padded.
            lengths: (B,) int64 valid steps per sequence (a list or numpy array of ints too), or None when
                all have T steps: 1..T, or 0..T with a ``state``, where a row of length 0 passes its
                state through (its outputs are zero, its final state is its row of ``state``). That
                lets chunks of a batch run with the state carried when sequences end in different
                chunks. Traced or exported programs skip these checks and need lengths >= 1.
            state: initial state in torch's layout, or None for zeros.

        Returns: ``RecurrentOutput(outputs (B, T, D*H) zero past each length, state at each
        sequence's last valid step)``.
        """
        lengths = _as_lengths(lengths)
        if isinstance(x, Tensor) and x.is_floating_point() and x.dtype != self.dtype and \
                torch.is_autocast_enabled(x.device.type):
            # under autocast (Trainer(precision="bf16")) a layer before this one may hand over bfloat16:
            # take it as nn.LSTM does; the ops inside cast again where autocast says so
            x = x.to(self.dtype)
        shortest = self._check_input(x, lengths, carried=state is not None)
        parts = self._check_state(state, x.shape[0], self.num_layers * self.num_directions)
        if lengths is not None:
            lengths = lengths.long()
            # padding is no data: NaN or inf there (a series padded with NaN) must reach neither the
            # outputs past a length nor the gradients, on any backend; finite padding reaches neither
            x = zero_padding(x, lengths_to_mask(lengths.to(x.device), x.shape[1]))
        if shortest == 0 and parts is not None and not torch.jit.is_tracing():
            # (shortest is None under torch.compile / torch.export: no data-dependent branch there)
            outputs, final = self._run_nonempty(x, cast(Tensor, lengths), parts)
        else:
            outputs, final = self._resolve().run(self, x, lengths, parts)
        return RecurrentOutput(outputs, self._pack_state(final))

    def _run_nonempty(self, x: Tensor, lengths: Tensor, parts: tuple[Tensor, ...]
                      ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The backend on the rows of length >= 1 only, scattered back: a row of length 0 gets zero
        outputs and its row of the given state, unchanged (no backend need know about empty rows)."""
        B, T = x.shape[:2]
        keep = (lengths > 0).nonzero().flatten()  # (B',)
        if keep.numel() == 0:  # (fresh tensors, as every backend returns)
            return x.new_zeros(B, T, self.output_size), tuple(p.clone() for p in parts)
        rows = keep.to(x.device)
        sub = tuple(p.index_select(1, keep.to(p.device)) for p in parts)  # (L*D, B', H) each
        out, final = self._resolve().run(self, x.index_select(0, rows), lengths.index_select(0, keep), sub)
        outputs = out.new_zeros(B, T, out.shape[2]).index_copy(0, rows, out)  # (B, T, D*H)
        return outputs, tuple(p.to(f.dtype).index_copy(1, keep.to(p.device), f) for p, f in zip(parts, final))

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One time step through all layers, for streaming (unidirectional layers only).

        In training mode the recurrent-dropout and weight-drop masks are drawn afresh at each call.
        ``x_t`` must be of the parameters' dtype, as in :meth:`forward` (any float under autocast).
        CPU inference steps with weights packed once (ops/fast_step.py), repacked when the weights
        change by any torch operation, an optimizer or ``load_state_dict``; after changing part of
        a weight through ``.data`` (pruning a row in place), call
        ``rnnkit.train.optim.mark_updated(layer.parameters())``, or the steps read the old values.

        Shape: ``x_t`` (B, I), state torch layout (L, B, H) -> ``y_t`` (B, H), the new state.
        """
        if self.bidirectional:
            raise ValueError("step() runs one direction only; a bidirectional layer needs the whole "
                             "sequence: call forward(x) instead")
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[1] != self.input_size:
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"x_t must be (batch, input_size) = (B, {self.input_size}), got {shape}; "
                             "for a whole sequence call forward(x)")
        parts = self._check_state(state, x_t.shape[0], self.num_layers)
        fast = fast_step(self, x_t, parts)  # CPU inference: ops/fast_step.py; None where it would differ
        if fast is not None:  # (it takes only x_t of the parameters' dtype)
            return fast[0], self._pack_state(fast[1])
        self._check_step_dtype(x_t)
        inp, finals = x_t.to(self.dtype), []
        for l, cell in enumerate(self.cell_list):
            s = cell.initial_state(x_t.shape[0], device=x_t.device, dtype=inp.dtype) if parts is None else \
                self._pack_state(tuple(p[l] for p in parts))
            h_mask, w_hh = step_noise(self, cell, x_t.shape[0], inp)
            inp, s = noisy_step(self, cell, cell.project_input(inp), s, h_mask, w_hh)
            finals.append((s,) if isinstance(s, Tensor) else tuple(s))
            if l < self.num_layers - 1 and self.dropout > 0:
                inp = F.dropout(inp, self.dropout, self.training)
        return inp, self._pack_state(tuple(torch.stack(f, 0) for f in zip(*finals)))

    def stream(self, batch_size: int = 1, state: State | None = None, *, precision: str = "full") -> Stream:
        """A :class:`~rnnkit.layers.stream.Stream`: this layer's state held between calls, for live
        step-by-step inference (``y_t = stream(x_t)``). LSTM layers on the CPU step in C++ with the
        state updated in place; ``precision="bfloat16"`` or ``"int8"`` opts into bfloat16 or int8
        weights there (see :class:`~rnnkit.layers.stream.Stream`).

        Example::

            stream = rnn.eval().stream(batch_size=1)
            with torch.no_grad():
                y_t = stream(x_t)           # x_t (1, I) -> y_t (1, H)
        """
        from rnnkit.layers.stream import Stream

        return Stream(self, batch_size, state, precision=precision)

    @classmethod
    def from_torch(cls, module: nn.RNN | nn.LSTM | nn.GRU, *, backend: str = "auto") -> Recurrent:
        """A ``Recurrent`` with the weights (copied), sizes, dropout, dtype and device of a
        ``torch.nn.RNN`` / ``LSTM`` / ``GRU``; outputs agree to ~1e-6. The result is batch-first
        whatever ``module.batch_first`` says.

        Example::

            rnn = Recurrent.from_torch(nn.LSTM(8, 16, num_layers=2, batch_first=True))
        """
        return recurrent_torch.from_torch(cls, module, backend=backend)
