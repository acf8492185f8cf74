"""``Recurrent.from_torch``: a :class:`~rnnkit.layers.recurrent.Recurrent` with the weights, sizes,
dropout, dtype and device of a ``torch.nn.RNN`` / ``LSTM`` / ``GRU``.

torch names its parameters ``weight_ih_l{l}`` (``_reverse`` for the second direction); rnnkit's layer
``l``, direction ``d`` is ``cells[l * D + d]``, with the same four tensors in the same layout, so the
conversion is a copy per tensor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor, nn

from rnnkit.cells import Cell, GRUCell, LSTMCell, SimpleRNNCell

if TYPE_CHECKING:
    from rnnkit.layers.recurrent import Recurrent


def from_torch(cls: type[Recurrent], module: nn.RNN | nn.LSTM | nn.GRU, *, backend: str = "auto") -> Recurrent:
    """An instance of ``cls`` (``Recurrent`` or a subclass) with ``module``'s weights copied, batch-first
    whatever ``module.batch_first`` says, in ``module``'s training mode, on ``backend``."""
    kinds: dict[type, type[Cell]] = {nn.LSTM: LSTMCell, nn.GRU: GRUCell, nn.RNN: SimpleRNNCell}
    if type(module) not in kinds:
        raise ValueError(f"from_torch takes torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size > 0 has no rnnkit equivalent; use proj_size=0")
    opts: dict = {"bias": module.bias}
    if isinstance(module, nn.RNN):
        opts["nonlinearity"] = module.nonlinearity
    w = cast(Tensor, module.weight_ih_l0)
    first = kinds[type(module)](module.input_size, module.hidden_size, **opts).to(w)
    layer = cls(first, module.input_size, module.hidden_size, num_layers=module.num_layers,
                bidirectional=module.bidirectional, dropout=module.dropout).to(w)
    with torch.no_grad():
        for k, cell in enumerate(layer.cells):
            suffix = f"l{k // layer.num_directions}" + ("_reverse" if k % layer.num_directions else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                target = getattr(cell, name)
                if target is not None:
                    target.copy_(getattr(module, f"{name}_{suffix}"))
    layer.train(module.training)
    layer.backend = backend
    return layer
