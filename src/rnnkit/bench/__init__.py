"""Benchmarks behind ``rnnkit bench``: each writes its own marked section of ``docs/BENCHMARKS.md``.

A bench module offers ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int`` and
imports torch only inside its functions (the CLI builds every parser at start-up).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path
from typing import Any


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity: ``taskset -c 0`` gives 1), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform (macOS, Windows)
        return os.cpu_count() or 0


def machine_info() -> dict[str, str | int]:
    """CPU model, cores (those this process may use), torch threads, device, versions and the date, for a
    benchmark's header."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {"cpu": cpu, "cores": usable_cores(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version(),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


LIBRARIES = ("rnnkit", "torch", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "aeon", "onnxruntime")


def library_versions() -> dict[str, str]:
    """The Python version and those of the libraries a result depends on (the model's and the
    classical baselines': statsmodels' ETS fit and aeon's MiniRocket change between releases), as
    installed; a library that is not installed is left out."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_line(m: dict[str, str | int]) -> str:
    """A CPU bench's header line from :func:`machine_info`."""
    return (f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads); "
            f"torch {m['torch']}, python {m['python']}; {m['date']}.")


def write_section(path: str | Path, name: str, body: str) -> Path:
    """Write ``body`` between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in ``path``,
    replacing that section only (or appending it), so several benches share one file."""
    path = Path(path)
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    header = "# Benchmarks\n\nWritten by `rnnkit bench`; each section by its bench.\n"
    text = path.read_text(encoding="utf-8") if path.exists() else header
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def publish(args: Any, name: str, report: dict[str, Any], text: str) -> int:
    """A bench's ending: ``text`` as section ``name`` of ``args.output`` (docs/BENCHMARKS.md, none for
    a ``--quick`` run, which measures nothing worth keeping; ``''`` for none), then ``text`` printed,
    or ``report`` as JSON with ``--json``."""
    import json

    output = args.output if args.output is not None else ("" if args.quick else "docs/BENCHMARKS.md")
    if output:
        write_section(output, name, text)
    print(json.dumps(report, indent=2) if args.json else text)
    return 0


__all__ = ["LIBRARIES", "library_versions", "machine_info", "machine_line", "publish", "write_section"]
