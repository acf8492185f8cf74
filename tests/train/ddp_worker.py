"""Run by test_distributed.py under ``torchrun --nproc_per_node 2``: one tiny fit, results to ``argv[1]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file
from tinyrun import tiny_model, toy_classification

from rnnkit.train import Trainer

SETTINGS = {"epochs": 2, "batch_size": 10, "lr": 1e-2, "progress": False, "seed": 1}


def data_and_model():  # type: ignore[no-untyped-def]
    data = toy_classification(45, valid=16, test=0)  # 45 = 4 full batches of 10 and one of 5 (odd split)
    return data, tiny_model(data)


def main(out: Path) -> None:
    data, model = data_and_model()
    history = Trainer(run_dir=str(out / "run"), **SETTINGS).fit(model, data)
    rank = dist.get_rank()
    if rank == 0:
        (out / "history.json").write_text(json.dumps(history.rows))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "weights.safetensors"))
    (out / f"world-{rank}.txt").write_text(str(dist.get_world_size()))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
