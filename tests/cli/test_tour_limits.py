"""A quick tour says what it is: its index.html opens with a note that the runs are a smoke test on
cut splits, a baseline of the whole split is not called "same split", and `--help` tells the epochs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rnnkit.cli.main import main
from rnnkit.tour import STOPS, Stop, run_tour


def test_a_quick_tour_index_says_so_and_names_the_cut_split(tmp_path: Path) -> None:
    stop = Stop("tiny", "one-to-one", "digits", "feedforward", model_options={"hidden_sizes": (8,)},
                train={"epochs": 1, "batch_size": 16}, limit=32, baseline="0.972 logistic regression (same split)")
    rows = run_tour(tmp_path, stops=[stop], jobs=1, quick=True)
    assert rows[0].status == "ok" and rows[0].cut == "test 32 of 359"
    assert "same split" not in rows[0].published and "all 359 test examples" in rows[0].published
    index = (tmp_path / "index.html").read_text()
    assert "same split" not in index
    top = index.index("A quick tour (rnnkit tour --quick)")
    assert top < index.index("<h2>Results</h2>") and "digits test 32 of 359" in index


def test_quick_help_tells_the_epochs_it_trains(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["tour", "--help"])
    text = " ".join(capsys.readouterr().out.split("options:")[1].split())
    helped = re.search(r"--quick (.*?) --out", text)
    assert helped is not None
    said = helped.group(1)
    for stop in STOPS:
        epochs = stop.spec(Path("r"), quick=True).train["epochs"]
        named = f"{epochs} for {stop.name}" if stop.name in said else f"{epochs} epoch"
        assert named in said, (stop.name, epochs, said)
