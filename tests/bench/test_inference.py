"""The inference bench's plumbing (not its timings): both sides answer the same batches with the same
outputs, a quick run makes its rows and its section, decoding rows decode alike, the CLI refuses unknown recipes."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli.main import build_parser, main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def test_a_quick_run_times_both_sides_on_the_same_outputs_and_writes_its_section(
        tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "BENCHMARKS.md"
    args = build_parser().parse_args(["bench", "inference", "japanese_vowels", "--quick",
                                      "--runs", "2", "--rounds", "1", "--output", str(out), "--json"])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)  # --json: standard output is JSON alone (no export progress)
    assert isinstance(printed, dict) and printed
    text = out.read_text()
    assert "<!-- bench:inference -->" in text and "`--quick` run" in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| japanese_vowels")]
    assert [r[2] for r in rows] == ["1", "8"]  # one request, then the batch (8 test examples with --quick)
    for line in text.splitlines():
        if line.startswith("| japanese_vowels"):
            assert float(line.rstrip(" |").rsplit(" | ", 1)[1]) < 1e-5  # both sides give the model's output


def test_decoding_rows_time_greedy_decoding_on_both_sides() -> None:
    from rnnkit.bench.inference import time_recipe

    rows = time_recipe("dates_iso", runs=1, rounds=1, quick=True)
    assert [r.batch_size for r in rows] == [1, 8] and all(r.model == "Seq2Seq" for r in rows)
    assert all(r.difference == 0 for r in rows)  # the same greedy outputs
    assert all(r.torch_ms > 0 and r.onnxruntime_ms > 0 for r in rows)


def test_unknown_recipes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "inference", "no_such_recipe", "--quick", "--output", ""]) == 2
    assert "unknown recipe 'no_such_recipe'" in capsys.readouterr().err
