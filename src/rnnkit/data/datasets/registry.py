"""The registry of bundled data sets: ``register`` a loader, then ``list()`` and ``load(name)``.

A loader module declares the cheap, static facts at registration (no data is read), and its
loader reads the data (importing heavy packages inside the function) and returns a
:class:`SequenceDataset`. Paths like ``"csv:file.csv"`` are dispatched to ``data/formats``
through :func:`register_format`.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.data.dataset import DatasetInfo, PublishedResult, SequenceDataset

# Modules under rnnkit.data.datasets that register data sets; imported on first use of the registry.
DATASET_MODULES: builtins.list[str] = ["ucr", "forecasting", "sentiment", "peoples_daily", "g2p", "dates",
                                       "number_words", "addition", "digits", "tunes"]
FORMAT_MODULES: builtins.list[str] = ["tables", "ucr", "pairs", "folder", "conll", "npz", "text"]


@dataclass(frozen=True)
class Entry:
    info: DatasetInfo  # static facts: name, shape, task, input kind, stated sizes, source, licence
    loader: Callable[..., SequenceDataset]


_REGISTRY: dict[str, Entry] = {}
_FORMATS: dict[str, Callable[..., SequenceDataset]] = {}
_imported = False


def register(info: DatasetInfo) -> Callable[[Callable[..., SequenceDataset]], Callable[..., SequenceDataset]]:
    """Decorator: ``@register(DatasetInfo(name="gunpoint", ...))`` on the loader function."""

    def wrap(fn: Callable[..., SequenceDataset]) -> Callable[..., SequenceDataset]:
        if info.name in _REGISTRY:
            raise ValueError(f"data set {info.name!r} is registered twice")
        _REGISTRY[info.name] = Entry(info, fn)
        return fn

    return wrap


def register_format(prefix: str) -> Callable[[Callable[..., SequenceDataset]], Callable[..., SequenceDataset]]:
    """Decorator for a user-file loader reached as ``load("PREFIX:path", **options)``."""

    def wrap(fn: Callable[..., SequenceDataset]) -> Callable[..., SequenceDataset]:
        _FORMATS[prefix] = fn
        return fn

    return wrap


def _import_all() -> None:
    global _imported
    if not _imported:
        for mod in DATASET_MODULES:
            importlib.import_module(f"rnnkit.data.datasets.{mod}")
        for mod in FORMAT_MODULES:
            importlib.import_module(f"rnnkit.data.formats.{mod}")
        _imported = True


def list() -> builtins.list[DatasetInfo]:  # noqa: A001 - public name fixed by DESIGN.md
    """The bundled data sets' static infos, sorted by shape then name."""
    _import_all()
    order = ["one-to-one", "one-to-many", "many-to-one", "many-to-many", "synced", "forecasting"]
    return sorted((e.info for e in _REGISTRY.values()), key=lambda i: (order.index(i.shape), i.name))


def names() -> builtins.list[str]:
    _import_all()
    return sorted(_REGISTRY)


def info(name: str) -> DatasetInfo:
    _import_all()
    if name not in _REGISTRY:
        raise ValueError(_unknown(name))
    return _REGISTRY[name].info


def load(name: str, **options: Any) -> SequenceDataset:
    """Load a bundled data set by name, or a user's file as ``"FORMAT:path"`` (see data/formats)."""
    if not isinstance(name, str):
        raise TypeError(f"a data set name must be a str such as 'gunpoint' or 'csv:PATH', got {name!r}")
    _import_all()
    if ":" in name and name.split(":", 1)[0] in _FORMATS:
        prefix, path = name.split(":", 1)
        loader = _FORMATS[prefix]
        _check_options(f"format {prefix!r}", loader, options, skip=1)
        return _remember(loader(path, **_typed_options(f"format {prefix!r}", loader, options)), name, options)
    if name not in _REGISTRY:
        raise ValueError(_unknown(name))
    loader = _REGISTRY[name].loader
    _check_options(f"data set {name!r}", loader, options)
    return _remember(loader(**_typed_options(f"data set {name!r}", loader, options)), name, options)


def _remember(dataset: SequenceDataset, name: str, options: dict[str, Any]) -> SequenceDataset:
    """Note on ``dataset`` how it was loaded: a run folder records it (Trainer.fit), so that the CLI
    rebuilds the same data from the folder alone (from any working folder: see :func:`absolute_source`)."""
    dataset.load_name, dataset.load_options = absolute_source(name, options)
    return dataset


PATH_OPTIONS = ("test",)  # the format options that name a file


def absolute_source(name: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``name`` and ``options`` with the files they name made absolute (``"csv:data.csv"`` ->
    ``"csv:/home/me/data.csv"``), so that a run folder records data it can load again from any
    working folder. Bundled names, and paths that do not exist, are left as they are."""
    _import_all()
    if not isinstance(name, str) or ":" not in name or name.split(":", 1)[0] not in _FORMATS:
        return name, dict(options)

    def absolute(path: str) -> str:
        p = Path(path).expanduser()
        return str(p.resolve()) if p.exists() else path

    prefix, path = name.split(":", 1)
    return f"{prefix}:{absolute(path)}", {k: absolute(v) if k in PATH_OPTIONS and isinstance(v, str) else v
                                          for k, v in options.items()}


def _check_options(what: str, loader: Callable[..., Any], options: dict[str, Any], *, skip: int = 0) -> None:
    """TypeError naming an option the loader does not take, and the ones it does (``skip``: leading
    positional parameters that are not options, such as a format's path)."""
    params = builtins.list(inspect.signature(loader).parameters.values())[skip:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    known = [p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"{what} takes no option {unknown[0]!r}.{hint} Its options: {', '.join(known) or 'none'}")


def _typed_options(what: str, loader: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against the types the loader's defaults (or ``int | None`` annotations) give,
    with ISO date strings made dates: a YAML config or a Python caller passes ``"2000-01-01"`` or
    ``seed="a"``, which would otherwise fail deep in the loader with a library's error, or, for a bool
    option given ``"yes"``, be silently true. A TypeError names the option and what to pass."""
    import datetime as dt

    params = inspect.signature(loader).parameters
    out = dict(options)
    for key, value in options.items():
        p = params.get(key)
        if p is None or value is None:
            continue
        default, note = p.default, str(p.annotation)
        if isinstance(default, bool) or note in ("bool", "bool | None"):
            if not isinstance(value, bool):
                raise TypeError(f"{what}: {key} must be true or false, got {value!r} ({type(value).__name__})")
        elif (isinstance(default, int) and not isinstance(default, bool)) or note in ("int", "int | None"):
            # not a number at all (a string, a list, a bool): a float goes on to the loader's own range
            # check, whose message says what the option means ("window must be an integer >= 1")
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{what}: {key} must be an int, got {value!r} ({type(value).__name__})")
        elif isinstance(default, dt.date) and not isinstance(value, dt.date):
            try:
                out[key] = dt.date.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                out[key] = None
            if out[key] is None:
                raise TypeError(f"{what}: {key} must be a date, as YYYY-MM-DD (e.g. {default.isoformat()}), "
                                f"got {value!r}")
    return out


def _unknown(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, _REGISTRY, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    fmts = ", ".join(f"{p}:PATH" for p in sorted(_FORMATS))
    return (f"unknown data set {name!r}.{hint} Run `rnnkit datasets` for the list"
            + (f", or load your own file with {fmts}." if fmts else "."))


__all__ = ["DatasetInfo", "Entry", "PublishedResult", "info", "list", "load", "names", "register",
           "register_format"]
