"""The rule of issue 6: no recipe may train on test data or pick anything (epoch, weights) on it.

:func:`check_selection` refuses, with a ValueError that says what to change,

* any key that asks for selection on test (``select_on: test``, ``monitor: test_accuracy``,
  ``valid_split: test``, ...), wherever it sits in the recipe;
* a ``monitor`` that is not computed on the valid split (it must start with ``valid_``);
* a recipe that changes the test split it is scored on (``limit``, which cuts every split, or a
  data option named ``test...`` such as ``test_size``): the table compares every row with
  published figures on the standard test split;
* early stopping on a data set whose valid split is empty (it would have nothing to watch);
* data options under which the valid split is the test split (checked on the loaded data: most
  valid examples equal to test examples, input and target alike).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any


class RecipeError(ValueError):
    """A recipe that cannot be benched as it is: it selects on test, changes the test split, or does
    not load. The command line prints it as one line."""


# keys whose value names the split that selects (or validates) a model
_SELECTION_KEYS = ("select", "monitor", "split", "valid", "validation", "early_stopping_on", "checkpoint_on")
# the share of valid examples found in test above which valid "is" test
OVERLAP_LIMIT = 0.5


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(dotted.key, value)`` in nested mappings and lists."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")
    else:
        yield path, node


def _names_test(value: Any) -> bool:
    return isinstance(value, str) and "test" in value.lower()


def check_recipe_keys(raw: Any, where: str) -> None:
    """Refuse keys that select on test and a monitor outside valid (see the module docstring)."""
    if not isinstance(raw, Mapping):
        raise RecipeError(f"{where}: a recipe is a mapping (data, model, train, ...), got {type(raw).__name__}")
    for path, value in _walk(raw):
        leaf = path.rsplit(".", 1)[-1].lower()
        if any(k in leaf for k in _SELECTION_KEYS) and _names_test(value):
            raise RecipeError(f"{where}: {path}: {value!r} selects on test data; model selection (early "
                             f"stopping, the best epoch) must use the valid split, e.g. monitor: valid_accuracy")
    if raw.get("limit") is not None:
        raise RecipeError(f"{where}: limit: {raw['limit']!r} cuts the test split; a benched recipe is scored on the "
                         "standard test split (use --quick for a short smoke run)")
    options = raw.get("data_options") or {}
    changed = sorted(str(k) for k in options if str(k).lower().startswith("test")) if isinstance(options, Mapping) \
        else []
    if changed:
        raise RecipeError(f"{where}: data_options {changed} change the test split; a benched recipe is scored on the "
                         "standard test split (carve valid from the training data instead)")
    train = raw.get("train") or {}
    monitor = train.get("monitor") if isinstance(train, Mapping) else None
    if monitor is not None and not str(monitor).startswith("valid_"):
        raise RecipeError(f"{where}: train.monitor {monitor!r} is not a valid-split metric; name one computed on "
                         f"valid, e.g. valid_accuracy or valid_loss (test is for the final score only)")


def _fingerprint(example: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in ("x", "y", "cond"):
        t = getattr(example, name, None)
        h.update(name.encode())
        if t is not None:
            h.update(str(tuple(t.shape)).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def check_splits(dataset: Any, raw: Mapping[str, Any], where: str) -> None:
    """Refuse early stopping without a valid split, and a valid split that is the test split."""
    valid, test = dataset.valid.examples, dataset.test.examples
    train = raw.get("train") or {}
    if not valid:
        if train.get("early_stopping") is not None or train.get("monitor") is not None:
            raise RecipeError(f"{where}: early stopping / monitor needs a valid split, and "
                             f"{dataset.info.name} has none with data_options {raw.get('data_options') or {}}; "
                             "give it one (e.g. valid_fraction: 0.2) or train a fixed number of epochs")
        return
    if not test:
        return
    test_prints = {_fingerprint(e) for e in test}
    shared = sum(_fingerprint(e) in test_prints for e in valid)
    if shared > OVERLAP_LIMIT * len(valid):
        raise RecipeError(f"{where}: {shared} of the {len(valid)} valid examples of {dataset.info.name} are test "
                         f"examples (data_options {raw.get('data_options') or {}}): selecting on this valid split "
                         "selects on test data; use options that carve valid from the training data")


def check_selection(raw: Any, *, where: str, dataset: Any = None) -> None:
    """Raise ValueError when the recipe ``raw`` (and, if given, its loaded ``dataset``) would select a
    model on test data or train on it; see the module docstring for the rules."""
    check_recipe_keys(raw, where)
    if dataset is not None:
        check_splits(dataset, raw, where)


__all__ = ["OVERLAP_LIMIT", "RecipeError", "check_recipe_keys", "check_selection", "check_splits"]
