"""The fully convolutional branch of LSTM-FCN / MLSTM-FCN: padding-aware Conv1d blocks pooled over time.

FCN (Wang et al. 2017, "Time series classification from scratch with deep neural networks") stacks
Conv1d-BatchNorm-ReLU blocks (128-256-128 filters, kernels 8-5-3) and averages over time. LSTM-FCN
(Karim et al. 2018) concatenates that vector with a recurrent branch's; MLSTM-FCN (Karim et al.
2019) adds squeeze-and-excitation (Hu et al. 2018) after the first two blocks.

Padding never changes a sequence's vector: every block sees zeros past each sequence's length (as a
"same" convolution of the sequence alone does), batch statistics in training read valid steps only,
squeeze-and-excitation and the final global average read valid steps only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.data.batch import lengths_to_mask


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` over ``(B, C, T)`` whose training statistics read only the valid steps.

    Same parameters, buffers and ``state_dict`` keys as ``nn.BatchNorm1d``; with ``mask=None`` or in
    eval mode it is exactly ``nn.BatchNorm1d``.

    Shape: ``x`` ``(B, C, T)``, ``mask`` ``(B, 1, T)`` (1.0 on valid steps) or None -> ``(B, C, T)``.
    """

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if mask is None or not self.training:
            return super().forward(x)
        count = mask.sum().clamp(min=1.0)
        mean = (x * mask).sum((0, 2)) / count  # (C,)
        var = (((x - mean[:, None]) ** 2) * mask).sum((0, 2)) / count  # (C,) biased, as BatchNorm normalises
        tracked = self.num_batches_tracked
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None \
                and tracked is not None:
            with torch.no_grad():
                tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(tracked)
                unbiased = var * count / (count - 1).clamp(min=1.0)
                self.running_mean.lerp_(mean, factor)
                self.running_var.lerp_(unbiased, factor)
        out = (x - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps)
        if self.affine:
            out = out * self.weight[:, None] + self.bias[:, None]
        return out


class SqueezeExcitation(nn.Module):
    """Channel gates from the masked time average: ``h * sigmoid(W2 relu(W1 mean_t h))`` (Hu et al. 2018).

    Shape: ``h`` ``(B, C, T)``, ``mask`` ``(B, 1, T)`` -> ``(B, C, T)``.
    """

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Linear(channels, hidden)
        self.excite = nn.Linear(hidden, channels)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        mean = (h * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)  # (B, C)
        gate = torch.sigmoid(self.excite(torch.relu(self.squeeze(mean))))  # (B, C)
        return h * gate.unsqueeze(-1)


class FCN(nn.Module):
    """Conv1d-BatchNorm-ReLU blocks over a padded sequence, then a masked global average over time.

    Args:
        input_size: F, the features of each step.
        channels: output channels of each block (LSTM-FCN: ``(128, 256, 128)``).
        kernel_sizes: one odd or even kernel size per block (LSTM-FCN: ``(8, 5, 3)``); "same"
            padding keeps the length (an even kernel sees one more step to the right).
        squeeze_excitation: reduction ratio of a squeeze-and-excitation gate after every block but
            the last (MLSTM-FCN: 16); 0 for none.

    Shape: ``x`` ``(B, T, F)``, ``lengths`` ``(B,)`` or None -> ``(B, channels[-1])``.

    Example:
        >>> fcn = FCN(3, channels=(16, 32, 16), kernel_sizes=(8, 5, 3))
        >>> fcn(torch.randn(4, 20, 3), torch.tensor([20, 9, 3, 1])).shape
        torch.Size([4, 16])
    """

    def __init__(self, input_size: int, *, channels: Sequence[int] = (128, 256, 128),
                 kernel_sizes: Sequence[int] = (8, 5, 3), squeeze_excitation: int = 0) -> None:
        super().__init__()
        if input_size < 1:
            raise ValueError(f"input_size must be >= 1, got {input_size}")
        if not channels or any(int(c) < 1 for c in channels):
            raise ValueError(f"conv channels must be a non-empty list of positive sizes, got {list(channels)}")
        if len(kernel_sizes) != len(channels) or any(int(k) < 1 for k in kernel_sizes):
            raise ValueError(f"give one positive kernel size per conv block: {len(channels)} blocks "
                             f"({list(channels)}), got kernel sizes {list(kernel_sizes)}")
        if squeeze_excitation < 0:
            raise ValueError(f"squeeze_excitation is a reduction ratio >= 1 (0: off), got {squeeze_excitation}")
        self.input_size, self.output_size = input_size, int(channels[-1])
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.pads: list[tuple[int, int]] = []
        prev = input_size
        for i, (c, k) in enumerate(zip(channels, kernel_sizes)):
            self.convs.append(nn.Conv1d(prev, int(c), int(k)))
            self.pads.append(((int(k) - 1) // 2, int(k) // 2))  # "same"; padded by hand, as torch warns for even k
            self.norms.append(MaskedBatchNorm1d(int(c)))
            last = i == len(channels) - 1
            self.gates.append(nn.Identity() if last or not squeeze_excitation
                              else SqueezeExcitation(int(c), squeeze_excitation))
            prev = int(c)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        B, T, _ = x.shape
        if lengths is None:
            mask = torch.ones(B, 1, T, dtype=x.dtype, device=x.device)
        else:
            mask = lengths_to_mask(lengths.to(x.device), T).unsqueeze(1).to(x.dtype)  # (B, 1, T)
        h = x.transpose(1, 2) * mask  # (B, F, T), zeros past each length
        norm_mask = None if lengths is None else mask  # no padding: plain BatchNorm statistics
        for conv, norm, gate, pad in zip(self.convs, self.norms, self.gates, self.pads):
            h = torch.relu(norm(conv(F.pad(h, pad)), norm_mask)) * mask  # (B, C, T)
            if isinstance(gate, SqueezeExcitation):
                h = gate(h, mask)
        return (h * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)  # (B, C)
