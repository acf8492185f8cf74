"""The results table's MAPE is the evaluation's: in the data's units, a declared scaler undone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.bench.accuracy_goals import forecast_mape, headline
from rnnkit.models import Forecaster
from rnnkit.train.evaluation import evaluate_split


def test_the_headline_mape_of_a_scaled_table_is_in_its_own_units(tmp_path: Path) -> None:
    t = np.arange(120)
    data = tmp_path / "load.csv"
    data.write_text("load,feat\n" + "".join(f"{1000 + 50 * np.sin(i / 4):.3f},{i % 7}\n" for i in t))
    ds = rnnkit.datasets.load(f"csv:{data}", target="load", features=["feat"], window=24, horizon=6,
                              scale="standard", test_size=30)
    torch.manual_seed(0)
    model = Forecaster.from_dataset(ds, hidden_size=8, transform="none", difference=()).eval()
    scored = evaluate_split(model, ds.test.examples, ds.info, collate_fn=ds.collate, extras=ds.extras)
    assert forecast_mape(model, ds) == pytest.approx(scored["mape"])
    assert scored["mape"] < 20  # percent of a load near 1000, not of standardised values near 0
    ds.info.metric = "mape"
    assert headline(ds.info, scored, model, ds)[0] == scored["mape"]
