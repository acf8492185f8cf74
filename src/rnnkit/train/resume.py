"""What resuming a run would change, and what a resume that trains nothing says.

A resumed run must go on as it started: with the settings that shape its optimisation
(:data:`RESUME_FIXED`, ``ema_decay``), the same model (class and config, against ``config.yaml``) and
the examples it was trained on (another split size skips or repeats examples, other classes or
vocabularies give the same ids other meanings). :func:`resume_changes` names each difference, so
that a resume is refused before anything is written. ``info.json`` holds the data set's
:class:`DatasetInfo` and each checkpoint a summary of it (``data``: :func:`data_record`), so that the
data can be compared (:func:`data_changes`) even when ``info.json`` is gone.

Example:
    >>> resume_changes(TrainerConfig(batch_size=16), checkpoint, RunDir("runs/vowels"), model, dataset)
    ["batch_size 32 (now 16)", "split sizes {'train': 60, ...} (now {'train': 40, ...})"]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnkit.data.vocab import Vocab
from rnnkit.train.checkpoint import Checkpoint
from rnnkit.train.run_dir import RunDir, info_to_dict

if TYPE_CHECKING:
    from rnnkit.data.dataset import SequenceDataset
    from rnnkit.train.callbacks import TrainState
    from rnnkit.train.trainer import TrainerConfig

# the settings that shape the optimisation: a resumed run must keep them, or its steps, schedule and
# optimizer state no longer fit (a new batch size skips examples and moves the schedule; another
# optimizer cannot read the saved state; another precision trains another model than config.yaml
# says). More epochs or steps extend a run; the rest (device, checkpoint_every, progress, report,
# evaluation settings) change nothing in it. ema_decay is compared with the checkpoint's average
# (resume_changes, which refuses turning it off too); turning it on has its own message (Trainer._start_ema).
RESUME_FIXED = ("batch_size", "lr", "weight_decay", "optimizer", "clip_grad_norm", "schedule", "warmup_steps",
                "early_stopping", "monitor", "accumulate", "seed", "bucket", "sparse_tables",
                "table_lr_scale", "precision")

# the DatasetInfo fields that decide how examples are read and encoded; the name, description, licence
# and published results describe the data without changing it
COMPARED = {"task": "task", "shape": "shape", "input_kind": "input kind", "num_features": "number of features",
            "classes": "classes", "input_vocab": "input vocabulary", "output_vocab": "output vocabulary",
            "cond_shape": "condition shape", "horizon": "horizon", "window": "window",
            "num_targets": "number of targets", "sizes": "split sizes"}


def resume_changes(config: TrainerConfig, checkpoint: Checkpoint, run: RunDir, model: Any,
                   dataset: SequenceDataset | None = None) -> list[str]:
    """What resuming ``checkpoint`` with ``config``, ``model`` and ``dataset`` would change in the run it
    continues, each as ``"name old (now new)"``: the settings in :data:`RESUME_FIXED`, ``ema_decay``
    (against the checkpoint's average), the model's class and config (against ``config.yaml``) and the
    data (against ``info.json``, see :func:`data_changes`). Empty: none."""
    saved, now = checkpoint.meta.get("trainer") or {}, config.to_dict()
    changed = [f"{k} {_shown(saved[k])} (now {_shown(now.get(k))})" for k in RESUME_FIXED
               if k in saved and saved[k] != now.get(k)]
    decay = (checkpoint.meta.get("ema") or {}).get("decay")
    if decay is not None and (config.ema_decay is None or float(decay) != config.ema_decay):
        # without ema_decay the averaged weights, which validation and the saved model use, would be dropped
        changed.append(f"ema_decay {_shown(decay)} (now {_shown(config.ema_decay)})")
    changed += _model_changes(run, model)
    if dataset is not None:
        changed += data_changes(run, checkpoint, dataset)
    return changed


def _model_changes(run: RunDir, model: Any) -> list[str]:
    """The model's class and config against the run's config.yaml (nothing to compare: none)."""
    import yaml

    try:
        kept = yaml.safe_load(run.config_yaml.read_text(encoding="utf-8"))["model"]
        kept_class, kept_config = kept["class"], dict(kept["config"])
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError):
        return []  # no readable config.yaml: the checkpoint's weight shapes are the check left
    if not hasattr(model, "config_dict"):
        return []
    if type(model).__name__ != kept_class:
        return [f"model class {kept_class!r} (now {type(model).__name__!r})"]
    config = json.loads(json.dumps(model.config_dict()))  # as config.yaml holds it: tuples as lists
    defaults = _config_defaults(getattr(model, "config", None))
    # an option newer than the run (absent from its config.yaml) at its default changes nothing
    keys = [*(k for k in config if k in kept_config or k not in defaults or config[k] != defaults[k]),
            *(k for k in kept_config if k not in config)]
    return [_change(f"model {k}", kept_config.get(k), config.get(k)) for k in keys
            if json.dumps(kept_config.get(k), sort_keys=True) != json.dumps(config.get(k), sort_keys=True)]


def _change(name: str, old: Any, new: Any) -> str:
    """``"name old (now new)"``; lists of other lengths (an ensemble's members) by their lengths."""
    if isinstance(old, list) and isinstance(new, list) and len(old) != len(new):
        return f"{name} {len(old)} (now {len(new)})"
    return f"{name} {_shown(old)} (now {_shown(new)})"


def _config_defaults(config: Any) -> dict[str, Any]:
    """The defaults of a model config dataclass's fields, as config.yaml would hold them."""
    if not dataclasses.is_dataclass(config):
        return {}
    out = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = json.loads(json.dumps(f.default))
    return out


# ---------------------------------------------------------------------------------------------------
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
        else:  # split sizes and the like: room for a whole small mapping
            changed.append(f"{name} {_shown(old, width=80)} (now {_shown(new, width=80)})")
    return changed


def _vocab_size(vocab: Any) -> int | None:
    return vocab.get("tokens") if isinstance(vocab, dict) else None


def _shown(value: Any, *, width: int = 40) -> str:
    """``repr(value)``, cut to ``width`` characters (the last three ``...``)."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResumeTerms:
    """How :func:`nothing_trains` names what to change: the Trainer's keywords by default; ``rnnkit
    train`` gives its Trainer its flags (``Trainer.resume_terms``, see cli/train.py). A ``{}`` takes the
    setting's value.

    Args:
        epochs, early_stopping: the setting at a value (``"epochs={}"``).
        new_run: how to train a new run in place of this one, or beside it.
        train_longer: what a new run needs to train on past an early stop.
        more_epochs: how to extend a run that holds all its epochs.
        overwrite, elsewhere: how to replace the run, and where else to train (:func:`start_over`).
    """

    epochs: str = "epochs={}"
    early_stopping: str = "early_stopping={}"
    new_run: str = "overwrite=True, or another run_dir"
    train_longer: str = "more patience or early_stopping=None"
    more_epochs: str = "pass more epochs to extend the run"
    overwrite: str = "overwrite=True"
    elsewhere: str = "another run_dir"


PYTHON_TERMS = ResumeTerms()


class NothingTrains(UserWarning):
    """A resumed run with nothing left to train (:func:`nothing_trains`): a note, not a fault; ``rnnkit
    train`` shows it as a ``note:`` line."""


def trained_epochs(run: RunDir) -> int | None:
    """How many epochs the run in ``run`` trained (history.csv's rows, written at each epoch's end); None
    when history.csv is missing or unreadable."""
    from rnnkit.train.history import History

    try:
        return len(History.read_csv(run.history_csv))
    except (OSError, ValueError):
        return None


# why a run whose last checkpoint is gone, unreadable or weights-only cannot go on from another one
NO_STAND_IN = ("no other checkpoint can stand in for the last one (best.safetensors keeps the best weights alone, "
               "not the optimizer state a resume needs)")


def start_over(run: RunDir, terms: ResumeTerms = PYTHON_TERMS) -> str:
    """The way out of a run that cannot be resumed (its last checkpoint gone, unreadable or weights-only),
    saying what it loses. No other checkpoint can stand in for the last one: best.safetensors keeps the
    best epoch's weights alone, without the optimizer, schedule and RNG states that a resume needs, and
    going on from them would not be the run that a resume promises (:data:`NO_STAND_IN`)."""
    epochs = trained_epochs(run)
    lost = (f"the {epochs} epoch{'s' if epochs != 1 else ''} trained so far {'are' if epochs != 1 else 'is'} lost"
            if epochs else "what it trained so far is lost")
    return f"start over with {terms.overwrite} ({lost}), or train into {terms.elsewhere}"


def nothing_trains(run: Path, config: TrainerConfig, state: TrainState, monitor: str, *, patience_spent: bool,
                   terms: ResumeTerms = PYTHON_TERMS) -> str | None:
    """What to say when a resumed run (``state`` as its checkpoint left it) has nothing left to train:
    it stopped early (``patience_spent``: early stopping, else a callback), or it holds all its epochs;
    None when it trains on."""
    if state.stop and state.epoch < config.epochs:
        why = (f"{terms.early_stopping.format(config.early_stopping)}: no better {monitor} than epoch "
               f"{state.best_epoch} in {state.bad_epochs} epochs, patience spent at epoch {state.epoch}"
               if patience_spent else f"a callback stopped it at epoch {state.epoch}")
        return (f"the run in {run} stopped early ({why}): nothing more is trained for "
                f"{terms.epochs.format(config.epochs)}. A resume cannot train on past it: early_stopping is kept "
                f"on resume (it shapes the run); train a new run ({terms.new_run}) with {terms.train_longer} "
                "to train longer")
    if state.epoch >= config.epochs and not state.stop:
        return (f"{run} already holds {state.epoch} epochs and {terms.epochs.format(config.epochs)}: nothing is "
                f"trained ({terms.more_epochs})")
    return None
