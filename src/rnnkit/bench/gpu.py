"""``rnnkit bench speed --gpu``: the fused Triton recurrent kernels against cuDNN (issue 7).

Forward + backward of one layer at T=100, I=H=512 (and the persistent kernel at H=64), batch 1, 8,
64 and 256, float32 and bfloat16: cuDNN's plain LSTM (``nn.LSTM``), rnnkit's layer-norm LSTM and
recurrent-dropout LSTM (``auto``: the Triton kernels), a GRU through ``triton-fused`` against cuDNN's
GRU, and the Python loop. Each row is timed with CUDA events, its contenders interleaved, and
reported as medians; the ratio is to the row's cuDNN baseline. Goal (issue 7): layer-norm and
recurrent-dropout LSTM at most 1.2x cuDNN's plain LSTM at B=64 — both eager, measured the same way.
The table goes to the ``bench:gpu`` section of ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
BATCHES = (1, 8, 64, 256)


def contenders(size: int, dtype: Any, persistent: bool = False) -> list[tuple[str, str, Callable[[], Any]]]:
    """(label, baseline label, factory) per row; a factory builds the training-mode module.
    ``persistent``: the rows for a hidden size the persistent kernel holds on chip."""
    import torch

    from rnnkit import Recurrent

    def rk(cell: str, backend: str = "auto", **opts: Any) -> Callable[[], Any]:
        def make() -> Any:
            layer = Recurrent(cell, size, size, **opts).cuda().to(dtype).train()
            layer.backend = backend  # after .cuda(): a Triton backend declines a CPU layer
            return layer
        return make

    lstm = lambda: torch.nn.LSTM(size, size, batch_first=True).cuda().to(dtype)  # noqa: E731
    gru = lambda: torch.nn.GRU(size, size, batch_first=True).cuda().to(dtype)  # noqa: E731
    if persistent:
        return [
            ("nn.LSTM (cuDNN)", "nn.LSTM (cuDNN)", lstm),
            ("LSTM, triton-persistent", "nn.LSTM (cuDNN)", rk("lstm", "triton-persistent")),
            ("layer-norm LSTM", "nn.LSTM (cuDNN)", rk("lstm", layer_norm=True)),
            ("layer-norm LSTM, Python loop", "nn.LSTM (cuDNN)", rk("lstm", "loop", layer_norm=True)),
        ]
    return [
        ("nn.LSTM (cuDNN)", "nn.LSTM (cuDNN)", lstm),
        ("layer-norm LSTM", "nn.LSTM (cuDNN)", rk("lstm", layer_norm=True)),
        ("recurrent-dropout LSTM (0.25)", "nn.LSTM (cuDNN)", rk("lstm", recurrent_dropout=0.25)),
        ("layer-norm LSTM, Python loop", "nn.LSTM (cuDNN)", rk("lstm", "loop", layer_norm=True)),
        ("nn.GRU (cuDNN)", "nn.GRU (cuDNN)", gru),
        ("GRU, triton-fused", "nn.GRU (cuDNN)", rk("gru", "triton-fused")),
    ]


def _timer(module: Any, x: Any) -> Callable[[], float]:
    import torch

    def once() -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        module.zero_grad(set_to_none=True)
        start.record()
        module(x)[0].float().sum().backward()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end)
    return once


def measure(size: int, dtype: Any, batch: int, steps: int, repeats: int, warmup: int,
            persistent: bool = False) -> list[Row]:
    """One batch size: every contender, interleaved, medians in ms."""
    import torch

    from rnnkit import Recurrent

    torch.manual_seed(0)
    x = torch.randn(batch, steps, size, device="cuda", dtype=dtype)
    rows = contenders(size, dtype, persistent)
    modules = [(label, base, make()) for label, base, make in rows]
    timers = [_timer(m, x) for _, _, m in modules]
    for t in timers:
        for _ in range(warmup):  # includes Triton's compile on the first call
            t()
    times: list[list[float]] = [[] for _ in timers]
    for _ in range(repeats):
        for i, t in enumerate(timers):
            times[i].append(t())
    med = {label: statistics.median(ts) for (label, _, _), ts in zip(modules, times)}
    out = []
    for label, base, m in modules:
        backend = m.backend if isinstance(m, Recurrent) else "cudnn"
        out.append({"size": size, "dtype": str(dtype).replace("torch.", ""), "batch": batch, "steps": steps,
                    "contender": label, "backend": backend, "ms": round(med[label], 3),
                    "per_step_us": round(med[label] * 1e3 / steps, 1), "ratio": round(med[label] / med[base], 2),
                    "baseline": base})
    return out


def run_gpu(repeats: int = 10, quick: bool = False,
            on_rows: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Every row; ``quick`` runs B=8 and 64 at H=128, T=20 (checks that the bench runs).
    ``on_rows(report)`` is called after each batch size with the rows so far (to save them as they come)."""
    import torch

    from rnnkit.bench import machine_info

    if not torch.cuda.is_available():
        raise RuntimeError("rnnkit bench speed --gpu needs a CUDA device; none is visible")
    steps, size, batches = (20, 128, (8, 64)) if quick else (100, 512, BATCHES)
    warmup = 2 if quick else 3
    rows: list[Row] = []
    settings = {"repeats": repeats, "warmup": warmup, "quick": quick, "steps": steps,
                "tf32": torch.backends.cuda.matmul.allow_tf32}
    report = {"machine": machine_info(), "settings": settings, "rows": rows}
    plan = [(size, dtype, batch, False) for dtype in (torch.float32, torch.bfloat16) for batch in batches]
    plan += [(64, dtype, batch, True) for dtype in (torch.float32, torch.bfloat16) for batch in batches[:2]]
    for size_, dtype, batch, persistent in plan:
        rows += measure(size_, dtype, batch, steps, repeats, warmup, persistent=persistent)
        if on_rows is not None:
            on_rows(report)
    return report


def to_markdown(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    lines = ["## Speed on the GPU: fused recurrent kernels against cuDNN (issue 7)", ""]
    if s["quick"]:
        lines += ["**`--quick` run: shrunken sizes to check the bench works; not a measurement.**", ""]
    lines += [f"Device: {m['gpu']}; torch {m['torch']}; {m['date']}. Forward + backward of one layer in "
              f"training mode, T={s['steps']}, CUDA events, median of {s['repeats']} interleaved runs after "
              f"{s['warmup']} warm-up runs (Triton compiles in the first). Command: `rnnkit bench speed --gpu`.",
              "Ratio: to the row's cuDNN baseline (plain LSTM or GRU). Goal: layer-norm and recurrent-dropout "
              "LSTM at most 1.2x cuDNN's plain LSTM at B=64, I=H=512.", "",
              "| I=H | dtype | B | contender | backend | ms | µs/step | ratio |",
              "|---:|---|---:|---|---|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['size']} | {r['dtype']} | {r['batch']} | {r['contender']} | {r['backend']} | "
                     f"{r['ms']:.2f} | {r['per_step_us']:.1f} | {r['ratio']:.2f}x |")
    return "\n".join(lines)


def run(args: Any) -> int:
    """The ``--gpu`` branch of ``rnnkit bench speed`` (reads ``repeats``, ``quick``, ``json``, ``output``)."""
    import json

    import torch

    from rnnkit.bench import write_section

    if not torch.cuda.is_available():
        print("rnnkit bench speed --gpu needs a CUDA device and none is visible; docs/BENCHMARKS.md is unchanged "
              "(on a GPU machine: bash benchmarks/gpu_speed.sh)")
        return 2
    report = run_gpu(max(args.repeats, 5), args.quick)
    text = to_markdown(report)
    if args.output:
        write_section(args.output, "gpu", text)
    print(json.dumps(report, indent=2) if args.json else text)
    return 0



def main(argv: list[str] | None = None) -> int:
    """``python -m rnnkit.bench.gpu --from-json REPORT [--output FILE]``: write the ``bench:gpu``
    section from a report saved on a GPU machine (``benchmarks/gpu_speed.sh`` saves one)."""
    import argparse
    import json

    from rnnkit.bench import write_section

    parser = argparse.ArgumentParser(prog="python -m rnnkit.bench.gpu",
                                     description="write a saved GPU speed report into docs/BENCHMARKS.md")
    parser.add_argument("--from-json", required=True, metavar="REPORT")
    parser.add_argument("--output", default="docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    with open(args.from_json, encoding="utf-8") as f:
        report = json.load(f)
    if not report["rows"]:
        print(f"{args.from_json} holds no rows; {args.output} is unchanged")
        return 1
    write_section(args.output, "gpu", to_markdown(report))
    print(f"wrote the gpu section ({len(report['rows'])} rows) into {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
