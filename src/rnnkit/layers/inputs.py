"""Turn a batch's ``x`` into vectors a recurrent layer can read: embed token ids or project features."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class InputEncoder(nn.Module):
    """Token ids ``(B, T)`` -> embeddings, or float features ``(B, T, F)`` -> a linear projection.

    Args:
        num_features: F for float inputs (exclusive with ``vocab_size``).
        vocab_size: V for token-id inputs (id 0 is padding).
        embed_dim: the output size E. For features, ``embed_dim=None`` passes them through unchanged.
        dropout: applied to the output.

    Shape: ``(B, T)`` int64 or ``(B, T, F)`` float -> ``(B, T, E)``.
    """

    def __init__(self, *, num_features: int | None = None, vocab_size: int | None = None,
                 embed_dim: int | None = None, dropout: float = 0.0, padding_idx: int = 0) -> None:
        super().__init__()
        if (num_features is None) == (vocab_size is None):
            raise ValueError("give exactly one of num_features (float inputs) or vocab_size (token ids)")
        self.num_features, self.vocab_size = num_features, vocab_size
        self.embed: nn.Module
        if vocab_size is not None:
            if vocab_size < 1:
                raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
            if embed_dim is None:
                raise ValueError("token inputs need embed_dim")
            self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
            self.output_size = embed_dim
        else:
            assert num_features is not None
            if num_features < 1:
                raise ValueError(f"num_features must be >= 1, got {num_features}")
            self.embed = nn.Identity() if embed_dim is None else nn.Linear(num_features, embed_dim)
            self.output_size = num_features if embed_dim is None else embed_dim
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if self.vocab_size is not None:
            if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
                raise ValueError(f"this model reads token ids (int64), got a {x.dtype} tensor")
            if x.dim() != 2:
                raise ValueError(f"token ids must be (B, T), got shape {tuple(x.shape)}")
            # the range check reads the ids on the host: not while a CUDA graph is being captured
            # (decoding/graphs.py feeds back arg-max ids, in range by construction) nor traced
            if x.numel() and not _capturing(x) and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size):
                raise ValueError(f"token id out of range [0, {self.vocab_size}): min {int(x.min())}, "
                                 f"max {int(x.max())}; was the data encoded with another vocabulary?")
        else:
            check_features(x, self.num_features)
        return self.dropout(self.embed(x))


def check_features(x: Tensor, num_features: int | None) -> None:
    """Float features ``(B, T, num_features)``, or a ValueError that names what came instead."""
    if not x.is_floating_point():
        raise ValueError(f"this model reads float features, got a {x.dtype} tensor")
    if x.dim() != 3 or x.shape[-1] != num_features:
        raise ValueError(f"features must be (B, T, {num_features}), got {tuple(x.shape)}")


def _capturing(x: Tensor) -> bool:
    """Whether reading ``x`` on the host is not allowed: while the current CUDA stream captures a
    graph, or while torch.export / torch.compile trace (the ids are symbolic there)."""
    return torch.compiler.is_compiling() or (x.is_cuda and torch.cuda.is_current_stream_capturing())
