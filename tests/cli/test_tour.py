"""`rnnkit tour --quick` trains every shape, prints the table, and writes reports whose plots exist."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from rnnkit.cli.main import main
from rnnkit.tour import STOPS, Stop, run_tour

SHAPES = ["one-to-one", "one-to-many", "many-to-one", "many-to-many", "synchronous", "forecasting"]


def test_the_tour_covers_every_shape() -> None:
    assert [s.shape for s in STOPS] == SHAPES
    assert len({s.name for s in STOPS}) == len(STOPS)
    for stop in STOPS:  # quick settings really are smaller
        quick, full = stop.spec(Path("r"), quick=True), stop.spec(Path("r"))
        assert quick.train.get("epochs", 0) < full.train.get("epochs", 0)


def test_tour_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tour"
    code = main(["tour", "--quick", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "published / baseline" in printed
    for shape in SHAPES:
        assert shape in printed
    assert code == 0, printed
    index = (out / "index.html").read_text()
    for stop in STOPS:
        assert f'href="{stop.name}/report.html"' in index
        report = out / stop.name / "report.html"
        assert report.is_file()
        pngs = sorted((out / stop.name / "plots").glob("*.png"))
        assert len(pngs) >= 2, f"{stop.name}: learning curves and the task's plot, got {pngs}"
        for png in pngs:
            assert png.stat().st_size > 2000 and mpimg.imread(png).ndim == 3
        assert report.read_text().count("data:image/png;base64,") == len(pngs)
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", index)


def test_a_failing_stop_is_reported_and_the_tour_goes_on(tmp_path: Path) -> None:
    stops = [Stop("broken", "many-to-one", "no_such_data", "classifier", train={"epochs": 1}),
             Stop("air", "forecasting", "air_passengers", "forecaster", model_options={"hidden_size": 4},
                  train={"epochs": 1})]
    rows = run_tour(tmp_path, stops=stops)
    assert rows[0].result is None and "unknown data set" in rows[0].status
    assert rows[1].status == "ok" and rows[1].result is not None
    assert (tmp_path / "index.html").is_file() and (tmp_path / "air" / "report.html").is_file()
