"""Export every recipe's model (built with seed 0, untrained, on a few examples; an ensemble where the
recipe trains one) to ONNX and check it
against the model: one-pass models by their largest output difference on the two longest test
examples, step-decoded ones by greedy decoding of 16 test examples in onnxruntime.

    python benchmarks/onnx_every_recipe.py [RECIPE ...]      # default: every recipe

A check of `rnnkit export --format onnx` across the architectures the recipes use (about a minute
on 2 CPU cores); the tests cover one model of each kind. Prints one line per recipe.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.bench.accuracy import load_recipe, recipe_names
from rnnkit.cli.export import example_steps, export, longest_steps
from rnnkit.cli.export_decoding import export_parts, inner_config, longest_output, model_greedy, onnx_greedy, parts_of
from rnnkit.cli.runspec import build_model, load_data


def check(name: str, folder: Path) -> str:
    _, spec, _ = load_recipe(name)
    spec.limit = {"train": 32, "valid": 8, "test": 16}
    dataset = load_data(spec)
    torch.manual_seed(0)
    model = build_model(spec, dataset).eval()
    test = list(dataset.test.examples)
    trace = dataset.collate(sorted(test, key=example_steps)[-2:])
    members = getattr(model, "members", None)
    if members is not None and getattr(members[0], "crf", None) is not None:
        return f"an ensemble of {len(members)} CRF taggers: refused by rnnkit export (their marginals are not exported)"
    if dataset.info.task not in ("seq2seq", "generation"):
        diff, steps = export(model, trace.x, trace.lengths, folder / "model.onnx", "onnx",
                             max_steps=longest_steps(dataset))
        return f"{type(model).__name__}: largest difference {diff:.1e}; takes {steps}"
    parts = parts_of(model)
    init, step = export_parts(model, parts.inputs(trace), folder / "init.onnx", folder / "step.onnx", {})
    batch, c, longest = dataset.collate(test[:16]), inner_config(model), longest_output(model)
    feeds = {k: v.numpy() for k, v in parts.inputs(batch).items()}
    got = onnx_greedy(init, step, feeds, bos=c.bos_id, eos=c.eos_id, max_length=longest)
    expected = model_greedy(model, batch, longest)
    same = sum(a == b for a, b in zip(got, expected))
    return f"{type(model).__name__}: greedy outputs equal {same} of {len(expected)}"


def main(names: list[str]) -> int:
    failed = 0
    for name in names or recipe_names():
        start = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory() as folder:
                line = check(name, Path(folder))
        except Exception as e:  # one line per recipe, and go on
            failed += 1
            line = f"FAILED {type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]}"
        print(f"{name}: {line} ({time.perf_counter() - start:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
