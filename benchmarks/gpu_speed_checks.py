"""GPU-only checks of issue 7 at I=H=512 (and H=64 for the persistent kernel): triton-fused and
triton-persistent against the loop, float32 and bfloat16, and what "auto" picks. Run by
benchmarks/gpu_speed.sh; needs a CUDA device.
"""

import sys
import traceback

import torch

from rnnkit import Recurrent

torch.backends.cuda.matmul.allow_tf32 = False


def run(layer: Recurrent, x: torch.Tensor, lengths: torch.Tensor, dtype: torch.dtype,
        backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and the first layer's recurrent weight gradient, through ``backend`` in ``dtype``."""
    layer.to(dtype)
    layer.backend = backend
    layer.zero_grad()
    out, _ = layer(x.to(dtype), lengths)
    out.float().square().sum().backward()
    return out.float(), layer.cells[0].weight_hh.grad.float().clone()


def against_the_loop(cell: str, H: int, backend: str) -> None:
    torch.manual_seed(0)
    layer = Recurrent(cell, H, H, layer_norm=True, num_layers=2, bidirectional=True).cuda().eval()
    x = torch.randn(8, 100, H, device="cuda")
    lengths = torch.tensor([100, 57, 1, 99, 100, 3, 80, 64])
    ref = run(layer, x, lengths, torch.float32, "loop")
    for dtype in (torch.float32, torch.bfloat16):
        errs = {}
        for b in (backend, "loop"):
            out, grad = run(layer, x, lengths, dtype, b)
            errs[b] = ((out - ref[0]).abs().max().item(), ((grad - ref[1]).abs().max() / ref[1].abs().max()).item())
        print(f"{cell} H={H} {dtype}: {backend} (out, rel grad) error vs the float32 loop "
              f"{errs[backend][0]:.1e}, {errs[backend][1]:.1e}; the {dtype} loop's {errs['loop'][0]:.1e}, "
              f"{errs['loop'][1]:.1e}")
        if dtype == torch.float32:
            assert max(errs[backend]) < 2e-4, (cell, H)
        else:  # float32 state: no worse than the bf16 loop (with some slack)
            assert errs[backend][0] <= max(2e-2, 1.5 * errs["loop"][0]), (cell, H)


def lstm_variants(H: int, backend: str) -> None:
    """Where an LSTM's error against the loop comes from (float32; printed, not asserted): the first
    GPU run found 3.7e-4 for a 2-layer bidirectional layer-norm LSTM, against 2e-6 for GRU and RNN."""
    for opts in (dict(), dict(layer_norm=True), dict(recurrent_dropout=0.25), dict(layer_norm=True, num_layers=2),
                 dict(layer_norm=True, bidirectional=True)):
        torch.manual_seed(0)
        layer = Recurrent("lstm", H, H, **opts).cuda().eval()
        x = torch.randn(8, 100, H, device="cuda")
        lengths = torch.tensor([100, 57, 1, 99, 100, 3, 80, 64])
        ref = run(layer, x, lengths, torch.float32, "loop")
        try:
            out, grad = run(layer, x, lengths, torch.float32, backend)
        except Exception as e:
            print(f"lstm H={H} {opts} {backend}: {type(e).__name__}: {e}")
            continue
        rel = ((grad - ref[1]).abs().max() / ref[1].abs().max()).item()
        print(f"lstm H={H} {opts} {backend}: out error {(out - ref[0]).abs().max().item():.1e}, rel grad "
              f"error {rel:.1e}, |out| max {ref[0].abs().max().item():.2f}")


failed = []
for H, backend in ((512, "triton-fused"), (64, "triton-persistent")):
    try:
        lstm_variants(H, backend)
    except Exception:
        traceback.print_exc()
for cell, H, backend in [("lstm", 512, "triton-fused"), ("gru", 512, "triton-fused"), ("rnn", 512, "triton-fused"),
                         ("lstm", 64, "triton-persistent"), ("gru", 64, "triton-persistent")]:
    try:
        against_the_loop(cell, H, backend)
    except Exception:
        failed.append(f"{cell} H={H} {backend}")
        traceback.print_exc()
for opts in [dict(layer_norm=True), dict(recurrent_dropout=0.25), dict(zoneout=0.1), {}]:
    for H in (64, 512, 4096):
        layer = Recurrent("lstm", 32, H, **opts).cuda().train()
        print(f"lstm H={H} {opts}: {layer.explain()}")
print(f"checks failed: {', '.join(failed)}" if failed else "all checks passed")
sys.exit(1 if failed else 0)
