"""A small CNN that turns an image into one vector: the condition of a captioner, or a FeedForward trunk."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class ConvEncoder(nn.Module):
    """Conv-BN-ReLU-MaxPool blocks, global average pooling, then a linear layer.

    Each block halves the spatial size (``MaxPool2d(2)``) while it is at least 2 pixels, so
    small images (8x8 digits, 28x28 MNIST) and larger ones both work; global average pooling makes
    the output size independent of ``H`` and ``W``. Averaging forgets *where* a feature was, which
    a caption of digits read left to right needs: with ``image_size`` the final grid is flattened
    instead (the linear layer sees every position), for images of exactly that size.

    Args:
        in_channels: C of the input images.
        output_size: size of the output vector.
        channels: output channels of each conv block.
        dropout: applied before the final linear layer.
        image_size: ``(H, W)`` of the inputs: keep positions (flatten the final grid) instead of
            global average pooling.
        shift: training-time augmentation: each image moves by a random whole number of pixels in
            ``-shift..shift`` along each axis (zeros fill what it leaves). Off in eval mode.
        scale: training-time augmentation: each image's intensities are multiplied by a random factor
            in ``[1 - scale, 1 + scale]``. Off in eval mode.

    Shape: ``(B, C, H, W)`` float -> ``(B, output_size)``.

    Example:
        >>> enc = ConvEncoder(1, 32)
        >>> enc(torch.randn(4, 1, 8, 8)).shape
        torch.Size([4, 32])
    """

    def __init__(self, in_channels: int, output_size: int, *, channels: Sequence[int] = (16, 32),
                 dropout: float = 0.0, image_size: Sequence[int] | None = None, shift: int = 0,
                 scale: float = 0.0) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if output_size < 1:
            raise ValueError(f"output_size must be >= 1, got {output_size}")
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty list of positive sizes, got {list(channels)}")
        if shift < 0 or not 0.0 <= scale < 1.0:
            raise ValueError(f"need shift >= 0 and 0 <= scale < 1, got shift {shift}, scale {scale}")
        self.in_channels, self.output_size = in_channels, output_size
        self.shift, self.scale = int(shift), float(scale)
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
        self.image_size: tuple[int, int] | None = None
        cells = 1
        if image_size is not None:
            H, W = (int(n) for n in image_size)
            if H < 1 or W < 1:
                raise ValueError(f"image_size must be (H, W) of positive sizes, got {tuple(image_size)}")
            self.image_size = (H, W)
            for _ in channels:
                if min(H, W) >= 2:
                    H, W = H // 2, W // 2
            cells = H * W
        self.proj = nn.Linear(prev * cells, output_size)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B, {self.in_channels}, H, W) float, got {tuple(images.shape)}")
        if self.image_size is not None and tuple(images.shape[-2:]) != self.image_size:
            raise ValueError(f"this encoder keeps positions of {self.image_size} images, "
                             f"got {tuple(images.shape[-2:])}")
        if not images.is_floating_point():
            raise ValueError(f"images must be float, got {images.dtype}; convert with .float() / 255")
        h = self.augment(images) if self.training else images
        for block in self.blocks:
            h = block(h)
            if min(h.shape[-2:]) >= 2:
                h = self.pool(h)
        h = h.mean(dim=(-2, -1)) if self.image_size is None else h.flatten(1)  # (B, C) or (B, C*h*w)
        return self.proj(self.dropout(h))  # (B, output_size)

    def augment(self, images: Tensor) -> Tensor:
        """The training-time random shift and intensity scaling of ``(B, C, H, W)`` images (a new tensor
        when either is on; ``images`` itself when both are off)."""
        B, _, H, W = images.shape
        if self.shift > 0:
            s = self.shift
            padded = nn.functional.pad(images, (s, s, s, s))  # (B, C, H + 2s, W + 2s)
            dy, dx = (torch.randint(0, 2 * s + 1, (B, 1), device=images.device) for _ in range(2))
            rows = torch.arange(H, device=images.device) + dy  # (B, H)
            cols = torch.arange(W, device=images.device) + dx  # (B, W)
            batch = torch.arange(B, device=images.device).view(B, 1, 1)
            images = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        if self.scale > 0:
            factor = 1.0 + (torch.rand(B, 1, 1, 1, device=images.device, dtype=images.dtype) * 2 - 1) * self.scale
            images = images * factor
        return images
