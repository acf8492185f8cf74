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
    """The tour, then `rnnkit predict` on raw inputs with its runs: one test, as the tour is the expense
    (a module fixture is built again by each pytest-xdist worker that runs a test needing it)."""
    out = tmp_path / "tour"
    capsys.readouterr()
    # two worker processes, as on any 2-core machine: the one test of the tour's parallel path
    code = main(["tour", "--quick", "--jobs", "2", "--out", str(out)])
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
    _predict_raw_inputs_of_every_kind_from_tour_runs(out, tmp_path, capsys)


def test_a_failing_stop_is_reported_the_tour_goes_on_and_a_stop_without_published_figures_shows_its_baseline(
        tmp_path: Path) -> None:
    """One tour of two stops for both claims: the stop after the failed one has no published figure."""
    stops = [Stop("broken", "many-to-one", "no_such_data", "classifier", train={"epochs": 1}),
             Stop("tiny", "one-to-one", "digits", "feedforward", model_options={"hidden_sizes": (8,)},
                  train={"epochs": 1, "batch_size": 16}, limit=32, baseline="0.5 a coin")]
    # one process: a failed stop becomes its row inside run_stop, whichever way the stops are scheduled, and
    # the two worker processes (each importing torch) cost ~10 s here; test_tour_quick takes the parallel path
    rows = run_tour(tmp_path, stops=stops, jobs=1)
    assert rows[0].result is None and "unknown data set" in rows[0].status
    assert rows[1].status == "ok" and rows[1].result is not None, "the tour did not go on after the failed stop"
    assert (tmp_path / "index.html").is_file() and (tmp_path / "tiny" / "report.html").is_file()
    assert rows[1].published == "0.5 a coin", "a stop without published figures shows its baseline"
    with pytest.raises(ValueError, match="jobs"):
        run_tour(tmp_path, stops=stops[1:], jobs=0)


def _predict(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["predict", *argv]) == 0
    return capsys.readouterr().out


def _predict_raw_inputs_of_every_kind_from_tour_runs(runs: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Text (seq2seq), a PNG (captioning) and a CSV video (tagging), decoded with the saved vocabularies."""
    import numpy as np

    import rnnkit.datasets

    iso = _predict([str(runs / "many_to_many"), "march 3, 2001"], capsys).strip()
    assert set(iso) <= set("0123456789-"), iso  # the decoded output vocabulary of dates_iso
    # any test image or video of the runs' shapes will do: one of each, not the whole default sets (seconds)
    image = rnnkit.datasets.load("digit_captions", n_train=1, n_test=1).test.examples[0].cond[0].numpy()
    mpimg.imsave(tmp_path / "digits.png", image, cmap="gray_r")
    words = _predict([str(runs / "one_to_many"), str(tmp_path / "digits.png")], capsys).split()
    assert set(words) <= {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    video = rnnkit.datasets.load("moving_digits", n_train=1, n_test=1).test.examples[0].x.numpy()
    np.savetxt(tmp_path / "video.csv", video, delimiter=",")
    tags = _predict([str(runs / "synced"), str(tmp_path / "video.csv")], capsys).split()
    assert len(tags) == len(video) and set(tags) <= set("0123456789")


def test_the_default_tour_uses_both_cores_one_thread_each() -> None:
    from rnnkit.tour import default_jobs

    assert 1 <= default_jobs() <= 2
