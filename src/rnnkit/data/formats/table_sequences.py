"""The sequence layout of ``csv:``/``parquet:`` tables: long format, one row per step.

    rnnkit.datasets.load("csv:gestures.csv", id="sample", time="t", target="label")

A file like::

    sample,t,ax,ay,label
    s1,0,0.1,0.3,wave
    s1,1,0.2,0.1,wave
    s2,0,0.5,0.0,clap

gives one sequence per ``id`` (rows in ``time`` order, else file order), ``x`` ``(T, F)`` float32
from the feature columns and one target per sequence.

Options:
    target (required): the label column; id (required): the sequence column; time: the step order
        (numbers, or dates; time_format: the ``pandas.to_datetime`` format of text dates, such as
        ``"%d/%m/%Y"``). A row without an id or a time is an error, as is a time column that does
        not read as numbers or as dates all through.
    features: the input columns (default: every column other than id, time and target).
    task: ``"classification"`` (default for text, boolean and integer targets), ``"regression"``
        (default for float targets) or ``"tagging"`` (one label per row -> synced many-to-many).
        Outside tagging the target must be the same on every row of a sequence (else an error
        naming the line where it changes).
    test: a second file of the same layout (default: a seeded ``test_fraction`` of the sequences);
        a test label unseen in the training file is an error naming its line.
    nan: ``"raise"`` (default) or ``"interpolate"`` (features, linear in time within a sequence;
        a missing target is always an error). scale: ``"standard"`` (default), ``"minmax"`` or None,
        fitted on the training sequences only (``dataset.extras["scaler"]``).
    valid_fraction (0.1), test_fraction (0.2), seed (0), name, read_options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset, Task
from rnnkit.data.formats.errors import DataFileError
from rnnkit.data.formats.splits import LabelIndex, check_fractions, split_records
from rnnkit.data.formats.tables import ScaleKind, Table, make_scaler, numeric_block, read_table, series_rows
from rnnkit.data.windows import NanPolicy


@dataclass
class Rows:
    """One sequence of the table: its features, its raw label(s) and where it came from."""

    key: str
    x: np.ndarray  # (T, F)
    labels: list[Any]  # one per row
    path: str
    lines: list[int]


def _default_task(table: Table, target: str) -> Task:
    kind = table.frame[target].dtype.kind
    return "regression" if kind == "f" else "classification"


def _read_rows(table: Table, *, target: str, id: str, time: str | None, time_format: str | None,
               features: list[str], task: Task, nan: NanPolicy) -> list[Rows]:
    out = []
    labels_col = table.frame[target]
    for key, rows in series_rows(table, id, time, time_format).items():
        x, _ = numeric_block(table, features, rows, nan)
        lines = [table.line(int(r)) for r in rows]
        raw = labels_col.iloc[rows]
        missing = np.flatnonzero(raw.isna().to_numpy())
        if missing.size:
            raise DataFileError(table.path, "missing target", line=lines[missing[0]], field=target)
        if task == "regression":
            labels: list[Any] = list(table.numbers(target, rows=rows))
        else:
            labels = [str(v) for v in raw]
        if task != "tagging":
            changed = [i for i in range(1, len(labels)) if labels[i] != labels[0]]
            if changed:
                raise DataFileError(table.path, f"the target changes within sequence {key!r} (from "
                                    f"{labels[0]!r} to {labels[changed[0]]!r}); a sequence has one target, "
                                    "or pass task='tagging' for one per step", line=lines[changed[0]], field=target)
        out.append(Rows(key, x, labels, table.path, lines))
    return out


def load_sequence_table(path: str, *, target: str, id: str | None = None, time: str | None = None,
                        time_format: str | None = None,
                        features: Sequence[str] | None = None, task: Task | None = None,
                        test: str | None = None, nan: NanPolicy = "raise", scale: ScaleKind = "standard",
                        valid_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                        name: str | None = None, read_options: dict[str, Any] | None = None) -> SequenceDataset:
    """Sequences from a long table (see the module docstring)."""
    check_fractions(valid_fraction, test_fraction)
    if id is None:
        raise ValueError(f"loading {path} as sequences needs id=COLUMN (the column naming each sequence); "
                         "for forecasting give horizon= and window= instead")
    if nan not in ("raise", "interpolate"):
        raise ValueError(f"nan must be 'raise' or 'interpolate', got {nan!r}")
    tables = [read_table(path, read_options=read_options)]
    if test is not None:
        tables.append(read_table(test, read_options=read_options))
    skip = {c for c in (id, time, target) if c is not None}
    cols = list(features) if features is not None else [c for c in tables[0].frame.columns if c not in skip]
    if not cols:
        raise DataFileError(path, f"has no feature columns besides id, time and target {sorted(skip)}")
    for t in tables:
        t.need([target], "target")
        t.need([id] + ([time] if time else []), "id/time")
        t.need(cols, "feature")
    kind = task or _default_task(tables[0], target)
    if kind not in ("classification", "regression", "tagging"):
        raise ValueError(f"task must be 'classification', 'regression' or 'tagging', got {kind!r}")
    read = [_read_rows(t, target=target, id=id, time=time, time_format=time_format, features=cols, task=kind,
                       nan=nan) for t in tables]
    labels = None if kind == "regression" else LabelIndex(v for r in read[0] for v in r.labels)
    train_r, valid_r, test_r = split_records(read[0], read[1] if test is not None else None,
                                             valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed)
    scaler = make_scaler(scale)
    if scaler is not None:
        scaler.fit([r.x for r in train_r])

    def example(r: Rows) -> Example:
        x = r.x if scaler is None else scaler.transform(r.x)
        if labels is None:
            y = torch.tensor(float(r.labels[0]), dtype=torch.float32)
        else:
            ids = [labels.encode(v, path=r.path, line=n, field=target) for v, n in zip(r.labels, r.lines)]
            y = torch.tensor(ids if kind == "tagging" else ids[0], dtype=torch.int64)
        return Example(x=torch.from_numpy(np.asarray(x, dtype=np.float32)), y=y,
                       meta={"file": r.path, "id": r.key, "line": r.lines[0]})

    info = DatasetInfo(
        name=name or Path(path).stem, shape="synced" if kind == "tagging" else "many-to-one", task=kind,
        input_kind="series", description=f"sequences (long format) from {path}", num_features=len(cols),
        classes=None if labels is None else labels.classes, num_targets=1 if labels is None else None,
        source=str(path), metric="rmse" if kind == "regression" else "accuracy",
        higher_is_better=kind != "regression", extra={"features": cols, "scale": scale})
    return SequenceDataset(info=info, train=ExampleList([example(r) for r in train_r]),
                           valid=ExampleList([example(r) for r in valid_r]),
                           test=ExampleList([example(r) for r in test_r]),
                           extras={} if scaler is None else {"scaler": scaler})


__all__ = ["load_sequence_table"]
