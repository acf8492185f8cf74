"""``npz:`` NumPy ``.npz`` archives of sequences -> many-to-one or synced data sets.

Load it with::

    rnnkit.datasets.load("npz:data.npz")                       # arrays x, y (and lengths)
    rnnkit.datasets.load("npz:data.npz", test="test.npz", task="regression")

Arrays (names configurable with ``x=``, ``y=``, ``lengths=``):
    x: ``(N, T, F)`` or ``(N, T)`` numbers (an ``(N, T)`` float array is one feature; an integer
       ``(N, T)`` array is token ids, used as they are: ``info.input_vocab`` has ``vocab_size``
       ids, by default the largest id of the training split + 1; ids 0-3 bear the special names),
       or an object array of N variable-length ``(T_i, F)`` / ``(T_i,)`` arrays. A token id below 0,
       or (in any split) not below the vocabulary size, is an error naming the array and the item:
       an embedding cannot read it; pass ``vocab_size=`` when valid or test use ids that the
       training split does not.
    lengths (optional): ``(N,)`` whole numbers, the valid steps of each padded row of x (the rest
       is ignored).
    y: ``(N,)`` labels -> classification (ints, strings or bools) or regression (floats); an
       ``(N, 1)`` column is read as the same N labels (unless ``task="tagging"``);
       ``(N, T)`` integer tags, or an object array of ``(T_i,)`` tags -> synced tagging
       (each must have the length of its sequence). A missing label (None, NaN, or ``'nan'``,
       which is how NumPy writes NaN into a string array) is an error naming the item.
    x_test, y_test, lengths_test (optional): the test split, when no ``test=`` file is given;
    otherwise a seeded ``test_fraction``.

Object arrays need ``allow_pickle=True``: NumPy unpickles them, which can run code, so pass it
only for files you trust. NaN/inf in x or y, an empty sequence, a length out of range, a y/x
count mismatch and a test label unseen in training are errors naming the file, the array and the
item's index ("FILE, field 'x', item 3: ...", counting from 0).

Options: test, x, y, lengths, task (``"classification"`` | ``"regression"`` | ``"tagging"``;
default from y), vocab_size (token ids only; default the largest training id + 1), allow_pickle
(False), valid_fraction (0.1), test_fraction (0.2), seed (0), name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset, Task
from rnnkit.data.datasets.registry import register_format
from rnnkit.data.formats.errors import DataFileError, check_exists
from rnnkit.data.formats.splits import LabelIndex, check_fractions, split_records
from rnnkit.data.vocab import SPECIALS, Vocab

Item = tuple[np.ndarray, Any, str, int]  # x (T, ...), raw y, file, index


def _open(path: str | Path, allow_pickle: bool) -> dict[str, np.ndarray]:
    p = check_exists(path)
    with p.open("rb") as f:
        magic = f.read(6)
    if not allow_pickle and not (magic.startswith(b"PK") or magic == b"\x93NUMPY"):  # a zip (.npz) or .npy
        raise DataFileError(p, "is not a NumPy .npz archive (nor .npy): write one with numpy.savez(path, x=..., y=...)")
    try:
        with np.load(p, allow_pickle=allow_pickle) as data:
            return {k: data[k] for k in data.files}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataFileError(p, "holds object arrays (variable-length sequences); pass allow_pickle=True "
                                "if you trust this file (unpickling can run code)") from e
        raise DataFileError(p, f"is not a readable .npz archive: {e}") from e
    except (OSError, EOFError) as e:
        raise DataFileError(p, f"is not a readable .npz archive: {e}") from e


def read_items(path: str | Path, arrays: dict[str, np.ndarray], *, x: str, y: str, lengths: str) -> list[Item]:
    """Split the arrays of one archive into per-example ``(x_i, y_i, file, i)`` items."""
    for key in (x, y):
        if key not in arrays:
            raise DataFileError(path, f"has no array {key!r}; its arrays are {sorted(arrays)}", field=key)
    xs, ys = arrays[x], arrays[y]
    if xs.ndim == 0 or len(xs) == 0:
        raise DataFileError(path, f"{x} holds no sequences (shape {xs.shape})", field=x)
    if len(xs) != len(ys):
        raise DataFileError(path, f"{x} has {len(xs)} items but {y} has {len(ys)}", field=y)
    lens = arrays.get(lengths)
    if lens is not None and (lens.ndim != 1 or len(lens) != len(xs)):
        raise DataFileError(path, f"{lengths} must be ({len(xs)},), got {lens.shape}", field=lengths)
    if lens is not None and lens.dtype.kind not in "iu":
        whole = np.isfinite(lens) & (lens == np.round(lens)) if lens.dtype.kind == "f" else np.zeros(len(lens), bool)
        if not whole.all():
            i = int(np.flatnonzero(~whole)[0])
            raise DataFileError(path, f"length {lens[i].item()!r} is not a whole number of steps", item=i,
                                field=lengths)
    items: list[Item] = []
    for i in range(len(xs)):
        xi = np.asarray(xs[i])
        if xs.dtype != object and xi.ndim == 0:
            raise DataFileError(path, f"{x} must be (N, T) or (N, T, F), got {xs.shape}", field=x)
        if lens is not None:
            n = int(lens[i])
            if not 0 < n <= len(xi):
                raise DataFileError(path, f"length {n} is outside 1..{len(xi)}", item=i, field=lengths)
            xi = xi[:n]
        if len(xi) == 0:
            raise DataFileError(path, "empty sequence (0 steps)", item=i, field=x)
        if xi.dtype.kind == "i" and xi.min() < 0:  # past a length, padding may be anything
            step = int(np.argwhere(xi < 0)[0][0])
            raise DataFileError(path, f"token id {int(xi[step])} at step {step} is negative: ids count from 0",
                                item=i, field=x)
        if xi.dtype.kind == "f" and not np.isfinite(xi).all():
            step = int(np.argwhere(~np.isfinite(xi))[0][0])
            raise DataFileError(path, f"NaN or inf at step {step}; fill or drop it first", item=i, field=x)
        yi = ys[i]
        if lens is not None and ys.dtype != object and ys.ndim == 2:
            yi = yi[: len(xi)]
        items.append((xi, yi, str(path), i))
    return items


def _task(ys: list[Any]) -> Task:
    first = np.asarray(ys[0])
    if first.ndim >= 1:
        return "tagging"
    return "regression" if first.dtype.kind == "f" else "classification"


def _id_vocab(train: ExampleList, vocab_size: int | None) -> Vocab:
    """A vocabulary that sizes an embedding for raw token ids: ids keep their values (0-3 carry
    the special names, as in every rnnkit vocabulary), the size is ``vocab_size``, by default the
    largest training id + 1."""
    size = vocab_size if vocab_size is not None else max(int(e.x.max()) for e in train.examples
                                                         if e.x is not None) + 1
    return Vocab(list(SPECIALS) + [str(i) for i in range(len(SPECIALS), size)])


def _check_ids(items: list[Item], examples: ExampleList, size: int, field: str, vocab_size: int | None) -> None:
    """Every token id below ``size``, or an error naming the item (an embedding of ``size`` rows
    cannot read a larger id: training would stop on it later, far from its cause)."""
    for (_, _, f, i), e in zip(items, examples.examples):
        assert e.x is not None
        if int(e.x.max()) >= size:
            step = int(torch.nonzero(e.x >= size)[0][0])
            where = (f"vocab_size={vocab_size}" if vocab_size is not None else
                     f"the training split's largest id + 1 ({size}); pass vocab_size= to declare more ids")
            raise DataFileError(f, f"token id {int(e.x[step])} at step {step} is outside the vocabulary of "
                                f"{size} ids: {where}", item=i, field=field)


def _labels(yi: Any, f: str, i: int, field: str) -> list[str]:
    """An item's labels as class names; a missing one (None, NaN, or the ``'nan'`` that NumPy
    writes for NaN in a string array) is an error rather than a class named ``'None'``/``'nan'``."""
    out = []
    for v in np.atleast_1d(yi):
        if v is None or (isinstance(v, float | np.floating) and np.isnan(v)) or (isinstance(v, str) and v == "nan"):
            shown = v.item() if isinstance(v, np.generic) else v
            raise DataFileError(f, f"missing label ({shown!r}); every item needs its label", item=i, field=field)
        out.append(str(v))
    return out


def _x_tensor(xi: np.ndarray) -> torch.Tensor:
    if xi.dtype.kind in "iu" and xi.ndim == 1:
        return torch.from_numpy(xi.astype(np.int64))
    a = xi.astype(np.float32)
    return torch.from_numpy(a[:, None] if a.ndim == 1 else a.reshape(len(a), -1))


@register_format("npz")
def load_npz(path: str, *, test: str | None = None, x: str = "x", y: str = "y", lengths: str = "lengths",
             task: Task | None = None, vocab_size: int | None = None, allow_pickle: bool = False,
             valid_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
             name: str | None = None) -> SequenceDataset:
    """Load sequences from ``.npz`` (see the module docstring for arrays and options)."""
    check_fractions(valid_fraction, test_fraction)
    if task is not None and task not in ("classification", "regression", "tagging"):
        raise ValueError(f"npz task must be 'classification', 'regression' or 'tagging', got {task!r}")
    if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int)
                                   or vocab_size <= len(SPECIALS)):
        raise ValueError(f"vocab_size must be a whole number > {len(SPECIALS)} (the specials), got {vocab_size!r}")

    def read(file: str, arrays: dict[str, np.ndarray], suffix: str = "") -> list[Item]:
        if task != "tagging":  # an (N, 1) column holds N labels, not one tag for sequences of one step
            key = y + suffix
            if key in arrays and arrays[key].ndim == 2 and arrays[key].shape[1] == 1:
                arrays = {**arrays, key: arrays[key][:, 0]}
        return read_items(file, arrays, x=x + suffix, y=y + suffix, lengths=lengths + suffix)

    arrays = _open(path, allow_pickle)
    train_i = read(path, arrays)
    test_i = None
    test_field = x
    if test is not None:
        test_i = read(test, _open(test, allow_pickle))
    elif f"{x}_test" in arrays:
        test_i, test_field = read(path, arrays, "_test"), f"{x}_test"
    kind = task or _task([it[1] for it in train_i])
    labels = None
    if kind != "regression":
        labels = LabelIndex(v for it in train_i for v in _labels(it[1], it[2], it[3], y))
    train_p, valid_p, test_p = split_records(train_i, test_i, valid_fraction=valid_fraction,
                                             test_fraction=test_fraction, seed=seed)

    def target(yi: Any, xi: np.ndarray, f: str, i: int) -> torch.Tensor:
        if labels is None:
            v = np.asarray(yi, dtype=np.float64)
            if not np.isfinite(v).all():
                raise DataFileError(f, "NaN or inf target", item=i, field=y)
            return torch.tensor(v, dtype=torch.float32)
        ids = [labels.encode(v, path=f, item=i, field=y) for v in _labels(yi, f, i, y)]
        if kind == "tagging":
            if len(ids) != len(xi):
                raise DataFileError(f, f"{len(ids)} tags for a sequence of {len(xi)} steps", item=i, field=y)
            return torch.tensor(ids, dtype=torch.int64)
        return torch.tensor(ids[0], dtype=torch.int64)

    def examples(items: list[Item]) -> ExampleList:
        return ExampleList([Example(x=_x_tensor(xi), y=target(yi, xi, f, i), meta={"file": f, "index": i})
                            for xi, yi, f, i in items])

    train, valid, test_ex = examples(train_p), examples(valid_p), examples(test_p)
    x0 = train[0].x
    assert x0 is not None
    tokens = x0.dtype == torch.int64
    vocab = _id_vocab(train, vocab_size) if tokens else None
    if vocab is not None:
        for items, split, field in ((train_p, train, x), (valid_p, valid, x), (test_p, test_ex, test_field)):
            _check_ids(items, split, len(vocab), field, vocab_size)
    info = DatasetInfo(
        name=name or Path(path).stem, shape="synced" if kind == "tagging" else "many-to-one", task=kind,
        input_kind="tokens" if tokens else "series", description=f"sequences from {path}",
        num_features=None if tokens else int(x0.shape[-1]), classes=None if labels is None else labels.classes,
        num_targets=1 if kind == "regression" else None, source=str(path),
        metric="rmse" if kind == "regression" else "accuracy", higher_is_better=kind != "regression",
        input_vocab=vocab)
    return SequenceDataset(info=info, train=train, valid=valid, test=test_ex)


__all__ = ["load_npz", "read_items"]
