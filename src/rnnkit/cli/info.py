"""``rnnkit info``: versions, device, and which backend each cell runs on here."""

from __future__ import annotations

import argparse
import platform


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, device, and the backend each cell uses here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    import rnnkit
    from rnnkit.bench import machine_info
    from rnnkit.ops import cpu_kernels
    from rnnkit.train import resolve_precision

    console = Console()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else str(machine_info()["cpu"])
    console.print(f"rnnkit {rnnkit.__version__}  torch {torch.__version__}  python {platform.python_version()}")
    console.print(f"device: {device} ({name}), {torch.get_num_threads()} threads")
    auto = resolve_precision("auto", device)
    if device.type == "cpu":
        why = {True: "the CPU has AVX512-BF16 or AMX-BF16", False: "the CPU lacks AVX512-BF16 and AMX-BF16",
               None: "the CPU's flags are unknown"}[cpu_kernels.bf16_instructions()]
    else:
        why = f"the GPU {'computes' if auto == 'bf16' else 'lacks'} native bfloat16"
    console.print(f"precision='auto' trains in {auto} here ({why})")
    table = Table(title="cells and their backend here (1 layer, hidden 64)")
    for col in ("cell", "backend", "why"):
        table.add_column(col)
    configs: list[tuple[str, dict]] = [(c, {}) for c in ("rnn", "lstm", "gru", "mingru", "minlstm")]
    configs.append(("lstm", {"layer_norm": True}))
    for cell, options in configs:
        label = cell + "".join(f" {k}" for k in options)
        try:
            layer = rnnkit.Recurrent(cell, 8, 64, **options).to(device)
            table.add_row(label, layer.backend, layer.explain())
        except ValueError as e:
            table.add_row(label, "-", str(e))
    console.print(table)
    return 0
