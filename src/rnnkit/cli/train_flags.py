"""``rnnkit train``'s flags turned into a run: the :class:`RunSpec` of a ``--config`` file or a recipe
with the flags laid over it, and, without ``--model``, the model the data set's shape calls for.

    spec = spec_from_args(args)       # the YAML spec, then --data, --hidden, --set KEY=VALUE, ...
    dataset = choose_model(spec)      # no --model: the data are loaded and pick it (else None)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from rnnkit.cli.main import CLIError
from rnnkit.cli.runspec import (
    MODEL_ALIASES,
    RunSpec,
    load_data,
    load_yaml,
    read_spec,
    recipe_path,
    spec_from_dict,
    train_keys,
)

# flag dest -> model option name
MODEL_FLAGS = {"cell": "cell", "hidden": "hidden_size", "layers": "num_layers", "dropout": "dropout",
               "bidirectional": "bidirectional"}


def _key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    """The ``KEY=VALUE`` pairs of a repeatable flag (``--set``, ``--train-option``, ``--data-option``)
    as a mapping: each value read as YAML, a dash in a key read as an underscore."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[key.strip().replace("-", "_")] = load_yaml(value)
        except yaml.YAMLError as e:
            if value.strip().startswith(("[", "{", '"', "'")):  # a list, a mapping or a quoted string, broken: say so
                raise CLIError(f"{flag} {pair!r}: the value is not valid YAML ({str(e).splitlines()[0]}); "
                               f"a list is [a, b], a mapping {{a: 1}}, a quoted text '...'") from e
            # a plain value YAML cannot read (%d/%m/%Y starts with a reserved character): the text itself
            out[key.strip().replace("-", "_")] = value
    return out


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The YAML spec (if any) with the flags laid over it."""
    if args.config:
        spec = read_spec(args.config)
    elif args.recipe:
        spec = read_spec(recipe_path(args.recipe))
    else:
        spec = spec_from_dict({}, "flags")
    spec.data = args.data or spec.data
    spec.model = args.model or spec.model
    for dest, option in MODEL_FLAGS.items():
        if getattr(args, dest) is not None:
            spec.model_options[option] = getattr(args, dest)
    spec.model_options.update(_key_values(args.set, "--set"))
    spec.data_options.update(_key_values(args.data_option, "--data-option"))
    options = _key_values(args.train_option, "--train-option")
    bad = sorted(set(options) - set(train_keys()))
    if bad:
        raise CLIError(f"--train-option {bad[0]}: no such Trainer setting (the run folder, resuming, the progress bar "
                       f"and the report have their own flags); the settings: {', '.join(train_keys())}")
    spec.train.update(options)
    for key in ("epochs", "batch_size", "lr", "early_stopping", "seed", "precision"):
        if getattr(args, key) is not None:
            spec.train[key] = getattr(args, key)
    if args.limit is not None:
        if args.limit < 1:
            raise CLIError(f"--limit must be >= 1 (examples kept per split), got {args.limit}")
        spec.limit = args.limit
    spec.vectors = bool(args.vectors) or spec.vectors
    if args.ensemble is not None:
        if args.ensemble < 1:
            raise CLIError(f"--ensemble must be >= 1, got {args.ensemble}")
        spec.ensemble = args.ensemble
    if not spec.data:
        raise CLIError("no data set given: pass --data NAME (see `rnnkit datasets`), --config FILE or --recipe NAME")
    spec.out = args.out or spec.out  # else runs/<data>-<model>, once the model is known (choose_model)
    return spec


def model_for(info: Any) -> str:
    """The ``--model`` that a data set's problem shape calls for (see DESIGN.md's table of shapes)."""
    if info.shape == "many-to-one":
        return "regressor" if info.task == "regression" else "classifier"
    if info.shape == "one-to-many":
        return "generator" if info.cond_shape else "lm"
    by_shape = {"one-to-one": "feedforward", "synced": "tagger", "many-to-many": "seq2seq",
                "forecasting": "forecaster"}
    if info.shape not in by_shape:
        raise CLIError(f"no model given, and the data set's shape {info.shape!r} names none: pass --model NAME "
                       f"({', '.join(MODEL_ALIASES)})")
    return by_shape[info.shape]


def choose_model(spec: RunSpec) -> Any:
    """Without ``--model``, load the data and pick the model its shape calls for, saying so on
    stderr; then the run folder defaults to ``runs/<data>-<model>``. Returns the loaded data set
    (None when the spec names its model)."""
    dataset = None
    if not spec.model:
        dataset = load_data(spec)
        info = dataset.info
        spec.model = model_for(info)
        what = f"{info.shape} {info.task}" if info.shape == "many-to-one" else info.shape
        print(f"model: {spec.model} (the data set is {what}; pass --model to choose another)", file=sys.stderr)
    spec.out = spec.out or f"runs/{Path(spec.data).stem.replace(':', '-')}-{spec.model.lower()}"
    return dataset
