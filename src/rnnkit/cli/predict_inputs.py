"""What ``rnnkit predict`` reads: an input on the command line or in a file, made into the model's batch.

INPUT is text (encoded with the run's tokenizer or vocabulary, unknown tokens noted), numbers
(``"1.5 2 3"``), a table of numbers (see :mod:`rnnkit.cli.predict_table`: one sequence, or one per
id), or an image; :func:`build_batches` turns it into batches of one, as training shaped its data.

    >>> batch, tokens = batch_for("1.5 2 3", None, info, extras)  # a sequence model of one feature
    >>> batch.x.shape  # (B, T, F)
    torch.Size([1, 3, 1])
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from rnnkit.cli.main import CLIError
from rnnkit.cli.predict_table import STDIN, Layout, Rows, name_of, numbers, read_sequences, read_table, read_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", *IMAGE_SUFFIXES)


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


def build_batches(raw: str, info: Any, extras: dict[str, Any], layout: Layout | None = None, *,
                  tables: list[Rows] | None = None) -> list[tuple[str | None, Any, list[str]]]:
    """The model's input batches for ``raw``, each with its id and its input tokens (for tagging
    output): one, or one per id of a table that holds the run's id column, in file order. With
    ``tables``, a table's sequences (:class:`Rows`: their lines and times) are appended there, in
    the same order, for ``--future`` to check that its steps follow them."""
    import torch

    path = input_file(raw)
    if path is None or info.input_kind == "tokens" or path.suffix.lower() in IMAGE_SUFFIXES:
        return [(None, *batch_for(raw, path, info, extras, layout=layout))]
    # a forecaster's history is held to training's gap check: its window reads consecutive steps
    groups = read_sequences(path, feature_names(info), layout=layout, steps=info.task == "forecasting")
    if tables is not None:
        tables.extend(groups)
    return [(rows.key, item_batch(torch.as_tensor(rows.values), info, name_of(path) if rows.key is None
                                  else f"{name_of(path)}, id {rows.key!r}"), []) for rows in groups]


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


__all__ = ["FILE_SUFFIXES", "IMAGE_SUFFIXES", "UnknownInput", "batch_for", "build_batches", "check_unknown",
           "encode_text", "feature_names", "input_file", "item_batch", "parse_numbers", "read_image", "read_lines"]
