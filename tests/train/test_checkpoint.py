"""Checkpoints: exact round trip, refusal of corrupt files, atomic writes that keep the last good one."""

from __future__ import annotations

import pytest
import safetensors.torch
import torch
from tinyrun import tiny_model, toy_classification

from rnnkit.train import CheckpointError, load_checkpoint, save_checkpoint


def _trained_parts():  # type: ignore[no-untyped-def]
    data = toy_classification(16, valid=0, test=0)
    model = tiny_model(data)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 ** s)
    batch = data.collate(data.train.examples)
    for _ in range(2):
        model(batch).loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    return data, model, opt, sched


def test_round_trip_restores_weights_optimizer_scheduler_and_rng(tmp_path) -> None:
    data, model, opt, sched = _trained_parts()
    path = save_checkpoint(tmp_path / "last.safetensors", model=model, optimizer=opt, scheduler=sched,
                           meta={"epoch": 1, "step": 2})
    expected_draw = torch.rand(3)  # the RNG state saved was the one before this draw

    other = tiny_model(data, seed=5)
    opt2 = torch.optim.AdamW(other.parameters(), lr=1e-2)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 0.5 ** s)
    ckpt = load_checkpoint(path)
    ckpt.restore(other, opt2, sched2, rng=True)
    assert ckpt.meta["epoch"] == 1 and ckpt.meta["step"] == 2
    assert torch.equal(torch.rand(3), expected_draw)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    assert sched2.state_dict()["last_epoch"] == sched.state_dict()["last_epoch"]
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for p, q in zip(model.parameters(), other.parameters()):
        a, b = opt.state[p], opt2.state[q]
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
        assert float(a["step"]) == float(b["step"])


def test_truncated_checkpoint_is_refused(tmp_path) -> None:
    _, model, opt, _ = _trained_parts()
    path = save_checkpoint(tmp_path / "c.safetensors", model=model, optimizer=opt)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_altered_bytes_are_caught_by_the_checksum(tmp_path) -> None:
    _, model, _, _ = _trained_parts()
    path = save_checkpoint(tmp_path / "c.safetensors", model=model)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # inside the tensor data, header intact
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)


def test_foreign_file_and_missing_file_are_refused(tmp_path) -> None:
    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.ones(2)}, str(plain))
    with pytest.raises(CheckpointError, match="not an rnnkit checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_checkpoint_for_another_model_is_refused(tmp_path) -> None:
    data, model, _, _ = _trained_parts()
    path = save_checkpoint(tmp_path / "c.safetensors", model=model)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_checkpoint(path).restore(tiny_model(data, hidden_size=4))


def test_a_failed_write_never_replaces_the_last_good_checkpoint(tmp_path, monkeypatch) -> None:
    _, model, opt, _ = _trained_parts()
    path = save_checkpoint(tmp_path / "last.safetensors", model=model, optimizer=opt, meta={"step": 1})
    good = path.read_bytes()

    def crash(tensors, filename, metadata=None):  # type: ignore[no-untyped-def]
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("rnnkit.train.checkpoint.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model=model, optimizer=opt, meta={"step": 2})
    assert path.read_bytes() == good
    assert load_checkpoint(path).meta["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temp file left behind


def test_resume_from_a_corrupt_checkpoint_is_refused_and_touches_nothing(tmp_path) -> None:
    from rnnkit.train import Trainer

    data = toy_classification(16, valid=8, test=0)
    Trainer(epochs=1, batch_size=8, progress=False, report=False, run_dir=str(tmp_path)).fit(tiny_model(data), data)
    last, best = tmp_path / "checkpoints" / "last.safetensors", tmp_path / "checkpoints" / "best.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    best_bytes = best.read_bytes()
    with pytest.raises(CheckpointError, match=r"last\.safetensors is corrupt"):
        Trainer(epochs=2, batch_size=8, progress=False, run_dir=str(tmp_path), resume=True).fit(tiny_model(data), data)
    assert best.read_bytes() == best_bytes
    assert len(last.read_bytes()) == 100  # left for the user to inspect, not overwritten
