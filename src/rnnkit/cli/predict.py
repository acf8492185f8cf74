"""``rnnkit predict RUN INPUT``: run a trained model on raw input, from its run folder alone.

INPUT is text (token models: ``"march 3, 2001"``), numbers (``"1.5 2 3"`` or ``"1,2,3"``), a CSV
file (one row per time step, one column per feature), a text file, or an image file (PNG).

    rnnkit predict runs/dates "march 3, 2001"        # -> 2001-03-03
    rnnkit predict runs/vowels sample.csv            # -> class and its probability
    rnnkit predict runs/air history.csv              # -> the forecast, one value per step
    rnnkit predict runs/captions digit.png           # -> the generated caption

It prints the class (with probabilities), the values, the tags, the generated sequence or the
forecast, decoded with the run's saved vocabulary.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from rnnkit.cli.main import CLIError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict from raw input with a trained run folder",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `rnnkit train`")
    p.add_argument("input", metavar="INPUT", help="text, numbers, or a .csv / .txt / .png file")
    p.add_argument("--top", type=int, default=3, metavar="K", help="classes to show with probabilities")
    p.set_defaults(func=run)


def parse_numbers(text: str) -> list[float]:
    """``"1, 2.5 3"`` -> ``[1.0, 2.5, 3.0]``; a one-line error for anything that is not a number."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    try:
        return [float(p) for p in parts]
    except ValueError as e:
        raise CLIError(f"expected numbers separated by spaces or commas, got {text[:40]!r}") from e


def read_table(path: Path) -> Any:
    """A CSV/text file of numbers as a ``(rows, columns)`` array (a header line is skipped)."""
    import numpy as np

    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if lines and not re.match(r"^[\s\d.,;eE+-]+$", lines[0]):
        lines = lines[1:]  # a header
    rows = [parse_numbers(ln) for ln in lines]
    if not rows or len({len(r) for r in rows}) != 1:
        raise CLIError(f"{path}: expected rows of the same number of numbers, got row lengths "
                       f"{sorted({len(r) for r in rows})}")
    return np.asarray(rows, dtype=np.float32)


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


def encode_text(text: str, info: Any, extras: dict[str, Any]) -> list[int]:
    """Text -> input ids with the run's tokenizer, else its vocabulary (characters or words)."""
    tok = extras.get("tokenizer") or extras.get("input_tokenizer")
    if tok is not None and hasattr(tok, "encode"):
        return list(tok.encode(text))
    vocab = info.input_vocab
    if vocab is None:
        raise CLIError(f"this run ({info.name}) has no input vocabulary to encode text with")
    chars = all(len(t) == 1 for t in vocab.itos[4:])
    ids = vocab.encode(list(text) if chars else text.split())
    if not ids:
        raise CLIError("the input text is empty")
    return ids


def build_batch(raw: str, info: Any, extras: dict[str, Any]) -> tuple[Any, list[str]]:
    """The model's input batch for ``raw`` and the input tokens (for tagging output)."""
    import torch

    from rnnkit.data.batch import Batch

    path = Path(raw)
    is_file = path.is_file()
    if info.input_kind == "tokens":
        text = path.read_text().strip() if is_file else raw
        ids = encode_text(text, info, extras)
        tokens = info.input_vocab.decode(ids, strip_specials=False) if info.input_vocab else [str(i) for i in ids]
        return Batch(x=torch.tensor([ids]), lengths=torch.tensor([len(ids)])), tokens
    scale = float(info.extra.get("pixel_max", 1.0)) if info.extra else 1.0
    cond_shape = tuple(info.cond_shape) if info.cond_shape else None
    if is_file and path.suffix.lower() in IMAGE_SUFFIXES:
        shape = cond_shape or (tuple(info.extra.get("image_shape", ())) if info.extra else ()) or (
            (info.num_features,) if info.num_features else ())
        if not shape:
            raise CLIError(f"this run ({info.name}) does not take images")
        item = read_image(path, shape, scale)
    else:
        values = read_table(path) if is_file else torch.tensor(parse_numbers(raw)).reshape(-1, 1).numpy()
        item = torch.as_tensor(values, dtype=torch.float32)
    if cond_shape is not None:  # one-to-many: the input conditions the generator
        if item.numel() != int(torch.tensor(cond_shape).prod()):
            raise CLIError(f"this run needs {cond_shape} values (or an image), got {tuple(item.shape)}")
        return Batch(x=None, cond=item.reshape(1, *cond_shape)), []
    if info.shape == "one-to-one":
        return Batch(x=item.reshape(1, -1) if item.dim() <= 2 else item[None]), []
    features = info.num_features or 1
    if item.dim() == 2 and item.shape[1] != features:
        if item.shape[1] == 1 and item.shape[0] % features == 0:
            item = item.reshape(-1, features)
        else:
            raise CLIError(f"this run needs {features} feature(s) per step, got {item.shape[1]} columns")
    return Batch(x=item[None], lengths=torch.tensor([item.shape[0]])), []


def describe(prediction: Any, model: Any, batch: Any, info: Any, tokens: list[str], top: int) -> list[str]:
    """Lines of text that say what the model predicted."""
    import torch

    from rnnkit.report.predictions import decode_tokens, generated_ids

    task = info.task
    if task == "classification" and info.classes:
        if callable(getattr(model, "predict_proba", None)):  # classifiers, and an Ensemble's members' mean
            probs = model.predict_proba(batch)[0]
        else:
            logits = model(batch).logits
            if logits is None:
                return [info.classes[int(prediction[0])]]
            probs = logits.softmax(-1)[0]
        best = torch.argsort(probs, descending=True)[: max(1, top)]
        return [info.classes[int(best[0])]] + [f"  {info.classes[int(i)]}: {float(probs[i]):.3f}" for i in best]
    if task == "tagging":
        names = info.classes or []
        tags = [names[int(t)] if int(t) < len(names) else str(int(t)) for t in prediction[0, : len(tokens) or None]]
        return [" ".join(f"{w}/{t}" for w, t in zip(tokens, tags))] if tokens else [" ".join(tags)]
    if task in ("seq2seq", "generation"):
        ids = generated_ids(prediction)[0]
        out = decode_tokens(info.output_vocab, ids)
        joiner = "" if all(len(t) == 1 for t in out) and info.output_vocab is not None and all(
            len(t) == 1 for t in info.output_vocab.itos[4:]) else " "
        return [joiner.join(out)]
    values = torch.as_tensor(prediction).reshape(-1).tolist()
    if task == "forecasting":
        return [f"forecast for the next {len(values)} steps:", " ".join(f"{v:.4g}" for v in values)]
    return [" ".join(f"{v:.4g}" for v in values)]


def run(args: argparse.Namespace) -> int:
    import torch

    from rnnkit.cli.runspec import open_run

    loaded, _ = open_run(args.run_dir)
    batch, tokens = build_batch(args.input, loaded.info, loaded.extras)
    model = loaded.model.eval()
    with torch.no_grad():
        try:
            prediction = model.predict(batch)
        except (ValueError, RuntimeError) as e:
            raise CLIError(f"the model cannot read this input: {str(e).splitlines()[0]}") from e
        for line in describe(prediction, model, batch, loaded.info, tokens, args.top):
            print(line)
    return 0
