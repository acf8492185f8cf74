"""Data-parallel training with ``torch.distributed`` (DDP), launched by ``torchrun``.

Run the same script on every process; the Trainer notices ``torchrun``'s environment
(``WORLD_SIZE`` > 1), joins the process group (``nccl`` on GPUs, ``gloo`` on CPUs), wraps the model
in ``DistributedDataParallel`` and shards every batch. Only rank 0 writes the run folder and
draws the progress bar::

    torchrun --nproc_per_node 4 -m rnnkit.cli.main train --data japanese_vowels --model classifier
    torchrun --nproc_per_node 2 my_script.py      # a script calling Trainer(...).fit(model, data)

Sharding keeps the *global* batch of a single-process run: each global batch (same seed, same
order on every rank) is split ``indices[rank::world_size]``, and each rank's loss is weighted by
``world_size * local_size / global_size`` so the averaged gradient equals the single-process
gradient of an example-mean loss (a rank whose share is empty runs one example with weight 0, so
that every rank joins every all-reduce). This is what ``DistributedSampler`` is for, done per batch
instead of per epoch, so that the metrics of a DDP run match the single-process run. Validation
runs on every rank over the whole split (identical weights give identical results).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job (``world_size == 1`` without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def context(device: str = "auto") -> DistContext:
    """Join the process group that torchrun set up (once); a single process gets the default context."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local)
    return DistContext(dist.get_rank(), dist.get_world_size(), local)


def shard(batch: list[int], ctx: DistContext) -> tuple[list[int], float]:
    """This rank's share of a global batch and its loss weight (see the module docstring)."""
    if not ctx.enabled:
        return batch, 1.0
    local = batch[ctx.rank :: ctx.world_size]
    if not local:
        return batch[:1], 0.0
    return local, ctx.world_size * len(local) / len(batch)


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """``DistributedDataParallel(model)`` under DDP, else the model itself."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ctx.local_rank] if next(model.parameters()).is_cuda else None
    return DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Sum a few floats over all ranks (identity for one process)."""
    if not ctx.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.cpu().tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()
