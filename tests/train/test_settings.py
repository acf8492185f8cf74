"""TrainerConfig refuses a setting of the wrong type or range at construction, naming it."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.train.trainer import TrainerConfig


@pytest.mark.parametrize("settings, message", [
    ({"lr": "fast"}, "lr must be a number, got 'fast'"),
    ({"lr": float("nan")}, "lr must be > 0, got nan"),
    ({"epochs": 1.5}, "epochs must be an integer, got 1.5"),
    ({"epochs": True}, "epochs must be an integer, got True"),
    ({"seed": "abc"}, "seed must be an integer, got 'abc'"),
    ({"clip_grad_norm": "abc"}, "clip_grad_norm must be a number or null"),
    ({"clip_grad_norm": 0.0}, "clip_grad_norm must be > 0"),
    ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
    ({"max_steps": 0}, "max_steps must be >= 1"),
    ({"checkpoint_every": -1}, "checkpoint_every must be >= 0"),
    ({"warmup_steps": -1}, "warmup_steps must be >= 0"),
    ({"optimizer": "adamm"}, "optimizer must be one of adamw, adam, sgd, got 'adamm'"),
    ({"schedule": "linear"}, "schedule must be one of cosine, plateau, none, got 'linear'"),
    ({"device": "tpu"}, "device must be 'auto', 'cpu', 'cuda' or a torch device"),
    ({"monitor": 3}, "monitor must be a string or null, got 3"),
])
def test_bad_settings_name_the_setting(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as e:
        TrainerConfig(**settings)  # type: ignore[arg-type]
    assert message in str(e.value)


def test_numpy_numbers_and_ints_for_floats_are_accepted() -> None:
    config = TrainerConfig(epochs=np.int64(3), batch_size=np.int32(4), lr=np.float32(0.01), weight_decay=0,
                           seed=np.int64(-1))  # type: ignore[arg-type]
    assert config.epochs == 3 and config.weight_decay == 0


def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="torch sees no CUDA GPU here"):
        TrainerConfig(device="cuda")
    TrainerConfig(device="cpu")
