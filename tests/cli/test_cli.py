"""The rnnkit command end to end on tiny data: train -> evaluate -> predict from the run folder
alone, YAML configs with flags laid over them, and one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from rnnkit.cli.main import main

MY_COMMANDS = ["train", "evaluate", "predict", "tour", "export"]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, f"expected one error line, got:\n{err}"
    return err


@pytest.fixture(scope="module")
def vowels_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "jv"
    code = main(["train", "--data", "japanese_vowels", "--model", "classifier", "--cell", "gru", "--hidden", "8",
                 "--epochs", "2", "--limit", "40", "--lr", "0.01", "--out", str(run), "--no-progress"])
    assert code == 0
    return run


@pytest.mark.parametrize("command", MY_COMMANDS)
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert f"usage: rnnkit {command}" in capsys.readouterr().out


def test_train_writes_a_complete_run_folder(vowels_run: Path) -> None:
    for name in ("config.yaml", "model.safetensors", "info.json", "metrics.json", "history.csv", "run.yaml",
                 "report.html", "plots/learning_curves.png", "plots/confusion_matrix.png"):
        assert (vowels_run / name).is_file(), f"{name} is missing"
    spec = yaml.safe_load((vowels_run / "run.yaml").read_text())
    assert spec["model_options"] == {"cell": "gru", "hidden_size": 8} and spec["train"]["epochs"] == 2
    assert len((vowels_run / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs


def test_evaluate_rebuilds_from_the_folder(vowels_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = json.loads((vowels_run / "metrics.json").read_text())["test"]
    assert main(["evaluate", str(vowels_run)]) == 0
    after = json.loads((vowels_run / "metrics.json").read_text())
    assert after["test"]["accuracy"] == pytest.approx(before["accuracy"])  # same weights, same data
    assert "monitor" in after  # the Trainer's entries are kept
    assert "accuracy" in capsys.readouterr().out


def test_predict_a_csv_prints_a_class(vowels_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import rnnkit.datasets

    example = rnnkit.datasets.load("japanese_vowels").test.examples[0]
    csv = tmp_path / "utterance.csv"
    np.savetxt(csv, example.x.numpy(), delimiter=",", header=",".join(f"c{i}" for i in range(12)))
    assert main(["predict", str(vowels_run), str(csv), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    classes = json.loads((vowels_run / "info.json").read_text())["classes"]
    assert lines[0] in classes and len(lines) == 3
    probs = [float(line.rsplit(":", 1)[1]) for line in lines[1:]]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)


def test_config_file_with_flags_over_it_and_a_forecast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "air.yaml"
    config.write_text(yaml.safe_dump({"data": "air_passengers", "model": "forecaster",
                                      "model_options": {"cell": "gru", "hidden_size": 8},
                                      "train": {"epochs": 5, "lr": 0.01}, "out": str(tmp_path / "air")}))
    assert main(["train", "--config", str(config), "--epochs", "2", "--no-progress"]) == 0
    run = tmp_path / "air"
    assert yaml.safe_load((run / "run.yaml").read_text())["train"] == {"epochs": 2, "lr": 0.01}
    assert (run / "plots" / "forecast.png").stat().st_size > 2000
    capsys.readouterr()
    history = " ".join(str(100 + 2 * i) for i in range(24))
    assert main(["predict", str(run), history]) == 0
    out = capsys.readouterr().out.splitlines()
    horizon = json.loads((run / "info.json").read_text())["horizon"]
    assert out[0] == f"forecast for the next {horizon} steps:" and len(out[1].split()) == horizon


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "no_such_data", "--model", "classifier"], "unknown data set 'no_such_data'"),
    (["train", "--data", "japanese_vowels", "--model", "bogus"], "unknown model 'bogus'"),
    (["train", "--model", "classifier"], "no data set given"),
    (["train", "--recipe", "no_such_recipe"], "unknown recipe 'no_such_recipe'"),
    (["train", "--config", "/no/such/file.yaml"], "does not exist"),
    (["evaluate", "/no/such/run"], "no run folder at /no/such/run"),
    (["predict", "/no/such/run", "1 2 3"], "no run folder"),
    (["tour", "--only", "no_such_stop"], "unknown tour stop"),
    (["export", "/no/such/run"], "no run folder"),
])
def test_one_line_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in _error_line(capsys)


def test_bad_config_keys_and_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: japanese_vowels\nmodel: classifier\nepochs: 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown key(s) epochs" in _error_line(capsys)
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "many"])
    assert e.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_corrupt_run_folder_is_refused(vowels_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(vowels_run, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert main(["predict", str(broken), "1 2 3"]) == 2
    assert "unusable run folder" in _error_line(capsys)
    (broken / "config.yaml").unlink()
    assert main(["evaluate", str(broken)]) == 2
    assert "config.yaml is missing" in _error_line(capsys)


def test_predict_rejects_input_of_the_wrong_kind(vowels_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(vowels_run), "hello world"]) == 2
    assert "expected numbers" in _error_line(capsys)


def test_export_torchscript_matches_the_model(vowels_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    import rnnkit
    import rnnkit.datasets
    from rnnkit.data.batch import collate

    assert main(["export", str(vowels_run)]) == 0
    assert "torchscript" in capsys.readouterr().out
    program = torch.jit.load(str(vowels_run / "export" / "model.pt"))
    batch = collate(rnnkit.datasets.load("japanese_vowels").test.examples[5:8])
    expected = rnnkit.load(vowels_run)(batch).logits
    torch.testing.assert_close(program(batch.x, batch.lengths), expected)


def test_export_torch_export_matches_the_model_for_any_batch_and_steps(
        vowels_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    import rnnkit
    import rnnkit.datasets
    from rnnkit.data.batch import collate

    assert main(["export", str(vowels_run), "--format", "torch.export"]) == 0
    assert "torch.export" in capsys.readouterr().out
    program = torch.export.load(str(vowels_run / "export" / "model.pt2")).module()
    model = rnnkit.load(vowels_run)
    test = rnnkit.datasets.load("japanese_vowels").test.examples
    for examples in (test[5:8], test[10:11], test[20:25]):  # other batch sizes and numbers of steps
        batch = collate(examples)
        torch.testing.assert_close(program(batch.x, batch.lengths), model(batch).logits)


def test_recipe_reads_the_config_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.cli import runspec

    monkeypatch.setattr(runspec, "RECIPES", tmp_path)
    (tmp_path / "air_tiny.yaml").write_text(yaml.safe_dump(
        {"data": "air_passengers", "model": "forecaster", "model_options": {"hidden_size": 4},
         "train": {"epochs": 3}}))
    out = tmp_path / "run"
    assert main(["train", "--recipe", "air_tiny", "--epochs", "1", "--out", str(out), "--no-progress",
                 "--no-report"]) == 0
    assert len((out / "history.csv").read_text().splitlines()) == 2
    assert not (out / "report.html").exists()


def test_an_ensemble_trains_evaluates_and_predicts_from_its_folder(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import rnnkit
    from rnnkit.models import Ensemble

    run = tmp_path / "jv3"
    assert main(["train", "--data", "japanese_vowels", "--model", "classifier", "--cell", "gru", "--hidden", "8",
                 "--epochs", "1", "--limit", "30", "--ensemble", "3", "--out", str(run), "--no-progress",
                 "--no-report"]) == 0
    assert yaml.safe_load((run / "run.yaml").read_text())["ensemble"] == 3
    model = rnnkit.load(run)
    assert isinstance(model, Ensemble) and len(model.members) == 3
    before = json.loads((run / "metrics.json").read_text())["test"]
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] == pytest.approx(before["accuracy"])
    capsys.readouterr()
    import rnnkit.datasets

    example = rnnkit.datasets.load("japanese_vowels").test.examples[0]
    csv = tmp_path / "utterance.csv"
    np.savetxt(csv, example.x.numpy(), delimiter=",", header=",".join(f"c{i}" for i in range(12)))
    assert main(["predict", str(run), str(csv), "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and sum(float(line.rsplit(":", 1)[1]) for line in lines[1:]) <= 1.0 + 1e-6
    assert main(["train", "--data", "japanese_vowels", "--model", "classifier", "--ensemble", "0"]) == 2
    assert "--ensemble must be >= 1" in _error_line(capsys)
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: japanese_vowels\nmodel: classifier\nensemble: two\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "ensemble must be a positive integer" in _error_line(capsys)
