"""Optimizers and learning-rate schedules the Trainer builds from its config.

* ``optimizer``: ``"adamw"`` (default; weight decay on matrices only — biases, norms and
  embeddings' 1-D parameters are not decayed), ``"adam"``, ``"sgd"`` (momentum 0.9). Adam and
  AdamW use torch's fused kernel where it runs (floating parameters on one CPU or CUDA device).
* Embedding tables with ``sparse=True`` (the Trainer switches the hashed n-gram tables of
  :mod:`rnnkit.layers.ngrams` to it for a fit with ``sparse_tables=True``: :func:`sparse_tables`)
  get a sparse gradient that holds only the rows a batch looked up. Adam and AdamW then update
  those rows alone ("lazy" Adam, ``torch.optim.SparseAdam``): a row's moments and weights stay as
  they are while no batch touches it, and these tables are not weight-decayed. A step no longer
  zero-fills and rewrites a table of 2**18 rows; the other parameters get the usual (fused)
  update (:class:`LazyAdam`). It is not dense Adam's update: there a row goes on moving on its
  momentum for some steps after each use, which rare rows (most of a hashed table) lose here;
  ``table_lr_scale`` gives the tables a larger learning rate to make up for it.
  Valid runs (model seed 0, 1 torch thread): sentiment 0.8375 in 272 CPU s against 0.8356 in
  348 s dense; People's Daily segmentation word F1 0.9438 in 684 s against 0.9510 in 932 s dense.
* ``schedule``: ``"cosine"`` — linear warm-up over ``warmup_steps`` then cosine decay to 0 at the
  last step; ``"none"`` — warm-up then constant; ``"plateau"`` — ``ReduceLROnPlateau`` on the
  monitored value (halves the rate after 2 epochs without improvement; stepped once per epoch).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

SPARSE_OPTIMIZERS = ("adamw", "adam")  # the optimizers that take tables with sparse gradients


def build_optimizer(model: nn.Module, *, name: str, lr: float, weight_decay: float,
                    table_lr_scale: float = 1.0) -> torch.optim.Optimizer:
    """The optimizer for ``model``'s trainable parameters; tables with ``sparse=True`` get lazy
    Adam at ``lr * table_lr_scale`` (:class:`LazyAdam`)."""
    sparse = _sparse_tables_of(model)
    if sparse and name not in SPARSE_OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} cannot update embedding tables with sparse=True; use "
                         f"{' or '.join(repr(n) for n in SPARSE_OPTIMIZERS)}, or set those tables' sparse to False")
    lazy = {id(p) for p in sparse}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in lazy]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if not groups and not sparse:
        raise ValueError("the model has no trainable parameters")
    if name in ("adamw", "adam"):
        dense = _adam(name, groups, lr) if groups else None
        if not sparse:
            assert dense is not None
            return dense
        return LazyAdam(dense, torch.optim.SparseAdam(sparse, lr=lr * table_lr_scale))
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    raise ValueError(f"optimizer must be 'adamw', 'adam' or 'sgd', got {name!r}")


def _adam(name: str, groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer:
    cls: Any = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    if _fusable([p for g in groups for p in g["params"]]):
        try:  # one kernel per parameter instead of a chain of foreach ops: 4.7x faster on a
            fused = cls(groups, lr=lr, fused=True)  # 8.4M-parameter table here, the same update
        except (RuntimeError, TypeError, ValueError):  # a torch build without this fused kernel
            pass
        else:
            fused.register_step_post_hook(_mark_updated)
            return fused
    return cls(groups, lr=lr)


def _mark_updated(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """After a fused Adam/AdamW step: advance the version counter of every parameter it updated.

    torch's fused kernel rewrites the parameters in place without advancing their ``_version``
    (unlike its foreach and per-tensor paths), and that counter is how caches of derived weights
    see an update: the packed weights of the CPU step and greedy kernels
    (:class:`rnnkit.ops.cpu_stream.StepLSTM`, keyed on ``data_ptr``, ``_version`` and a few
    sampled elements: :class:`rnnkit.ops.cpu_stream.ParamsWatch`). Without it,
    greedy decoding in the Trainer's per-epoch evaluation read the weights packed at the first
    evaluation (cmudict_g2p: valid WER 33.5% during training against 30.0% for the same final
    weights evaluated afresh)."""
    mark_updated(p for g in optimizer.param_groups for p in g["params"] if p.grad is not None)


def mark_updated(params: Iterable[torch.Tensor]) -> None:
    """Advance the version counters of ``params``, as any in-place torch op does: call it after
    updating parameters by a path that does not (torch's fused optimizers, ``fused=True``; writes
    through ``p.data``), so that rnnkit's packed CPU weights are rebuilt from the new values. The
    Trainer's optimizers do it themselves, and the packed weights' sampled elements
    (:class:`rnnkit.ops.cpu_stream.ParamsWatch`) catch whole-tensor writes; a partial write
    through ``.data`` needs this call."""
    from torch.autograd.graph import increment_version

    for p in params:
        increment_version(p)


def _sparse_tables_of(model: nn.Module) -> list[torch.Tensor]:
    """The trainable weights of the model's embedding tables that make sparse gradients."""
    seen: set[int] = set()
    out = []
    for m in model.modules():
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse and m.weight.requires_grad \
                and id(m.weight) not in seen:
            seen.add(id(m.weight))
            out.append(m.weight)
    return out


def hashed_tables(model: nn.Module) -> list[nn.Embedding | nn.EmbeddingBag]:
    """The embedding tables (``.table``) of the model's ``HashedBigrams`` and ``HashedNgramBag``."""
    from rnnkit.layers.ngrams import HashedBigrams, HashedNgramBag

    return [m.table for m in model.modules() if isinstance(m, (HashedBigrams, HashedNgramBag))]


@contextlib.contextmanager
def sparse_tables(model: nn.Module, enabled: bool = True) -> Iterator[list[nn.Embedding | nn.EmbeddingBag]]:
    """Within the block, the hashed n-gram tables of the model (``HashedBigrams``, ``HashedNgramBag``)
    make sparse gradients; they are dense again after it, so a user's own optimizer still takes them.

    The Trainer wraps a fit in it with ``sparse_tables=True`` (Adam or AdamW, one process; see
    :class:`LazyAdam`); ``enabled=False`` changes nothing."""
    tables = [t for t in hashed_tables(model) if not t.sparse] if enabled else []
    for t in tables:
        t.sparse = True
    try:
        yield tables
    finally:
        for t in tables:
            t.sparse = False


class LazyAdam(torch.optim.Optimizer):
    """Adam / AdamW for a model whose embedding tables make sparse gradients: ``dense`` (a torch
    Adam or AdamW, fused where it runs) updates every other parameter as usual and ``sparse`` (a
    ``torch.optim.SparseAdam``) only the rows of the tables that the step's batches touched.

    It is one optimizer to the rest of torch: ``param_groups`` holds the two parts' groups (the same
    dicts, so a learning-rate scheduler drives both), ``state_dict()`` has torch's layout (the
    sparse part's parameters numbered after the dense part's) and ``load_state_dict`` takes it back.

    Example:
        >>> table, head = nn.Embedding(1000, 8, sparse=True), nn.Linear(8, 2)
        >>> opt = LazyAdam(torch.optim.AdamW(head.parameters(), lr=0.01),
        ...                torch.optim.SparseAdam([table.weight], lr=0.01))
        >>> head(table(torch.tensor([3, 5]))).sum().backward(); opt.step(); opt.zero_grad()
    """

    def __init__(self, dense: torch.optim.Optimizer | None, sparse: torch.optim.Optimizer) -> None:
        # not Optimizer.__init__: the two parts own the parameters, groups and state
        self.parts = [p for p in (dense, sparse) if p is not None]
        self.defaults = dict(self.parts[0].defaults)
        self.param_groups = [g for part in self.parts for g in part.param_groups]
        self.state = _MergedState(self.parts)  # type: ignore[assignment]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self.parts:
            part.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        state: dict[int, Any] = {}
        groups: list[dict[str, Any]] = []
        offset = 0
        for part in self.parts:
            sd = part.state_dict()
            state.update({offset + int(k): v for k, v in sd["state"].items()})
            groups.extend({**g, "params": [offset + int(i) for i in g["params"]]} for g in sd["param_groups"])
            offset += sum(len(g["params"]) for g in part.param_groups)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups, state = state_dict["param_groups"], state_dict["state"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"the state has {len(groups)} parameter groups, this optimizer {len(self.param_groups)}")
        offset = start = 0
        for part in self.parts:
            mine = groups[start:start + len(part.param_groups)]
            start += len(part.param_groups)
            size = sum(len(g["params"]) for g in part.param_groups)
            part.load_state_dict({
                "state": {int(k) - offset: v for k, v in state.items() if offset <= int(k) < offset + size},
                "param_groups": [{**g, "params": [int(i) - offset for i in g["params"]]} for g in mine]})
            offset += size
        # load_state_dict gives each part new group dicts: keep sharing them
        self.param_groups = [g for part in self.parts for g in part.param_groups]


class _MergedState(dict):  # type: ignore[type-arg]
    """``optimizer.state`` of :class:`LazyAdam`: a read view of both parts' per-parameter state."""

    def __init__(self, parts: list[torch.optim.Optimizer]) -> None:
        super().__init__()
        self._parts = parts

    def __getitem__(self, key: Any) -> Any:
        for part in self._parts:
            if key in part.state:
                return part.state[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(key in part.state for part in self._parts)

    def __iter__(self) -> Iterator[Any]:
        return (k for part in self._parts for k in part.state)

    def __len__(self) -> int:
        return sum(len(part.state) for part in self._parts)

    def items(self) -> Any:  # type: ignore[override]
        return [(k, v) for part in self._parts for k, v in part.state.items()]

    def values(self) -> Any:  # type: ignore[override]
        return [v for part in self._parts for v in part.state.values()]

    def keys(self) -> Any:  # type: ignore[override]
        return [k for part in self._parts for k in part.state]


def clip_grad_norm(parameters: Iterable[nn.Parameter], max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` (2-norm over all gradients), which also takes sparse
    gradients (an embedding table with ``sparse=True``): those are coalesced and count by their
    values. Returns the total norm before clipping."""
    params = [p for p in parameters if p.grad is not None]
    if not any(p.grad.is_sparse for p in params):  # type: ignore[union-attr]
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    squares = []
    for p in params:
        assert p.grad is not None
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()  # repeated rows summed, so the norm counts each row once
            squares.append(p.grad._values().float().pow(2).sum())
        else:
            squares.append(p.grad.float().pow(2).sum())
    total = torch.stack([s.to(squares[0].device) for s in squares]).sum().sqrt()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for p in params:
        assert p.grad is not None
        p.grad.mul_(coef.to(p.grad.device, p.grad.dtype))
    return total


def _fusable(params: list[nn.Parameter]) -> bool:
    """torch's fused Adam/AdamW takes floating parameters all on one CPU or CUDA device."""
    devices = {p.device for p in params}
    return len(devices) == 1 and next(iter(devices)).type in ("cpu", "cuda") and all(
        p.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16) for p in params)


def build_scheduler(optimizer: torch.optim.Optimizer, *, schedule: str, warmup_steps: int, total_steps: int,
                    higher_is_better: bool) -> Any:
    """A LambdaLR (stepped every optimizer step) or a ReduceLROnPlateau (stepped every epoch)."""
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max" if higher_is_better else "min", factor=0.5, patience=2)
    if schedule not in ("cosine", "none"):
        raise ValueError(f"schedule must be 'cosine', 'plateau' or 'none', got {schedule!r}")
    cosine = schedule == "cosine"

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if not cosine:
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def warn_if_warmup_outlasts(warmup_steps: int, total_steps: int, *, schedule: str, stacklevel: int = 2) -> None:
    """Warn when the warm-up is longer than the run: the learning rate would never reach ``lr``, and a
    cosine schedule would never decay it; the settings are valid alone, so only the run can tell."""
    if warmup_steps > total_steps:
        decay = "; the cosine decay never starts" if schedule == "cosine" else ""
        warnings.warn(f"warmup_steps={warmup_steps} is longer than the run's {total_steps} optimizer steps: the "
                      f"learning rate only climbs to {total_steps / warmup_steps:.0%} of lr{decay}. Pass "
                      f"warmup_steps <= {total_steps}, or more epochs", UserWarning, stacklevel=stacklevel + 1)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def stepped_lr(optimizer: torch.optim.Optimizer, scheduler: Any) -> float:
    """The learning rate the last optimizer step took (History's ``lr``). A per-step schedule (LambdaLR)
    has already moved the optimizer to the next step's rate, so it is recomputed from the schedule's
    count; a plateau schedule steps at epoch ends, after the row, so the optimizer still holds it."""
    if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR) and scheduler.last_epoch > 0:
        return float(scheduler.base_lrs[0] * scheduler.lr_lambdas[0](scheduler.last_epoch - 1))
    return current_lr(optimizer)
