"""What a run folder recorded about its data, and what resuming it on another data set would change.

A resumed run must see the examples it was trained on: another split size skips or repeats examples,
other classes or vocabularies give the same ids other meanings. ``info.json`` holds the data set's
:class:`DatasetInfo` and each checkpoint a summary of it (``data``: :func:`data_record`), so that a
resume can compare (:func:`data_changes`) even when ``info.json`` is gone.

Example:
    >>> data_changes(RunDir("runs/vowels"), checkpoint, dataset)
    ["split sizes {'train': 60, ...} (now {'train': 40, ...})"]
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rnnkit.data.dataset import SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.train.checkpoint import Checkpoint
from rnnkit.train.run_dir import RunDir, info_to_dict

# the DatasetInfo fields that decide how examples are read and encoded; the name, description, licence
# and published results describe the data without changing it
COMPARED = {"task": "task", "shape": "shape", "input_kind": "input kind", "num_features": "number of features",
            "classes": "classes", "input_vocab": "input vocabulary", "output_vocab": "output vocabulary",
            "cond_shape": "condition shape", "horizon": "horizon", "window": "window",
            "num_targets": "number of targets", "sizes": "split sizes"}


def data_record(dataset: SequenceDataset) -> dict[str, Any]:
    """The compared fields of ``dataset.info`` as JSON values, a vocabulary as its size and digest
    (a checkpoint's ``data`` entry)."""
    return _summary(json.loads(json.dumps(info_to_dict(dataset.info))))


def _summary(info: dict[str, Any]) -> dict[str, Any]:
    """The compared fields of an info.json mapping (a field newer than the run, absent there, is not
    compared); a vocabulary as ``{"tokens": size, "sha256": digest}``, as this version writes it."""
    out = {}
    for key in COMPARED:
        if key not in info:
            continue
        value = info[key]
        if key.endswith("_vocab") and isinstance(value, dict) and isinstance(value.get("tokens"), list):
            text = json.dumps(Vocab.from_dict(value).to_dict(), sort_keys=True)  # (older ones lack "endings")
            value = {"tokens": len(value["tokens"]), "sha256": hashlib.sha256(text.encode()).hexdigest()}
        out[key] = value
    return out


def recorded_data(run: RunDir, checkpoint: Checkpoint | None) -> dict[str, Any] | None:
    """What the run recorded about its data: info.json, else the checkpoint's ``data``; None if neither
    is there or readable (a run folder from before checkpoints kept it, its info.json deleted)."""
    try:
        info = json.loads(run.info_json.read_text(encoding="utf-8"))
        if isinstance(info, dict):
            return _summary(info)
    except (OSError, ValueError):
        pass
    kept = checkpoint.meta.get("data") if checkpoint is not None else None
    return dict(kept) if isinstance(kept, dict) else None


def data_changes(run: RunDir, checkpoint: Checkpoint | None, dataset: SequenceDataset) -> list[str]:
    """The data's fields that differ from what ``run`` recorded, each as ``"name old (now new)"``
    (vocabularies by size, or "differs" at the same size). Empty: the same data, or nothing recorded."""
    kept, now = recorded_data(run, checkpoint), data_record(dataset)
    if kept is None:
        return []
    changed = []
    for key, name in COMPARED.items():
        if key not in kept or key not in now:
            continue
        old, new = kept[key], now[key]
        if json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True):
            continue
        if key.endswith("_vocab"):
            old_size, new_size = _vocab_size(old), _vocab_size(new)
            changed.append(f"{name} of {old_size} tokens (now {new_size})" if old_size != new_size
                           else f"{name} differs (same size, {new_size} tokens)")
        elif key == "classes" and isinstance(old, list) and isinstance(new, list) and len(old) != len(new):
            changed.append(f"{name} {len(old)} (now {len(new)})")
        else:
            changed.append(f"{name} {_shown(old)} (now {_shown(new)})")
    return changed


def _vocab_size(vocab: Any) -> int | None:
    return vocab.get("tokens") if isinstance(vocab, dict) else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
