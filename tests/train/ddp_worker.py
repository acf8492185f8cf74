"""Run by test_distributed.py under ``torchrun --nproc_per_node 2``: one tiny fit per ``ema_decay`` in
``EMA_DECAYS``, results to ``argv[1]/<ema_tag(decay)>``. One launch for all of them: each start of torchrun
and its two processes costs seconds of imports and rendezvous, the fits themselves a fraction of that."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file
from tinyrun import tiny_model, toy_classification

from rnnkit.train import Trainer

SETTINGS = {"epochs": 2, "batch_size": 10, "lr": 1e-2, "progress": False, "report": False, "seed": 1}
EMA_DECAYS = (None, 0.8)  # with EMA, each rank's shadow follows the unwrapped module


def ema_tag(ema_decay: float | None) -> str:
    return "plain" if ema_decay is None else f"ema-{ema_decay}"


def data_and_model(seed: int = 0):  # type: ignore[no-untyped-def]
    data = toy_classification(45, valid=16, test=0)  # 45 = 4 full batches of 10 and one of 5 (odd split)
    return data, tiny_model(data, seed=seed)


def fit(out: Path, ema_decay: float | None) -> None:
    # each rank starts from its own init: DDP must broadcast rank 0's, and the EMA start from those
    data, model = data_and_model(seed=int(os.environ["RANK"]))
    history = Trainer(run_dir=str(out / "run"), ema_decay=ema_decay, **SETTINGS).fit(model, data)
    rank = dist.get_rank()
    if rank == 0:
        (out / "history.json").write_text(json.dumps(history.rows))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"weights-{rank}.safetensors"))
    (out / f"world-{rank}.txt").write_text(str(dist.get_world_size()))


def main(out: Path) -> None:
    for ema_decay in EMA_DECAYS:  # the first fit joins the process group; the next ones reuse it
        fit(out / ema_tag(ema_decay), ema_decay)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
