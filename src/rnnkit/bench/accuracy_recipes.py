"""The recipes ``rnnkit bench accuracy`` trains: the names shipped in ``rnnkit/recipes``
(:func:`recipe_names`), a recipe loaded only once the rule of issue 6 lets it through
(:func:`load_recipe`: :func:`rnnkit.bench.accuracy_selection.check_selection` refuses one that trains
or selects on test data), and its shrunken copy for smoke runs (:func:`quick_spec`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.bench.accuracy_selection import RecipeError, check_selection

QUICK_LIMIT = 48  # examples per split in --quick runs


def recipe_names() -> list[str]:
    """The data sets with a recipe shipped in ``rnnkit/recipes``."""
    folder = Path(__file__).resolve().parents[1] / "recipes"
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_recipe(name: str) -> tuple[dict[str, Any], Any, Path]:
    """The raw YAML mapping, the validated ``RunSpec`` and the file of recipe ``name``.

    Raises RecipeError (a ValueError) when the recipe selects on test data or changes the test split
    (see :func:`check_selection`), or does not load.
    """
    import yaml

    from rnnkit.cli.main import CLIError
    from rnnkit.cli.runspec import recipe_path, spec_from_dict

    try:
        path = recipe_path(name)
    except CLIError as e:
        raise RecipeError(str(e)) from e
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    check_selection(raw, where=str(path))
    try:
        spec = spec_from_dict(raw, str(path))
    except CLIError as e:
        raise RecipeError(str(e)) from e
    return raw, spec, path


def quick_spec(spec: Any) -> Any:
    """A shrunken copy of ``spec`` for smoke runs: one epoch on ``QUICK_LIMIT`` examples per split."""
    import dataclasses

    train = {**spec.train, "epochs": 1}
    train.pop("early_stopping", None)
    return dataclasses.replace(spec, train=train, limit=QUICK_LIMIT,
                               data_options=dict(spec.data_options), model_options=dict(spec.model_options))


__all__ = ["QUICK_LIMIT", "load_recipe", "quick_spec", "recipe_names"]
