"""make_run_report on trained runs: forecasts drawn at their own dates, the monitored best epoch
marked, the scored split named, generated sequences shown when there is no picture to draw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.models import ConditionedGenerator, Forecaster
from rnnkit.report import plots, run_plots
from rnnkit.report.run_plots import generated_vs_reference

FAST = {"batch_size": 16, "lr": 1e-2, "progress": False}


def test_a_forecast_is_drawn_from_its_own_windows_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sunspots' test split holds several windows: the last one's forecast starts at its own
    target_start, not at the split's first step."""
    ds = rnnkit.datasets.load("sunspots")
    last = ds.test.examples[-1]
    assert len(ds.test) > 1 and last.meta["target_start"] > ds.extras["split"].test.start
    model = Forecaster.from_dataset(ds, hidden_size=4)
    seen: dict[str, Any] = {}

    def spy(history: Any, actual: Any, point: Any, path: Any, **kw: Any) -> Path:
        seen.update(history=history, actual=actual, times=kw["times"])
        return Path(path)

    monkeypatch.setattr(plots, "forecast", spy)
    run_plots._forecasting(model, ds, tmp_path)
    series, start, horizon = ds.extras["series"], last.meta["target_start"], len(seen["actual"])
    np.testing.assert_allclose(seen["actual"], np.asarray(series, dtype=float)[start:start + horizon], rtol=1e-5)
    np.testing.assert_allclose(seen["history"][-1], float(series.iloc[start - 1]), rtol=1e-5)
    assert seen["times"][len(seen["history"])] == series.index[start]  # the forecast's first time
    assert len(seen["history"]) <= max(run_plots.MAX_HISTORY, 4 * horizon)


@pytest.mark.parametrize("head", ["gaussian", "quantile", "point"])
def test_a_forecaster_with_a_distribution_draws_its_own_band(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             head: str) -> None:
    """A Gaussian or quantile head draws its own 10-90% band (what --quantiles prints); a point head
    keeps the band of validation errors."""
    ds = rnnkit.datasets.load("air_passengers")
    options = {"difference": [], "quantiles": (0.1, 0.5, 0.9)} if head == "quantile" else {}
    model = Forecaster.from_dataset(ds, hidden_size=4, head=head, **options).eval()
    seen: dict[str, Any] = {}

    def spy(history: Any, actual: Any, point: Any, path: Any, **kw: Any) -> Path:
        seen.update(point=point, **kw)
        return Path(path)

    monkeypatch.setattr(plots, "forecast", spy)
    (caption, _), = run_plots._forecasting(model, ds, tmp_path)
    if head == "point":
        assert seen["interval"] == "80% interval (validation errors)" and "validation errors" in caption
        return
    batch = ds.collate([ds.test.examples[-1]])
    q = model.quantiles(batch, [0.1, 0.9], samples=1000,
                        generator=torch.Generator().manual_seed(0))[0].detach().numpy()
    np.testing.assert_allclose(seen["lower"], q[:, 0], rtol=1e-5)
    np.testing.assert_allclose(seen["upper"], q[:, 1], rtol=1e-5)
    assert seen["interval"].startswith("80% interval (") and "forecast distribution" in caption
    actual = np.asarray(ds.test.examples[-1].y, dtype=float).reshape(-1)
    inside = int(np.sum((actual >= q[:, 0]) & (actual <= q[:, 1])))
    assert caption.endswith(f", holding {inside} of the {actual.size} actual values")
    assert np.all(seen["lower"] <= seen["upper"])


def test_the_report_marks_the_monitored_epoch_and_names_a_valid_split(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.models import SequenceClassifier

    g = torch.Generator().manual_seed(0)
    rows = [Example(x=torch.randn(5, 2, generator=g) + (i % 2), y=torch.tensor(i % 2)) for i in range(32)]
    info = DatasetInfo(name="toy", shape="many-to-one", task="classification", input_kind="series",
                       num_features=2, classes=["a", "b"], metric="accuracy")
    data = SequenceDataset(info, ExampleList(rows[:24]), ExampleList(rows[24:]), ExampleList([]))
    marked: list[Any] = []
    real = plots.learning_curves

    def spy(*args: Any, **kw: Any) -> Path:
        marked.append(kw.get("best_epoch"))
        return real(*args, **kw)

    monkeypatch.setattr(plots, "learning_curves", spy)
    model = SequenceClassifier.from_dataset(data, hidden_size=4, conv_channels=None)
    rnnkit.Trainer(epochs=3, monitor="valid_loss", run_dir=str(tmp_path), **FAST).fit(model, data)
    assert marked == [json.loads((tmp_path / "metrics.json").read_text())["best_epoch"]]
    page = (tmp_path / "report.html").read_text()
    assert "metric (valid split)" in page and "Confusion matrix on the valid split" in page


def test_a_generator_of_vector_conditions_shows_what_it_generates() -> None:
    vocab_info = rnnkit.datasets.load("folk_tunes").info
    examples = [Example(x=None, cond=torch.eye(3)[i % 3], y=torch.tensor([4 + i % 3, 5, 3])) for i in range(6)]
    info = DatasetInfo(name="toy", shape="one-to-many", task="generation", input_kind="vector",
                       output_vocab=vocab_info.output_vocab, cond_shape=(3,), classes=["a", "b", "c"])
    ds = SequenceDataset(info, ExampleList(examples), ExampleList([]), ExampleList(examples))
    model = ConditionedGenerator.from_dataset(ds, hidden_size=8, max_length=5)
    lines = generated_vs_reference(model, ds, [])
    assert len(lines) == 12 and lines[0].startswith("1 (a) reference: ") and "generated: " in lines[1]
    assert generated_vs_reference(model, ds, [("captions", Path("plots/captions.png"))]) == []


def test_tag_colours_stay_distinct_past_twenty_tags() -> None:
    from rnnkit.report.plots_sequence import tag_colors

    for k in (3, 20, 45, 90):
        colors = tag_colors(k)
        assert len(colors) == k and len(set(colors)) == k
    assert tag_colors(5) == tag_colors(45)[:5]  # a small tag set keeps the palette's first colours
