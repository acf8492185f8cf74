"""``rnnkit tour``: train one model per problem shape on bundled real data, print one table, and
write a report that links every run.

    rnnkit tour                       # a few minutes on a laptop CPU; runs/tour/index.html
    rnnkit tour --quick               # seconds per shape (a smoke test: 1-2 epochs, few examples)
    rnnkit tour --only forecasting    # one stop (by name, shape or data set: --only air_passengers)

The stops are listed in ``rnnkit/tour.py`` (``STOPS``): add one there to extend the tour.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tour", help="train one model per problem shape on bundled data; one table, one report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a smoke test: at most 32 examples per split, 1 epoch per shape (2 for forecasting); its "
                        "scores are not results")
    p.add_argument("--out", default="runs/tour", metavar="DIR", help="where the runs go (default runs/tour)")
    p.add_argument("--only", action="append", metavar="STOP",
                   help="run only this stop (name, shape or data set); repeatable")
    p.add_argument("--progress", action="store_true",
                   help="show each run's progress bar (trains the stops one at a time unless --jobs is given)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="stops trained at once, one process and one torch thread each (default: 2 on a "
                        "machine with 2 or more cores)")
    p.set_defaults(func=run)


def results_table(rows: list[Any], title: str) -> Any:
    """The tour's rich table: shape, data set, model, metric, rnnkit's result, published figure, time."""
    from rich.table import Table

    table = Table(title=title, title_style="bold")
    for col, justify in (("shape", "left"), ("data set", "left"), ("model", "left"), ("metric", "left"),
                         ("rnnkit", "right"), ("published / baseline", "left"), ("time", "right")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in rows:
        result = f"{r.result:.4g}" if r.result is not None else "[red]failed[/red]"
        table.add_row(r.shape, r.dataset, r.model, r.metric, result, r.published, f"{r.seconds:.0f} s")
    return table


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from rich.console import Console

    from rnnkit.cli.main import CLIError
    from rnnkit.tour import TourRow, run_tour, select_stops

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise CLIError(f"--out {args.out} is a file; the tour writes its runs into a folder")
    if args.jobs is not None and args.jobs < 1:
        raise CLIError(f"--jobs must be >= 1, got {args.jobs}")
    try:
        stops = select_stops(args.only)  # refuse a bad --only before announcing anything
    except ValueError as e:
        raise CLIError(str(e)) from e
    console = Console()
    console.width = max(console.width, 132)  # the table stays readable in a pipe or a log
    start = time.perf_counter()
    console.print(f"[bold]rnnkit tour[/bold]{' --quick' if args.quick else ''}: {len(stops)} "
                  f"stop{'' if len(stops) == 1 else 's'} ({', '.join(s.name for s in stops)}) -> {args.out}/")

    def show(row: TourRow) -> None:
        mark = "[green]ok[/green]" if row.status == "ok" else "[red]failed[/red]"
        console.print(f"  {row.shape:<14} {row.dataset:<20} {mark}  {row.seconds:.0f} s")

    try:
        jobs = 1 if args.progress and args.jobs is None else args.jobs
        rows = run_tour(args.out, quick=args.quick, progress=args.progress, on_row=show, stops=stops, jobs=jobs)
    except ValueError as e:
        raise CLIError(str(e)) from e
    console.print(results_table(rows, f"rnnkit tour{' (quick)' if args.quick else ''}: one model per shape"))
    for r in rows:
        if r.status != "ok":
            console.print(f"[red]{r.shape} ({r.dataset}) failed:[/red] {r.status}", soft_wrap=True)
    console.print(f"report: {Path(args.out) / 'index.html'}  (total {time.perf_counter() - start:.0f} s)")
    return 0 if all(r.status == "ok" for r in rows) else 1
