"""``rnnkit predict RUN INPUT``: run a trained model on raw input, from its run folder alone.

INPUT is text (token models: ``"march 3, 2001"``), numbers (``"1.5 2 3"`` or ``"1,2,3"``), a CSV
file (one row per time step, one column per feature), a text file, an image file (PNG), or ``-``:
standard input, read as one input as a file would be.

    rnnkit predict runs/dates "march 3, 2001"        # -> 2001-03-03
    rnnkit predict runs/vowels sample.csv            # -> class and its probability
    rnnkit predict runs/air history.csv              # -> the forecast, one value per step
    rnnkit predict runs/captions digit.png           # -> the generated caption
    rnnkit predict runs/names "ann" --temperature 0.8 --seed 1   # a language model continues a prompt
    rnnkit predict runs/sales history.csv --future promos.csv    # with covariates known in advance
    rnnkit predict runs/air history.csv --quantiles 0.1,0.9      # with intervals (head=gaussian or quantile)

A CSV file is read as training reads its table (see :mod:`rnnkit.cli.predict_table`): its delimiter
(comma, tab or semicolon) from the first line, quoted fields whole, a header naming the run's
columns; an empty cell is an error naming the file, line and column. When the run was trained
with ``time=``, rows are sorted by that column, as training sorts them (a repeated time is an
error); with ``id=``, a file of several ids prints one line per id, in file order: the id, a tab,
and the prediction as ``--lines`` prints it. A file of other text than UTF-8 takes ``--encoding``.
A ``--future`` file that holds the time column, as the history does, holds the steps that follow
the history's last time, none skipped (see :mod:`rnnkit.cli.predict_future`).

It prints the class (with probabilities), the values, the tags, the generated sequence or the
forecast, decoded with the run's saved vocabulary. A language model prints what follows the prompt;
an empty prompt (``""``) starts a new sequence. Runs that generate decode as trained unless
``--decode`` (greedy, beam or sample) and its options say otherwise; ``--ban-unk`` keeps ``<unk>``
out of the output, whatever the strategy.

With ``--lines``, INPUT is a file (or ``-``, standard input) holding one input per line: text or
numbers. It prints one prediction per line, in the same order (a class with its probability, the
tags, the generated sequence or the values), so that the output lines up with the input; a blank
line gives a blank line. Inputs of equal length are batched together (``--batch-size``).

    rnnkit predict runs/g2p words.txt --lines --output phonemes.txt
    cut -f1 reviews.tsv | rnnkit predict runs/sentiment - --lines

With ``--column NAME``, INPUT is a CSV, Parquet or JSON-lines table and each row's NAME value is
an input; ``--output`` then writes the table back with a ``prediction`` column (and ``probability``
for a classifier), in the format its suffix names.

    rnnkit predict runs/sentiment new_reviews.csv --column review --output scored.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from rnnkit.cli import predict_quantiles
from rnnkit.cli.main import CLIError
from rnnkit.cli.predict_describe import _class_probs, _sequence_text, _tags_text, describe, describe_rows  # noqa: F401
from rnnkit.cli.predict_future import read_future
from rnnkit.cli.predict_inputs import (
    FILE_SUFFIXES,
    IMAGE_SUFFIXES,
    UnknownInput,
    batch_for,
    build_batches,
    check_unknown,
    encode_text,
    feature_names,
    input_file,
    item_batch,
    parse_numbers,
    read_image,
    read_lines,
)
from rnnkit.cli.predict_model import decoding_options, finish, generate, prepare
from rnnkit.cli.predict_table import STDIN, Layout, Rows, check_encoding, name_of, numbers, read_table, read_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict from raw input with a trained run folder",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `rnnkit train`")
    p.add_argument("input", metavar="INPUT", help="text, numbers, a .csv / .txt / .png file, or - for standard input")
    p.add_argument("--top", type=int, default=3, metavar="K", help="classes to show with probabilities")
    p.add_argument("--lines", action="store_true",
                   help="INPUT is a file (or - for standard input) of one input per line; one prediction per line")
    p.add_argument("--column", metavar="NAME",
                   help="INPUT is a CSV, Parquet or JSON-lines table: predict from this column, one row each")
    p.add_argument("--batch-size", type=int, default=64, metavar="N",
                   help="inputs per batch with --lines or --column")
    p.add_argument("--output", metavar="FILE", help="with --lines: write the predictions to FILE; with --column: "
                   "write the table with a prediction column (CSV, .parquet or .jsonl by the suffix)")
    p.add_argument("--future", metavar="FILE",
                   help="a forecaster trained with covariates: a CSV of their known values over the forecast's "
                        "steps, one row per step, with the covariates' column names")
    g = p.add_argument_group("decoding (seq2seq, generators and language models; default: the run's own)")
    g.add_argument("--decode", choices=("greedy", "beam", "sample"),
                   help="the strategy (--beam-size implies beam; --temperature, --top-k, --top-p and --seed "
                        "imply sample)")
    g.add_argument("--beam-size", type=int, metavar="K", help="hypotheses kept by beam search")
    g.add_argument("--temperature", type=float, metavar="T",
                   help="sampling temperature (> 0, finite; below 1 sharpens the distribution, more conservative; "
                        "above 1 flattens it, bolder)")
    g.add_argument("--top-k", type=int, metavar="K", help="sample among the K likeliest tokens")
    g.add_argument("--top-p", type=float, metavar="P", help="sample among the likeliest tokens holding P of the mass")
    g.add_argument("--max-length", type=int, metavar="N",
                   help="tokens to generate at most, an eos counted among them (an output cut at N has no eos)")
    g.add_argument("--seed", type=int, metavar="S", help="seed of the sampler, for repeatable samples")
    g.add_argument("--ban-unk", action="store_true",
                   help="never generate <unk> (with any strategy; off by default, as an <unk> can be the honest "
                        "output for a word the vocabulary lacks)")
    p.add_argument("--encoding", metavar="NAME",
                   help="the text encoding of INPUT and --future files (default UTF-8; with --column, the run's "
                        "own read_options encoding)")
    predict_quantiles.add_arguments(p)
    p.set_defaults(func=run)


def _stack(batches: list[Any]) -> Any:
    """Batches of one, all of the same shape, as one batch."""
    import torch

    from rnnkit.data.batch import Batch

    def cat(name: str) -> Any:
        parts = [getattr(b, name) for b in batches]
        return None if parts[0] is None else torch.cat(parts)

    return Batch(x=cat("x"), lengths=cat("lengths"), cond=cat("cond"))


def predict_many(inputs: list[str], where: Any, loaded: Any, batch_size: int,
                 decoding: dict[str, Any] | None = None) -> tuple[list[str], list[int]]:
    """One prediction line per input (``""`` for a blank one), and the unknown-token counts.

    ``where(i)`` names input ``i`` in errors (``"FILE, line N"``). Inputs of equal shape are batched
    together, up to ``batch_size``, so nothing is padded and each result is that of a call alone. A
    sampled input is decoded alone (a batch of one, with a generator seeded afresh by ``--seed``): a
    batch draws its rows from one random stream, so a line's sample would depend on the other lines
    and on ``--batch-size``; this way it is what that input gets by itself with the same ``--seed``."""
    import collections

    import torch

    if batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {batch_size}")
    info, model = loaded.info, loaded.model.eval()
    unknown: list[int] = []
    groups: dict[Any, list[tuple[int, Any, list[str]]]] = collections.defaultdict(list)
    unreadable: list[str] = []
    for i, raw in enumerate(inputs):
        if not raw.strip():
            continue
        try:
            batch, tokens = batch_for(raw, None, info, loaded.extras, unknown)
            batch = prepare(batch, model, info, loaded.extras)
        except UnknownInput:
            unreadable.append(where(i))
            continue
        except CLIError as e:
            raise CLIError(f"{where(i)}: {e}") from e
        shape = tuple(t.shape if t is not None else None for t in (batch.x, batch.cond))
        groups[shape].append((i, batch, tokens))  # equal shapes batch without padding
    out = [""] * len(inputs)
    size = 1 if decoding is not None and decoding.get("method") == "sample" else batch_size
    with torch.no_grad():
        for members in groups.values():
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                batch = _stack([b for _, b, _ in chunk])
                try:
                    prediction = finish(generate(model, batch, decoding), info, loaded.extras)
                except (ValueError, RuntimeError) as e:
                    raise CLIError(f"{where(chunk[0][0])}: the model cannot read this input: "
                                   f"{str(e).splitlines()[0]}") from e
                for (i, _, _), text in zip(chunk, describe_rows(prediction, model, batch, info,
                                                                [t for _, _, t in chunk])):
                    out[i] = text
    if unreadable:
        shown = "; ".join(unreadable[:5]) + ("; ..." if len(unreadable) > 5 else "")
        print(f"note: {len(unreadable)} input(s) hold no token in the run's vocabulary, so their output line is "
              f"blank: {shown}", file=sys.stderr)
    return out, unknown


def _note_unknown(unknown: list[int], what: str) -> None:
    if unknown:
        print(f"note: {len(unknown)} input {what}(s) hold {sum(unknown)} token(s) that are not in the run's "
              "vocabulary; they are read as <unk>", file=sys.stderr)


def _same_file(output: str, raw: str) -> bool:
    """Whether ``--output`` names the input file itself (writing it would overwrite the input)."""
    try:
        return raw != "-" and Path(output).resolve() == Path(raw).resolve()
    except OSError:  # a long text is no file name
        return False


def write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise CLIError(f"cannot write {path}: {e.strerror or e}") from e


def predict_lines(args: argparse.Namespace, loaded: Any, decoding: dict[str, Any] | None = None) -> int:
    """``--lines``: one prediction per input line, in order (blank lines stay blank)."""
    name, lines = read_lines(args.input, args.encoding or "utf-8")
    if not any(line.strip() for line in lines):
        raise CLIError(f"{name} has no input lines (one input per line)")
    out, unknown = predict_many(lines, lambda i: f"{name}, line {i + 1}", loaded, args.batch_size, decoding)
    _note_unknown(unknown, "line")
    text = "".join(line + "\n" for line in out)
    if args.output:
        write_text(args.output, text)
        print(f"{sum(1 for line in lines if line.strip())} predictions for {len(lines)} lines -> {args.output}",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def predict_column(args: argparse.Namespace, loaded: Any, read_options: dict[str, Any] | None = None,
                   decoding: dict[str, Any] | None = None) -> int:
    """``--column NAME``: the inputs are a column of a CSV, Parquet or JSON-lines table, one per row.
    The predictions print one per row, or go into a copy of the table (``--output``, its format from
    the suffix) as a ``prediction`` column, with ``probability`` for classes. A CSV row with more or
    fewer fields than the header is an error naming its line, as in training: the table written back
    would otherwise hold its values under other columns' names."""
    from rnnkit.data.formats import DataFileError
    from rnnkit.data.formats.csv_checks import check_field_counts
    from rnnkit.data.formats.table_text import row_count, text_read_options
    from rnnkit.data.formats.tables import read_table, table_kind

    if table_kind(args.input) != "parquet" and Path(args.input).is_file():
        check_encoding(Path(args.input), str((read_options or {}).get("encoding", "utf-8")))
    try:
        table = read_table(args.input, read_options=text_read_options(args.input, read_options, [args.column])
                           if loaded.info.input_kind == "tokens" else read_options)
        if table.kind == "csv":  # every row is written back: a short one would shift nothing into place
            check_field_counts(table.path, table.read_options or {})
    except (DataFileError, FileNotFoundError) as e:
        raise CLIError(str(e).splitlines()[0]) from e
    frame = table.frame
    if args.column not in frame.columns:
        raise CLIError(f"{table.path}: column {args.column!r} does not exist; the columns are "
                       f"{[str(c) for c in frame.columns]}")
    values = frame[args.column]
    missing = [i for i, v in enumerate(values.isna().to_numpy()) if v]
    if missing:
        raise CLIError(f"{table.path}, line {table.line(missing[0])}, field {args.column!r}: missing input "
                       f"({row_count(len(missing))})")
    inputs = [str(v) for v in values]
    blank = [i for i, v in enumerate(inputs) if not v.strip()]
    if blank:
        raise CLIError(f"{table.path}, line {table.line(blank[0])}, field {args.column!r}: blank input "
                       f"({row_count(len(blank))})")
    out, unknown = predict_many(inputs, lambda i: f"{table.path}, line {table.line(i)}", loaded, args.batch_size,
                                decoding)
    _note_unknown(unknown, "row")
    if not args.output:
        sys.stdout.write("".join(line + "\n" for line in out))
        return 0
    result = frame.copy()
    classes = loaded.info.task == "classification" and bool(loaded.info.classes)
    for name in ("prediction", "probability") if classes else ("prediction",):
        if name in result.columns:
            raise CLIError(f"{table.path} already has a column {name!r}; rename it, or write the predictions "
                           "without --output")
    if classes:
        result["prediction"] = [line.split("\t")[0] for line in out]
        result["probability"] = [float(line.split("\t")[1]) if "\t" in line else float("nan") for line in out]
    else:
        result["prediction"] = out
    kind = table_kind(args.output)
    try:
        if kind == "parquet":
            result.to_parquet(args.output, index=False)
        elif kind == "jsonl":
            result.to_json(args.output, orient="records", lines=True, force_ascii=False)
        else:
            result.to_csv(args.output, index=False)
    except (OSError, ValueError, ImportError) as e:
        raise CLIError(f"cannot write {args.output}: {e}") from e
    print(f"{len(out)} predictions -> {args.output} (the table with a prediction column)", file=sys.stderr)
    return 0


def predict_each(items: list[tuple[str | None, Any, list[str]]], loaded: Any,
                 decoding: dict[str, Any] | None) -> int:
    """One line per sequence of a table that holds the run's id column (one id or several), in file
    order: the id, a tab, and the prediction as ``--lines`` prints it (a class with its probability,
    the tags or the values)."""
    import torch

    model = loaded.model.eval()
    for key, batch, tokens in items:
        try:
            batch = prepare(batch, model, loaded.info, loaded.extras)
            with torch.no_grad():
                prediction = finish(generate(model, batch, decoding), loaded.info, loaded.extras)
        except CLIError as e:
            raise CLIError(f"id {key!r}: {e}") from e
        except (ValueError, RuntimeError) as e:
            raise CLIError(f"id {key!r}: the model cannot read this input: {str(e).splitlines()[0]}") from e
        print(f"{key}\t{describe_rows(prediction, model, batch, loaded.info, [tokens])[0]}")
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    from rnnkit.cli.runspec import open_run

    if args.top < 1:
        raise CLIError(f"--top must be >= 1, got {args.top}")
    if args.lines and args.column:
        raise CLIError("--lines and --column are two ways to read many inputs: pass one")
    if args.output and not (args.lines or args.column or args.quantiles is not None):
        raise CLIError("--output goes with --lines or --column (one prediction per input line or row), or with "
                       "--quantiles (the forecast table as CSV)")
    if args.output and _same_file(args.output, args.input):
        raise CLIError(f"--output {args.output} is the input file: write the predictions to another file")
    loaded, spec = open_run(args.run_dir)
    levels = predict_quantiles.levels_given(args, loaded.info)
    decoding = decoding_options(args, loaded.info)
    covariates = list((getattr(loaded.info, "extra", None) or {}).get("covariates") or [])
    if args.future and not covariates:
        raise CLIError(f"--future is for a forecaster trained with covariates; this run ({loaded.info.name}) has none")
    if covariates and (args.lines or args.column):
        raise CLIError("this forecaster reads known-future covariates (--future FILE), which go with one history "
                       "at a time: drop --lines / --column")
    if covariates and not args.future:
        raise CLIError(f"this forecaster was trained with the covariates {covariates}: pass --future FILE, a CSV "
                       f"of their values over the next {loaded.info.horizon} steps")
    if args.lines:
        return predict_lines(args, loaded, decoding)
    if args.column:
        options = (spec.data_options or {}).get("read_options") if spec is not None else None
        # the run's own file was read in this encoding: a table of new rows from the same source likely is too
        kept = {k: v for k, v in (options or {}).items() if k == "encoding"}
        return predict_column(args, loaded, {"encoding": args.encoding} if args.encoding else kept, decoding)
    layout = Layout.of_run(spec.data_options if spec is not None else None, args.encoding)
    tables: list[Rows] = []  # the history's rows, with their times, for --future to follow
    items = build_batches(args.input, loaded.info, loaded.extras, layout, tables=tables)
    # a table that holds the run's id column answers per id, one id or many, so that a script reads
    # one format; --future and --quantiles take one history and answer in full
    if len(items) > 1 or (items[0][0] is not None and not covariates and levels is None):
        if covariates or levels is not None:
            raise CLIError(f"{args.input} holds {len(items)} series (column {layout.id_column!r}); --future and "
                           "--quantiles go with one history at a time: pass one id's rows")
        return predict_each(items, loaded, decoding)
    _, batch, tokens = items[0]
    model = loaded.model.eval()
    batch = prepare(batch, model, loaded.info, loaded.extras)
    if covariates:
        future = read_future(Path(args.future), covariates, loaded.info.horizon, layout,
                             history=tables[0] if tables else None)
        batch = dataclasses.replace(batch, future=future)
    with torch.no_grad():
        try:
            prediction = finish(generate(model, batch, decoding), loaded.info, loaded.extras)
        except (ValueError, RuntimeError) as e:
            raise CLIError(f"the model cannot read this input: {str(e).splitlines()[0]}") from e
        if levels is not None:
            q, levels = predict_quantiles.forecast_quantiles(model, batch, levels, args)
            q = predict_quantiles.unscale(q, lambda t: finish(t, loaded.info, loaded.extras))
            predict_quantiles.report(prediction, q, levels, model, loaded.info, args)
            return 0
        for line in describe(prediction, model, batch, loaded.info, tokens, args.top):
            print(line)
    return 0


__all__ = [  # the command, and the names it has always offered (now in the modules above)
    "FILE_SUFFIXES", "IMAGE_SUFFIXES", "STDIN", "Layout", "UnknownInput", "add_parser", "batch_for", "build_batches",
    "check_encoding", "check_unknown", "decoding_options", "describe", "describe_rows", "encode_text",
    "feature_names", "finish", "generate", "input_file", "item_batch", "name_of", "numbers", "parse_numbers",
    "predict_column", "predict_each", "predict_lines", "predict_many", "prepare", "read_future", "read_image",
    "read_lines", "read_table", "read_text", "run", "write_text",
]
