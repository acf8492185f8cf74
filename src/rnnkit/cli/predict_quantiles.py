"""``rnnkit predict RUN HISTORY --quantiles``: a forecaster's quantiles beside its point forecast.

A forecaster trained with ``head=quantile`` gives the quantiles it was trained for; one trained with
``head=gaussian`` gives any levels, read off sample paths (``--samples``, ``--seed``), so that a
log transform or differencing carries the uncertainty through. The table prints one row per step,
or goes to a CSV (``--output``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rnnkit.cli.main import CLIError

DEFAULT_SAMPLES = 1000


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("forecast quantiles (forecasters trained with head=gaussian or head=quantile)")
    g.add_argument("--quantiles", nargs="?", const="", metavar="Q,Q,...",
                   help="print these quantiles of the forecast beside it, e.g. 0.1,0.9 (alone: the quantile head's "
                        "own levels, or 0.1,0.5,0.9 for a Gaussian head)")
    g.add_argument("--samples", type=int, metavar="N",
                   help=f"sample paths a Gaussian head's quantiles are read off (default {DEFAULT_SAMPLES}; "
                        "the sampler takes --seed, default 0)")


def levels_given(args: argparse.Namespace, info: Any) -> list[float] | None:
    """The levels ``--quantiles`` asks for ([] for the model's own), or None without the flag; a
    CLIError for flags that do not fit the run."""
    raw = getattr(args, "quantiles", None)
    if raw is None:
        if getattr(args, "samples", None) is not None:
            raise CLIError("--samples goes with --quantiles")
        return None
    if info.task != "forecasting":
        raise CLIError(f"--quantiles is for forecasters; this run ({info.name}) is {info.task}")
    if args.lines or args.column:
        raise CLIError("--quantiles forecasts one history at a time: drop --lines / --column")
    if args.samples is not None and args.samples < 2:
        raise CLIError(f"--samples must be >= 2, got {args.samples}")
    levels = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise CLIError(f"--quantiles takes levels such as 0.1,0.9; {part!r} is not a number") from None
        if not 0.0 < value < 1.0:
            raise CLIError(f"--quantiles levels must lie strictly between 0 and 1, got {part}")
        levels.append(value)
    return levels


def _head_config(model: Any) -> Any:
    """The config that holds the forecaster's head: its own, or an ensemble's first member's."""
    from rnnkit.models.ensemble import first_member

    return first_member(model).config


def forecast_quantiles(model: Any, batch: Any, levels: list[float],
                       args: argparse.Namespace) -> tuple[Any, list[float]]:
    """``(1, H[, K], Q)`` quantiles in the model's units, and their levels."""
    import torch

    from rnnkit.models.forecaster import SAMPLED_LEVELS

    config = _head_config(model)
    head = getattr(config, "head", None)
    if head == "quantile" and args.samples is not None:
        raise CLIError("--samples is for a Gaussian head; this forecaster's quantile head gives its quantiles "
                       "directly")
    if not levels:
        levels = [float(q) for q in config.quantiles] if head == "quantile" else list(SAMPLED_LEVELS)
    generator = torch.Generator(device=model.device).manual_seed(0 if args.seed is None else int(args.seed))
    try:
        q = model.quantiles(batch, levels, samples=args.samples or DEFAULT_SAMPLES, generator=generator)
    except ValueError as e:
        raise CLIError(str(e).splitlines()[0]) from e
    return q, levels


def unscale(q: Any, finish: Any) -> Any:
    """Each quantile through ``finish`` (the run's scaler, when the data were scaled)."""
    import torch

    moved = q.movedim(-1, 0)  # (Q, B, H[, K])
    out = [torch.as_tensor(finish(level)) for level in moved]
    return torch.stack(out).movedim(0, -1)


def _label(level: float) -> str:
    return f"q{level:g}"


def table(point: Any, q: Any, levels: list[float], names: list[str]) -> tuple[list[str], list[list[float]]]:
    """The header and rows of the forecast of one history: step, then per target the forecast and
    its quantiles."""
    import torch

    p = torch.as_tensor(point)[0]  # (H[, K])
    qs = torch.as_tensor(q)[0]  # (H[, K], Q)
    if p.dim() == 1:
        p, qs = p.unsqueeze(-1), qs.unsqueeze(-2)
    several = p.shape[-1] > 1
    header = ["step"]
    for k in range(p.shape[-1]):
        prefix = f"{names[k] if k < len(names) else f'target{k}'}:" if several else ""
        header += [f"{prefix}forecast"] + [f"{prefix}{_label(v)}" for v in levels]
    rows = []
    for h in range(p.shape[0]):
        row: list[float] = [h + 1]
        for k in range(p.shape[-1]):
            row += [float(p[h, k])] + [float(v) for v in qs[h, k]]
        rows.append(row)
    return header, rows


def report(point: Any, q: Any, levels: list[float], model: Any, info: Any, args: argparse.Namespace) -> None:
    """Print the table, or write it to ``--output`` as CSV."""
    import csv
    import io

    extra = getattr(info, "extra", None) or {}
    columns = list(extra.get("columns") or [])
    names = [columns[i] for i in extra.get("target_features", []) if i < len(columns)]
    header, rows = table(point, q, levels, names)
    head = getattr(_head_config(model), "head", None)
    how = (f"read off {args.samples or DEFAULT_SAMPLES} sample paths, seed {0 if args.seed is None else args.seed}"
           if head == "gaussian" else "from the quantile head")
    if args.output:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([int(r[0]), *(f"{v:.6g}" for v in r[1:])] for r in rows)
        from rnnkit.cli.predict import write_text

        write_text(args.output, buffer.getvalue())
        print(f"forecast of {len(rows)} steps with quantiles {', '.join(f'{v:g}' for v in levels)} ({how}) -> "
              f"{args.output}", file=sys.stderr)
        return
    print(f"forecast for the next {len(rows)} steps, with quantiles {', '.join(f'{v:g}' for v in levels)} ({how}):")
    cells = [header] + [[str(int(r[0]))] + [f"{v:.4g}" for v in r[1:]] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))
