"""Training checkpoints: one safetensors file each, written atomically, verified on load.

A checkpoint holds everything a resumed run needs to continue exactly where it stopped:

* tensors: the model weights (``model.<name>``), the optimizer's per-parameter state
  (``optim.<param index>.<key>``), the RNG states (``rng.torch``, ``rng.cuda.<i>``) and, for a run
  with ``ema_decay``, the averaged weights (``ema.<parameter name>``; their update count is in the
  trainer's metadata, ``ema: {decay, updates}``);
* metadata (JSON in the safetensors header): the model class and config, the trainer config, the
  optimizer's param groups and scalar state, the scheduler's state, Python's and NumPy's RNG
  states, and the trainer's progress (epoch, optimizer step, batches consumed in the epoch,
  history, best value) — plus a SHA-256 of all tensor bytes.

Writing goes to a temp file in the same folder, is flushed to disk and then ``os.replace``-d onto
the target, so a crash mid-write leaves the previous checkpoint untouched. Loading re-computes the
checksum; a truncated or altered file raises :class:`CheckpointError` naming the file.

Example:
    >>> save_checkpoint(path, model=model, optimizer=opt, meta={"epoch": 3})
    >>> ckpt = load_checkpoint(path)            # verified
    >>> ckpt.restore(model, opt)                # weights and optimizer state
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from rnnkit.models.io import file_mode

FORMAT = "rnnkit-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing, truncated, altered, or for another model)."""


def _digest(tensors: dict[str, Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the temp file onto ``path`` (same folder, so the rename is atomic)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _naming(e, path) from e
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())  # mkstemp's 0o600 would make every run file private
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a folder made read-only: the error names the file being written
        Path(tmp).unlink(missing_ok=True)
        raise _naming(e, path) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` (same errno, so the same OSError subclass) with ``path`` as its filename."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def model_tensors(model: nn.Module) -> dict[str, Tensor]:
    """The model's state dict, detached and contiguous, with shared storage copied (safetensors refuses aliases)."""
    out: dict[str, Tensor] = {}
    seen: set[int] = set()
    for name, t in model.state_dict().items():
        t = t.detach().contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        out[name] = t.clone() if ptr in seen else t
        seen.add(ptr)
    return out


def rng_state() -> tuple[dict[str, Tensor], dict[str, Any]]:
    """All RNG states: (tensors, JSON-able) for torch, CUDA, Python ``random`` and NumPy."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    version, state, gauss = random.getstate()
    np_state: Any = np.random.get_state()
    meta = {"python": [version, list(state), gauss],
            "numpy": [np_state[0], np_state[1].tolist(), *[float(v) for v in np_state[2:]]]}
    return tensors, meta


def set_rng_state(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    version, state, gauss = meta["python"]
    random.setstate((version, tuple(state), gauss))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), cached))


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{pid}.{key}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


@dataclass
class Checkpoint:
    """A verified checkpoint read back from disk."""

    path: Path
    model: dict[str, Tensor]
    meta: dict[str, Any]
    optimizer_tensors: dict[str, Tensor] = field(default_factory=dict)
    rng_tensors: dict[str, Tensor] = field(default_factory=dict)
    ema: dict[str, Tensor] = field(default_factory=dict)  # parameter name -> averaged weight (empty: none)

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                scheduler: Any = None, *, rng: bool = False) -> None:
        """Load weights (strictly), and optionally the optimizer, scheduler and RNG states."""
        try:
            model.load_state_dict(self.model, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"{self.path} does not fit this model: {misfit(self.model, model)}") from e
        if optimizer is not None:
            optimizer.load_state_dict(self.optimizer_state_dict())
        if scheduler is not None and self.meta.get("scheduler") is not None:
            scheduler.load_state_dict(self.meta["scheduler"])
        if rng:
            set_rng_state(self.rng_tensors, self.meta["rng"])

    def optimizer_state_dict(self) -> dict[str, Any]:
        opt = self.meta.get("optimizer")
        if opt is None:
            raise CheckpointError(f"{self.path} holds no optimizer state (a weights-only checkpoint)")
        state: dict[int, dict[str, Any]] = {}
        for name, t in self.optimizer_tensors.items():
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = t
        for pid, values in opt["scalars"].items():
            state.setdefault(int(pid), {}).update(values)
        return {"state": state, "param_groups": opt["param_groups"]}


def misfit(weights: dict[str, Tensor], model: nn.Module, *, shown: int = 3) -> str:
    """Why ``weights`` do not load into ``model``, in one line: the keys missing and unexpected (the first
    ``shown`` of each, and how many) and the shapes that differ."""
    expected = model.state_dict()
    parts = []
    for what, keys in (("missing", [k for k in expected if k not in weights]),
                       ("unexpected", [k for k in weights if k not in expected])):
        if keys:
            more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
            parts.append(f"{len(keys)} {what} key(s) ({', '.join(keys[:shown])}{more})")
    shapes = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if shapes:
        first = shapes[0]
        more = f" and {len(shapes) - 1} more" if len(shapes) > 1 else ""
        parts.append(f"size mismatch for {first}: {tuple(weights[first].shape)} in the checkpoint, "
                     f"{tuple(expected[first].shape)} in the model{more}")
    return "; ".join(parts) or "the weights do not load"


def save_checkpoint(path: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, meta: dict[str, Any] | None = None, with_rng: bool = True,
                    ema: dict[str, Tensor] | None = None) -> Path:
    """Write a checkpoint atomically; the file at ``path`` is replaced only by a complete one.

    ``ema`` is an averaged copy of the weights by parameter name (``WeightEMA.state_dict()``).
    """
    path = Path(path)
    tensors = {f"model.{k}": v for k, v in model_tensors(model).items()}
    tensors.update({f"ema.{k}": v for k, v in (ema or {}).items()})
    header: dict[str, Any] = {"format": FORMAT, **(meta or {})}
    if optimizer is not None:
        opt_tensors, header["optimizer"] = _optimizer_parts(optimizer)
        tensors.update(opt_tensors)
    if scheduler is not None:
        header["scheduler"] = scheduler.state_dict()
    if with_rng:
        rng_tensors, header["rng"] = rng_state()
        tensors.update(rng_tensors)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {"rnnkit": json.dumps(header), "sha256": _digest(tensors)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return path


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> Checkpoint:
    """Read and verify a checkpoint; raises :class:`CheckpointError` with the reason if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no items()
    except Exception as e:  # safetensors raises its own error types for truncated or garbled files
        # (no advice here: what to do depends on the caller; a resume's is resume.start_over)
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({e})") from e
    if "rnnkit" not in metadata or "sha256" not in metadata:
        raise CheckpointError(f"{path} is not an rnnkit checkpoint (its header has no rnnkit metadata)")
    if _digest(tensors) != metadata["sha256"]:
        raise CheckpointError(f"checkpoint {path} is corrupt: its tensors do not match the stored SHA-256")
    meta = json.loads(metadata["rnnkit"])
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    return Checkpoint(
        path=path,
        model={k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
        meta=meta,
        optimizer_tensors={k: v for k, v in tensors.items() if k.startswith("optim.")},
        rng_tensors={k: v.cpu() for k, v in tensors.items() if k.startswith("rng.")},
        ema={k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")},
    )
