"""The backends that run a ``Recurrent`` layer, and the registry ``backend="auto"`` picks from.

A backend is any object with

* ``name: str`` (and optionally ``summary: str``, a few words for ``explain()``)
* ``supports(layer) -> str | None`` — ``None`` when it computes this configuration exactly (cell,
  options, dtype, device, training mode), else one short reason why not (it ends up in ``explain()``);
* ``run(layer, x, lengths, state) -> (outputs, state)`` — ``x`` (B, T, I) validated, ``lengths``
  (B,) int64 or None, ``state`` a tuple of ``state_size`` tensors (L*D, B, H) or None; it returns
  outputs (B, T, D*H), zero past each length, and the final state as a tuple in the same layout.

Built in, tried in this order by ``"auto"``: ``torch`` (priority 300), ``scan`` (200), ``loop`` (100).
A fused kernel registers itself from its own module with a higher priority to be tried first::

    from rnnkit.layers.backends import register_backend
    register_backend(MyTritonLSTM(), priority=400)   # tried before "torch"
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells.base import Cell, State
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell
from rnnkit.layers.recurrent_noise import drop_weight, variational_mask, zoneout

if TYPE_CHECKING:
    from rnnkit.layers.recurrent import Recurrent

States = tuple[Tensor, ...]


class Backend(Protocol):
    """What ``Recurrent`` needs from a backend (see the module docstring)."""

    name: str

    def supports(self, layer: Recurrent) -> str | None: ...

    def run(self, layer: Recurrent, x: Tensor, lengths: Tensor | None,
            state: States | None) -> tuple[Tensor, States]: ...


_REGISTRY: dict[str, tuple[int, int, Backend]] = {}


def register_backend(backend: Backend, priority: int) -> None:
    """Add (or replace, by name) a backend; ``"auto"`` tries higher priorities first.

    Built-in priorities: torch 300, scan 200, loop 100.
    """
    if not isinstance(getattr(backend, "name", None), str) or not callable(getattr(backend, "supports", None)) \
            or not callable(getattr(backend, "run", None)):
        raise ValueError("a backend needs a str `name` and `supports(layer)` and `run(layer, x, lengths, state)`")
    if backend.name == "auto":
        raise ValueError("'auto' is reserved; give the backend another name")
    order = _REGISTRY[backend.name][1] if backend.name in _REGISTRY else len(_REGISTRY)
    _REGISTRY[backend.name] = (priority, order, backend)


def available_backends() -> list[Backend]:
    """The registered backends in the order ``"auto"`` tries them."""
    return [b for _, _, b in sorted(_REGISTRY.values(), key=lambda e: (-e[0], e[1]))]


def get_backend(name: str) -> Backend:
    """The registered backend called ``name``; ``ValueError`` listing the names otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}: use 'auto' or one of {[b.name for b in available_backends()]}")
    return _REGISTRY[name][2]


# --- torch's fused ops (cuDNN on GPU, oneDNN / native kernels on CPU) -----------------------------

_TORCH_OPS: dict[type, str] = {LSTMCell: "lstm", GRUCell: "gru", SimpleRNNCell: "rnn"}
_TORCH_DTYPES = {torch.float32, torch.float64, torch.bfloat16}


class TorchBackend:
    """``torch.lstm`` / ``torch.gru`` / ``torch.rnn_tanh`` / ``torch.rnn_relu`` on the layer's own
    parameters (packed internally for ``lengths``); ``weight_drop`` passes the dropped weights."""

    name = "torch"
    summary = "torch's fused op: cuDNN on GPU, oneDNN on CPU"

    def supports(self, layer: Recurrent) -> str | None:
        kinds = {type(c) for c in layer.cell_list}
        if len(kinds) != 1 or next(iter(kinds)) not in _TORCH_OPS:
            return f"torch's fused ops compute only rnn, lstm and gru, not {type(layer.cell_list[0]).__name__}"
        if any(c.layer_norm for c in layer.cell_list):
            return "torch's fused ops have no layer_norm"
        if len({c.bias for c in layer.cell_list}) != 1:  # type: ignore[attr-defined]
            return "torch's fused ops need every layer with or every layer without bias"
        if len({getattr(c, "nonlinearity", "tanh") for c in layer.cell_list}) != 1:
            return "torch's fused ops need one nonlinearity for all layers"
        if layer.recurrent_dropout > 0 and layer.training:
            return "torch's fused ops have no recurrent_dropout (it runs on them at eval, where it is the identity)"
        if layer.zoneout > 0 and layer.training:
            return "torch's fused ops have no zoneout (it runs on them at eval, where it is the identity)"
        dtype, device = layer.dtype, layer.device
        if dtype not in _TORCH_DTYPES and not (device.type == "cuda" and dtype == torch.float16):
            return f"torch's fused ops do not take {dtype} on {device.type}"
        return None

    def run(self, layer: Recurrent, x: Tensor, lengths: Tensor | None,
            state: States | None) -> tuple[Tensor, States]:
        grads = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in layer.parameters()))
        if lengths is not None and x.device.type == "cpu" and grads:
            # torch's packed op on the CPU slices the packed input once per step, and each slice's
            # backward writes a zero tensor the size of the whole input: backward grows with T^2
            # (45 s against 0.5 s unpacked for B=32, T=800, H=128 here). Runs of equal batch instead.
            return run_stack(layer, x, lengths, state, torch_direction)
        cell0 = layer.cell_list[0]
        op = _torch_op(cell0)
        has_bias = bool(cell0.bias)  # type: ignore[attr-defined]
        params = [p for cell in layer.cell_list for p in op_params(layer, cell)]
        B = x.shape[0]
        if state is None:
            zeros = x.new_zeros(layer.num_layers * layer.num_directions, B, layer.hidden_size)
            state = (zeros,) * cell0.state_size
        hx: Tensor | list[Tensor] = list(state) if cell0.state_size == 2 else state[0]
        args = (params, has_bias, layer.num_layers, layer.dropout, layer.training, layer.bidirectional)
        if lengths is None:
            res = op(x, hx, *args, True)
            return res[0], tuple(res[1:])
        return fused_packed(op, x, lengths, hx, args)


def fused_packed(op: Callable[..., tuple[Tensor, ...]], x: Tensor, lengths: Tensor, hx: Tensor | list[Tensor],
                 args: tuple) -> tuple[Tensor, States]:
    """torch's fused ``op`` over right-padded batch-first ``x`` packed by ``lengths``; ``hx`` is h
    (L*D, B, H), or [h, c] for lstm; ``args`` the op's arguments after ``hx``. Outputs (B, T, D*H)
    are zero past each length; the final states are each sequence's last valid step's."""
    T = x.shape[1]
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    order, unorder = packed.sorted_indices, packed.unsorted_indices
    assert order is not None and unorder is not None  # enforce_sorted=False always sets them
    hx = [h.index_select(1, order) for h in hx] if isinstance(hx, list) else hx.index_select(1, order)
    res = op(packed.data, packed.batch_sizes, hx, *args)
    out = PackedSequence(res[0], packed.batch_sizes, order, unorder)
    outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    return outputs, tuple(h.index_select(1, unorder) for h in res[1:])


def torch_op_name(cell: Cell) -> str:
    """``"lstm"``, ``"gru"``, ``"rnn_tanh"`` or ``"rnn_relu"``: the torch function for ``cell``'s kind."""
    name = _TORCH_OPS[type(cell)]
    return f"rnn_{cell.nonlinearity}" if name == "rnn" else name


def _torch_op(cell: Cell) -> Callable[..., tuple[Tensor, ...]]:
    """``torch.lstm`` / ``torch.gru`` / ``torch.rnn_tanh`` / ``torch.rnn_relu`` for ``cell``'s kind."""
    op = getattr(torch, torch_op_name(cell))
    return _lstm if op is torch.lstm else op  # type: ignore[no-any-return]


def _lstm(x: Tensor, *args: Any) -> tuple[Tensor, ...]:
    """``torch.lstm`` that runs under CPU bfloat16 autocast on CPUs whose oneDNN has no bfloat16 LSTM
    (no AVX-512): autocast sends the op to oneDNN, which fails there ("could not create a primitive
    descriptor"), as ``nn.LSTM`` does. It then runs outside autocast on the inputs cast to bfloat16,
    torch's own bfloat16 kernel: the same precision that autocast asks for."""
    if (x.device.type != "cpu" or not torch.is_autocast_enabled("cpu")
            or torch.get_autocast_dtype("cpu") != torch.bfloat16 or _onednn_bf16()):
        return torch.lstm(x, *args)  # type: ignore[no-any-return]

    def bf16(a: Any) -> Any:
        if isinstance(a, Tensor):
            return a.to(torch.bfloat16) if a.is_floating_point() else a
        return [bf16(t) for t in a] if isinstance(a, list | tuple) else a

    with torch.autocast("cpu", enabled=False):
        return torch.lstm(bf16(x), *(bf16(a) for a in args))  # type: ignore[no-any-return]


@functools.cache
def _onednn_bf16() -> bool:
    """Whether this CPU's oneDNN runs bfloat16 (AVX-512 BF16, or AVX-512 emulation)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: autocast does not reach it either
        return True


def op_params(layer: Recurrent, cell: Cell) -> list[Tensor]:
    """``cell``'s weights in the fused op's order; ``weight_hh`` DropConnect'ed while training."""
    dropped = drop_weight(cell.weight_hh, layer.weight_drop) if layer.training else None  # type: ignore[arg-type]
    params = [cell.weight_ih, cell.weight_hh if dropped is None else dropped]  # type: ignore[list-item]
    return params + ([cell.bias_ih, cell.bias_hh] if cell.bias else [])  # type: ignore[list-item, return-value]


# --- the generic stack: layers x directions, each direction run by a function --------------------

Direction = Callable[["Recurrent", Cell, Tensor, "Tensor | None", "State | None"], tuple[Tensor, States]]


def reverse_index(lengths: Tensor | None, B: int, T: int, device: torch.device) -> Tensor:
    """(B, T) gather index that reverses each sequence within its own length (padding stays put)."""
    t = torch.arange(T, device=device).expand(B, T)
    if lengths is None:
        return t.flip(1)
    n = lengths.to(device).view(B, 1)
    return torch.where(t < n, n - 1 - t, t)


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


def run_stack(layer: Recurrent, x: Tensor, lengths: Tensor | None, state: States | None,
              direction: Direction) -> tuple[Tensor, States]:
    """Run every layer and direction with ``direction(layer, cell, x, lengths, state0)``. The reverse
    direction sees each sequence reversed within its length, so it starts at the last valid step."""
    B, T = x.shape[:2]
    D, k_state = layer.num_directions, layer.cell_list[0].state_size
    rev = reverse_index(lengths, B, T, x.device) if D == 2 else None
    finals: list[list[Tensor]] = [[] for _ in range(k_state)]
    inp = x
    for l in range(layer.num_layers):
        outs = []
        for d in range(D):
            k = l * D + d
            s0: State | None = None
            if state is not None:
                s0 = state[0][k] if k_state == 1 else tuple(s[k] for s in state)
            xin = inp if d == 0 else _gather_time(inp, rev)  # type: ignore[arg-type]
            y, s = direction(layer, layer.cell_list[k], xin, lengths, s0)
            outs.append(y if d == 0 else _gather_time(y, rev))  # type: ignore[arg-type]
            for i in range(k_state):
                finals[i].append(s[i])
        inp = outs[0] if D == 1 else torch.cat(outs, 2)  # (B, T, D*H)
        if l < layer.num_layers - 1 and layer.dropout > 0:
            inp = F.dropout(inp, layer.dropout, layer.training)
    if lengths is not None:
        valid = torch.arange(T, device=x.device).view(1, T, 1) < lengths.to(x.device).view(B, 1, 1)
        inp = inp * valid
    return inp, tuple(torch.stack(f, 0) for f in finals)


def torch_direction(layer: Recurrent, cell: Cell, x: Tensor, lengths: Tensor | None,
                    state: State | None) -> tuple[Tensor, States]:
    """One layer and direction through torch's fused op, without packing: the sequences are sorted
    by length and time is cut where one ends, so each piece is one fused call on the sequences still
    running (as many calls as distinct lengths). Each piece's input and output are whole blocks, so
    backward stays linear in T. Outputs past a length are zero; the state is each one's last valid."""
    assert lengths is not None  # TorchBackend.run sends only batches with lengths here
    op, has_bias, params = _torch_op(cell), bool(cell.bias), op_params(layer, cell)  # type: ignore[attr-defined]
    B, T, H = x.shape[0], x.shape[1], cell.hidden_size
    n = lengths.cpu()
    order = torch.argsort(n, descending=True, stable=True)
    unorder = torch.argsort(order)
    n_sorted = n[order].tolist()
    xs = x.index_select(0, order.to(x.device))
    s0 = [t.index_select(0, order.to(x.device)) for t in _as_tuple(state)] if state is not None else \
        [x.new_zeros(B, H) for _ in range(cell.state_size)]
    cuts = sorted(set(n_sorted))  # each piece ends where some sequences end
    sizes = [b - a for a, b in zip([0, *cuts[:-1]], cuts)]
    pieces = xs.split(sizes + ([T - cuts[-1]] if cuts[-1] < T else []), dim=1)  # the tail is padding only
    hx = [t.unsqueeze(0) for t in s0]  # (1, B, H) each, for the running rows
    outs: list[Tensor] = []
    done: list[list[Tensor]] = []  # final states of the rows that ended, last rows first
    for end, piece in zip(cuts, pieces):
        running = sum(1 for m in n_sorted if m >= end)
        h_in = [h[:, :running] for h in hx]
        res = op(piece[:running], h_in if cell.state_size == 2 else h_in[0],
                 params, has_bias, 1, 0.0, layer.training, False, True)
        y = res[0]  # (running, len, H)
        outs.append(F.pad(y, (0, 0, 0, 0, 0, B - running)))
        finished = sum(1 for m in n_sorted if m == end)
        new = list(res[1:])
        done.append([h[0, running - finished:running] for h in new])
        hx = [h[:, : running - finished] for h in new]
    out = torch.cat(outs, 1)  # (B, max length, H)
    if out.shape[1] < T:
        out = F.pad(out, (0, 0, 0, T - out.shape[1]))
    finals = tuple(torch.cat([d[i] for d in reversed(done)], 0).index_select(0, unorder.to(x.device))
                   for i in range(cell.state_size))
    return out.index_select(0, unorder.to(x.device)), finals


def noisy_step(layer: Recurrent, cell: Cell, xp_t: Tensor, state: State, h_mask: Tensor | None,
               w_hh: Tensor | None) -> tuple[Tensor, State]:
    """One step of ``cell`` with zoneout applied to the new state (the output is the zoned ``h``)."""
    y, new = cell.step_projected(xp_t, state, h_mask=h_mask, weight_hh=w_hh)
    if layer.zoneout > 0:
        new = zoneout(state, new, layer.zoneout, layer.training)
        y = new if isinstance(new, Tensor) else new[0]
    return y, new


def step_noise(layer: Recurrent, cell: Cell, batch_size: int, like: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """The recurrent-dropout mask and the DropConnect'ed ``weight_hh`` for one forward (training only)."""
    if not layer.training:
        return None, None
    h_mask = variational_mask(batch_size, cell.hidden_size, layer.recurrent_dropout, like)
    w_hh = drop_weight(cell.weight_hh, layer.weight_drop) if layer.weight_drop > 0 else None  # type: ignore[arg-type]
    return h_mask, w_hh


def _as_tuple(state: State) -> States:
    return (state,) if isinstance(state, Tensor) else tuple(state)


def loop_direction(layer: Recurrent, cell: Cell, x: Tensor, lengths: Tensor | None,
                   state: State | None) -> tuple[Tensor, States]:
    """The generic loop: the input projection as one product, then ``step_projected`` per step.

    Past its length a sequence's state is held, not stepped: the final state is then the last valid
    step's, and a state that grows without bound (a relu cell) cannot reach inf over a long padding,
    where ``inf * 0`` would put NaN into the outputs' mask and the weights' gradients."""
    B, T = x.shape[:2]
    xp = cell.project_input(x)  # (B, T, G)
    if state is None:
        state = cell.initial_state(B, device=x.device, dtype=xp.dtype)
    h_mask, w_hh = step_noise(layer, cell, B, xp)
    held = None if lengths is None else \
        (torch.arange(T, device=x.device).view(T, 1, 1) >= lengths.to(x.device).view(1, B, 1)).unbind(0)
    ys = []
    for t, xp_t in enumerate(xp.unbind(1)):  # unbind, not xp[:, t]: indexing makes backward quadratic in T
        y, new = noisy_step(layer, cell, xp_t, state, h_mask, w_hh)
        ys.append(y)
        state = new if held is None else hold(held[t], state, new)
    return torch.stack(ys, 1), _as_tuple(state)  # (B, T, H)


def hold(past: Tensor, old: State, new: State) -> State:
    """``new`` where a row is within its length, ``old`` where ``past`` (B, 1) says it has ended."""
    if isinstance(new, Tensor):
        return torch.where(past, old, new)  # type: ignore[arg-type]
    return tuple(torch.where(past, o, n) for o, n in zip(old, new))


def scan_direction(layer: Recurrent, cell: Cell, x: Tensor, lengths: Tensor | None,
                   state: State | None) -> tuple[Tensor, States]:
    out, final = cell.forward_sequence(x, state, lengths)  # type: ignore[operator]
    return out, _as_tuple(final)


class ScanBackend:
    """The cell's own ``forward_sequence`` (the parallel scan of minGRU / minLSTM)."""

    name = "scan"
    summary = "the cell's parallel scan, forward_sequence"

    def supports(self, layer: Recurrent) -> str | None:
        if not all(callable(getattr(c, "forward_sequence", None)) for c in layer.cell_list):
            return f"{type(layer.cell_list[0]).__name__} has no forward_sequence (no parallel scan)"
        if layer.zoneout > 0 and layer.training:  # in evaluation zoneout is the identity
            return "zoneout (in training) makes the step non-linear in h, so it cannot be scanned"
        return None

    def run(self, layer: Recurrent, x: Tensor, lengths: Tensor | None,
            state: States | None) -> tuple[Tensor, States]:
        return run_stack(layer, x, lengths, state, scan_direction)


class LoopBackend:
    """The generic Python loop over time; runs every configuration."""

    name = "loop"
    summary = "the generic Python loop over time, input projection hoisted into one matrix product"

    def supports(self, layer: Recurrent) -> str | None:
        return None

    def run(self, layer: Recurrent, x: Tensor, lengths: Tensor | None,
            state: States | None) -> tuple[Tensor, States]:
        return run_stack(layer, x, lengths, state, loop_direction)


register_backend(TorchBackend(), 300)
register_backend(ScanBackend(), 200)
register_backend(LoopBackend(), 100)
