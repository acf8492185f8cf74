"""What `rnnkit export` writes and where: never over a run's own files, nor over an existing file
without --overwrite; the input rules a program's user must follow (lowercased tokens, a prompt that
starts with <bos>) in its metadata; an unrolled TorchScript loop that refuses a longer input by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit.cli import export as export_cli
from rnnkit.cli import export_decoding
from rnnkit.cli.main import main

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A layer-norm LSTM tagger of a lowercased CoNLL file: TorchScript unrolls its loop over time."""
    root = tmp_path_factory.mktemp("export_outputs")
    conll = root / "tags.conll"
    conll.write_text("\n".join(["the DET\ncat NOUN\nruns VERB\n", "a DET\nbig ADJ\ndog NOUN\nsleeps VERB\n"] * 12))
    run = root / "tagger"
    assert main(["train", "--data", f"conll:{conll}", "--data-option", "lowercase=true", "--cell", "lstm",
                 "--set", "layer_norm=true", "--hidden", "8", "--epochs", "1", "--out", str(run), "--no-progress",
                 "--no-report"]) == 0
    return run


def _recording(asked: list[dict]):  # an export that records what it was given and writes nothing
    def record(*args: object, metadata: dict | None = None, **kwargs: object) -> tuple:
        asked.append(dict(metadata or {}))
        return 0.0, "any number of steps"
    return record


def test_export_never_writes_over_a_file_of_the_run(tagger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tagger / "model.safetensors"
    before = weights.read_bytes()
    for flags in ([], ["--overwrite"]):
        assert main(["export", str(tagger), "--out", str(weights), "--format", "torchscript", *flags]) == 2
        assert "is a file of the run" in capsys.readouterr().err
    assert weights.read_bytes() == before
    assert main(["predict", str(tagger), "the cat"]) == 0


def test_an_existing_out_file_needs_overwrite(tagger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine.onnx"
    mine.write_text("a user's file")
    assert main(["export", str(tagger), "--out", str(mine)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err and mine.read_text() == "a user's file"
    asked: list[dict] = []
    monkeypatch.setattr(export_cli, "export", _recording(asked))
    assert main(["export", str(tagger), "--out", str(mine), "--overwrite"]) == 0
    assert asked and asked[0]["lowercase"] == "true"  # the metadata says to lowercase the tokens


def test_a_language_model_s_metadata_says_its_prompt_starts_with_bos(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = tmp_path / "names.txt"
    names.write_text("\n".join(["anna", "bob", "carla", "dora", "emil", "fred"] * 6) + "\n")
    run = tmp_path / "lm"
    assert main(["train", "--data", f"text:{names}", "--model", "lm", "--hidden", "8", "--epochs", "1", "--out",
                 str(run), "--no-progress", "--no-report"]) == 0
    asked: list[dict] = []

    def record(model: object, trace: object, check: object, path: Path, metadata: dict) -> int:
        asked.append({**metadata, "path": str(path)})
        return 0

    monkeypatch.setattr(export_decoding, "run_decoding", record)
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "gen")]) == 0
    assert asked[0]["prompt_bos"] == "true"
    assert asked[0]["path"] == str(tmp_path / "gen.onnx")  # --out without a suffix: gen.init.onnx, gen.step.onnx


def test_an_unrolled_torchscript_loop_refuses_a_longer_input_by_name(tagger: Path) -> None:
    path = tagger / "export" / "model.pt"
    assert main(["export", str(tagger), "--format", "torchscript"]) == 0
    assert main(["export", str(tagger), "--format", "torchscript"]) == 0  # the default path: a re-export
    program = torch.jit.load(str(path))
    longest = 4  # the data's longest sentence
    ids = torch.randint(4, 8, (2, longest))
    assert program(ids, torch.tensor([longest, 2])).shape[:2] == (2, longest)
    with pytest.raises(Exception, match="this program takes at most 4 steps"):
        program(torch.randint(4, 8, (2, longest + 3)), torch.tensor([longest + 3, 2]))
