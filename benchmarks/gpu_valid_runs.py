"""Valid-only training runs of a recipe with overrides, side by side on one GPU (each in its own process).

    python benchmarks/gpu_valid_runs.py OUT.jsonl RECIPE 'NAME={"model_options": {...}, "train": {...}}' ...

For choosing a larger recipe where the CPU budget bounds it (cmudict_g2p: benchmarks/gpu_cmudict.sh).
Each run appends one JSON line per epoch to OUT.jsonl (its name, overrides, the epoch's valid metrics,
seconds), so a run cut by a time limit keeps the epochs it finished. Test is never loaded into a score:
``evaluate_test`` is off and nothing reads the test split. ``--device cpu --limit N`` checks it on a CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from typing import Any


def run_one(out: str, recipe: str, name: str, overrides: dict[str, Any], device: str, limit: int | None,
            seed: int) -> None:
    from rnnkit.bench.accuracy import load_recipe
    from rnnkit.cli.runspec import build_model, load_data
    from rnnkit.train import Trainer
    from rnnkit.train.callbacks import Callback
    from rnnkit.train.trainer import seed_everything

    _, spec, _ = load_recipe(recipe)
    spec = dataclasses.replace(spec, model_options={**spec.model_options, **overrides.get("model_options", {})},
                               train={**spec.train, **overrides.get("train", {})},
                               data_options={**spec.data_options, **overrides.get("data_options", {})}, limit=limit,
                               ensemble=int(overrides.get("ensemble", spec.ensemble)))
    dataset = load_data(spec)
    seed_everything(seed)
    model = build_model(spec, dataset)
    started = time.perf_counter()

    class Log(Callback):
        def on_epoch_end(self, trainer: Any, state: Any) -> None:
            row = {k: v for k, v in state.row.items() if k.startswith("valid_") or k in ("epoch", "train_loss")}
            with open(out, "a") as f:
                f.write(json.dumps({"name": name, "overrides": overrides, **row,
                                    "wall_s": round(time.perf_counter() - started, 1)}) + "\n")

    settings = {**spec.train, "seed": seed, "progress": False, "run_dir": None, "evaluate_test": False,
                "device": device}
    Trainer(callbacks=[Log()], **settings).fit(model, dataset)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("recipe")
    parser.add_argument("runs", nargs="+", metavar="NAME=JSON")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--limit", type=int, default=None, help="examples per split (quick checks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a worker: run the one given
    args = parser.parse_args()
    runs = []
    for item in args.runs:
        name, _, text = item.partition("=")
        runs.append((name, json.loads(text or "{}")))
    if args.one:
        (name, overrides), = runs
        run_one(args.out, args.recipe, name, overrides, args.device, args.limit, args.seed)
        return 0
    common = ["--device", args.device, "--seed", str(args.seed)] + (["--limit", str(args.limit)] if args.limit else [])
    procs = [subprocess.Popen([sys.executable, __file__, args.out, args.recipe, f"{name}={json.dumps(o)}", "--one",
                               *common]) for name, o in runs]
    codes = [p.wait() for p in procs]
    for (name, _), code in zip(runs, codes):
        print(f"{name}: exit status {code}")
    return max(codes)


if __name__ == "__main__":
    raise SystemExit(main())
