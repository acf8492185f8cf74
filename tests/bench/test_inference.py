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


def test_a_differenced_forecaster_is_benched_on_histories_it_takes_through_run_session(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A lag-3 difference needs 4 steps of history; ONNX cannot refuse fewer, so its file says so in
    ``min_steps`` and ``run_session`` applies it. The bench answers as a user would: through
    ``run_session``, on test histories of at least 4 steps, and both sides agree."""
    import torch

    import rnnkit.cli.runspec
    from rnnkit.bench.inference import time_recipe
    from rnnkit.cli import export_onnx
    from rnnkit.data.dataset import DatasetInfo, Example, ExampleList, SequenceDataset
    from rnnkit.models import Forecaster

    g = torch.Generator().manual_seed(0)
    # test histories of 2..9 steps; the median one (3 steps) and some in any batch are too short for lag 3
    examples = [Example(x=torch.rand(t, 1, generator=g) + 1, y=torch.rand(2, generator=g) + 1)
                for t in (2, 2, 3, 3, 3, 5, 8, 9)]
    info = DatasetInfo(name="tiny", shape="forecasting", task="forecasting", input_kind="series", num_features=1,
                       num_targets=1, horizon=2)
    dataset = SequenceDataset(info, ExampleList(examples[5:]), ExampleList([]), ExampleList(examples))
    torch.manual_seed(0)
    model = Forecaster(horizon=2, hidden_size=4, difference=[3])
    monkeypatch.setattr(rnnkit.cli.runspec, "load_data", lambda spec: dataset)
    monkeypatch.setattr(rnnkit.cli.runspec, "build_model", lambda spec, data: model)
    fed: list[dict] = []
    run_session = export_onnx.run_session

    def spy(session: object, feeds: dict) -> object:
        fed.append(feeds)
        assert session.get_modelmeta().custom_metadata_map["min_steps"] == "4"  # type: ignore[attr-defined]
        return run_session(session, feeds)

    monkeypatch.setattr(export_onnx, "run_session", spy)
    rows = time_recipe("air_passengers", runs=1, rounds=1, quick=True)
    # the export's own check feeds the 2 longest histories; the bench's batches are 1 and 3 histories
    assert {1, 3} <= {f["x"].shape[0] for f in fed}, "the bench ran the ONNX file without run_session"
    assert all(int(f["lengths"].min()) >= 4 and f["x"].shape[1] >= 4 for f in fed)
    assert [r.batch_size for r in rows] == [1, 3]  # the 3 test histories of 4 steps or more
    assert all(r.steps >= 4 for r in rows)
    assert all(r.difference < 1e-5 for r in rows)  # finite, and both sides give the model's output
