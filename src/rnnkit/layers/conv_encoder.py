"""A small CNN that turns an image into one vector: the condition of a captioner, or a FeedForward trunk."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class ConvEncoder(nn.Module):
    """Conv-BN-ReLU-MaxPool blocks, global average pooling, then a linear layer.

    Each block halves the spatial size (``MaxPool2d(2)``) while it is at least 2 pixels, so
    small images (8x8 digits, 28x28 MNIST) and larger ones both work; global average pooling makes
    the output size independent of ``H`` and ``W``.

    Args:
        in_channels: C of the input images.
        output_size: size of the output vector.
        channels: output channels of each conv block.
        dropout: applied before the final linear layer.

    Shape: ``(B, C, H, W)`` float -> ``(B, output_size)``.

    Example:
        >>> enc = ConvEncoder(1, 32)
        >>> enc(torch.randn(4, 1, 8, 8)).shape
        torch.Size([4, 32])
    """

    def __init__(self, in_channels: int, output_size: int, *, channels: Sequence[int] = (16, 32),
                 dropout: float = 0.0) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if output_size < 1:
            raise ValueError(f"output_size must be >= 1, got {output_size}")
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty list of positive sizes, got {list(channels)}")
        self.in_channels, self.output_size = in_channels, output_size
        self.blocks = nn.ModuleList()
        prev = in_channels
        for c in channels:
            self.blocks.append(nn.Sequential(
                nn.Conv2d(prev, c, kernel_size=3, padding=1),
                nn.BatchNorm2d(c),
                nn.ReLU(),
            ))
            prev = c
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(prev, output_size)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B, {self.in_channels}, H, W) float, got {tuple(images.shape)}")
        if not images.is_floating_point():
            raise ValueError(f"images must be float, got {images.dtype}; convert with .float() / 255")
        h = images
        for block in self.blocks:
            h = block(h)
            if min(h.shape[-2:]) >= 2:
                h = self.pool(h)
        h = h.mean(dim=(-2, -1))  # (B, channels[-1])
        return self.proj(self.dropout(h))  # (B, output_size)
