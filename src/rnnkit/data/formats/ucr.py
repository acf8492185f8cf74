"""``ts:`` UCR/UEA time-series archive files (``.ts``) -> many-to-one classification or regression.

Load it with::

    rnnkit.datasets.load("ts:GunPoint/GunPoint_TRAIN.ts")     # finds GunPoint_TEST.ts beside it
    rnnkit.datasets.load("ts:my_train.ts", test="my_test.ts", missing="interpolate")

The file: ``#`` comment lines; a header of ``@`` lines (``@problemName``, ``@timeStamps``,
``@missing``, ``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``,
``@classLabel true L1 L2 ...`` or ``@classLabel false``, ``@targetLabel true``) ending with
``@data``; then one case per line: dimensions separated by ``:``, values in a dimension by ``,``,
``?`` for a missing value, and the class label (or regression target) as the last ``:`` field.
Cases may have different lengths; all dimensions of one case must have the same length.
Timestamped values (``@timeStamps true``) are not supported.

Missing values (``missing=``): ``"raise"`` (default; names the file, line and dimension),
``"trim"`` drops ``?`` runs at the *end* of a case (how the archive pads unequal lengths; any
other ``?`` still raises), ``"interpolate"`` fills linearly in time per dimension.

Options: test (default: ``*_TEST.ts`` next to a ``*_TRAIN.ts``, else a seeded ``test_fraction``),
missing, valid_fraction (0.1), test_fraction (0.2), seed (0), name.

Examples: ``x`` ``(T, D)`` float32, ``y`` the class id (or a float target). Class names come from
``@classLabel``; a label not declared there is an error naming file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.datasets.registry import register_format
from rnnkit.data.formats.errors import DataFileError, check_exists, file_lines, read_utf8
from rnnkit.data.formats.splits import check_fractions, split_records

Missing = Literal["raise", "trim", "interpolate"]


@dataclass
class TsFile:
    """A parsed ``.ts`` file: header facts and cases ``(values (T, D), label, line)``."""

    path: str
    problem: str = ""
    class_labels: list[str] | None = None  # None: regression (@targetLabel) or unlabelled
    regression: bool = False
    cases: list[tuple[np.ndarray, str, int]] = field(default_factory=list)


def _header(ts: TsFile, words: list[str], n: int) -> None:
    key = words[0].lower()
    flag = len(words) > 1 and words[1].lower() == "true"
    if key == "@problemname":
        ts.problem = " ".join(words[1:])
    elif key == "@timestamps" and flag:
        raise DataFileError(ts.path, "@timeStamps true is not supported; write plain values", line=n,
                            field="@timeStamps")
    elif key == "@classlabel":
        if flag and len(words) < 3:
            raise DataFileError(ts.path, "@classLabel true lists no labels", line=n, field="@classLabel")
        ts.class_labels = words[2:] if flag else None
    elif key == "@targetlabel":
        ts.regression = flag


def _values(ts: TsFile, text: str, n: int, dim: int, missing: Missing) -> np.ndarray:
    if not text.strip():
        raise DataFileError(ts.path, "empty sequence (no values)", line=n, field=f"dimension {dim}")
    parts = [v.strip() for v in text.split(",")]
    try:
        a = np.array([np.nan if v == "?" else float(v) for v in parts], dtype=np.float64)
    except ValueError:
        bad = next(v for v in parts if v != "?" and not _is_float(v))
        raise DataFileError(ts.path, f"{bad!r} is not a number", line=n, field=f"dimension {dim}") from None
    if a.size == 0 or (np.isnan(a).all()):
        raise DataFileError(ts.path, "empty sequence (no values)", line=n, field=f"dimension {dim}")
    infinite = np.flatnonzero(np.isinf(a))  # 'inf', '1e999': a number, but no model can read it
    if infinite.size:
        raise DataFileError(ts.path, f"{parts[infinite[0]]!r} at step {int(infinite[0])} is not a finite number",
                            line=n, field=f"dimension {dim}")
    nan = np.isnan(a)
    if nan.any():
        if missing == "trim":
            last = int(np.flatnonzero(~nan)[-1])
            a, nan = a[: last + 1], nan[: last + 1]
        if missing == "interpolate":
            steps = np.arange(len(a))
            a[nan] = np.interp(steps[nan], steps[~nan], a[~nan])
        elif nan.any():
            step = int(np.flatnonzero(nan)[0])
            raise DataFileError(ts.path, f"missing value {parts[step]!r} at step {step}; pass "
                                "missing='trim' or 'interpolate'", line=n, field=f"dimension {dim}")
    return a


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _is_label(ts: TsFile, label: str) -> bool:
    """Whether ``label`` reads as this file's label: a declared class, or one number for regression."""
    if ts.class_labels is not None:
        return label in ts.class_labels
    return "," not in label and _is_float(label)


def read_ts(path: str | Path, *, missing: Missing = "raise") -> TsFile:
    """Parse a UCR/UEA ``.ts`` file (see the module docstring)."""
    if missing not in ("raise", "trim", "interpolate"):
        raise ValueError(f"missing must be 'raise', 'trim' or 'interpolate', got {missing!r}")
    p = check_exists(path)
    ts = TsFile(path=str(p))
    in_data = False
    text = read_utf8(p)
    for n, raw in enumerate(file_lines(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataFileError(p, f"expected a header line (@...) or @data, got {line[:40]!r}", line=n)
            words = line.split()
            if words[0].lower() == "@data":
                in_data = True
            else:
                _header(ts, words, n)
            continue
        fields = line.split(":")
        labelled = ts.class_labels is not None or ts.regression
        if labelled and len(fields) < 2:
            raise DataFileError(p, "no ':' before the label", line=n, field="label")
        label = fields[-1].strip() if labelled else ""
        dims = fields[:-1] if labelled else fields
        series = [_values(ts, d, n, k, missing) for k, d in enumerate(dims)]
        if len({len(s) for s in series}) > 1:
            raise DataFileError(p, f"dimensions have different lengths {[len(s) for s in series]}", line=n,
                                field="dimension 0")
        if ts.cases and len(series) != ts.cases[0][0].shape[1]:
            unlabelled = labelled and len(series) + 1 == ts.cases[0][0].shape[1] and not _is_label(ts, label)
            hint = (f"; the last field {label[:30]!r} is not a label: is this case's label missing?"
                    if unlabelled else "")
            raise DataFileError(p, f"{len(series)} dimensions, but the first case has "
                                f"{ts.cases[0][0].shape[1]}{hint}", line=n, field=f"dimension {len(series) - 1}")
        if ts.class_labels is not None and label not in ts.class_labels:
            raise DataFileError(p, f"class label {label!r} is not declared in @classLabel {ts.class_labels}",
                                line=n, field="label")
        if ts.regression and not (_is_float(label) and np.isfinite(float(label))):
            what = "a finite number" if _is_float(label) else "a number"  # 'nan', 'inf': no loss can use them
            raise DataFileError(p, f"target {label!r} is not {what}", line=n, field="label")
        ts.cases.append((np.stack(series, axis=1), label, n))
    if not in_data:
        raise DataFileError(p, "has no @data line")
    if not ts.cases:
        raise DataFileError(p, "has no cases after @data")
    if ts.class_labels is None and not ts.regression:
        raise DataFileError(p, "declares neither '@classLabel true ...' nor '@targetLabel true'; rnnkit needs "
                            "labels to train on", field="@classLabel")
    return ts


def _sibling_test(path: Path) -> Path | None:
    if "_TRAIN" in path.name:
        candidate = path.with_name(path.name.replace("_TRAIN", "_TEST"))
        return candidate if candidate.exists() else None
    return None


@register_format("ts")
def load_ts(path: str, *, test: str | None = None, missing: Missing = "raise", valid_fraction: float = 0.1,
            test_fraction: float = 0.2, seed: int = 0, name: str | None = None) -> SequenceDataset:
    """Load a UCR/UEA ``.ts`` file pair (see the module docstring for the options)."""
    check_fractions(valid_fraction, test_fraction)
    train_ts = read_ts(path, missing=missing)
    test_path = Path(test) if test is not None else _sibling_test(Path(path))
    test_ts = None if test_path is None else read_ts(test_path, missing=missing)
    classes = train_ts.class_labels
    if test_ts is not None:
        if test_ts.regression != train_ts.regression:
            raise DataFileError(test_ts.path, "train and test disagree on @targetLabel", field="@targetLabel")
        if classes is not None:
            for _, label, n in test_ts.cases:
                if label not in classes:
                    raise DataFileError(test_ts.path, f"label {label!r} was not declared in the training "
                                        f"file's @classLabel {classes}", line=n, field="label")
        if test_ts.cases[0][0].shape[1] != train_ts.cases[0][0].shape[1]:
            raise DataFileError(test_ts.path, "test cases have a different number of dimensions than train")

    def example(case: tuple[np.ndarray, str, int], file: str) -> Example:
        values, label, n = case
        y = torch.tensor(float(label)) if classes is None else torch.tensor(classes.index(label))
        return Example(x=torch.from_numpy(values.astype(np.float32)), y=y, meta={"file": file, "line": n})

    train_e = [example(c, train_ts.path) for c in train_ts.cases]
    test_e = None if test_ts is None else [example(c, test_ts.path) for c in test_ts.cases]
    train, valid, test_part = split_records(train_e, test_e, valid_fraction=valid_fraction,
                                            test_fraction=test_fraction, seed=seed)
    lengths = [len(c[0]) for c in train_ts.cases]
    info = DatasetInfo(
        name=name or train_ts.problem or Path(path).stem, shape="many-to-one",
        task="regression" if classes is None else "classification", input_kind="series",
        description=f"UCR/UEA .ts file {path}", num_features=int(train_ts.cases[0][0].shape[1]),
        classes=classes, num_targets=1 if classes is None else None, source=str(path),
        metric="rmse" if classes is None else "accuracy", higher_is_better=classes is not None,
        extra={"min_length": min(lengths), "max_length": max(lengths), "missing": missing,
               "test_from": str(test_path) if test_path else f"seeded {test_fraction} of train"})
    return SequenceDataset(info=info, train=ExampleList(train), valid=ExampleList(valid),
                           test=ExampleList(test_part))


__all__ = ["TsFile", "load_ts", "read_ts"]
