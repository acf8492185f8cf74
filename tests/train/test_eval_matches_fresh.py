"""The Trainer's per-epoch valid scores are those of the weights it holds: a fresh copy of the model,
evaluated afterwards, scores the same. Decoding models run on the CPU from packed copies of their
weights (ops/cpu_stream.py); a cache that missed an update (torch's fused AdamW, which leaves the
version counters alone) once made every epoch after the first decode with the first epoch's weights."""

from __future__ import annotations

import copy

import pytest
import torch

import rnnkit.datasets
from rnnkit.models import ConditionedGenerator, Forecaster, Seq2Seq
from rnnkit.ops import cpu_stream
from rnnkit.train import Trainer

pytestmark = pytest.mark.skipif(cpu_stream.load_library() is None, reason="no C++ compiler here: nothing is packed")

CASES = {
    "seq2seq": (lambda: rnnkit.datasets.load("addition", digits=2, n_train=1000, n_test=40),
                lambda d: Seq2Seq.from_dataset(d, cell="lstm", embed_dim=8, hidden_size=16, max_length=6,
                                               input_feeding=False),
                "exact_match"),
    "generator": (lambda: rnnkit.datasets.load("digit_captions", n_train=120, n_test=20),
                  lambda d: ConditionedGenerator.from_dataset(d, cell="lstm", embed_dim=8, hidden_size=16),
                  "exact_match"),
    "forecaster": (lambda: rnnkit.datasets.load("air_passengers", window=24, horizon=12, valid_size=12),
                   lambda d: Forecaster.from_dataset(d, cell="lstm", hidden_size=16, strategy="autoregressive",
                                                     transform="log"),
                   "mape"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_last_epochs_valid_scores_equal_a_fresh_copys(case):
    load, build, metric = CASES[case]
    data = load()
    torch.manual_seed(0)
    model = build(data)
    trainer = Trainer(epochs=3, batch_size=16, lr=0.01, progress=False, evaluate_test=False, restore_best=False,
                      monitor=f"valid_{metric}")
    history = trainer.fit(model, data)
    last = {k[len("valid_"):]: v for k, v in history.rows[-1].items() if k.startswith("valid_")}
    fresh = trainer.evaluate(copy.deepcopy(model), data.valid, data.info)
    assert set(fresh) == set(last) and len(last) > 2  # the loss and decoded scores (token error rate too)
    for name, value in fresh.items():
        assert value == pytest.approx(last[name], rel=1e-5, abs=1e-9), (name, history.rows)
