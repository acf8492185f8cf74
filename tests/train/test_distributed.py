"""DDP on CPU (gloo, 2 processes under torchrun) matches the single-process run with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_worker import EMA_DECAYS, SETTINGS, data_and_model, ema_tag
from safetensors.torch import load_file

from rnnkit.train import Trainer
from rnnkit.train.distributed import DistContext, shard

HERE = Path(__file__).parent

# Run by torchrun in each process: the `rnnkit train` command as `-m rnnkit.cli.main` runs it (it joins the
# process group itself), its exit status to cli-exit-<rank>.txt, then ddp_worker.py's fits, which reuse the
# group. One launch for both tests: each start of torchrun and its two processes costs seconds of imports and
# rendezvous, more than the command and the fits together.
DRIVER = """
import os, runpy, sys
from pathlib import Path
import ddp_worker
out = Path(sys.argv[1])
sys.argv = ["rnnkit", *sys.argv[2:]]
try:
    runpy.run_module("rnnkit.cli.main", run_name="__main__")
except SystemExit as e:
    (out / f"cli-exit-{os.environ['RANK']}.txt").write_text(str(e.code))
ddp_worker.main(out / "ddp")
"""
CLI_ARGS = ["train", "--data", "japanese_vowels", "--model", "classifier", "--epochs", "1", "--limit", "24",
            "--hidden", "4", "--no-progress", "--no-report"]


def test_shard_splits_each_global_batch_and_weights_the_loss() -> None:
    ctx0, ctx1 = DistContext(0, 2, 0), DistContext(1, 2, 0)
    assert shard([5, 6, 7], ctx0) == ([5, 7], 2 * 2 / 3)
    assert shard([5, 6, 7], ctx1) == ([6], 2 * 1 / 3)
    assert shard([5], ctx1) == ([5], 0.0)  # an empty share still joins the all-reduce, with weight 0
    assert shard([5, 6], DistContext()) == ([5, 6], 1.0)


@pytest.fixture(scope="module")
def torchrun(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One torchrun launch of DRIVER: the command's run folder in ``run/``, ddp_worker.py's fits in ``ddp/``
    (once per ema_decay of EMA_DECAYS); returned with the finished launch (what the processes printed)."""
    out = tmp_path_factory.mktemp("torchrun")
    (out / "ddp").mkdir()
    driver = out / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(driver),
           str(out), *CLI_ARGS, "--out", str(out / "run")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
@pytest.mark.parametrize("ema_decay", EMA_DECAYS)
def test_two_process_gloo_run_matches_single_process(torchrun: tuple[Path, subprocess.CompletedProcess[str]],
                                                     ema_decay: float | None) -> None:
    tmp_path = torchrun[0] / "ddp" / ema_tag(ema_decay)
    data, model = data_and_model()
    single = Trainer(**SETTINGS, ema_decay=ema_decay).fit(model, data)

    ddp_rows = json.loads((tmp_path / "history.json").read_text())
    assert [r["step"] for r in ddp_rows] == [r["step"] for r in single.rows]
    for a, b in zip(single.rows, ddp_rows):
        for key in ("train_loss", "valid_loss", "valid_accuracy", "lr"):
            assert b[key] == pytest.approx(a[key], abs=1e-5), key
    for rank in (0, 1):  # rank 1 began from other weights (ddp_worker.py): rank 0's were broadcast
        weights = load_file(str(tmp_path / f"weights-{rank}.safetensors"))
        for k, v in model.state_dict().items():
            torch.testing.assert_close(weights[k], v, atol=1e-5, rtol=1e-4)
    assert (tmp_path / "world-0.txt").read_text() == "2" and (tmp_path / "world-1.txt").read_text() == "2"
    assert (tmp_path / "run" / "model.safetensors").is_file()  # rank 0 wrote the run folder


@pytest.mark.slow
def test_the_command_trains_under_torchrun_into_one_run_folder(
        torchrun: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Rank 0 alone clears, writes and reports the run folder: the other rank must not find it
    "already holding a run" half-way, and the result prints once."""
    out, proc = torchrun
    assert [(out / f"cli-exit-{rank}.txt").read_text() for rank in (0, 1)] == ["0", "0"], proc.stderr[-3000:]
    assert proc.stdout.count("run folder:") == 1, proc.stdout[-3000:]
    assert (out / "run" / "model.safetensors").is_file() and (out / "run" / "run.yaml").is_file()
