"""``rnnkit bench tables``: the training step of the recipes whose models carry hashed n-gram
tables, with the tables' dense gradient and AdamW against ``sparse_tables`` (sparse gradients,
lazy Adam on the rows a batch looked up).

Recipes: ``sentiment`` (a bag of hashed 1-3-grams, 2**18 rows of 64) and ``peoples_daily_seg``
(hashed character bigrams, 2**18 rows of 32). Each side trains the recipe's model, built from the
same seed, on the same real training batches (the recipe's batch size, drawn from the Trainer's
length buckets with seed 0): forward, backward, gradient clipping at 1.0 and the optimizer step, as
the Trainer runs them. The sides take turns, three rounds each, and a row gives the median step
time of each side over all its rounds. Whether the lazy update
learns as well is a question for valid runs, not this bench: see the recipes' notes. The table goes
to the ``bench:tables`` section of ``docs/BENCHMARKS.md``; ``--json`` prints JSON.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

HELP = "time a training step with dense against sparse hashed n-gram tables (writes docs/BENCHMARKS.md)"
RECIPES = ("sentiment", "peoples_daily_seg")
SEED = 0
ROUNDS = 3  # each side times the batches this many times, taking turns


@dataclass(frozen=True)
class Row:
    recipe: str
    table_rows: int  # rows of all hashed tables together
    batch_size: int
    steps: int  # timed steps per side
    dense_ms: float
    sparse_ms: float
    ratio: float  # sparse_ms / dense_ms


def step_times(spec: Any, dataset: Any, batches: list[Any], *, sparse: bool,
               warmup: int) -> tuple[list[float], int]:
    """Seconds of each training step over ``batches`` (after ``warmup`` untimed ones), one side, and
    the rows of the model's hashed tables."""
    import torch

    from rnnkit.cli.runspec import build_model
    from rnnkit.train.optim import build_optimizer, clip_grad_norm, hashed_tables, sparse_tables

    torch.manual_seed(SEED)
    model = build_model(spec, dataset)
    model.train()
    times = []
    with sparse_tables(model, enabled=sparse):
        optimizer = build_optimizer(model, name=spec.train.get("optimizer", "adamw"), lr=spec.train.get("lr", 1e-3),
                                    weight_decay=spec.train.get("weight_decay", 0.01))
        for i, batch in enumerate(batches):
            start = time.perf_counter()
            out = model(batch)
            out.loss.backward()
            clip_grad_norm(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times, sum(t.num_embeddings for t in hashed_tables(model))


def run_recipe(name: str, steps: int, quick: bool = False) -> Row:
    """Time one recipe's step both ways on the same batches."""
    from rnnkit.bench.accuracy import load_recipe
    from rnnkit.cli.runspec import load_data
    from rnnkit.data.sampler import BucketSampler

    _, spec, _ = load_recipe(name)
    # one model, as the section's rows say: an ensemble recipe (peoples_daily_seg: 2) would time its
    # members' steps together and count their tables twice
    spec.ensemble = 1
    if quick:  # a small table and a few examples: checks that the bench runs
        spec.limit = {"train": 64, "valid": 1, "test": 1}
        spec.train["batch_size"] = 8
        for key in ("ngram_buckets", "bigram_buckets"):
            if spec.model_options.get(key):
                spec.model_options[key] = 1024
    dataset = load_data(spec)
    batch_size = int(spec.train.get("batch_size", 32))
    plan = BucketSampler(dataset.train.lengths(), batch_size, seed=SEED).batches(0)
    warmup = 1 if quick else 2
    chosen = random.Random(SEED).sample(plan, min(len(plan), steps + warmup))
    batches = [dataset.collate([dataset.train[i] for i in b]) for b in chosen]
    dense_s: list[float] = []
    sparse_s: list[float] = []
    rows = 0
    for _ in range(1 if quick else ROUNDS):  # the sides take turns, so a drifting load hits both
        times, rows = step_times(spec, dataset, batches, sparse=False, warmup=warmup)
        dense_s += times
        sparse_s += step_times(spec, dataset, batches, sparse=True, warmup=warmup)[0]
    dense, sparse = statistics.median(dense_s) * 1e3, statistics.median(sparse_s) * 1e3
    return Row(name, rows, batch_size, len(batches) - warmup, round(dense, 2), round(sparse, 2),
               round(sparse / dense, 3))


def run_tables(names: list[str], steps: int = 20, quick: bool = False) -> dict[str, Any]:
    """Every recipe's row; ``{"machine": ..., "settings": ..., "rows": [...]}``."""
    from rnnkit.bench import machine_info

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    rows = [run_recipe(n, steps, quick) for n in names]
    settings = {"steps": steps, "rounds": 1 if quick else ROUNDS, "quick": quick, "seed": SEED, "dtype": "float32",
                "device": "cpu"}
    return {"machine": machine_info(), "settings": settings, "rows": [asdict(r) for r in rows]}


def _timed(report: dict[str, Any]) -> str:
    """The steps timed per side, as the rows have them: a recipe with fewer batches than ``--steps``
    plus the warm-up times fewer than were asked for."""
    asked, timed = report["settings"]["steps"], sorted({int(r["steps"]) for r in report["rows"]})
    if timed in ([], [asked]):
        return str(asked)
    return f"{' or '.join(map(str, timed))} (of {asked} asked for: a recipe with fewer batches times them all)"


def to_markdown(report: dict[str, Any]) -> str:
    """The report as the ``bench:tables`` section of docs/BENCHMARKS.md."""
    from rnnkit.bench import machine_line

    m, s = report["machine"], report["settings"]
    lines = ["## Speed: hashed n-gram tables, dense against sparse gradients (CPU)", ""]
    if s["quick"]:
        lines += ["**`--quick` run: small tables and data to check the bench works; not a measurement.**", ""]
    lines += [machine_line(m),
              f"Median training step (forward, backward, clipping, AdamW) over {_timed(report)} real training "
              f"batches per recipe after warm-up, {s.get('rounds', 1)} rounds per side taken in turns, the "
              f"same batches and initial weights on both sides, "
              f"{s['dtype']}, seed {s['seed']}. Command: `rnnkit bench tables"
              + (" --quick" if s["quick"] else "") + (f" --steps {s['steps']}" if s["steps"] != 20 else "")
              + "`. Sparse is `train: {sparse_tables: true}`: "
              "lazy Adam on the rows a batch looked up, which is not dense Adam's update (see the "
              "recipes' notes in RESULTS.md for what it does to accuracy).", "",
              "| recipe | table rows | batch | dense ms | sparse ms | ratio |",
              "|---|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['recipe']} | {r['table_rows']:,} | {r['batch_size']} | {r['dense_ms']:.1f} | "
                     f"{r['sparse_ms']:.1f} | {r['ratio']:.2f}x |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="RECIPE", help=f"recipes to time (default: {', '.join(RECIPES)})")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per side (median; default 20)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="small tables and data, to check that the bench runs")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--output", default=None,
                        help="markdown file to update (default docs/BENCHMARKS.md, none with --quick; '' to skip)")


def run(args: argparse.Namespace) -> int:
    from rnnkit.bench import publish
    from rnnkit.cli.main import CLIError

    names = list(args.names) or list(RECIPES)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise CLIError(f"bench tables times recipes with hashed tables: {', '.join(RECIPES)}; got {', '.join(unknown)}")
    if args.steps < 1:
        raise CLIError(f"--steps must be >= 1, got {args.steps}")
    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    report = run_tables(names, args.steps, args.quick)
    return publish(args, "tables", report, to_markdown(report))
