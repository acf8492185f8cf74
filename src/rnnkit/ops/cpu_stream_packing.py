"""The packed layouts of ``ops/cpu_stream.py``'s kernels: an LSTM stack's weights in blocks of ``U``
units, their bfloat16 pairs and int8 quads (with per-row scales), a linear head's blocks of rows, and
the table that describes a packed stack to the C++ side (:class:`_Packed`).

Block ``j`` of a packed weight holds, for every input ``k``, the weights from ``k`` to the i, f, g, o
rows of units ``jU .. jU+U-1`` side by side: one sequential stream per block, its gate sums in
registers (see the module docstring of ``ops/cpu_stream.py``). Pure tensor functions, no library.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def units(dtype: torch.dtype) -> int:
    """``U``, the units of one packed block: two 64-byte vectors per gate."""
    return 2 * 64 // torch.empty((), dtype=dtype).element_size()


def padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def gate_order(v: Tensor, H: int, Hp: int, U: int) -> Tensor:
    """``(..., 4H)`` in torch's (i, f, g, o) order -> ``(..., Hp // U * 4U)``: block by block, each
    block the i, f, g, o values of its ``U`` units (units past ``H`` are zero)."""
    lead = v.shape[:-1]
    v = v.reshape(*lead, 4, H)
    if Hp > H:
        v = torch.cat([v, v.new_zeros(*lead, 4, Hp - H)], -1)
    v = v.reshape(*lead, 4, Hp // U, U).transpose(-3, -2)  # (..., nb, 4, U)
    return v.reshape(*lead, Hp // U * 4 * U).contiguous()


def pack_gates(w: Tensor, H: int, Hp: int, U: int) -> Tensor:
    """An LSTM weight ``(4H, K)`` (torch's row order) -> ``(nb, K, 4U)``: for block ``j`` and input
    ``k``, the weights from ``k`` to the i, f, g, o rows of units ``jU .. jU+U-1``."""
    K = w.shape[1]
    p = gate_order(w.t(), H, Hp, U)  # (K, nb * 4U)
    return p.reshape(K, Hp // U, 4 * U).transpose(0, 1).contiguous()


def pack_pairs_bf16(packed: Tensor) -> Tensor:
    """:func:`pack_gates`' ``(nb, K, 4U)`` float32 -> ``(nb, Kp/2, 4U, 2)`` bfloat16 (``Kp``: K rounded up
    to even, the extra input's weights zero): for each pair of inputs, every gate row's two weights
    side by side, the layout of AVX512-BF16's pairwise dot product. Returned as int16 (the bits)."""
    nb, K, G = packed.shape
    if K % 2:
        packed = torch.cat([packed, packed.new_zeros(nb, 1, G)], 1)
    pairs = packed.reshape(nb, -1, 2, G).transpose(2, 3).contiguous()
    return pairs.to(torch.bfloat16).view(torch.int16)


def quantize_rows(packed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`pack_gates`' ``(nb, K, 4U)`` float32 -> int8 quads ``(nb, Kq, 4U, 4)`` (``Kq``: K / 4
    rounded up, the extra inputs' weights zero), each gate row's scale ``(nb, 4U)`` float32 and 128 times
    its quantized sum ``(nb, 4U)`` int32. Symmetric per row: ``q = round(w / s)``, ``s = max|w| / 127``
    (1 for a row of zeros); so ``|w - s q| <= s / 2``."""
    nb, K, G = packed.shape
    m = packed.abs().amax(1)
    scale = torch.where(m > 0, m / 127, torch.ones_like(m))
    q = torch.round(packed / scale[:, None, :]).clamp_(-127, 127)
    Kp = padded(K, 4)
    if Kp > K:
        q = torch.cat([q, q.new_zeros(nb, Kp - K, G)], 1)
    quads = q.reshape(nb, Kp // 4, 4, G).transpose(2, 3).contiguous().to(torch.int8)
    return quads, scale, (q.sum(1) * 128).to(torch.int32)


def quantize_activations(v: Tensor) -> tuple[Tensor, Tensor]:
    """What ``precision="int8"`` does to each row of a step's inputs ``x`` or ``h`` (``(B, n)``
    float32), in torch: codes ``round(v / t)`` in [-127, 127] (the kernel adds 128 to store them as
    bytes) and the row's scale ``t = max|v| * (1/127)`` (1 for a row of zeros), ``(B, 1)``; float32
    arithmetic as in the kernel, so ``codes * t`` is exactly what the kernel multiplies by."""
    m = v.abs().amax(1, keepdim=True)
    t = torch.where(m > 0, m * (torch.tensor(1.0) / torch.tensor(127.0)), torch.ones_like(m))
    return torch.round(v * (1 / t)).clamp(-127, 127), t


def pack_int8(wx: Tensor | None, wh: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """One layer for ``precision="int8"``: the packed ``(nb, Kx, 4U)`` input and ``(nb, H, 4U)``
    recurrent weights (:func:`pack_gates`), each quantized on its own (:func:`quantize_rows`), and the
    bias in block order -> the int8 weights ``(nb, Qx + Qh, 4U, 4)`` and one float32 buffer: the bias
    ``(nb * 4U)``, then per block ``[x scales, h scales, x corrections, h corrections]`` ``(nb, 4, 4U)``
    (the corrections' int32 bits), the layout ``lstm_step_i8`` reads. ``wx=None``: no input part
    (greedy's first layer, whose inputs come from a table)."""
    qh, sh, ch = quantize_rows(wh)
    qx, sx, cx = quantize_rows(wx) if wx is not None else (qh[:, :0], torch.ones_like(sh), torch.zeros_like(ch))
    aux = torch.stack([sx, sh, cx.view(torch.float32), ch.view(torch.float32)], 1)
    return torch.cat([qx, qh], 1), torch.cat([bias.reshape(-1), aux.reshape(-1)])


def int8_layers(ws: list[Tensor], bs: list[Tensor], H: int) -> tuple[list[Tensor], list[Tensor]]:
    """:func:`pack_int8` over a stack: each packed ``(nb, K, 4U)`` weight's last ``H`` inputs are its
    recurrent part, the ones before (if any) its input part."""
    packed = [pack_int8(w[:, :-H] if w.shape[1] > H else None, w[:, -H:], b) for w, b in zip(ws, bs)]
    return [w for w, _ in packed], [b for _, b in packed]


def pack_head_int8(w: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`pack_rows`' head ``(Vp / 4U, H, 4U)`` and bias ``(Vp)`` -> int8 quads ``(Vp / 4U, Qh, 4U, 4)``
    and ``[bias; per block (scales, corrections)]`` (float32; the corrections' int32 bits)."""
    q, scale, corr = quantize_rows(w)
    return q, torch.cat([bias, torch.stack([scale, corr.view(torch.float32)], 1).reshape(-1)])


def pack_rows(w: Tensor, b: Tensor | None, width: int) -> tuple[Tensor, Tensor, int]:
    """A linear layer ``(V, K)`` -> ``(Vp // width, K, width)`` blocks of output rows (zero past V),
    its bias padded to ``Vp``, and ``Vp``."""
    V, K = w.shape
    Vp = padded(V, width)
    wp = torch.cat([w, w.new_zeros(Vp - V, K)]) if Vp > V else w
    bp = w.new_zeros(Vp)
    if b is not None:
        bp[:V] = b
    return wp.reshape(Vp // width, width, K).transpose(1, 2).contiguous(), bp, Vp


def _cell_bias(cell: Any) -> Tensor:
    w = cell.weight_hh
    return w.new_zeros(w.shape[0]) if cell.bias_ih is None else (cell.bias_ih + cell.bias_hh)


class _Packed:
    """Packed weights of an LSTM stack and the int64 table that describes it to the C++ side:
    ``[L, H, Hp, I0, then per layer K, weight address, bias address]``. Holds the tensors the table
    points into."""

    def __init__(self, weights: list[Tensor], biases: list[Tensor], H: int, Hp: int, I0: int,
                 inputs: list[int] | None = None) -> None:
        self.weights, self.biases, self.H, self.Hp, self.I0 = weights, biases, H, Hp, I0
        ks = [w.shape[1] for w in weights] if inputs is None else inputs  # K: each layer's inputs
        rows = [len(weights), H, Hp, I0]
        for w, b, k in zip(weights, biases, ks):
            rows += [k, w.data_ptr(), b.data_ptr()]
        self.meta = torch.tensor(rows, dtype=torch.int64)
        self.kmax = max(ks)
        self.nbytes = sum(w.numel() * w.element_size() for w in weights)
