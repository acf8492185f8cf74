"""The run folder: everything needed to rebuild, evaluate and report a trained model.

Layout (written by ``Trainer(run_dir=...)``; ``plots/`` and ``report.html`` are drawn by ``report/``,
which ``Trainer(report=True)``, the default, calls through ``rnnkit._hooks`` at the end)::

    RUN/
      config.yaml          rnnkit version; model: {class, config}; trainer: {...TrainerConfig};
                           data: {name, options}  — enough to re-run the training
      model.safetensors    final weights (the best epoch's when monitored; averaged with ema_decay);
                           header: class + config
      info.json            the DatasetInfo: task, shape, classes, vocabularies, metric, published results
      extras/              fitted pieces of the data set (scalers, tokenizers, vocabs, pandas as CSV),
                           index in extras.json
      metrics.json         {"monitor", "higher_is_better", "best_epoch", "best", "epochs", "model_epoch" (whose
                            weights model.safetensors holds), "valid": {metric: value at model_epoch},
                            "test": {metric: value}, and for an ensemble "ensemble_loss": "mixture"}
      history.csv          one row per epoch: epoch, step, train_loss, valid_loss, valid_<metric>..., lr, seconds
      checkpoints/         last.safetensors (resume), best.safetensors (best weights)
      plots/, report.html  the task's plots and the self-contained report (Trainer(report=False): none)

Reading it back (the CLI's ``evaluate`` / ``predict`` and ``rnnkit.load`` use these)::

    run = load_run("runs/vowels")     # Run(path, model, info, extras, config, metrics, history)
    model = load("runs/vowels")       # just the model (also works on a folder from model.save())
    RunDir("runs/vowels").plots_dir   # where plots go

A missing folder, a missing file or a corrupt file raises :class:`RunDirError` (a ValueError)
naming the path. Extras are saved by kind: a ``Vocab`` as JSON; objects with ``state_dict()`` and
a ``from_state_dict`` classmethod (scalers) as JSON with their class; objects with ``save(dir)``
and a ``load(dir)`` classmethod (tokenizers) in their own subfolder; plain JSON values inline; a
pandas ``Series`` or ``DataFrame`` as ``NAME.csv`` (index in the first column, read back with dates
parsed). Anything else (a ``ChronoSplit``, a pandas ``Index``, a dict of scalers, an open handle)
is skipped with a logged note (INFO) and listed in extras.json as ``{"kind": "skipped"}``: such
extras are views of the data that loading the data set again rebuilds (``rnnkit evaluate`` does),
not fitted state a model needs to predict, so a run folder never refuses to be written for them.
A model whose predictions need an extra must give it one of the saveable forms above.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnnkit.data.dataset import DatasetInfo, PublishedResult, SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.models.base import Model
from rnnkit.models.io import WEIGHTS, load_model, read_header, save_model
from rnnkit.train.checkpoint import atomic_write_text

log = logging.getLogger(__name__)


class RunDirError(ValueError):
    """A run folder that is missing, incomplete or corrupt."""


# what a run folder holds (run.yaml: the spec ``rnnkit train`` ran); clearing a run removes these alone
RUN_ENTRIES = ("config.yaml", "run.yaml", "model.safetensors", "info.json", "metrics.json", "history.csv",
               "report.html", "extras", "checkpoints", "plots", "export")


class RunDir:
    """Paths of a run folder, and the writes the Trainer makes into it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config_yaml = self.path / "config.yaml"
        self.weights = self.path / WEIGHTS
        self.info_json = self.path / "info.json"
        self.extras_dir = self.path / "extras"
        self.metrics_json = self.path / "metrics.json"
        self.history_csv = self.path / "history.csv"
        self.checkpoints = self.path / "checkpoints"
        self.last_checkpoint = self.checkpoints / "last.safetensors"
        self.best_checkpoint = self.checkpoints / "best.safetensors"
        self.plots_dir = self.path / "plots"
        self.report_html = self.path / "report.html"

    def holds_run(self) -> bool:
        """Whether a run trained here that a resume continues or a new run would lose: a model, a last
        checkpoint or history.csv (epochs trained). A folder with only config.yaml, info.json or run.yaml
        stopped before its first checkpoint; one with best.safetensors alone stopped between the first
        epoch's best and last checkpoints (best is written first): neither lost anything (:meth:`leftovers`)."""
        return self.weights.exists() or self.last_checkpoint.exists() or self.history_csv.exists()

    def leftovers(self) -> list[Path]:
        """The checkpoints of a run that stopped before its first last checkpoint (none if it holds a run):
        a new run removes them (:meth:`remove_leftovers`), else a resume of it would take their weights."""
        if self.holds_run() or not self.checkpoints.is_dir():
            return []
        return sorted(self.checkpoints.glob("*.safetensors"))

    def remove_leftovers(self) -> list[Path]:
        """Remove :meth:`leftovers` (the whole checkpoints/ folder); returns what was there."""
        import shutil

        found = self.leftovers()
        if found:
            shutil.rmtree(self.checkpoints)
        return found

    def check_writable(self) -> None:
        """Create the folder if needed, then create and delete a file in it (and in checkpoints/): a
        read-only folder or a full disk is a :class:`RunDirError` naming it, before any training."""
        import tempfile

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for folder in (self.path, self.checkpoints):
                if folder.is_dir():
                    fd, probe = tempfile.mkstemp(prefix=".rnnkit-write-check.", suffix=".tmp", dir=folder)
                    os.close(fd)
                    os.unlink(probe)
        except OSError as e:
            raise RunDirError(f"cannot write to the run folder {self.path}: {e.strerror or e}"
                              f"{f' ({e.filename})' if e.filename else ''}; make it writable or choose another "
                              "folder") from e

    def remove_temp_files(self) -> list[Path]:
        """Remove the temp files of writes that a kill cut short (``.last.safetensors.*.tmp``,
        ``.config.yaml.*.tmp``, ...: :func:`atomic_write`'s); returns them. Run at a start or resume."""
        names = [*(n for n in RUN_ENTRIES if "." in n), "model"]
        stale = [p for p in self.path.glob(".*.tmp") if any(p.name.startswith(f".{n}.") for n in names)]
        if self.checkpoints.is_dir():
            stale += self.checkpoints.glob(".*.safetensors.*.tmp")
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def clear(self) -> None:
        """Remove a previous run's files and folders (:data:`RUN_ENTRIES`), so that none of its
        vocabularies, checkpoints or plots outlives it beside a new run; other files stay."""
        import shutil

        for name in RUN_ENTRIES:
            path = self.path / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()

    def start(self, model: Model, dataset: SequenceDataset, *, trainer: dict[str, Any],
              data_options: dict[str, Any] | None = None, ran_on: dict[str, Any] | None = None) -> None:
        """Before training (or resuming): config.yaml, info.json and extras/ (skips, with a logged note, extras it
        cannot save), after removing temp files of cut writes (:meth:`remove_temp_files`).
        ``ran_on``: what the settings resolved to on this machine (the device, ``precision="auto"``'s choice)."""
        from rnnkit import __version__

        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.remove_temp_files():
            log.info("run folder %s: removed %s, left by a write that was cut short", self.path, stale.name)
        config = {"rnnkit": __version__,
                  "model": {"class": type(model).__name__, "config": json.loads(json.dumps(model.config_dict()))},
                  "trainer": trainer,
                  "data": {"name": dataset.load_name or dataset.info.name, "options": data_options or {}}}
        if ran_on is not None:
            config["ran_on"] = ran_on
        atomic_write_text(self.config_yaml, yaml.safe_dump(config, sort_keys=False))
        atomic_write_text(self.info_json, json.dumps(info_to_dict(dataset.info), indent=1, ensure_ascii=False))
        save_extras(dataset.extras, self.extras_dir)

    def finish(self, model: Model, history: Any, *, model_epoch: int | None = None) -> None:
        """After training: model.safetensors, metrics.json, history.csv. ``model_epoch``: the epoch whose
        weights ``model`` holds (default the best epoch); metrics.json's ``valid`` are that epoch's."""
        save_model(model, self.path)
        epoch = history.best_epoch if model_epoch is None else model_epoch
        row = next((r for r in history.rows if r.get("epoch") == epoch), history.rows[-1] if history.rows else {})
        metrics = {"monitor": history.monitor, "higher_is_better": history.higher_is_better,
                   "best_epoch": history.best_epoch, "best": history.best, "epochs": len(history.rows),
                   "model_epoch": row.get("epoch"),
                   "valid": {k[len("valid_"):]: v for k, v in row.items() if k.startswith("valid_")},
                   "test": dict(history.test)}
        if scores_mixture(model):  # which loss its entries hold (rnnkit evaluate reads it on older runs)
            metrics["ensemble_loss"] = "mixture"
        atomic_write_text(self.metrics_json, json.dumps(_finite(metrics), indent=1))
        history.to_csv(self.history_csv)


# --- DatasetInfo <-> JSON --------------------------------------------------------------------------


def info_to_dict(info: DatasetInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(info):
        value = getattr(info, f.name)
        if isinstance(value, Vocab):
            value = value.to_dict()
        elif f.name == "published":
            value = [dataclasses.asdict(p) for p in value]
        elif f.name == "extra":
            value = {k: v for k, v in value.items() if _is_json(v)}
        out[f.name] = value
    return out


def info_from_dict(data: dict[str, Any]) -> DatasetInfo:
    data = dict(data)
    for key in ("input_vocab", "output_vocab"):
        if data.get(key) is not None:
            data[key] = Vocab.from_dict(data[key])
    data["published"] = [PublishedResult(**p) for p in data.get("published", [])]
    if data.get("cond_shape") is not None:
        data["cond_shape"] = tuple(data["cond_shape"])
    known = {f.name for f in dataclasses.fields(DatasetInfo)}
    return DatasetInfo(**{k: v for k, v in data.items() if k in known})


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def scores_mixture(model: Any) -> bool:
    """Whether ``model`` is an ensemble whose evaluation loss is its mixture's (models/ensemble.py
    ``mixture_loss``: class, tag and token distributions), not its members' mean. Runs trained since
    record ``"ensemble_loss": "mixture"`` in their checkpoints and metrics.json."""
    return hasattr(model, "members") and getattr(model, "kind", None) in ("classification", "tagging", "generation")


def _finite(value: Any) -> Any:
    """NaN/inf -> None, so metrics.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# --- extras ------------------------------------------------------------------------------------


def _is_pandas(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("pandas") and type(value).__name__ in ("Series", "DataFrame")


def _kind(value: Any) -> str | None:
    if isinstance(value, Vocab):
        return "vocab"
    cls = type(value)
    if hasattr(value, "state_dict") and hasattr(cls, "from_state_dict"):
        return "state_dict"
    if hasattr(value, "save") and hasattr(cls, "load"):
        return "save_load"
    if _is_pandas(value):
        return "csv"
    if _is_json(value):
        return "json"
    return None


def unsaveable_extras(extras: dict[str, Any]) -> list[str]:
    """The names of the extras a run folder skips (see the module docstring)."""
    return [name for name, value in extras.items() if _kind(value) is None]


def save_extras(extras: dict[str, Any], directory: Path) -> None:
    """Save each extra by kind into ``directory`` (index in extras.json); skip the rest with a logged note."""
    index: dict[str, Any] = {}
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in extras.items():
        kind = _kind(value)
        cls = type(value)
        entry: dict[str, Any] = {"kind": kind, "class": f"{cls.__module__}:{cls.__qualname__}"}
        if kind == "vocab":
            value.save(directory / f"{name}.vocab.json")
        elif kind == "state_dict":
            atomic_write_text(directory / f"{name}.json", json.dumps(value.state_dict()))
        elif kind == "save_load":
            value.save(directory / name)
        elif kind == "csv":
            atomic_write_text(directory / f"{name}.csv", value.to_csv())
        elif kind == "json":
            entry["value"] = value
        else:
            entry["kind"] = "skipped"
            log.info("run folder %s: dataset.extras[%r] (%s) is not saved: it has no saveable form "
                        "(state_dict/from_state_dict, save/load, JSON, pandas); loading the data set "
                        "again rebuilds it", directory.parent, name, cls.__name__)
        index[name] = entry
    atomic_write_text(directory / "extras.json", json.dumps(index, indent=1))


def _read_csv(path: Path, cls: str) -> Any:
    import pandas as pd

    frame = pd.read_csv(path, index_col=0, parse_dates=True)
    return frame.iloc[:, 0] if cls.endswith(":Series") else frame


def _import(path: str) -> Any:
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def load_extras(directory: Path) -> dict[str, Any]:
    index_path = directory / "extras.json"
    if not index_path.is_file():
        return {}
    out: dict[str, Any] = {}
    for name, entry in _read_json(index_path).items():
        try:
            kind = entry["kind"]
            if kind == "vocab":
                out[name] = Vocab.load(directory / f"{name}.vocab.json")
            elif kind == "json":
                out[name] = entry["value"]
            elif kind == "skipped":
                continue
            elif kind == "csv":
                out[name] = _read_csv(directory / f"{name}.csv", entry["class"])
            elif kind == "state_dict":
                out[name] = _import(entry["class"]).from_state_dict(_read_json(directory / f"{name}.json"))
            else:
                out[name] = _import(entry["class"]).load(directory / name)
        except RunDirError:
            raise
        except Exception as e:
            raise RunDirError(f"cannot rebuild extra {name!r} from {directory}: {e}") from e
    return out


# --- reading a run -----------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunDirError(f"cannot read {path}: {e}") from e


@dataclass
class Run:
    """A run folder read back: the model (eval mode) and what is needed to use and report it."""

    path: Path
    model: Model
    info: DatasetInfo
    extras: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def load_run(path: str | Path, *, device: str = "cpu") -> Run:
    """Rebuild a run from its folder alone (see the module docstring); RunDirError if it is unusable."""
    from rnnkit.train.history import History

    run = RunDir(path)
    if not run.path.is_dir():
        raise RunDirError(f"no run folder at {run.path}")
    for required in (run.config_yaml, run.weights, run.info_json):
        if not required.is_file():
            raise RunDirError(f"{run.path} is not a complete run folder: {required.name} is missing")
    try:
        config = yaml.safe_load(run.config_yaml.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise RunDirError(f"cannot read {run.config_yaml}: {e}") from e
    if not isinstance(config, dict):
        raise RunDirError(f"{run.config_yaml} does not hold a mapping")
    try:
        model = load_model(run.path, device=device)
        info = info_from_dict(_read_json(run.info_json))
    except RunDirError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise RunDirError(f"cannot rebuild the run in {run.path}: {e}") from e
    metrics = _read_json(run.metrics_json) if run.metrics_json.is_file() else {}
    history = History.read_csv(run.history_csv) if run.history_csv.is_file() else []
    return Run(run.path, model, info, load_extras(run.extras_dir), config, metrics, history)


def load(path: str | Path, *, device: str = "cpu") -> Model:
    """The model of a run folder or of a ``model.save(dir)`` folder, in eval mode."""
    p = Path(path)
    if not p.exists():
        raise RunDirError(f"no model folder at {p}")
    try:
        read_header(p / WEIGHTS if p.is_dir() else p)
        return load_model(p, device=device)
    except ValueError as e:
        raise RunDirError(str(e)) from e
