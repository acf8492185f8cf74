"""What one training run is, as the CLI and the tour see it: a :class:`RunSpec` read from YAML
(``--config`` / ``--recipe``) and flags, and a trained run folder read back with its spec.

The YAML schema (every key optional except ``data`` and ``model``)::

    data: japanese_vowels          # a bundled data set, or FORMAT:path
    data_options: {}               # keywords for rnnkit.datasets.load
    limit: null                    # keep at most N examples per split, or {train: N, valid: N, test: N}:
                                   #   a seeded random sample in the split's order (limit_indices)
    limit_rule: sample             # or first: the first N of each split (what runs before 2026-11-28 kept)
    vectors: false                 # one-to-one view: each fixed-length sequence becomes one vector
    model: classifier              # an alias (classifier, regressor, tagger, seq2seq, generator,
                                   #   lm, forecaster, feedforward) or a class name (SequenceTagger)
    model_options: {cell: gru, hidden_size: 128}   # keywords for Model.from_dataset
    ensemble: 1                    # k > 1: train k such models side by side and average their
                                   #   predictions (rnnkit.models.Ensemble)
    train: {epochs: 30, batch_size: 32, lr: 0.001, early_stopping: 5, seed: 0}   # any TrainerConfig field
    out: runs/jv                   # the run folder

The steps that turn a spec into a run live beside this module, each idea in its own file, and are
importable from here as before: its data (:mod:`rnnkit.cli.runspec_data`), ``limit``
(:mod:`rnnkit.cli.runspec_limit`) and its model (:mod:`rnnkit.cli.runspec_model`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnnkit.cli.main import CLIError

# the steps from a spec to a run, offered here as before (callers and tests import them from runspec)
from rnnkit.cli.runspec_data import as_vectors, check_same_encoding, load_data, options_error  # noqa: F401
from rnnkit.cli.runspec_limit import (  # noqa: F401
    LIMIT_RULES,
    LIMIT_SEED,
    SPLITS,
    applied_limit_rule,
    class_ids,
    limit_indices,
    limit_splits,
)
from rnnkit.cli.runspec_model import MODEL_ALIASES, build_model, closest, did_you_mean, resolve_model  # noqa: F401

RUN_OWNED = ("run_dir", "resume", "progress", "report")  # set by the command (--no-report), not by a spec


def train_keys() -> list[str]:
    """The ``train:`` keys a spec may hold: every TrainerConfig field the command does not own."""
    import dataclasses

    from rnnkit.train.config import TrainerConfig

    return [f.name for f in dataclasses.fields(TrainerConfig) if f.name not in RUN_OWNED]


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads ``1e-3`` as a number, as YAML 1.2 does (YAML 1.1, which
    PyYAML follows, wants ``1.0e-3`` and reads ``lr: 1e-3`` as the text "1e-3")."""


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """YAML text as Python values (safe: no objects), numbers such as ``1e-3`` included."""
    return yaml.load(text, Loader=_SpecLoader)  # a SafeLoader: plain values only


SPEC_FILE = "run.yaml"  # the spec as run, next to the Trainer's config.yaml
RECIPES = Path(__file__).resolve().parents[3] / "recipes"


@dataclass
class RunSpec:
    """One training run: which data, which model with which hyper-parameters, how to train, where."""

    data: str
    model: str
    data_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    limit: int | dict[str, int] | None = None
    limit_rule: str | None = None  # which examples limit keeps: "sample" (None: the default) or "first"
    vectors: bool = False
    out: str = ""
    ensemble: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def as_saved(self) -> dict[str, Any]:
        """The spec as ``run.yaml`` holds it: a user's data files by absolute path, so that ``rnnkit
        evaluate`` finds them from any working folder."""
        from rnnkit.data.datasets.registry import absolute_source

        spec = self.to_dict()
        spec["limit_rule"] = self.limit_rule or ("sample" if self.limit else None)  # the rule as applied
        if spec["data"]:
            spec["data"], spec["data_options"] = absolute_source(spec["data"], spec["data_options"])
        return spec

    def save(self, run_dir: Path) -> Path:
        """Write ``run.yaml`` (:meth:`as_saved`)."""
        from rnnkit.train.checkpoint import atomic_write_text

        path = run_dir / SPEC_FILE
        # atomically, with the folder's usual file mode: an interrupt never leaves half a spec
        atomic_write_text(path, yaml.safe_dump(self.as_saved(), sort_keys=False, allow_unicode=True))
        return path


def spec_from_dict(raw: Any, where: str) -> RunSpec:
    """Validate a parsed YAML mapping into a :class:`RunSpec`; errors name ``where`` and the key."""
    if raw is None:
        raise CLIError(f"{where}: the file is empty; it needs at least data: and model:")
    if not isinstance(raw, dict):
        raise CLIError(f"{where}: expected a mapping of keys (data, model, ...), got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(RunSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CLIError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key in ("data_options", "model_options", "train"):
        if not isinstance(raw.get(key, {}) or {}, dict):
            raise CLIError(f"{where}: {key} must be a mapping, got {raw[key]!r}")
    known_train = train_keys()
    bad = sorted(set(raw.get("train") or {}) - set(known_train))
    if bad:
        raise CLIError(f"{where}: unknown train key(s) {', '.join(bad)}; known: {', '.join(known_train)}")
    limit = raw.get("limit")
    sizes = limit.values() if isinstance(limit, dict) else [limit]
    if limit is not None and (not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)
                              or isinstance(limit, dict) and not set(limit) <= {"train", "valid", "test"}):
        raise CLIError(f"{where}: limit must be a positive integer or {{train: N, valid: N, test: N}}, got {limit!r}")
    if raw.get("limit_rule") not in (None, *LIMIT_RULES):
        raise CLIError(f"{where}: limit_rule must be one of {', '.join(LIMIT_RULES)}, got {raw['limit_rule']!r}")
    for key in ("data", "model", "out"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise CLIError(f"{where}: {key} must be a name (text), got {raw[key]!r}")
    if not isinstance(raw.get("vectors", False), bool):
        raise CLIError(f"{where}: vectors must be true or false, got {raw['vectors']!r}")
    ensemble = raw.get("ensemble", 1)
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise CLIError(f"{where}: ensemble must be a positive integer (the number of models), got {ensemble!r}")
    return RunSpec(data=str(raw.get("data") or ""), model=str(raw.get("model") or ""),
                   data_options=dict(raw.get("data_options") or {}),
                   model_options=dict(raw.get("model_options") or {}),
                   train=dict(raw.get("train") or {}), limit=limit, limit_rule=raw.get("limit_rule"),
                   vectors=bool(raw.get("vectors", False)),
                   out=str(raw.get("out") or ""), ensemble=ensemble)


def read_spec(path: str | Path) -> RunSpec:
    """A spec from a YAML file (a ``--config`` file or a recipe)."""
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"config file {p} is a folder; pass a YAML file")
    if not p.is_file():
        raise CLIError(f"config file {p} does not exist")
    try:
        raw = load_yaml(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise CLIError(f"{p}: not a text file (not UTF-8 at byte {e.start})") from e
    except OSError as e:
        raise CLIError(f"cannot read config file {p}: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}, line {mark.line + 1}" if mark is not None else str(p)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise CLIError(f"{where}: not valid YAML ({problem})") from e
    return spec_from_dict(raw, str(p))


def recipe_path(name: str) -> Path:
    """``recipes/NAME.yaml`` (the repository's folder, or the installed package's copy)."""
    candidates = [RECIPES / f"{name}.yaml", Path(__file__).resolve().parents[1] / "recipes" / f"{name}.yaml"]
    for c in candidates:
        if c.is_file():
            return c
    names = sorted({p.stem for d in (c.parent for c in candidates) if d.is_dir() for p in d.glob("*.yaml")})
    listing = f"; available: {', '.join(names)}" if names else "; no recipes are installed"
    raise CLIError(f"unknown recipe {name!r}{did_you_mean(name, names)}{listing}")


def _unfinished(path: Path) -> str:
    """For a run folder whose training stopped before it wrote its model (a last checkpoint, no
    model.safetensors): how to finish it. Else ``""``."""
    from rnnkit.train.run_dir import RunDir

    run = RunDir(path)
    if run.weights.exists() or not run.last_checkpoint.is_file():
        return ""
    again = f"rnnkit train --config {path / SPEC_FILE} --out {path} --resume" if (path / SPEC_FILE).is_file() else \
        f"rnnkit train ... --out {path} --resume"
    return (f". The run did not finish: training stopped before it wrote its model (its last checkpoint is "
            f"{run.last_checkpoint}); finish it with the command that trained it plus --resume ({again})")


# extras that a run's info.json says its inputs went through: (info.extra key, the extras that hold
# it, what it is); without one, predict and export would read raw input as the model never saw it
NEEDED_EXTRAS = (("scale", ("scaler",), "the input scaler"),
                 ("tokenizer", ("tokenizer", "input_tokenizer", "source_tokenizer"), "the tokenizer"))


def _check_extras(p: Path, run: Any) -> None:
    """CLIError naming the missing file when the run's info.json records a fitted extra (its data
    scaled: ``"scale": "standard"``; a tokenizer) that its ``extras/`` folder no longer holds.
    ``load_extras`` reads a folder without its index as "no extras", so a deleted ``extras/`` or
    ``extras/extras.json`` would otherwise drop the scaler in silence and change every prediction."""
    from rnnkit.train.run_dir import RunDir

    recorded = getattr(run.info, "extra", None) or {}
    folder = RunDir(p).extras_dir
    for key, names, what in NEEDED_EXTRAS:
        if not recorded.get(key) or any(name in run.extras for name in names):
            continue
        if not folder.is_dir():
            missing = f"{folder}/ (the folder of its fitted extras) is missing"
        elif not (folder / "extras.json").is_file():
            missing = f"{folder / 'extras.json'} (the index of its fitted extras) is missing"
        else:
            missing = f"{folder / 'extras.json'} lists no {names[0]!r}"
        raise CLIError(f"unusable run folder: {missing}, but {p / 'info.json'} records {key}={recorded[key]!r}: "
                       f"the model needs {what} fitted in training; copy the whole run folder again, or train "
                       "again")


def open_run(path: str | Path) -> tuple[Any, RunSpec]:
    """A run folder read back (``train.run_dir.Run``) and the spec it was trained from.

    The spec comes from ``run.yaml`` (written by ``rnnkit train``) or, for a folder written by the
    Python API, from the ``data:`` and ``model:`` entries of ``config.yaml``. A folder that lacks a
    fitted extra its info.json records (a scaler, a tokenizer) is unusable (:func:`_check_extras`).
    """
    from rnnkit.train.run_dir import RunDirError, load_run

    p = Path(path)
    if not p.exists():
        raise CLIError(f"no run folder at {p} (train one with `rnnkit train ... --out {p}`)")
    if not p.is_dir():
        raise CLIError(f"{p} is a file; pass the run folder that `rnnkit train --out` wrote")
    try:
        run = load_run(p)
    except RunDirError as e:
        raise CLIError(f"unusable run folder: {str(e).splitlines()[0]}{_unfinished(p)}") from e
    _check_extras(p, run)
    spec_file = p / SPEC_FILE
    if spec_file.is_file():
        spec = read_spec(spec_file)
        if spec.limit:  # (trained before limit_rule was saved: the first N)
            spec.limit_rule = applied_limit_rule(spec.limit, spec.limit_rule)
    else:
        data = run.config.get("data") or {}
        spec = RunSpec(data=str(data.get("name", run.info.name)), model=str(run.config.get("model", {}).get("class")),
                       data_options=dict(data.get("options") or {}), out=str(p))
    return run, spec


__all__ = ["MODEL_ALIASES", "RunSpec", "applied_limit_rule", "as_vectors", "build_model", "limit_indices",
           "limit_splits", "load_data", "load_yaml", "open_run", "read_spec", "recipe_path", "resolve_model",
           "spec_from_dict"]
