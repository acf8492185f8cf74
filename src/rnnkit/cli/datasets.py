"""``rnnkit datasets``: the bundled data sets as a table (name, shape, input, sizes, classes or
vocabulary, source package, licence); ``rnnkit datasets NAME`` loads one and prints its details."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the bundled data sets, or show one in detail",
                       description="List the bundled data sets (all load offline), or load one and "
                                   "show its sizes, vocabularies and the published results to compare with.")
    p.add_argument("name", nargs="?", help="a data set to load and describe")
    p.add_argument("--shape", help="only data sets of this problem shape (e.g. many-to-one)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option for the loader (value read as YAML), e.g. for your own file: "
                        "--data-option text=review --data-option target=label")
    p.set_defaults(func=run)


def _sizes(sizes: dict[str, int]) -> str:
    keys = ("train", "valid", "test")
    if all(k in sizes for k in keys):
        return "/".join(f"{sizes[k]:,}" for k in keys)
    return ", ".join(f"{k} {v:,}" for k, v in sizes.items())


def _labels(info) -> str:  # type: ignore[no-untyped-def]
    if info.classes:
        shown = ", ".join(info.classes[:4]) + (", ..." if len(info.classes) > 4 else "")
        return f"{len(info.classes)} classes ({shown})"
    if info.output_vocab is not None:
        return f"vocab {len(info.output_vocab)}"
    if info.horizon:
        return f"horizon {info.horizon}"
    return ""


def _licence(text: str) -> str:
    """The package's licence and the data's, shortened: 'aeon package: BSD-3-Clause. Data: ...'."""
    return text.split(". Data:")[0].split(";")[0].replace(" package", "")[:60]


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    import rnnkit.datasets
    from rnnkit.cli.main import CLIError

    console = Console()
    if not console.is_terminal:  # a pipe or a file: rich's 80 columns would fold the table into slivers
        console = Console(width=160)
    if args.data_option and not args.name:
        raise CLIError("--data-option goes with a data set NAME (or FORMAT:path) to load")
    if args.name:
        from rnnkit.cli.train import _key_values

        options = _key_values(args.data_option, "--data-option")
        try:
            ds = rnnkit.datasets.load(args.name, **options)
        except TypeError as e:  # a user file's loader that needs options (target=, ...), or one it lacks
            from rnnkit.cli.runspec import options_error

            raise options_error(args.name, options, e) from e
        except (ValueError, OSError, ImportError) as e:
            raise CLIError(str(e).splitlines()[0] if str(e) else repr(e)) from e
        info = ds.info
        facts = {
            "name": info.name, "shape": info.shape, "task": info.task, "input": info.input_kind,
            "sizes": info.sizes, "features": info.num_features,
            "input vocab": len(info.input_vocab) if info.input_vocab else None,
            "output vocab": len(info.output_vocab) if info.output_vocab else None,
            "classes": info.classes, "horizon": info.horizon, "window": info.window,
            "metric": info.metric, "source": info.source, "licence": info.license,
            "published": [f"{p.model}: {p.metric} {p.value} ({p.source})" for p in info.published],
            "description": info.description,
        }
        facts = {k: v for k, v in facts.items() if v not in (None, [], "")}
        if args.json:
            print(json.dumps(facts, indent=2, ensure_ascii=False))
        else:
            for k, v in facts.items():
                console.print(f"[bold]{k:>12}[/]  {v}")
        return 0

    infos = rnnkit.datasets.list()
    if args.shape:
        infos = [i for i in infos if i.shape == args.shape]
        if not infos:
            raise CLIError(f"no data set has shape {args.shape!r}; shapes: one-to-one, one-to-many, "
                           "many-to-one, many-to-many, synced, forecasting")
    if args.json:
        rows = [{"name": i.name, "shape": i.shape, "task": i.task, "input": i.input_kind, "sizes": i.sizes,
                 "source": i.source, "license": i.license} for i in infos]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    table = Table(title=f"{len(infos)} bundled data sets, all offline (sizes as their sources split them: "
                        "load() carves valid from train where a source has no valid split)")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("shape", no_wrap=True)
    table.add_column("input")
    table.add_column("sizes")
    table.add_column("classes / vocab")
    table.add_column("source")
    table.add_column("licence", max_width=28)
    for i in infos:
        table.add_row(i.name, i.shape, i.input_kind, _sizes(i.sizes), _labels(i),
                      i.source.split(" ")[0], _licence(i.license))
    console.print(table)
    console.print("Load one with rnnkit.datasets.load(NAME) or `rnnkit datasets NAME`; your own files "
                  "with load('csv:PATH', ...) and the other formats in docs/DATA.md.")
    return 0
