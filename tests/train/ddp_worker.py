"""Run by test_distributed.py under ``torchrun --nproc_per_node 2``: one tiny fit, results to ``argv[1]``
(``argv[2]``, when given, is the ``ema_decay``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file
from tinyrun import tiny_model, toy_classification

from rnnkit.train import Trainer

SETTINGS = {"epochs": 2, "batch_size": 10, "lr": 1e-2, "progress": False, "seed": 1}


def data_and_model(seed: int = 0):  # type: ignore[no-untyped-def]
    data = toy_classification(45, valid=16, test=0)  # 45 = 4 full batches of 10 and one of 5 (odd split)
    return data, tiny_model(data, seed=seed)


def main(out: Path, ema_decay: float | None) -> None:
    # each rank starts from its own init: DDP must broadcast rank 0's, and the EMA start from those
    data, model = data_and_model(seed=int(os.environ["RANK"]))
    history = Trainer(run_dir=str(out / "run"), ema_decay=ema_decay, **SETTINGS).fit(model, data)
    rank = dist.get_rank()
    if rank == 0:
        (out / "history.json").write_text(json.dumps(history.rows))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"weights-{rank}.safetensors"))
    (out / f"world-{rank}.txt").write_text(str(dist.get_world_size()))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else None)
