"""``rnnkit bench speed --long --stream``: long sequences and streaming (issue 8).

``--long``: minGRU forward+backward (``auto``: the fused Triton scan on CUDA, the float64 log-space
scan on the CPU) against the GRU of torch (cuDNN / oneDNN) at T = 4,096 and 16,384, and the scan
alone — ``ops/triton_scan.py`` against ``ops/scan.py`` and ``accelerated-scan`` when installed.
``--stream``: one LSTM step at batch 1 (``nn.LSTMCell``, ``torch.lstm_cell``, ``Recurrent.step``,
the fast step of ``ops/fast_step.py`` and the C++ step of ``ops/cpu_stream.py`` it calls), greedy
generation of 1,000 characters from a 2-layer H=256 LSTM language model against a loop over
``nn.LSTMCell``, and on CUDA greedy µs per token, eager against graph-replayed (``decoding/graphs.py``).

Every comparison runs its contenders interleaved in one process and reports medians, so a loaded
machine slows both sides alike. Results go to the ``bench:long`` section of ``docs/BENCHMARKS.md``.
The measurements are in ``bench/long_stream_rows.py`` (their names importable here too); this module
runs them per device and thread count, and renders and writes the report.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from rnnkit.bench.long_stream_rows import Row as Row
from rnnkit.bench.long_stream_rows import _forward_backward as _forward_backward
from rnnkit.bench.long_stream_rows import _rows as _rows
from rnnkit.bench.long_stream_rows import accelerated_scan_contenders as accelerated_scan_contenders
from rnnkit.bench.long_stream_rows import cuda_step_rows as cuda_step_rows
from rnnkit.bench.long_stream_rows import generation_rows as generation_rows
from rnnkit.bench.long_stream_rows import interleaved as interleaved
from rnnkit.bench.long_stream_rows import long_rows as long_rows
from rnnkit.bench.long_stream_rows import step_rows as step_rows
from rnnkit.bench.timing import timed_rounds as timed_rounds


def thread_counts() -> list[int]:
    """1 and torch's default: at batch 1 a second thread's fork-join can cost more than it saves."""
    import torch

    return sorted({1, torch.get_num_threads()})


def with_threads(n: int, fn: Callable[[], list[Row]]) -> list[Row]:
    """``fn()`` with ``torch.set_num_threads(n)``, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def run_long_stream(*, long: bool, stream: bool, repeats: int = 5, quick: bool = False,
                    devices: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The rows asked for, on each of ``devices`` (default: the CPU, and CUDA when available).

    Every row carries its ``device``: the CPU rows go to the ``bench:long`` section, the CUDA rows to
    ``bench:long-gpu``, each under its own machine line."""
    import torch

    from rnnkit.bench import machine_info

    if devices is None:
        devices = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    if "cuda" in devices and not torch.cuda.is_available():
        raise RuntimeError("CUDA rows asked for, and no CUDA device is visible")
    rows: list[Row] = []

    def tagged(device: str, new: list[Row]) -> list[Row]:
        return [dict(r, device=device) for r in new]

    if "cpu" in devices:
        if long:
            rows += tagged("cpu", long_rows("cpu", repeats, quick))
        if stream:
            for n in thread_counts():
                rows += tagged("cpu", with_threads(n, lambda: step_rows(repeats, quick)
                                                   + generation_rows("cpu", repeats, quick)))
    if "cuda" in devices:
        if long:
            rows += tagged("cuda", long_rows("cuda", repeats, quick))
        if stream:
            rows += tagged("cuda", cuda_step_rows(repeats, quick) + generation_rows("cuda", repeats, quick))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"machine": machine_info(), "settings": {"repeats": repeats, "quick": quick, "devices": list(devices),
                                                    "load": load, "long": long, "stream": stream}, "rows": rows}


def to_markdown(report: dict[str, Any], *, device: str = "cpu", note: str = "") -> str | None:
    """The ``bench:long`` section (``device="cpu"``) or ``bench:long-gpu`` (``"cuda"``) of
    docs/BENCHMARKS.md; None when the report holds no row of that device."""
    m, s = report["machine"], report["settings"]
    rows = [r for r in report["rows"] if r.get("device", "cpu") == device]
    if not rows:
        return None
    gpu = device == "cuda"
    title = "Speed II on the GPU: fused scan and graph-replayed decoding" if gpu else \
        "Speed II: long sequences and streaming"
    lines = [f"## {title}", ""]
    if s["quick"]:
        lines += ["**`--quick` run: shrunken sizes to check the bench works; not a measurement.**", ""]
    load = f", load average {s['load']:.1f} while measuring" if s.get("load") is not None else ""
    where = (f"Device: {m['gpu']} (host: {m['cpu']}, {m['cores']} cores)" if gpu else
             f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads{load}), GPU: {m['gpu']}")
    lines += [f"{where}; torch {m['torch']}; {m['date']}. Medians of {s['repeats']} interleaved rounds "
              "(contenders take turns, so load slows them alike; ratios hold better than absolute times). "
              f"Command: `{command_line(s)}`." + (f" {note}" if note else ""), ""]
    if not gpu:
        lines += ["The GPU rows are in the next section.", ""]
    lines += ["| measurement | configuration | contender | time | speed-up vs first |",
              "|---|---|---|---:|---:|"]
    for r in rows:
        value = r.get("note", "—") if r["value"] is None else f"{r['value']:.3g} {r['unit']}"
        speedup = "" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        lines.append(f"| {r['what']} | {r['config']} | {r['contender']} | {value} | {speedup} |")
    return "\n".join(lines)


def add_flags(parser: argparse.ArgumentParser) -> None:
    """``--long`` and ``--stream`` for ``rnnkit bench speed``."""
    parser.add_argument("--long", action="store_true",
                        help="minGRU vs GRU over long sequences (T=1,024 and 4,096 on the CPU, 4,096 and 16,384 on a "
                             "GPU); the scan kernels")
    parser.add_argument("--stream", action="store_true", help="single-step latency and greedy generation speed")


def run_flags(args: argparse.Namespace) -> dict[str, Any] | None:
    """Run and write the ``bench:long`` section when ``--long`` or ``--stream`` was given."""
    if not (getattr(args, "long", False) or getattr(args, "stream", False)):
        return None
    import json

    from rnnkit.bench import write_section

    report = run_long_stream(long=args.long, stream=args.stream, repeats=args.repeats, quick=args.quick)
    # no CUDA here: no long-gpu section, and the docs keep what a GPU run wrote
    for section, text in report_sections(report):
        if args.output:
            write_section(args.output, section, text)
        if not getattr(args, "json", False):
            print(text + "\n")
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    return report


def command_line(settings: dict[str, Any]) -> str:
    """The ``rnnkit bench speed`` command that measured a report with ``settings``: the flags given (a
    report saved before it recorded ``long`` and ``stream`` had both)."""
    flags = [flag for flag, key in (("--long", "long"), ("--stream", "stream")) if settings.get(key, True)]
    if settings.get("quick"):
        flags.append("--quick")
    if settings.get("repeats", 5) != 5:
        flags.append(f"--repeats {settings['repeats']}")
    return " ".join(["rnnkit bench speed", *flags])


def report_sections(report: dict[str, Any]) -> list[tuple[str, str]]:
    """``(section, markdown)`` for each device the report has rows of: ``long`` (CPU), ``long-gpu`` (CUDA)."""
    texts = [(section, to_markdown(report, device=device)) for device, section in (("cpu", "long"),
                                                                                   ("cuda", "long-gpu"))]
    return [(section, text) for section, text in texts if text is not None]


def write_saved(report_path: str, output: str = "docs/BENCHMARKS.md") -> list[str]:
    """Write the sections of a saved report (the JSON of ``benchmarks/gpu_long_rows.py``, or any
    ``run_long_stream`` report) into ``output``: how GPU figures measured elsewhere reach the docs.
    Returns the names of the sections written."""
    import json

    from rnnkit.bench import write_section

    with open(report_path) as f:
        report = json.load(f)
    sections = report_sections(report)
    for section, text in sections:
        write_section(output, section, text)
    return [section for section, _ in sections]


def main(argv: list[str] | None = None) -> int:
    """``python -m rnnkit.bench.long_stream --from-json REPORT [--output FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m rnnkit.bench.long_stream",
                                     description="write a saved long/stream report into docs/BENCHMARKS.md")
    parser.add_argument("--from-json", required=True, metavar="REPORT")
    parser.add_argument("--output", default="docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    written = write_saved(args.from_json, args.output)
    print(f"wrote {', '.join(written) or 'no section (the report has no rows)'} into {args.output}")
    return 0 if written else 1


if __name__ == "__main__":
    raise SystemExit(main())
