"""Save a model to a folder and rebuild it from that folder alone.

``model.safetensors`` holds the weights; its header holds the model's class name, the module that
defines it, and its config (JSON), so ``load_model`` needs nothing else::

    model.save("runs/vowels")                  # -> runs/vowels/model.safetensors
    model = load_model("runs/vowels")          # same class, config and weights

The header also records the parameters' dtype (float64, bfloat16 ...), and the model is rebuilt in
it (a file without that record: float32). The class is looked up in ``MODELS`` (every Model subclass
registers itself, rnnkit's own once ``rnnkit.models`` is imported); a module the header names is
imported only when it is part of rnnkit, since a file must not choose which code runs: a model class
of your own loads once its module has been imported. A missing or corrupt file raises
``ValueError`` naming it, as does a device this machine does not have.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import tempfile
import typing
from pathlib import Path
from typing import Any

import torch

from rnnkit.models.base import MODELS, Model

WEIGHTS = "model.safetensors"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"model config value {value!r} ({type(value).__name__}) cannot be written as JSON; "
                    "configs must hold plain numbers, strings, lists and dicts")


# the dtypes a model is rebuilt in, by the name the header records (str(torch.float64) less "torch.")
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}


def model_header(model: Model) -> dict[str, str]:
    """The safetensors metadata that identifies a model: class, module, JSON config and, when all its
    floating-point parameters have one, their dtype."""
    cls = type(model)
    header: dict[str, Any] = {"class": cls.__name__, "module": cls.__module__,
                              "config": _jsonable(model.config_dict())}
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(dtypes) == 1 and (dtype := str(dtypes.pop()).removeprefix("torch.")) in DTYPES:
        header["dtype"] = dtype
    return {"rnnkit_model": json.dumps(header)}


def file_mode() -> int:
    """The mode ``open()`` gives a new file here (0o666 less the umask); a temp file from
    ``tempfile.mkstemp`` is 0o600, which would otherwise carry over to the file it replaces."""
    try:  # Linux says it without changing it (os.umask sets it, for a moment, in every thread)
        with open("/proc/self/status", encoding="ascii") as f:
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def save_model(model: Model, directory: str | Path) -> Path:
    """Write ``directory/model.safetensors`` atomically (weights + class + config); returns its path."""
    from safetensors.torch import save_model as st_save_model

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / WEIGHTS
    fd, tmp = tempfile.mkstemp(prefix=".model.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        st_save_model(model, tmp, metadata=model_header(model))  # handles tied weights
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _model_class(name: str, module: str | None) -> type[Model]:
    """The registered Model class ``name``. ``module`` (where the file says it is defined) is imported
    only when it is inside rnnkit: a file's header must not make any other installed module run."""
    if name not in MODELS:
        importlib.import_module("rnnkit.models")
    if name not in MODELS and module and (module == "rnnkit" or module.startswith("rnnkit.")):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"model class {name!r} is defined in {module!r}, which cannot be imported: {e}") from e
    if name in MODELS:
        return MODELS[name]
    if module and not (module == "rnnkit" or module.startswith("rnnkit.")):
        raise ValueError(f"model class {name!r} is defined in module {module!r}, which rnnkit does not import on "
                         f"its own (a saved file must not choose code to run): `import {module}` (the module that "
                         f"defines {name}) before loading")
    raise ValueError(f"unknown model class {name!r}; known: {sorted(MODELS)}")


def _typed_config(cls: type[Model], config: dict[str, Any]) -> Any:
    """JSON gives lists where the config declares tuples; give tuples back so the frozen config is hashable."""
    config_class = getattr(cls, "config_class", None)
    if config_class is None or not dataclasses.is_dataclass(config_class):
        return config
    try:
        hints = typing.get_type_hints(config_class)
    except Exception:  # forward references that cannot be resolved: keep the JSON types
        hints = {}
    out = dict(config)
    for f in dataclasses.fields(config_class):
        if isinstance(out.get(f.name), list) and "tuple" in str(hints.get(f.name, f.type)).lower():
            out[f.name] = tuple(out[f.name])
    return out


def read_header(path: Path) -> dict[str, Any]:
    """The class/module/config header of a ``model.safetensors``; ValueError if missing or corrupt."""
    from safetensors import safe_open

    if not path.is_file():
        raise ValueError(f"no model at {path}: expected a folder written by model.save() or the Trainer")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as e:
        raise ValueError(f"{path} is corrupt or not a safetensors file ({e})") from e
    if "rnnkit_model" not in metadata:
        raise ValueError(f"{path} has no rnnkit model header (class and config); it was not written by rnnkit")
    try:
        header = json.loads(metadata["rnnkit_model"])
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: its rnnkit model header is not valid JSON ({e}); the file is corrupt") from e
    problem = _header_problem(header)
    if problem:
        raise ValueError(f"{path}: its rnnkit model header {problem}; the file is corrupt or was edited")
    return header


def _header_problem(header: Any) -> str | None:
    """What is wrong with a parsed header (a ``{"class", "config"[, "module", "dtype"]}`` object), or None."""
    if not isinstance(header, dict):
        return f"is a JSON {type(header).__name__}, not an object with class and config"
    if not isinstance(header.get("class"), str):
        return "names no model class (a string under 'class')"
    if not isinstance(header.get("config"), dict):
        return "holds no config (an object under 'config')"
    if not isinstance(header.get("module", ""), str):
        return "has a 'module' that is not a string"
    if header.get("dtype", "float32") not in DTYPES:
        return f"has dtype {header.get('dtype')!r}, not one of {sorted(DTYPES)}"
    return None


def load_model(directory: str | Path, *, device: str | torch.device = "cpu") -> Model:
    """Rebuild a model saved by :func:`save_model` (a folder, or the ``.safetensors`` file itself) on
    ``device`` (``"auto"``: CUDA when present), in the dtype it was saved in, in eval mode."""
    from safetensors.torch import load_model as st_load_model

    from rnnkit.train.settings import check_device

    check_device(str(device))  # before the file: a device this machine lacks is no fault of the weights
    if str(device) == "auto":  # as training reads it (and check_device's advice): CUDA when present
        device = "cuda" if torch.cuda.is_available() else "cpu"
    path = Path(directory)
    if path.is_dir() or not path.suffix:
        path = path / WEIGHTS
    header = read_header(path)
    cls = _model_class(header["class"], header.get("module"))
    try:
        model = cls.from_config(_typed_config(cls, header["config"]))
    except (TypeError, ValueError, KeyError) as e:  # a config key this version does not know, or a bad value
        raise ValueError(f"{path}: its stored config does not build a {cls.__name__} ({e}); was it written by "
                         "another version of rnnkit, or edited?") from e
    model.to(DTYPES[header.get("dtype", "float32")])  # the stored dtype: float64 weights are not rounded
    try:
        missing, unexpected = st_load_model(model, str(path), strict=True, device=str(device))
    except Exception as e:
        raise ValueError(f"{path}: the weights do not fit a {cls.__name__} with the stored config ({e})") from e
    model.to(device)
    model.eval()
    return model
