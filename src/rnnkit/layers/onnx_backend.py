"""The ``onnx`` backend: a whole ``Recurrent`` stack as one operator, ``rnnkit::rnn``, for export.

ONNX has its own RNN, GRU and LSTM operators, with ``sequence_lens`` for right-padded batches and a
reverse direction that starts at each sequence's last valid step: the same contract as
``Recurrent``. Exported through the generic loop, a layer becomes one node per step (a 251-step
series gave an 11.6 MB file that ran 1.8x slower in onnxruntime than the model in torch); through
this backend it is one node per layer, and ``T`` is free. ``rnnkit::rnn`` computes with torch's
fused op in eager mode; ``cli/export_onnx.py`` translates it to the ONNX nodes.

The backend is never chosen by ``"auto"`` (the loop, at priority 100, always runs first): export
requests it. It takes the configurations torch's fused op computes, at inference only (eval mode,
no gradients), in float32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from rnnkit.layers.backends import States, TorchBackend, fused_packed, op_params, register_backend, torch_op_name

if TYPE_CHECKING:
    from rnnkit.layers.recurrent import Recurrent

MODES = ("lstm", "gru", "rnn_tanh", "rnn_relu")


@torch.library.custom_op("rnnkit::rnn", mutates_args=())
def rnn(x: Tensor, lengths: Tensor, h0: Tensor, c0: Tensor, params: list[Tensor], mode: str,
        num_layers: int, bidirectional: bool, has_bias: bool) -> tuple[Tensor, Tensor, Tensor]:
    """A stack of ``num_layers`` torch RNN / GRU / LSTM layers (``mode``) over right-padded ``x``.

    Shape: x (B, T, I); lengths (B,) int64 in 1..T; h0, c0 (L*D, B, H) (c0 unused but by lstm);
    params in torch's flat order (``weight_ih, weight_hh[, bias_ih, bias_hh]`` per layer and
    direction). Returns outputs (B, T, D*H) zero past each length, h_n and c_n (L*D, B, H) at each
    sequence's last valid step (c_n is a copy of h_n but for lstm)."""
    op = getattr(torch, mode)
    hx: Tensor | list[Tensor] = [h0, c0] if mode == "lstm" else h0
    args = (params, has_bias, num_layers, 0.0, False, bidirectional)
    outputs, finals = fused_packed(op, x, lengths, hx, args)
    return outputs, finals[0], (finals[1] if mode == "lstm" else finals[0].clone())


@rnn.register_fake
def _(x: Tensor, lengths: Tensor, h0: Tensor, c0: Tensor, params: list[Tensor], mode: str,
      num_layers: int, bidirectional: bool, has_bias: bool) -> tuple[Tensor, Tensor, Tensor]:
    B, T = x.shape[:2]
    H = h0.shape[2]
    D = 2 if bidirectional else 1
    return x.new_empty(B, T, D * H), h0.new_empty(h0.shape), h0.new_empty(h0.shape)


class OnnxBackend:
    """``rnnkit::rnn``, exported as ONNX's RNN / GRU / LSTM nodes (see the module docstring)."""

    name = "onnx"
    summary = "one rnnkit::rnn operator per stack, exported as ONNX's RNN / GRU / LSTM nodes"

    def supports(self, layer: Recurrent) -> str | None:
        reason = TorchBackend().supports(layer)
        if reason is not None:
            return reason.replace("torch's fused ops", "ONNX's recurrent operators")
        if layer.training or torch.is_grad_enabled():
            return "the onnx backend is for export: eval mode under torch.no_grad() only"
        if layer.dtype != torch.float32:
            return f"the onnx backend exports float32 layers, not {layer.dtype}"
        return None

    def run(self, layer: Recurrent, x: Tensor, lengths: Tensor | None,
            state: States | None) -> tuple[Tensor, States]:
        B, T = x.shape[:2]
        cell0 = layer.cell_list[0]
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=x.device)
        if state is None:
            zeros = x.new_zeros(layer.num_layers * layer.num_directions, B, layer.hidden_size)
            state = (zeros,) * cell0.state_size
        params = [p for cell in layer.cell_list for p in op_params(layer, cell)]
        h0 = state[0]
        c0 = state[1] if cell0.state_size == 2 else h0
        outputs, h, c = rnn(x, lengths, h0, c0, params, torch_op_name(cell0), layer.num_layers,
                            layer.bidirectional, bool(cell0.bias))  # type: ignore[attr-defined]
        return outputs, ((h, c) if cell0.state_size == 2 else (h,))


register_backend(OnnxBackend(), 10)
