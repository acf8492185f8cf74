"""Task evaluation: what the Trainer reports for each task, from batches and predictions built by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rnnkit.data.batch import Example, collate
from rnnkit.data.dataset import DatasetInfo
from rnnkit.data.scalers import StandardScaler
from rnnkit.train.evaluation import TaskMetrics, metric_key, tag_scheme


def _info(task: str, **kw: object) -> DatasetInfo:
    return DatasetInfo(name="t", shape="synced", task=task, input_kind="features", **kw)  # type: ignore[arg-type]


def test_tagging_is_masked_by_lengths_and_scored_by_spans() -> None:
    classes = ["O", "B-PER", "I-PER"]
    batch = collate([Example(x=torch.zeros(3, 1), y=torch.tensor([1, 2, 0])),
                     Example(x=torch.zeros(1, 1), y=torch.tensor([1]))])
    pred = torch.tensor([[1, 2, 0], [0, 2, 2]])  # the padding steps of row 1 are wrong on purpose
    acc = TaskMetrics(_info("tagging", classes=classes, metric="span_f1"))
    acc.add(batch, pred)
    out = acc.compute()
    assert out["accuracy"] == pytest.approx(3 / 4)
    assert out["span_f1"] == pytest.approx(2 * (1 / 1) * (1 / 2) / (1 + 1 / 2))  # P = 1/1, R = 1/2


def test_seq2seq_cuts_at_eos_and_drops_specials() -> None:
    batch = collate([Example(x=torch.tensor([4, 5]), y=torch.tensor([2, 7, 8, 3])),
                     Example(x=torch.tensor([4]), y=torch.tensor([2, 9, 3]))])
    generated = SimpleNamespace(tokens=torch.tensor([[[7, 8, 3, 5]], [[9, 9, 3, 0]]]),
                                lengths=torch.tensor([[3], [3]]))
    acc = TaskMetrics(_info("seq2seq", metric="per"))
    acc.add(batch, generated)
    out = acc.compute()
    assert out["exact_match"] == 0.5
    assert out["token_error_rate"] == pytest.approx(1 / 3)  # one insertion over 3 reference tokens
    assert out["per"] == out["token_error_rate"]


def test_generation_perplexity_is_token_weighted() -> None:
    acc = TaskMetrics(_info("generation", metric="perplexity"))
    b1 = collate([Example(x=torch.tensor([1, 2]), y=torch.tensor([4, 5, 6]))])
    b2 = collate([Example(x=torch.tensor([1]), y=torch.tensor([4]))])
    acc.add_loss(torch.tensor(1.0), b1)
    acc.add_loss(torch.tensor(3.0), b2)
    out = acc.compute()
    assert out["loss"] == pytest.approx((3 * 1.0 + 1 * 3.0) / 4)
    assert out["perplexity"] == pytest.approx(np.exp(1.5))


def test_forecasting_in_original_units_with_window_mase() -> None:
    scaler = StandardScaler().fit(np.array([[0.0], [10.0]]))  # offset 5, scale 5
    x = torch.tensor([[1.0], [2.0], [4.0]])  # original 10, 15, 25: naive diffs 5, 10 -> scale 7.5
    batch = collate([Example(x=x, y=torch.tensor([5.0, 6.0]))])  # original 30, 35
    acc = TaskMetrics(_info("forecasting", metric="mae"), extras={"scaler": scaler})
    acc.add(batch, torch.tensor([[4.0, 6.0]]))  # original 25, 35: errors 5, 0
    out = acc.compute()
    assert out["mae"] == pytest.approx(2.5)
    assert out["rmse"] == pytest.approx(np.sqrt(12.5))
    assert out["mase"] == pytest.approx(2.5 / 7.5)


def test_names_and_schemes() -> None:
    assert metric_key("Macro-F1") == "macro_f1" and metric_key("PER") == "token_error_rate"
    assert tag_scheme(["O", "B-LOC", "I-LOC"]) == "BIO"
    assert tag_scheme(["B", "M", "E", "S"]) == "BMES"
    assert tag_scheme(["walk", "run"]) is None
