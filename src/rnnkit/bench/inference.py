"""``rnnkit bench inference``: a recipe's model answering in torch, and the same model exported to ONNX
(``rnnkit export --format onnx``) answering in onnxruntime, on real test examples.

Each recipe's model is built from the recipe with seed 0 (untrained: the time does not depend on the
weights, but for step-decoded models the number of steps does: an untrained decoder seldom stops
before its longest output) and put in eval mode. One-pass models: the torch side runs the model
under ``torch.inference_mode()`` on rnnkit's own backend choice (torch's fused op on the CPU),
through the same ``(x, lengths[, future])`` wrapper that is exported, and the ONNX side the exported
file as a user runs it, through ``rnnkit.cli.export_onnx.run_session``, which applies the rules of
the file's metadata (``min_steps``: a differenced forecaster needs ``sum(difference) + 1`` steps of
history, and would return NaN on fewer); a forecaster is benched on the test histories it takes.
Seq2seq and generation: greedy decoding, rnnkit's decoder in torch against the exported init and
step programs called by ``onnx_greedy`` (a numpy loop). onnxruntime gets as many intra-op threads as
torch has. Two batches per recipe: one test example of median length (a single request) and 32 test
examples drawn with seed 0 (a batch). The sides take turns, ``--rounds`` rounds of ``--runs`` calls
each after warm-up, and a row gives each side's median call. The outputs are compared too: the
largest difference relative to the output's scale, or for decoding the share of outputs that
differ. The table goes to the ``bench:inference`` section of ``docs/BENCHMARKS.md``; ``--json``
prints JSON.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HELP = "time a recipe's model in torch against its ONNX export in onnxruntime (writes docs/BENCHMARKS.md)"
RECIPES = ("japanese_vowels", "arrowhead", "sentiment", "peoples_daily_pos", "air_passengers", "dates_iso",
           "cmudict_g2p")
SEED = 0
BATCH = 32


@dataclass(frozen=True)
class Row:
    recipe: str
    model: str
    batch_size: int
    steps: int  # the batch's longest sequence
    torch_ms: float
    onnxruntime_ms: float
    speedup: float  # torch_ms / onnxruntime_ms
    difference: float  # largest difference between the outputs, relative to their scale (decoding: share unequal)


def _median_ms(call: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def time_recipe(name: str, *, runs: int, rounds: int, quick: bool = False) -> list[Row]:
    """One recipe's two rows (one request, a batch of ``BATCH``)."""
    import onnxruntime
    import torch

    from rnnkit.bench.accuracy import load_recipe
    from rnnkit.cli.export import example_steps
    from rnnkit.cli.export_history import forecast_steps
    from rnnkit.cli.runspec import build_model, load_data

    _, spec, _ = load_recipe(name)
    spec.ensemble = 1
    if quick:
        spec.limit = {"train": 16, "valid": 4, "test": 8}
    dataset = load_data(spec)
    torch.manual_seed(SEED)
    model = build_model(spec, dataset).eval()
    shortest = forecast_steps(model)[1]  # a differenced forecaster refuses shorter histories, as a user's call would
    test = [e for e in dataset.test.examples if example_steps(e) >= shortest]
    if not test:
        raise ValueError(f"recipe {name}: no test example has the {shortest} steps of history its model needs "
                         "(sum(difference) + 1)")
    by_length = sorted(test, key=example_steps)
    batches = [[by_length[len(by_length) // 2]]]  # one request
    if len(test) > 1:  # a batch (air_passengers has one test window)
        batches.append(random.Random(SEED).sample(test, min(BATCH, len(test))))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        sides = _decoding_sides if dataset.info.task in ("seq2seq", "generation") else _one_pass_sides
        make = sides(model, dataset, by_length[-2:], Path(folder), options)
        for examples in batches:
            batch = dataset.collate(examples)
            in_torch, in_onnxruntime, difference = make(batch)
            for _ in range(3):  # warm-up: first calls allocate
                in_torch(), in_onnxruntime()
            torch_ms: list[float] = []
            ort_ms: list[float] = []
            for _ in range(rounds):  # the sides take turns, so a drifting load hits both
                torch_ms.append(_median_ms(in_torch, runs))
                ort_ms.append(_median_ms(in_onnxruntime, runs))
            t, o = statistics.median(torch_ms), statistics.median(ort_ms)
            x = batch.x
            steps = int(x.shape[1]) if x is not None and x.dim() >= 2 and not (x.dim() == 2 and x.is_floating_point()) \
                else 1
            rows.append(Row(name, type(model).__name__, len(examples), steps, round(t, 3), round(o, 3), round(t / o, 2),
                            float(f"{difference:.2g}")))
    return rows


def _one_pass_sides(model: Any, dataset: Any, longest: list[Any], folder: Path, options: Any) -> Any:
    """For a one-pass model: a function of a batch that gives its torch call, its onnxruntime call (the
    exported file through ``run_session``, as a user runs it) and the largest difference between their
    outputs (relative to the output's scale). A forecaster's known-future covariates are its third input."""
    import onnxruntime
    import torch

    from rnnkit.cli.export import export, longest_steps, relative_difference, scoring_module
    from rnnkit.cli.export_onnx import run_session

    output = "logits" if dataset.info.task in ("classification", "tagging") else "predictions"
    trace = dataset.collate(longest)
    path = folder / "model.onnx"
    export(model, trace.x, trace.lengths, path, "onnx", max_steps=longest_steps(dataset), output_name=output,
           future=trace.future)
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    module = scoring_module(model)

    def make(batch: Any) -> tuple[Any, Any, float]:
        x = batch.x
        n = batch.lengths if batch.lengths is not None else torch.ones(x.shape[0], dtype=torch.long)
        args = (x, n) if batch.future is None else (x, n, batch.future)
        feeds = {name: a.numpy() for name, a in zip(("x", "lengths", "future"), args)}

        def in_torch() -> Any:
            with torch.inference_mode():
                return module(*args)

        def in_onnxruntime() -> Any:
            return run_session(session, feeds)  # the metadata's rules (min_steps), then the program

        return in_torch, in_onnxruntime, relative_difference(torch.from_numpy(in_onnxruntime()), in_torch())

    return make


def _decoding_sides(model: Any, dataset: Any, longest: list[Any], folder: Path, options: Any) -> Any:
    """For a step-decoded model: greedy decoding in torch (``predict``-like, rnnkit's decoders) and with
    the exported init and step in onnxruntime (``onnx_greedy``); the difference is the share of
    outputs that are not equal (0: all the same)."""
    import onnxruntime
    import torch

    from rnnkit.cli.export_decoding import (
        export_parts,
        inner_config,
        longest_output,
        model_greedy,
        onnx_greedy,
        parts_of,
    )

    c, max_length, parts = inner_config(model), longest_output(model), parts_of(model)
    export_parts(model, parts.inputs(dataset.collate(longest)), folder / "init.onnx", folder / "step.onnx", {})
    init, step = (onnxruntime.InferenceSession(str(folder / f"{p}.onnx"), options, providers=["CPUExecutionProvider"])
                  for p in ("init", "step"))

    def make(batch: Any) -> tuple[Any, Any, float]:
        feeds = {k: v.numpy() for k, v in parts.inputs(batch).items()}

        def in_torch() -> Any:
            with torch.inference_mode():
                return model_greedy(model, batch, max_length)

        def in_onnxruntime() -> Any:
            return onnx_greedy(init, step, feeds, bos=c.bos_id, eos=c.eos_id, max_length=max_length)

        expected, got = in_torch(), in_onnxruntime()
        return in_torch, in_onnxruntime, sum(a != b for a, b in zip(expected, got)) / len(expected)

    return make


def run_inference(names: list[str], *, runs: int = 30, rounds: int = 3, quick: bool = False) -> dict[str, Any]:
    """Every recipe's rows; ``{"machine": ..., "settings": ..., "rows": [...]}``."""
    import onnxruntime

    from rnnkit.bench import machine_info

    if runs < 1 or rounds < 1:
        raise ValueError(f"runs and rounds must be >= 1, got {runs} and {rounds}")
    rows = [row for name in names for row in time_recipe(name, runs=runs, rounds=rounds, quick=quick)]
    settings = {"runs": runs, "rounds": rounds, "quick": quick, "seed": SEED, "dtype": "float32", "device": "cpu",
                "onnxruntime": onnxruntime.__version__}
    return {"machine": machine_info(), "settings": settings, "rows": [asdict(r) for r in rows]}


def to_markdown(report: dict[str, Any]) -> str:
    """The report as the ``bench:inference`` section of docs/BENCHMARKS.md."""
    from rnnkit.bench import machine_line

    m, s = report["machine"], report["settings"]
    lines = ["## Speed: inference in torch against the ONNX export in onnxruntime (CPU)", ""]
    if s["quick"]:
        lines += ["**`--quick` run: a few examples, to check the bench works; not a measurement.**", ""]
    lines += [machine_line(m) + f" onnxruntime {s['onnxruntime']}.",
              f"Median call over {s['rounds']} rounds of {s['runs']} calls per side, taken in turns after warm-up; "
              "each recipe's model built with seed 0 (untrained), eval mode, float32, on real test examples: one "
              f"of median length (batch 1) and {BATCH} drawn with seed {s['seed']}. torch: `inference_mode`, "
              "rnnkit's backend choice; onnxruntime: the file `rnnkit export --format onnx` writes, with as many "
              "intra-op threads as torch. Command: `rnnkit bench inference" + (" --quick" if s["quick"] else "")
              + "`. Seq2seq and generation rows time greedy decoding of untrained models, which run to "
              "their longest output: rnnkit's decoder against the exported init and step programs called from a "
              "numpy loop (`onnx_greedy`). The last column is the largest difference between the two outputs, "
              "relative to the output's scale; for decoding, the share of outputs that differ.", "",
              "| recipe | model | batch | steps | torch ms | onnxruntime ms | speed-up | difference |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['recipe']} | {r['model']} | {r['batch_size']} | {r['steps']} | {r['torch_ms']:.2f} | "
                     f"{r['onnxruntime_ms']:.2f} | {r['speedup']:.2f}x | {r['difference']:.0e} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="RECIPE", help=f"recipes to time (default: {', '.join(RECIPES)})")
    parser.add_argument("--runs", type=int, default=30, help="timed calls per side and round (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side, taken in turns (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="a few examples, to check that the bench runs")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--output", default=None,
                        help="markdown file to update (default docs/BENCHMARKS.md, none with --quick; '' to skip)")


def run(args: argparse.Namespace) -> int:
    from rnnkit.bench import publish
    from rnnkit.bench.accuracy import load_recipe
    from rnnkit.cli.export_onnx import missing_packages
    from rnnkit.cli.main import CLIError

    missing = missing_packages()
    if missing:
        raise CLIError(f"bench inference needs {', '.join(missing)}: pip install 'rnnkit[export]'")
    names = list(args.names) or list(RECIPES)
    for name in names:
        _, spec, _ = load_recipe(name)  # a RecipeError is one line (cli/bench)
        if spec.model == "feedforward":
            raise CLIError(f"bench inference times recurrent models; recipe {name} trains a feedforward model")
    if args.runs < 1 or args.rounds < 1 or args.threads < 1:
        raise CLIError(f"--runs, --rounds and --threads must be >= 1, got {args.runs}, {args.rounds}, {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    report = run_inference(names, runs=args.runs, rounds=args.rounds, quick=args.quick)
    return publish(args, "inference", report, to_markdown(report))
