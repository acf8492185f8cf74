"""``npz:`` NumPy ``.npz`` archives of sequences -> many-to-one or synced data sets.

Load it with::

    rnnkit.datasets.load("npz:data.npz")                       # arrays x, y (and lengths)
    rnnkit.datasets.load("npz:data.npz", test="test.npz", task="regression")

Arrays (names configurable with ``x=``, ``y=``, ``lengths=``):
    x: ``(N, T, F)`` or ``(N, T)`` numbers (an ``(N, T)`` float array is one feature; an integer
       ``(N, T)`` array is token ids, used as they are: ``info.input_vocab`` has the size of the
       largest training id + 1, ids 0-3 bear the special names), or an object array of N
       variable-length ``(T_i, F)`` / ``(T_i,)`` arrays.
    lengths (optional): ``(N,)`` valid steps of each padded row of x (the rest is ignored).
    y: ``(N,)`` labels -> classification (ints, strings or bools) or regression (floats);
       ``(N, T)`` integer tags, or an object array of ``(T_i,)`` tags -> synced tagging
       (each must have the length of its sequence).
    x_test, y_test, lengths_test (optional): the test split, when no ``test=`` file is given;
    otherwise a seeded ``test_fraction``.

Object arrays need ``allow_pickle=True``: NumPy unpickles them, which can run code, so pass it
only for files you trust. NaN/inf in x or y, an empty sequence, a length out of range, a y/x
count mismatch and a test label unseen in training are errors naming the file, the array and the
item's index ("FILE, field 'x', item 3: ...", counting from 0).

Options: test, x, y, lengths, task (``"classification"`` | ``"regression"`` | ``"tagging"``;
default from y), allow_pickle (False), valid_fraction (0.1), test_fraction (0.2), seed (0), name.
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
    if len(xs) != len(ys):
        raise DataFileError(path, f"{x} has {len(xs)} items but {y} has {len(ys)}", field=y)
    lens = arrays.get(lengths)
    if lens is not None and (lens.ndim != 1 or len(lens) != len(xs)):
        raise DataFileError(path, f"{lengths} must be ({len(xs)},), got {lens.shape}", field=lengths)
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


def _id_vocab(train: ExampleList) -> Vocab:
    """A vocabulary that sizes an embedding for raw token ids: ids keep their values (0-3 carry
    the special names, as in every rnnkit vocabulary), the size is the largest training id + 1."""
    top = max(int(e.x.max()) for e in train.examples if e.x is not None)
    return Vocab(list(SPECIALS) + [str(i) for i in range(len(SPECIALS), top + 1)])


def _x_tensor(xi: np.ndarray) -> torch.Tensor:
    if xi.dtype.kind in "iu" and xi.ndim == 1:
        return torch.from_numpy(xi.astype(np.int64))
    a = xi.astype(np.float32)
    return torch.from_numpy(a[:, None] if a.ndim == 1 else a.reshape(len(a), -1))


@register_format("npz")
def load_npz(path: str, *, test: str | None = None, x: str = "x", y: str = "y", lengths: str = "lengths",
             task: Task | None = None, allow_pickle: bool = False, valid_fraction: float = 0.1,
             test_fraction: float = 0.2, seed: int = 0, name: str | None = None) -> SequenceDataset:
    """Load sequences from ``.npz`` (see the module docstring for arrays and options)."""
    check_fractions(valid_fraction, test_fraction)
    arrays = _open(path, allow_pickle)
    train_i = read_items(path, arrays, x=x, y=y, lengths=lengths)
    test_i = None
    if test is not None:
        test_i = read_items(test, _open(test, allow_pickle), x=x, y=y, lengths=lengths)
    elif f"{x}_test" in arrays:
        test_i = read_items(path, arrays, x=f"{x}_test", y=f"{y}_test", lengths=f"{lengths}_test")
    kind = task or _task([it[1] for it in train_i])
    if kind not in ("classification", "regression", "tagging"):
        raise ValueError(f"npz task must be 'classification', 'regression' or 'tagging', got {kind!r}")
    labels = None
    if kind != "regression":
        labels = LabelIndex(str(v) for it in train_i for v in np.atleast_1d(it[1]))
    train_p, valid_p, test_p = split_records(train_i, test_i, valid_fraction=valid_fraction,
                                             test_fraction=test_fraction, seed=seed)

    def target(yi: Any, xi: np.ndarray, f: str, i: int) -> torch.Tensor:
        if labels is None:
            v = np.asarray(yi, dtype=np.float64)
            if not np.isfinite(v).all():
                raise DataFileError(f, "NaN or inf target", item=i, field=y)
            return torch.tensor(v, dtype=torch.float32)
        ids = [labels.encode(str(v), path=f, item=i, field=y) for v in np.atleast_1d(yi)]
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
    info = DatasetInfo(
        name=name or Path(path).stem, shape="synced" if kind == "tagging" else "many-to-one", task=kind,
        input_kind="tokens" if tokens else "series", description=f"sequences from {path}",
        num_features=None if tokens else int(x0.shape[-1]), classes=None if labels is None else labels.classes,
        num_targets=1 if kind == "regression" else None, source=str(path),
        metric="rmse" if kind == "regression" else "accuracy", higher_is_better=kind != "regression",
        input_vocab=_id_vocab(train) if tokens else None)
    return SequenceDataset(info=info, train=train, valid=valid, test=test_ex)


__all__ = ["load_npz", "read_items"]
