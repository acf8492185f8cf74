"""The inference bench's plumbing (not its timings): both sides answer the same batches with the same
outputs, a quick run makes its rows and its section, the CLI refuses recipes that decode step by step."""

from __future__ import annotations

import pytest

from rnnkit.cli.main import build_parser, main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def test_a_quick_run_times_both_sides_on_the_same_outputs_and_writes_its_section(tmp_path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    args = build_parser().parse_args(["bench", "inference", "japanese_vowels", "air_passengers", "--quick",
                                      "--runs", "2", "--rounds", "1", "--output", str(out), "--json"])
    assert args.func(args) == 0
    text = out.read_text()
    assert "<!-- bench:inference -->" in text and "`--quick` run" in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| japanese_vowels")]
    assert [r[2] for r in rows] == ["1", "8"]  # one request, then the batch (8 test examples with --quick)
    assert len([line for line in text.splitlines() if line.startswith("| air_passengers")]) == 1  # one window
    for line in text.splitlines():
        if line.startswith(("| japanese_vowels", "| air_passengers")):
            assert float(line.rstrip(" |").rsplit(" | ", 1)[1]) < 1e-5  # both sides give the model's output


def test_only_one_pass_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "inference", "dates_iso", "--quick", "--output", ""]) == 2
    assert "bench inference times one-pass models" in capsys.readouterr().err
