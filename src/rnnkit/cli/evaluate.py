"""``rnnkit evaluate RUN``: rebuild a run from its folder alone, score it on the test split.

    rnnkit evaluate runs/jv                 # prints the metrics, updates metrics.json
    rnnkit evaluate runs/jv --report        # also redraws plots/ and report.html

The model, vocabularies and scalers come from the folder; the data set named in it is loaded
again from the bundled copy (or the user's file it was trained on).
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a trained run folder on its test split",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `rnnkit train`")
    p.add_argument("--report", action="store_true", help="redraw plots/*.png and report.html")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rnnkit.cli.runspec import check_same_encoding, load_data, open_run
    from rnnkit.cli.train import evaluate_run, print_metrics
    from rnnkit.cli.train_metrics import LIMIT_CUTS, limit_cuts, limit_facts

    loaded, spec = open_run(args.run_dir)
    dataset = load_data(spec)
    check_same_encoding(dataset, loaded)
    dataset.extras.update(loaded.extras)  # the run's fitted scalers and vocabularies win
    metrics = evaluate_run(loaded.model, dataset, Path(args.run_dir))
    cuts = limit_cuts(dataset.info)
    loaded.info.extra = {**loaded.info.extra, LIMIT_CUTS: cuts}  # the table is printed from the run's info
    print_metrics(metrics, loaded.info, f"{loaded.info.name}: {'test' if len(dataset.test) else 'valid'} metrics")
    if args.report:
        from rnnkit.report.run_plots import make_run_report

        path = make_run_report(loaded.model, dataset, args.run_dir, metrics=metrics, facts=limit_facts(spec, cuts))
        print(f"report: {path}")
    return 0
