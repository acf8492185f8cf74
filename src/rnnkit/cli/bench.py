"""``rnnkit bench {speed,accuracy,cv,tables,inference}``: each sub-bench is a module with ``HELP``, ``add_arguments``
and ``run``; adding one is one line in ``BENCHES``."""

from __future__ import annotations

import argparse
import importlib

BENCHES: dict[str, str] = {
    "speed": "rnnkit.bench.speed",
    "accuracy": "rnnkit.bench.accuracy",
    "cv": "rnnkit.bench.cv",
    "tables": "rnnkit.bench.tables",
    "inference": "rnnkit.bench.inference",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks; results go to docs/BENCHMARKS.md")
    benches = p.add_subparsers(dest="bench", metavar="BENCH")
    for name, module_name in BENCHES.items():
        module = importlib.import_module(module_name)
        bp = benches.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(bp)
        bp.set_defaults(bench_run=module.run)
    p.set_defaults(func=run, bench_parser=p)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "bench_run", None) is None:
        args.bench_parser.print_help()
        return 2
    from rnnkit.bench.accuracy_selection import RecipeError
    from rnnkit.cli.main import CLIError

    try:
        return int(args.bench_run(args) or 0)
    except RecipeError as e:  # a recipe that selects on test, cuts the test split or does not load
        raise CLIError(str(e).splitlines()[0]) from e
