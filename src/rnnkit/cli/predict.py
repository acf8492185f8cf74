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
import os
import re
import sys
from pathlib import Path
from typing import Any

from rnnkit.cli import predict_quantiles
from rnnkit.cli.main import CLIError
from rnnkit.cli.predict_table import STDIN, Layout, check_encoding, name_of, numbers, read_table, read_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", *IMAGE_SUFFIXES)


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
                   help="the strategy (--beam-size implies beam; --temperature, --top-k and --top-p imply sample)")
    g.add_argument("--beam-size", type=int, metavar="K", help="hypotheses kept by beam search")
    g.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (> 0; below 1 is bolder)")
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


def decoding_options(args: argparse.Namespace, info: Any) -> dict[str, Any] | None:
    """The decoding keywords that the flags ask for, or None for the run's own decoding. With
    ``--ban-unk`` alone, ``method`` is None: the run's own strategy, with ``<unk>`` banned."""
    sampling = {k: getattr(args, k, None) for k in ("temperature", "top_k", "top_p", "seed")}
    given = {k: v for k, v in {**sampling, "beam_size": getattr(args, "beam_size", None),
                               "max_length": getattr(args, "max_length", None)}.items() if v is not None}
    method = getattr(args, "decode", None)
    ban = {"ban_unk": True} if getattr(args, "ban_unk", False) else {}
    if ban and info.task not in ("seq2seq", "generation"):
        raise CLIError(f"--ban-unk is for models that generate sequences; this run ({info.name}) is {info.task}")
    if method is None and not given:
        return {"method": None, **ban} if ban else None
    if info.task == "forecasting" and getattr(args, "quantiles", None) is not None and set(given) <= {"seed"} \
            and method is None:
        return None  # --seed seeds the forecaster's sample paths
    if info.task not in ("seq2seq", "generation"):
        raise CLIError(f"--decode, --beam-size, --temperature, --top-k, --top-p, --max-length and --seed are for "
                       f"models that generate sequences; this run ({info.name}) is {info.task}")
    if method is None:
        method = "beam" if "beam_size" in given else "sample" if any(k in given for k in sampling) else "greedy"
    wrong = [k for k in given if (k in sampling and method != "sample") or (k == "beam_size" and method != "beam")]
    if wrong:
        flag = "--" + wrong[0].replace("_", "-")
        raise CLIError(f"{flag} does not go with --decode {method}")
    for key, low in (("beam_size", 1), ("top_k", 1), ("max_length", 1)):
        if key in given and given[key] < low:
            raise CLIError(f"--{key.replace('_', '-')} must be >= {low}, got {given[key]}")
    if "temperature" in given and not given["temperature"] > 0:
        raise CLIError(f"--temperature must be > 0, got {given['temperature']}")
    if "top_p" in given and not 0 < given["top_p"] <= 1:
        raise CLIError(f"--top-p must be in (0, 1], got {given['top_p']}")
    return {"method": method, **given, **ban}


def prepare(batch: Any, model: Any, info: Any, extras: dict[str, Any]) -> Any:
    """What training did to an input before the model read it: numbers scaled with the run's
    scaler when its data were, and a forecaster's history cut to the last ``window`` steps it was
    trained on, a shorter one refused (``Forecaster.forecast`` does the same). ``batch`` holds one
    input."""
    import torch

    from rnnkit.train.evaluation import declared_scaler

    if batch.x is None or not batch.x.is_floating_point() or batch.x.dim() != 3:
        return batch
    x, lengths = batch.x, batch.lengths
    window = getattr(getattr(model, "config", None), "window", None) or info.window
    if info.task == "forecasting" and window and x.shape[1] < window:
        raise CLIError(f"a history of {x.shape[1]} steps is shorter than this forecaster's window of {window} "
                       f"steps (it learnt from windows of exactly {window}); pass at least {window} steps")
    if info.task == "forecasting" and window and x.shape[1] > window:
        x, lengths = x[:, -window:], torch.full_like(lengths, window) if lengths is not None else None
    declared = declared_scaler(info, extras)
    if declared is not None:
        x = torch.as_tensor(declared[0].transform(x.numpy()), dtype=torch.float32)
    return dataclasses.replace(batch, x=x, lengths=lengths)


def finish(prediction: Any, info: Any, extras: dict[str, Any]) -> Any:
    """A forecast of scaled data back in the data's units (the targets' columns of the scaler)."""
    import torch

    from rnnkit.train.evaluation import declared_scaler, unscale_targets

    declared = declared_scaler(info, extras)
    if info.task != "forecasting" or declared is None:
        return prediction
    scaler, targets = declared
    return unscale_targets(scaler, torch.as_tensor(prediction).float().cpu(), targets)


def generate(model: Any, batch: Any, options: dict[str, Any] | None) -> Any:
    """``model.predict(batch)``, or the generation the ``options`` of :func:`decoding_options` ask for."""
    if options is None:
        return model.predict(batch)
    import torch

    from rnnkit.models import ConditionedGenerator, LanguageModel
    from rnnkit.models.ensemble import configured_method

    kwargs = dict(options)
    method = kwargs.pop("method") or configured_method(model)
    if "seed" in kwargs:
        kwargs["generator"] = torch.Generator(device=model.device).manual_seed(int(kwargs.pop("seed")))
    if isinstance(model, LanguageModel):
        return model.generate(batch.x, method=method, prompt_lengths=batch.lengths, **kwargs)
    if isinstance(model, ConditionedGenerator):
        return model.generate(batch.cond, method=method, **kwargs)
    return model.generate(batch, method=method, **kwargs)  # Seq2Seq, Ensemble


def parse_numbers(text: str) -> list[float]:
    """``"1, 2.5 3"`` -> ``[1.0, 2.5, 3.0]``; a one-line error for anything that is not a finite number."""
    try:
        values = numbers(text)
    except ValueError as e:
        raise CLIError(f"the input {text[:40]!r}: {e}") from e
    if not values:
        raise CLIError("the input is empty: pass numbers, text or a file")
    return values


def feature_names(info: Any) -> list[str] | None:
    """The column names a run on a user's table reads as x, in order (sequence tables: ``features``;
    forecasting tables: ``columns``), or None for data without them."""
    extra = getattr(info, "extra", None) or {}
    names = extra.get("features") or extra.get("columns")
    return list(names) if isinstance(names, (list, tuple)) else None


def read_future(path: Path, covariates: list[str], horizon: int | None, layout: Layout | None = None) -> Any:
    """``(1, H, C)``: the covariates' known values over the forecast's ``H`` steps, read by name (and
    sorted by the run's time column when the file holds it)."""
    import torch

    if not path.is_file():
        raise CLIError(f"--future file {path} does not exist")
    groups = read_table(path, covariates, header_required=True, layout=layout)
    if len(groups) > 1:
        raise CLIError(f"{path}: holds the covariates of {len(groups)} series (one per id); --future goes with "
                       "one history at a time")
    values = groups[0][1]
    if horizon is not None and values.shape[0] != horizon:
        raise CLIError(f"{path}: {values.shape[0]} row(s) of covariates, but this forecaster forecasts {horizon} "
                       f"steps and needs one row per step")
    return torch.as_tensor(values, dtype=torch.float32)[None]


def input_file(raw: str) -> Path | None:
    """The file ``raw`` names (:data:`STDIN` for ``-``), None when it is text or numbers; a one-line
    error for a folder or a missing file (no spaces, and a file suffix or a path: ``/``, ``./`` or
    ``../`` in front, or a folder that exists; ``12/25/1999`` is text)."""
    if raw == "-":
        return STDIN
    if not raw.strip():
        return None
    path = Path(raw)
    try:
        if path.is_file():
            return path
        if path.is_dir():
            raise CLIError(f"{path} is a folder; pass a file, text or numbers")
    except OSError:  # a long text is no file name
        return None
    if re.search(r"\s", raw):
        return None
    seps = [s for s in (os.sep, os.altsep) if s]
    relative = tuple(f"{d}{s}" for d in (".", "..") for s in seps)
    a_path = path.is_absolute() or raw.startswith(relative) or (any(s in raw for s in seps) and path.parent.is_dir())
    if path.suffix.lower() in FILE_SUFFIXES or a_path:
        raise CLIError(f"input file {raw} does not exist (no such file; pass text, numbers or an existing file)")
    return None


def read_image(path: Path, shape: tuple[int, ...], scale: float) -> Any:
    """An image file as a float tensor of ``shape`` (``(C, H, W)`` or ``(H*W,)``), grey, resized."""
    import matplotlib.image as mpimg
    import torch
    import torch.nn.functional as F

    try:
        img = torch.as_tensor(mpimg.imread(path), dtype=torch.float32)
    except (OSError, ValueError, SyntaxError) as e:
        raise CLIError(f"cannot read image {path}: {e}") from e
    if img.dim() == 3:
        img = img[..., :3].mean(-1)  # grey
    if img.max() > 1:
        img = img / 255.0
    if float(img.mean()) > 0.5:
        img = 1.0 - img  # dark ink on light paper -> the data's light-on-dark convention
    h, w = (shape[-2], shape[-1]) if len(shape) >= 2 else (int(round(shape[0] ** 0.5)),) * 2
    img = F.interpolate(img[None, None], size=(h, w), mode="area")[0, 0] * scale
    return img.reshape(shape)


def encode_text(text: str, info: Any, extras: dict[str, Any],
                notes: list[int] | None = None) -> tuple[list[int], list[str]]:
    """Text -> input ids with the run's tokenizer, else its vocabulary (characters or words), and
    the text's tokens where there is one per id (else []).

    Unknown tokens are read as ``<unk>`` with a note on stderr; text with no known token at all
    is refused (the model would see nothing but ``<unk>``)."""
    if not text.strip():
        raise CLIError("the input text is empty")
    tok = extras.get("tokenizer") or extras.get("input_tokenizer") or extras.get("source_tokenizer")
    if tok is not None and hasattr(tok, "encode"):
        ids = list(tok.encode(text))
        tokens = tok.tokenize(text) if hasattr(tok, "tokenize") else []
    else:
        vocab = info.input_vocab
        if vocab is None:
            raise CLIError(f"this run ({info.name}) has no input vocabulary to encode text with")
        chars = all(len(t) == 1 for t in vocab.itos[4:])
        tokens = list(text) if chars else text.split()
        lowered = (getattr(info, "extra", None) or {}).get("lowercase")  # lowercased tokens (conll: lowercase)
        ids = vocab.encode([t.lower() for t in tokens] if lowered else tokens)
    if not ids:
        raise CLIError("the input text is empty")
    tokens = tokens if len(tokens) == len(ids) else []
    check_unknown(ids, tokens, info, notes)
    return ids, tokens


class UnknownInput(CLIError):
    """An input none of whose tokens the run knows: an error alone; with ``--lines`` or ``--column``
    a blank output line and a note, so that one such line does not stop the others."""


def check_unknown(ids: list[int], tokens: list[str], info: Any, notes: list[int] | None = None) -> None:
    """A note on stderr for tokens the run never saw (read as ``<unk>``); an error when all are.
    With ``notes``, the count of unknown tokens is appended there instead of printed."""
    from rnnkit.data.vocab import UNK, Vocab

    unknown = [i for i, t in enumerate(ids) if t == Vocab.unk_id and (not tokens or tokens[i] != UNK)]
    if not unknown:
        return
    shown = ", ".join(dict.fromkeys(repr(tokens[i]) for i in unknown[:8])) if tokens else ""
    named = f" ({shown}{', ...' if len(unknown) > 8 else ''})" if shown else ""
    if len(unknown) == len(ids):
        raise UnknownInput(f"none of the input's {len(ids)} token(s) is in the vocabulary of this run ({info.name})"
                       f"{named}: check the language and the spelling")
    if notes is not None:
        notes.append(len(unknown))
        return
    print(f"note: {len(unknown)} of {len(ids)} input token(s) are not in the run's vocabulary and are read "
          f"as <unk>{named}", file=sys.stderr)


def build_batches(raw: str, info: Any, extras: dict[str, Any],
                  layout: Layout | None = None) -> list[tuple[str | None, Any, list[str]]]:
    """The model's input batches for ``raw``, each with its id and its input tokens (for tagging
    output): one, or one per id of a table that holds the run's id column, in file order."""
    import torch

    path = input_file(raw)
    if path is None or info.input_kind == "tokens" or path.suffix.lower() in IMAGE_SUFFIXES:
        return [(None, *batch_for(raw, path, info, extras, layout=layout))]
    groups = read_table(path, feature_names(info), layout=layout)
    return [(key, item_batch(torch.as_tensor(values), info, name_of(path) if key is None
                             else f"{name_of(path)}, id {key!r}"), []) for key, values in groups]


def batch_for(raw: str, path: Path | None, info: Any, extras: dict[str, Any],
              notes: list[int] | None = None, *, layout: Layout | None = None) -> tuple[Any, list[str]]:
    """A batch of one: the input ``raw`` (text or numbers), or the file ``path`` when given (a
    table of numbers as one sequence: :func:`build_batches` reads one per id)."""
    import torch

    from rnnkit.data.batch import Batch

    encoding = (layout or Layout()).encoding
    if info.input_kind == "tokens" and (getattr(info, "extra", None) or {}).get("prompt_bos"):  # an LM's prompt
        from rnnkit.data.vocab import Vocab

        text = read_text(path, encoding).rstrip("\n") if path is not None else raw
        ids, tokens = encode_text(text, info, extras, notes) if text.strip() else ([], [])
        return Batch(x=torch.tensor([[Vocab.bos_id, *ids]]), lengths=torch.tensor([len(ids) + 1])), tokens
    if info.input_kind == "tokens":
        text = read_text(path, encoding).strip() if path is not None else raw
        ids, tokens = encode_text(text, info, extras, notes)  # tagging output shows the words as written
        if not tokens:
            tokens = info.input_vocab.decode(ids, strip_specials=False) if info.input_vocab else [str(i) for i in ids]
        return Batch(x=torch.tensor([ids]), lengths=torch.tensor([len(ids)])), tokens
    scale = float(info.extra.get("pixel_max", 1.0)) if info.extra else 1.0
    cond_shape = tuple(info.cond_shape) if info.cond_shape else None
    if path is not None and path.suffix.lower() in IMAGE_SUFFIXES:
        shape = cond_shape or (tuple(info.extra.get("image_shape", ())) if info.extra else ()) or (
            (info.num_features,) if info.num_features else ())
        if not shape:
            raise CLIError(f"this run ({info.name}) does not take images")
        return item_batch(read_image(path, shape, scale), info), []
    if path is not None:
        groups = read_table(path, feature_names(info), layout=layout)
        if len(groups) > 1:
            raise CLIError(f"{name_of(path)} holds {len(groups)} sequences (one per id); pass one at a time here")
        return item_batch(torch.as_tensor(groups[0][1]), info, name_of(path)), []
    return item_batch(torch.tensor(parse_numbers(raw)).reshape(-1, 1), info), []


def item_batch(item: Any, info: Any, where: str | None = None) -> Any:
    """A batch of one from one input's values (``(T, F)``, or an image's shape); ``where`` names the
    file in errors."""
    import torch

    from rnnkit.data.batch import Batch

    item = item.float()
    at = f"{where}: " if where else ""
    cond_shape = tuple(info.cond_shape) if info.cond_shape else None
    if cond_shape is not None:  # one-to-many: the input conditions the generator
        if item.numel() != int(torch.tensor(cond_shape).prod()):
            raise CLIError(f"{at}this run needs {cond_shape} values (or an image), got {tuple(item.shape)}")
        return Batch(x=None, cond=item.reshape(1, *cond_shape))
    if info.shape == "one-to-one":
        return Batch(x=item.reshape(1, -1) if item.dim() <= 2 else item[None])
    features = info.num_features or 1
    if item.dim() == 2 and item.shape[1] != features:
        if item.shape[1] == 1 and item.shape[0] % features == 0:
            item = item.reshape(-1, features)
        elif item.shape[1] == 1:
            raise CLIError(f"{at}this run needs {features} feature(s) per step: got {item.shape[0]} value(s), not "
                           f"a multiple of {features} (or pass a CSV file, one column per feature)")
        else:
            raise CLIError(f"{at}this run needs {features} feature(s) per step, got {item.shape[1]} columns (one "
                           "column per feature, or a header naming the run's columns)")
    return Batch(x=item[None], lengths=torch.tensor([item.shape[0]]))


def _class_probs(model: Any, batch: Any) -> Any:
    """``(B, C)`` class probabilities, or None for a model that gives neither them nor logits."""
    if callable(getattr(model, "predict_proba", None)):  # classifiers, and an Ensemble's members' mean
        return model.predict_proba(batch)
    logits = model(batch).logits
    return None if logits is None else logits.softmax(-1)


def _tags_text(tags: Any, tokens: list[str], info: Any) -> str:
    names = info.classes or []
    named = [names[int(t)] if int(t) < len(names) else str(int(t)) for t in tags[: len(tokens) or None]]
    return " ".join(f"{w}/{t}" for w, t in zip(tokens, named)) if tokens else " ".join(named)


def _sequence_text(ids: list[int], info: Any) -> str:
    from rnnkit.report.predictions import decode_tokens

    out = decode_tokens(info.output_vocab, ids)
    # the vocabulary decides, not this output: a character model's one <unk> must not space out the rest
    chars = info.output_vocab is not None and all(len(t) == 1 for t in info.output_vocab.itos[4:])
    return ("" if chars else " ").join(out)


def describe(prediction: Any, model: Any, batch: Any, info: Any, tokens: list[str], top: int) -> list[str]:
    """Lines of text that say what the model predicted for a batch of one: the ``top`` classes with
    their probabilities, else :func:`describe_rows`'s line (a forecast under a line that says so)."""
    import torch

    if info.task == "classification" and info.classes:
        probs = _class_probs(model, batch)
        if probs is None:
            return [info.classes[int(prediction[0])]]
        best = torch.argsort(probs[0], descending=True)[: max(1, top)]
        return [info.classes[int(best[0])]] + [f"  {info.classes[int(i)]}: {float(probs[0, i]):.3f}" for i in best]
    lines = describe_rows(prediction, model, batch, info, [tokens])
    if info.task == "forecasting":
        values = torch.as_tensor(prediction)
        if values.dim() == 3 and values.shape[-1] > 1:  # (1, H, K): one line per target, not K*H steps
            names = (feature_names(info) or [])[: values.shape[-1]]
            names = names if len(names) == values.shape[-1] else [f"target {k + 1}" for k in range(values.shape[-1])]
            return [f"forecast for the next {values.shape[1]} steps of {values.shape[-1]} targets:",
                    *(f"{name}: " + " ".join(f"{v:.4g}" for v in values[0, :, k].tolist())
                      for k, name in enumerate(names))]
        return [f"forecast for the next {values.numel()} steps:", *lines]
    return lines


def describe_rows(prediction: Any, model: Any, batch: Any, info: Any, tokens: list[list[str]]) -> list[str]:
    """One line per row of the batch: the class and its probability (tab-separated), the tags, the
    generated sequence or the values."""
    import torch

    from rnnkit.report.predictions import generated_ids

    task, rows = info.task, len(tokens)
    if task == "classification" and info.classes:
        probs = _class_probs(model, batch)
        if probs is None:
            return [info.classes[int(c)] for c in prediction]
        best = probs.argmax(-1)
        return [f"{info.classes[int(b)]}\t{float(probs[i, b]):.3f}" for i, b in enumerate(best)]
    if task == "tagging":
        return [_tags_text(prediction[i], tokens[i], info) for i in range(rows)]
    if task in ("seq2seq", "generation"):
        return [_sequence_text(ids, info) for ids in generated_ids(prediction)]
    values = torch.as_tensor(prediction).reshape(rows, -1).tolist()
    return [" ".join(f"{v:.4g}" for v in row) for row in values]


def read_lines(raw: str, encoding: str = "utf-8") -> tuple[str, list[str]]:
    """The name of ``raw`` and its lines: a file, or standard input for ``-``."""
    if raw == "-":
        return "<stdin>", sys.stdin.read().splitlines()
    path = Path(raw)
    if path.is_dir():
        raise CLIError(f"{path} is a folder; --lines reads a file of one input per line")
    if not path.is_file():
        raise CLIError(f"input file {path} does not exist (--lines reads a file of one input per line, or - "
                       "for standard input)")
    return str(path), read_text(path, encoding).splitlines()


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
    together, up to ``batch_size``, so nothing is padded and each result is that of a call alone."""
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
    with torch.no_grad():
        for members in groups.values():
            for start in range(0, len(members), batch_size):
                chunk = members[start : start + batch_size]
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
    the suffix) as a ``prediction`` column, with ``probability`` for classes."""
    from rnnkit.data.formats import DataFileError
    from rnnkit.data.formats.table_text import row_count, text_read_options
    from rnnkit.data.formats.tables import read_table, table_kind

    if table_kind(args.input) != "parquet" and Path(args.input).is_file():
        check_encoding(Path(args.input), str((read_options or {}).get("encoding", "utf-8")))
    try:
        table = read_table(args.input, read_options=text_read_options(args.input, read_options, [args.column])
                           if loaded.info.input_kind == "tokens" else read_options)
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
    """One line per sequence of a table that holds several ids, in file order: the id, a tab, and
    the prediction as ``--lines`` prints it (a class with its probability, the tags or the values)."""
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
    items = build_batches(args.input, loaded.info, loaded.extras, layout)
    if len(items) > 1:
        if covariates or levels is not None:
            raise CLIError(f"{args.input} holds {len(items)} series (column {layout.id_column!r}); --future and "
                           "--quantiles go with one history at a time: pass one id's rows")
        return predict_each(items, loaded, decoding)
    _, batch, tokens = items[0]
    model = loaded.model.eval()
    batch = prepare(batch, model, loaded.info, loaded.extras)
    if covariates:
        batch = dataclasses.replace(batch, future=read_future(Path(args.future), covariates, loaded.info.horizon,
                                                              layout))
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
