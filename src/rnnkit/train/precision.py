"""The precision a run trains in: ``"fp32"``, ``"bf16"`` (mixed precision under ``torch.autocast``), or
``"auto"``, which becomes ``"bf16"`` only where the device multiplies bfloat16 in hardware.

Example:
    >>> resolve_precision("auto", "cuda")   # an A100 or H100: "bf16"; a T4 (emulated bfloat16): "fp32"
    'bf16'
"""

from __future__ import annotations

import torch

from rnnkit.ops import cpu_kernels


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The precision a run on ``device`` trains in: ``"auto"`` becomes ``"bf16"`` where the device
    multiplies bfloat16 in hardware (CUDA: compute capability 8.0+, not emulation; CPU: AVX512-BF16 or
    AMX, :func:`rnnkit.ops.cpu_kernels.bf16_instructions`) and ``"fp32"`` elsewhere; ``"fp32"`` and
    ``"bf16"`` stay as they are."""
    if precision != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_available() and _cuda_bf16_native() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_kernels.bf16_instructions() else "fp32"
    return "fp32"


def _cuda_bf16_native() -> bool:
    """Whether the GPU computes bfloat16 natively (compute capability 8.0+), not by emulation: torch's
    ``is_bf16_supported()`` also says yes for emulated bfloat16 (Turing, Volta), which is slow."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # an older torch without the argument
        return bool(torch.cuda.is_bf16_supported())
