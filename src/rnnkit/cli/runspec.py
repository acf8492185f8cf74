"""What one training run is, as the CLI and the tour see it: a :class:`RunSpec` read from YAML
(``--config`` / ``--recipe``) and flags, and the steps that turn it into a trained run folder.

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
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnnkit.cli.main import CLIError

# alias -> (model class name, options the alias implies)
MODEL_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "feedforward": ("FeedForward", {}),
    "classifier": ("SequenceClassifier", {}),
    "regressor": ("SequenceClassifier", {"task": "regression"}),
    "tagger": ("SequenceTagger", {}),
    "seq2seq": ("Seq2Seq", {}),
    "generator": ("ConditionedGenerator", {}),
    "lm": ("LanguageModel", {}),
    "forecaster": ("Forecaster", {}),
}
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


def closest(name: str, choices: Any) -> str | None:
    """The one of ``choices`` closest to a misspelled ``name``, if any is close."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, choices: Any) -> str:
    """`` (did you mean X?)`` for the closest of ``choices`` to a misspelled ``name``, else ``""``."""
    close = closest(name, choices)
    return f" (did you mean {close}?)" if close else ""


def resolve_model(name: str) -> tuple[Any, dict[str, Any]]:
    """An alias or class name -> (model class, options the alias implies)."""
    import rnnkit.models  # noqa: F401  (registers every model class)
    from rnnkit.models.base import MODELS

    cls_name, implied = MODEL_ALIASES.get(name.lower(), (name, {}))
    if cls_name not in MODELS:
        choices = ", ".join(MODEL_ALIASES)
        spelled = {**{a: a for a in MODEL_ALIASES}, **{m.lower(): m for m in MODELS}}
        close = closest(name.lower(), spelled)
        hint = f" (did you mean {spelled[close]}?)" if close else ""
        raise CLIError(f"unknown model {name!r}{hint}; choose one of {choices} (or a class name)")
    return MODELS[cls_name], dict(implied)


def options_error(name: str, options: dict[str, Any], error: TypeError) -> CLIError:
    """One line for a loader's TypeError: an option it does not take, or an option whose value has the
    wrong type, where --data-option's YAML reading is the usual cause (target=on is True, 2020 an int)."""
    if "unexpected keyword argument" in str(error) or "takes no option" in str(error):
        return CLIError(f"data set {name!r} does not take these options {options}: pass the loader's options "
                        f"with --data-option KEY=VALUE (docs/DATA.md): {error}")
    typed = {k: v for k, v in options.items() if v is None or isinstance(v, bool | int | float)}
    hint = ""
    if typed:
        shown = ", ".join(f"{k}={v!r}" for k, v in typed.items())
        first = next(iter(typed))
        hint = (f"; --data-option values are read as YAML ({shown}): quote one that names a column or "
                f"holds text, --data-option \"{first}='...'\"")
    return CLIError(f"data set {name!r} cannot use its options {options}: {error}{hint}")


def load_data(spec: RunSpec) -> Any:
    """Load the spec's data set (bundled or FORMAT:path), then cut each split to ``limit`` (:func:`limit_splits`)."""
    import rnnkit.datasets

    if not spec.data:
        raise CLIError("no data set given: pass --data NAME (see `rnnkit datasets`) or a config with data:")
    try:
        ds = rnnkit.datasets.load(spec.data, **spec.data_options)
    except TypeError as e:
        raise options_error(spec.data, spec.data_options, e) from e
    except (ValueError, OSError, ImportError) as e:
        raise CLIError(str(e).splitlines()[0] if str(e) else repr(e)) from e
    if spec.limit:
        limit_splits(ds, spec.limit, rule=spec.limit_rule or "sample")
    if spec.vectors:
        as_vectors(ds)
    return ds


LIMIT_SEED = 0  # with the split's place in SPLITS, the seed of every --limit sample
LIMIT_RULES = ("sample", "first")  # limit_rule: a seeded sample (since 2026-11-28), or the first N (before)
SPLITS = ("train", "valid", "test")


def applied_limit_rule(limit: Any, rule: Any) -> str | None:
    """The rule by which a saved run's ``limit`` kept its examples: ``rule`` as saved, or "first" where
    none is (the run.yaml was written before limit_rule was, when limit kept the first N); None
    without a limit."""
    if not limit:
        return None
    return rule if rule in LIMIT_RULES else "first"


def limit_indices(size: int, n: int, *, labels: Sequence[int] | None = None,
                  seed: int | Sequence[int] = LIMIT_SEED) -> list[int]:
    """Which ``n`` of a split's ``size`` examples ``--limit`` keeps, in increasing order.

    All of them when ``n >= size``; else a random sample drawn from ``numpy.random.default_rng(seed)``
    alone (never the global torch or numpy generators), so that the same split and ``n`` give the same
    examples in every run, resume and ``rnnkit evaluate``. The split's order is kept: forecasting
    windows stay in time order. Some data sets list their examples by class (japanese_vowels,
    basic_motions, arrowhead's test split), where the first ``n`` hold one class only. With
    ``labels`` (one class id per example) the sample is stratified once ``n`` reaches the number of
    classes: one example of each class, the rest shared in proportion to what each class has left
    (largest remainders, ties to the lower class id). A plain random sample of 20 of japanese_vowels'
    9 classes would often miss one, and a small test split's score then says nothing of that class.

    Example::

        >>> limit_indices(6, 3, labels=[0, 0, 0, 1, 1, 1])  # two of class 0 (the tie), one of class 1
        [1, 2, 3]
        >>> limit_indices(5, 9)
        [0, 1, 2, 3, 4]
    """
    import numpy as np

    if n >= size:
        return list(range(size))
    rng = np.random.default_rng(seed)
    if labels is None or n < len(set(labels)):
        return sorted(int(i) for i in rng.choice(size, size=n, replace=False))
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    groups = [by_class[c] for c in sorted(by_class)]
    room = [len(g) - 1 for g in groups]  # what each class has beyond its one sure example
    spare = n - len(groups)  # < sum(room), as n < size
    shares = [divmod(spare * r, sum(room)) for r in room]  # exact: no float ties
    counts = [1 + q for q, _ in shares]
    by_remainder = sorted(range(len(groups)), key=lambda c: -shares[c][1])  # stable: lower id first
    for c in by_remainder[:spare - sum(q for q, _ in shares)]:
        counts[c] += 1
    return sorted(int(i) for g, k in zip(groups, counts) for i in rng.choice(g, size=k, replace=False))


def class_ids(dataset: Any, examples: Sequence[Any]) -> list[int] | None:
    """Each example's class id for a classification data set (one scalar ``y`` each), else None."""
    import torch

    if dataset.info.task != "classification":
        return None
    if not all(isinstance(e.y, torch.Tensor) and e.y.dim() == 0 and not e.y.is_floating_point() for e in examples):
        return None
    return [int(e.y) for e in examples]


def limit_splits(dataset: Any, limit: int | dict[str, int], *, rule: str = "sample") -> None:
    """Cut each split of ``dataset`` to ``limit`` examples (one number for every split, or one per split
    named), in place: the sample of :func:`limit_indices`, stratified by class for classification
    (``rule="sample"``), or the first examples (``rule="first"``, what runs trained before 2026-11-28
    kept: their run.yaml has a limit and no limit_rule, and is read that way). A split that ``limit``
    covers is kept as it is.

    The seed is ``LIMIT_SEED`` and the split's place in ``SPLITS``, a constant on purpose: not the
    run's ``train: seed`` (runs that differ only in their training seed see the same examples) nor
    the loader's ``seed`` option, which only some loaders take, each with its own meaning."""
    from rnnkit.data.dataset import ExampleList

    for k, split in enumerate(SPLITS):
        n = limit.get(split) if isinstance(limit, dict) else limit
        examples = getattr(dataset, split).examples
        if n is None or n >= len(examples):
            continue
        keep = range(n) if rule == "first" else \
            limit_indices(len(examples), n, labels=class_ids(dataset, examples), seed=(LIMIT_SEED, k))
        setattr(dataset, split, ExampleList([examples[i] for i in keep]))
    dataset.info.sizes = {s: len(getattr(dataset, s)) for s in SPLITS}


def check_same_encoding(dataset: Any, run: Any) -> None:
    """CLIError when ``dataset``, loaded again, is not encoded as the run's training data was.

    A user's file that changed since training (new rows bring new words, labels or a new range of
    values) refits the loader's vocabulary, classes and scaler, so the test examples would come
    back as ids and scaled values that the trained model never learned: its score would be
    wrong, with no error. The bundled data sets never change, and pass."""
    info, saved = dataset.info, run.info
    differ = [what for what, a, b in (
        ("input vocabulary", info.input_vocab, saved.input_vocab),
        ("output vocabulary", info.output_vocab, saved.output_vocab),
        ("classes", list(info.classes or []), list(saved.classes or [])),
        ("number of features", info.num_features, saved.num_features),
        # the splits' sizes as trained (--limit lives in run.yaml: without it every example came back)
        ("split sizes", dict(info.sizes or {}), dict(saved.sizes or {}) or dict(info.sizes or {}))) if a != b]
    scaler, kept = dataset.extras.get("scaler"), run.extras.get("scaler")
    if hasattr(scaler, "state_dict") and hasattr(kept, "state_dict"):
        import numpy as np

        def same(a: Any, b: Any) -> bool:
            if not isinstance(a, (list, float, int)):
                return a == b
            a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))

        now, then = scaler.state_dict(), kept.state_dict()
        if now.keys() != then.keys() or not all(same(now[k], then[k]) for k in now):
            differ.append("scaler")
    if differ:
        raise CLIError(f"the data {dataset.load_name or info.name!r} differ from what this run was trained on: "
                       f"refitted on them now, the {' and the '.join(differ)} changed, so the test examples would "
                       "not be encoded as in training; score the data the run was trained on, or train again")


def as_vectors(dataset: Any) -> None:
    """Flatten every example's fixed-length ``(T, F)`` input into one ``(T*F,)`` vector, in place:
    the one-to-one view of a set of equal-length series (what an MLP baseline sees)."""
    import dataclasses

    from rnnkit.data.dataset import ExampleList

    lengths = {tuple(e.x.shape) for s in ("train", "valid", "test") for e in getattr(dataset, s).examples
               if e.x is not None}
    if len(lengths) != 1:
        raise CLIError(f"vectors: true needs inputs of one fixed shape; {dataset.info.name} has {len(lengths)} shapes")
    for split in ("train", "valid", "test"):
        flat = [dataclasses.replace(e, x=e.x.reshape(-1)) for e in getattr(dataset, split).examples]
        setattr(dataset, split, ExampleList(flat))
    size = int(next(iter(lengths))[0]) * int(next(iter(lengths))[1] if len(next(iter(lengths))) > 1 else 1)
    dataset.info = dataclasses.replace(dataset.info, shape="one-to-one", input_kind="vector", num_features=size,
                                       sizes=dict(dataset.info.sizes))


def build_model(spec: RunSpec, dataset: Any) -> Any:
    """``Model.from_dataset(dataset, **options)`` for the spec's model (an :class:`Ensemble` of
    ``spec.ensemble`` of them when it is over 1), with a one-line error."""
    cls, options = resolve_model(spec.model)
    options.update(spec.model_options)
    if cls.__name__ == "FeedForward" and "hidden_size" in options and "hidden_sizes" not in options:
        options["hidden_sizes"] = (options.pop("hidden_size"),)  # --hidden N: one hidden layer of N units
    try:
        if spec.ensemble > 1:  # the members draw their initial weights one after another
            from rnnkit.models.ensemble import Ensemble

            return Ensemble(members=[cls.from_dataset(dataset, **options) for _ in range(spec.ensemble)])
        return cls.from_dataset(dataset, **options)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise CLIError(f"{cls.__name__} does not take these options {sorted(options)}: {e}") from e
        raise CLIError(f"cannot build {cls.__name__} for {dataset.info.name}: {e}") from e  # a value's type
    except ValueError as e:
        raise CLIError(f"cannot build {cls.__name__} for {dataset.info.name}: {e}") from e


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


def open_run(path: str | Path) -> tuple[Any, RunSpec]:
    """A run folder read back (``train.run_dir.Run``) and the spec it was trained from.

    The spec comes from ``run.yaml`` (written by ``rnnkit train``) or, for a folder written by the
    Python API, from the ``data:`` and ``model:`` entries of ``config.yaml``.
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
