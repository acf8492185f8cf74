"""Tilings of the fused scan (ops/triton_scan.py) against accelerated-scan, in one process:
B=16, C=512, T=4096, fp32, forward+backward of ``scan(a, b).sum()``, CUDA events, mean of 20 calls.

    python benchmarks/gpu_scan_sweep.py [BEST_FILE] [--segments-only]

Run by benchmarks/gpu_long_stream.sh to confirm or retune ``scan_config``; writes the fastest tiling
as ``chunk,bh,num_warps,num_stages,segment`` (the form of ``RNNKIT_SCAN_CONFIG``) to BEST_FILE. Two
stages: 45 tilings with one program per sequence and channel block, then the three fastest of them
and three wider tilings cut into segments along time (two passes, more programs). ``--segments-only``
skips the first stage and cuts the current default instead (about a minute). Needs a CUDA device.
"""

import sys
from collections.abc import Callable

import torch

import rnnkit.ops.triton_scan as ts
from rnnkit.bench.long_stream import accelerated_scan_contenders


def ms(fn: Callable[[], None], calls: int = 20) -> float:
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / calls


default = ts.scan_config
a = torch.rand(16, 4096, 512, device="cuda", requires_grad=True)
b = torch.rand(16, 4096, 512, device="cuda", requires_grad=True)
print(f"scan_config now: {default(512, 4096)}")
acc, notes = accelerated_scan_contenders(a, b)
for name, fn in acc.items():
    print(f"{name}: {ms(fn):.3f} ms")
for name, note in notes.items():
    print(f"{name}: {note}")
results: dict[ts.ScanConfig, float] = {}


def time_config(cfg: ts.ScanConfig) -> None:
    ts.scan_config = lambda H, T, c=cfg: c
    try:
        results[cfg] = ms(lambda: ts.triton_linear_scan(a, b)[0].sum().backward())
    except Exception as e:  # e.g. out of shared memory for deep pipelines
        print(f"{tuple(cfg)}: failed: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
        return
    print(f"CHUNK={cfg.chunk:4d} BH={cfg.bh:3d} warps={cfg.num_warps} stages={cfg.num_stages} "
          f"segment={cfg.segment:5d}: {results[cfg]:.3f} ms", flush=True)


args = [v for v in sys.argv[1:] if v != "--segments-only"]
if "--segments-only" in sys.argv:
    time_config(default(512, 4096))
else:
    for chunk, bh in [(64, 16), (64, 8), (128, 16), (128, 8), (32, 16)]:
        for warps in (2, 4, 8):
            for stages in (1, 2, 3):
                time_config(ts.ScanConfig(chunk, bh, warps, stages))
top = sorted(results, key=results.get)[:3]
wider = [ts.ScanConfig(32, 32, 4, 3), ts.ScanConfig(64, 32, 4, 2), ts.ScanConfig(64, 64, 4, 2)]
for cfg in top + wider:
    for segment in (128, 256, 512, 1024):
        time_config(cfg._replace(segment=segment))
for name, fn in acc.items():  # again at the end: the GPU's clocks may have moved
    print(f"{name}: {ms(fn):.3f} ms (again)")
ts.scan_config = default
best = min(results, key=results.get)
print(f"fastest: {tuple(best)} {results[best]:.3f} ms")
if args:
    with open(args[0], "w") as f:
        f.write(",".join(map(str, best)))
