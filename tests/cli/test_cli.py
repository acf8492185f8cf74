"""The rnnkit command end to end on tiny data: train -> evaluate -> predict from the run folder
alone, YAML configs with flags laid over them, and one-line errors with exit status 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rnnkit.cli.main import CLIError, main

MY_COMMANDS = ["train", "evaluate", "predict", "tour", "export"]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, f"expected one error line, got:\n{err}"
    return err


# the command that trains vowels_run, without its --out
VOWELS = ["train", "--data", "japanese_vowels", "--model", "classifier", "--cell", "gru", "--hidden", "8",
          "--epochs", "2", "--limit", "40", "--lr", "0.01", "--no-progress"]


@pytest.fixture(scope="module")
def vowels_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "jv"
    code = main([*VOWELS, "--out", str(run)])
    assert code == 0
    return run


def _copy_of(run: Path, tmp_path: Path) -> Path:
    """A copy of a module fixture's run folder, for a test that changes the folder: a copy costs
    milliseconds, a training of its own a second or more."""
    import shutil

    return Path(shutil.copytree(run, tmp_path / run.name))


@pytest.fixture(scope="module")
def vowels_test() -> list:
    """japanese_vowels' test examples, which the tests only read: the set loaded once, not once a test."""
    import rnnkit.datasets

    return list(rnnkit.datasets.load("japanese_vowels").test.examples)


@pytest.mark.parametrize("command", MY_COMMANDS)
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert f"usage: rnnkit {command}" in capsys.readouterr().out


def test_python_dash_m_runs_the_same_command() -> None:
    """``python -m rnnkit`` is the ``rnnkit`` script, for installs whose scripts folder is not on PATH."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "rnnkit", "--version"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    from rnnkit import __version__

    assert done.stdout.strip() == f"rnnkit {__version__}"


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


def test_predict_a_csv_prints_a_class(vowels_run: Path, vowels_test: list, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    example = vowels_test[0]
    csv = tmp_path / "utterance.csv"
    np.savetxt(csv, example.x.numpy(), delimiter=",", header=",".join(f"c{i}" for i in range(12)))
    assert main(["predict", str(vowels_run), str(csv), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    classes = json.loads((vowels_run / "info.json").read_text())["classes"]
    assert lines[0] in classes and len(lines) == 3
    probs = [float(line.rsplit(":", 1)[1]) for line in lines[1:]]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)


def test_text_rows_of_a_csv_train_evaluate_and_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A user's own ``text,label`` CSV: train, evaluate and predict raw text from the run folder."""
    rng = np.random.default_rng(0)
    words = {"pos": ["great", "love", "good", "fast"], "neg": ["bad", "awful", "slow", "broken"]}
    rows = ["review,label"]
    for _ in range(160):
        label = str(rng.choice(["pos", "neg"]))
        rows.append(f'"{" ".join(rng.choice(words[label], size=3))} phone",{label}')
    data = tmp_path / "reviews.csv"
    data.write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--data", f"csv:{data}", "--data-option", "text=review", "--data-option", "target=label",
                 "--model", "classifier", "--cell", "gru", "--hidden", "16", "--epochs", "8", "--lr", "0.01",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] >= 0.9  # one word decides it
    assert main(["evaluate", str(run)]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "awful slow phone"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "neg"
    # a table of new texts: one prediction per row, or the table back with the predictions beside
    new = tmp_path / "new.csv"
    new.write_text('id,review\n1,"awful slow phone"\n2,"great\nfast phone"\n3,good phone\n')
    assert main(["predict", str(run), str(new), "--column", "review"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split("\t")[0] for r in rows] == ["neg", "pos", "pos"]
    import pandas as pd

    for suffix in ("csv", "jsonl"):
        scored = tmp_path / f"scored.{suffix}"
        assert main(["predict", str(run), str(new), "--column", "review", "--output", str(scored)]) == 0
        frame = pd.read_csv(scored) if suffix == "csv" else pd.read_json(scored, lines=True)
        assert list(frame.columns) == ["id", "review", "prediction", "probability"]
        assert frame["prediction"].tolist() == ["neg", "pos", "pos"] and frame["review"][1] == "great\nfast phone"
        assert [f"{p}\t{q:.3f}" for p, q in zip(frame["prediction"], frame["probability"])] == rows
    numbers = tmp_path / "numbers.csv"  # text that looks like a number stays as written, 007 not 7.0
    numbers.write_text("id,review\n1,007\n2,1.50\n")
    scored = tmp_path / "numbers.jsonl"
    assert main(["predict", str(run), str(numbers), "--column", "review", "--output", str(scored)]) == 0
    assert pd.read_json(scored, lines=True, dtype={"review": str})["review"].tolist() == ["007", "1.50"]
    capsys.readouterr()
    new.write_text('id,review\n1,"awful\nslow"\n2,\n')
    assert main(["predict", str(run), str(new), "--column", "review"]) == 2
    assert "new.csv, line 4, field 'review': missing input (1 row)" in _error_line(capsys)
    assert main(["predict", str(run), str(new), "--column", "text"]) == 2
    assert "column 'text' does not exist; the columns are ['id', 'review']" in _error_line(capsys)
    assert main(["predict", str(run), str(new), "--column", "review", "--lines"]) == 2
    assert "pass one" in _error_line(capsys)
    new.write_text("review,prediction\ngood phone,old\n")
    assert main(["predict", str(run), str(new), "--column", "review", "--output", str(tmp_path / "o.csv")]) == 2
    assert "already has a column 'prediction'" in _error_line(capsys)


def test_config_file_with_flags_over_it_and_a_forecast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "air.yaml"
    config.write_text(yaml.safe_dump({"data": "air_passengers", "model": "forecaster",
                                      "model_options": {"cell": "gru", "hidden_size": 8},
                                      "train": {"epochs": 5, "lr": 0.01}, "out": str(tmp_path / "air")}))
    assert main(["train", "--config", str(config), "--epochs", "2", "--precision", "auto", "--no-progress"]) == 0
    run = tmp_path / "air"
    assert yaml.safe_load((run / "run.yaml").read_text())["train"] == {"epochs": 2, "lr": 0.01, "precision": "auto"}
    assert (run / "plots" / "forecast.png").stat().st_size > 2000
    capsys.readouterr()
    history = " ".join(str(100 + 2 * i) for i in range(24))
    assert main(["predict", str(run), history]) == 0
    out = capsys.readouterr().out.splitlines()
    horizon = json.loads((run / "info.json").read_text())["horizon"]
    assert out[0] == f"forecast for the next {horizon} steps:" and len(out[1].split()) == horizon
    assert main(["predict", str(run), " ".join(["100"] * 5)]) == 2  # fewer steps than the window it learnt from
    assert "a history of 5 steps is shorter than this forecaster's window of 24 steps" in capsys.readouterr().err


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
    (["datasets", "pairs:/no/such/file.tsv"], "file '/no/such/file.tsv' does not exist"),
    (["datasets", "csv:/no/such/file.csv"], "file '/no/such/file.csv' does not exist"),
])
def test_one_line_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in _error_line(capsys)


def test_bad_config_keys_and_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: japanese_vowels\nmodel: classifier\nepochs: 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown key(s) epochs" in _error_line(capsys)
    for limit in ("true", "{train: true}"):  # YAML's true is no size (it crashed in numpy)
        bad.write_text(f"data: japanese_vowels\nmodel: classifier\nlimit: {limit}\n")
        assert main(["train", "--config", str(bad)]) == 2
        assert "limit must be a positive integer or {train: N, valid: N, test: N}" in _error_line(capsys)
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


def test_export_torchscript_matches_the_model(vowels_run: Path, vowels_test: list,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    import rnnkit
    from rnnkit.data.batch import collate

    assert main(["export", str(vowels_run)]) == 0
    assert "torchscript" in capsys.readouterr().out
    program = torch.jit.load(str(vowels_run / "export" / "model.pt"))
    batch = collate(vowels_test[5:8])
    expected = rnnkit.load(vowels_run)(batch).logits
    torch.testing.assert_close(program(batch.x, batch.lengths), expected)


def test_export_torch_export_matches_the_model_for_any_batch_and_steps(
        vowels_run: Path, vowels_test: list, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    import rnnkit
    from rnnkit.data.batch import collate

    assert main(["export", str(vowels_run), "--format", "torch.export"]) == 0
    assert "torch.export" in capsys.readouterr().out
    program = torch.export.load(str(vowels_run / "export" / "model.pt2")).module()
    model = rnnkit.load(vowels_run)
    test = vowels_test
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


def test_an_ensemble_trains_evaluates_and_predicts_from_its_folder(vowels_test: list, tmp_path: Path,
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
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["ensemble_loss"] == "mixture"  # every entry is the mixture's loss
    before = saved["test"]
    assert main(["evaluate", str(run)]) == 0
    after = json.loads((run / "metrics.json").read_text())
    assert after["test"]["accuracy"] == pytest.approx(before["accuracy"]) and after["ensemble_loss"] == "mixture"
    assert "members' mean" not in capsys.readouterr().err
    del saved["ensemble_loss"]  # as a run trained before: its valid and test losses were the members' mean
    (run / "metrics.json").write_text(json.dumps(saved))
    assert main(["evaluate", str(run)]) == 0
    after = json.loads((run / "metrics.json").read_text())
    assert after["ensemble_loss"] == {"valid": "members' mean", "test": "mixture"}
    assert "metrics.json's valid loss is its members' mean" in capsys.readouterr().err
    example = vowels_test[0]
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


@pytest.mark.parametrize("content, message", [
    (None, "is a folder; pass a YAML file"),
    (b"\xff\xfedata: x\n", "not a text file (not UTF-8 at byte 0)"),
    (b"data: italy_power_demand\nmodel: classifier\ntrain:\n  epochs: 1\n lr: 2\n", "bad.yaml, line 5: not valid YAML"),
    (b"", "the file is empty"),
    (b"data: 5\nmodel: classifier\n", "data must be a name (text), got 5"),
    (b"data: gunpoint\nmodel: classifier\nvectors: maybe\n", "vectors must be true or false, got 'maybe'"),
    (b"data: gunpoint\nmodel: classifier\ntrain: {lr: fast}\n", "lr must be a number, got 'fast'"),
    (b"data: gunpoint\nmodel: classifier\ntrain: {epochs: 1.5}\n", "epochs must be an integer, got 1.5"),
    (b"data: gunpoint\nmodel: classifier\ntrain: {optimizer: adamm}\n", "optimizer must be one of adamw, adam, sgd"),
    (b"data: gunpoint\nmodel: classifier\ntrain: {device: tpu}\n", "device must be 'auto', 'cpu', 'cuda'"),
    (b"data: gunpoint\nmodel: classifier\ntrain: {lr: .nan}\n", "lr must be > 0, got nan"),
])
def test_bad_config_files_are_named_in_one_line(content: bytes | None, message: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    if content is None:
        config.mkdir()
    else:
        config.write_bytes(content)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 2
    assert message in _error_line(capsys)
    assert not out.exists()  # refused before the data loads, nothing written


def test_yaml_numbers_in_exponent_form_are_numbers() -> None:
    from rnnkit.cli.runspec import load_yaml

    assert load_yaml("train: {lr: 1e-3, weight_decay: 5E+1, name: 1e}") == {
        "train": {"lr": 0.001, "weight_decay": 50.0, "name": "1e"}}


@pytest.mark.parametrize("extra, message", [
    (["--limit", "0"], "--limit must be >= 1"),
    (["--resume"], "has no checkpoint to continue from"),
    (["--model", "tagger"], "model tagger (SequenceTagger) cannot take data set italy_power_demand"),
    (["--vectors"], "model classifier (SequenceClassifier) cannot take data set italy_power_demand"),
    (["--set", "hidden_size=4", "--data-option", "bogus=1"], "does not take these options"),
    (["--set", "bogus=1"], "SequenceClassifier does not take these options"),
    (["--set", "dropout=high"], "cannot build SequenceClassifier for italy_power_demand: SequenceClassifier: "
                                "dropout must be a number, got 'high' (str)"),
])
def test_train_refuses_before_writing_the_run_folder(extra: list[str], message: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["train", "--data", "italy_power_demand", "--model", "classifier", "--hidden", "4", "--limit", "16",
            "--epochs", "1", "--out", str(out), "--no-progress", "--no-report"]
    assert main(argv + extra) == 2
    assert message in _error_line(capsys)
    assert not out.exists()


def test_train_refuses_a_monitor_no_epoch_computes_and_an_out_that_is_a_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("data: italy_power_demand\nmodel: classifier\nlimit: 16\n"
                      "model_options: {hidden_size: 4}\ntrain: {epochs: 1, monitor: valid_bleu}\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "monitor 'valid_bleu' is not computed for this run; choose one of train_loss, valid_loss" in \
        _error_line(capsys)
    assert main(["train", "--config", str(config), "--out", str(config), "--no-progress"]) == 2
    assert "is a file; the run folder must be a folder" in _error_line(capsys)


def test_resume_with_other_options_keeps_the_run_folder(vowels_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (vowels_run / "run.yaml").read_text()
    assert main(["train", "--data", "japanese_vowels", "--model", "classifier", "--cell", "gru", "--hidden", "16",
                 "--epochs", "2", "--limit", "40", "--out", str(vowels_run), "--resume", "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "--resume:" in line and "does not fit the model built from these options (size mismatch" in line
    assert (vowels_run / "run.yaml").read_text() == before


def test_interrupted_or_diverged_training_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from rnnkit.cli import train as train_cli
    from rnnkit.train import Trainer, TrainingDiverged

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "train_run", interrupted)
    argv = ["train", "--data", "italy_power_demand", "--model", "classifier", "--hidden", "4", "--limit", "16",
            "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress", "--no-report"]
    assert main(argv) == 130
    assert "interrupted; no checkpoint was written yet" in _error_line(capsys)
    monkeypatch.undo()

    def diverged(*args: object, **kwargs: object) -> None:
        raise TrainingDiverged("the training loss became nan at epoch 1, step 2, batch 1")

    monkeypatch.setattr(Trainer, "fit", diverged)
    assert main(argv) == 2
    assert "the training loss became nan at epoch 1" in _error_line(capsys)


@pytest.mark.parametrize("content, message", [
    (b"c0,c1\n1,2\n3,x\n", "bad.csv, line 3: 'x' is not a number"),
    (b"1,2\n3\n", "bad.csv, line 2: 1 value(s), but line 1 has 2"),
    (b"1\nnan\n3\n", "bad.csv, line 2: 'nan' is not a finite number"),
    (b"c0,c1\nNaN,1\n3,4\n", "bad.csv, line 2: 'NaN' is not a finite number"),
    (b"inf,1\n3,4\n", "bad.csv, line 1: 'inf' is not a finite number"),  # not taken for a header
    (b"", "bad.csv: no rows of numbers"),
    (b"\xff\xfe1,2\n", "bad.csv: not a UTF-8 text file"),
])
def test_predict_names_the_file_and_line_of_a_malformed_input(
        content: bytes, message: str, vowels_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["predict", str(vowels_run), str(path)]) == 2
    assert message in _error_line(capsys)


@pytest.mark.parametrize("make_input, message", [
    (lambda tmp: str(tmp), "is a folder; pass a file, text or numbers"),
    (lambda tmp: str(tmp / "missing.csv"), "missing.csv does not exist"),
    (lambda tmp: "", "the input is empty"),
    (lambda tmp: "1 2 nan", "'nan' is not a finite number"),
    (lambda tmp: "1 2 " * 3000 + "1", "got 6001 value(s), not a multiple of 12"),  # too long for a file name
])
def test_predict_refuses_empty_missing_or_nan_inputs(make_input: object, message: str, vowels_run: Path,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(vowels_run), make_input(tmp_path)]) == 2  # type: ignore[operator]
    assert message in _error_line(capsys)


def test_predict_top_and_run_folder_that_is_a_file(vowels_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(vowels_run), "1 2 3", "--top", "0"]) == 2
    assert "--top must be >= 1" in _error_line(capsys)
    for command in (["evaluate"], ["export"], ["predict"]):
        assert main(command + [str(vowels_run / "run.yaml")] + (["1"] if command == ["predict"] else [])) == 2
        assert "is a file; pass the run folder" in _error_line(capsys)
    assert main(["export", str(vowels_run), "--out", str(vowels_run)]) == 2
    assert "is a folder; pass a file name" in _error_line(capsys)


def test_tour_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tour"
    out.write_text("")
    assert main(["tour", "--quick", "--only", "forecasting", "--out", str(out)]) == 2
    assert "is a file; the tour writes its runs into a folder" in _error_line(capsys)


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seq2seq of dates_iso that the tests below only predict with. 1000 + 100 dates, not the default
    20000 + 2000 (seconds to write): the character vocabulary is the same 60 tokens. One epoch on 50 of
    them (and 50 of each scored split, whose greedy decoding runs to the longest output while the model
    has not learnt to end): the tests read the vocabulary and compare predictions, not their quality."""
    run = tmp_path_factory.mktemp("runs") / "dates"
    assert main(["train", "--data", "dates_iso", "--data-option", "n_train=1000", "--data-option", "n_test=100",
                 "--model", "seq2seq", "--hidden", "16", "--limit", "50", "--epochs", "1", "--out", str(run),
                 "--no-progress", "--no-report"]) == 0
    return run


def test_predict_unknown_tokens(dates_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = dates_run
    capsys.readouterr()
    assert main(["predict", str(run), "\u24e7\u24e8"]) == 2
    assert "none of the input's 2 token(s) is in the vocabulary of this run (dates_iso)" in _error_line(capsys)
    assert main(["predict", str(run), "march 3, 2001 \u24e7"]) == 0
    err = capsys.readouterr().err.strip()
    assert err == "note: 1 of 15 input token(s) are not in the run's vocabulary and are read as <unk> ('\u24e7')"
    assert main(["predict", str(run), "   "]) == 2
    assert "the input text is empty" in _error_line(capsys)


def test_predict_tags_words_as_written_and_reads_an_unknown_word_by_its_last_character(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "pos"
    # the vocabulary is built from the whole train split before --limit samples it, so 40 sentences (not 300)
    # train and evaluate the same vocabulary: the claims below are about it and the printed words only
    assert main(["train", "--data", "peoples_daily_pos", "--model", "tagger", "--hidden", "4", "--limit", "40",
                 "--epochs", "1", "--data-option", "min_freq=2", "--data-option", "unknown=last_char",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "中国 经济 绿化化"]) == 0
    out = capsys.readouterr().out.split()
    assert [w.rsplit("/", 1)[0] for w in out[-3:]] == ["中国", "经济", "绿化化"]  # the word, not <unk:化>
    from rnnkit.train.run_dir import load_run

    vocab = load_run(run).info.input_vocab  # the vocabulary as the run folder keeps it
    assert vocab.has_endings and vocab.encode(["绿化化"]) == [vocab.stoi["<unk:化>"]]


@pytest.mark.parametrize(("native", "says"), [(True, "trains in bf16 here (the CPU has AVX512-BF16"),
                                              (False, "trains in fp32 here (the CPU lacks AVX512-BF16"),
                                              (None, "trains in fp32 here (the CPU's flags are unknown)")])
def test_info_names_the_backends_and_what_precision_auto_picks(native: bool | None, says: str,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from rnnkit.ops import cpu_kernels

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cpu_kernels, "bf16_instructions", lambda: native)
    assert main(["info"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps to the terminal's width
    assert f"precision='auto' {says}" in out
    assert "device: cpu" in out and "mingru" in out and "scan" in out


def _single(run: Path, text: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["predict", str(run), text]) == 0
    return capsys.readouterr().out.splitlines()


def test_predict_lines_equals_one_call_per_line_for_a_seq2seq(dates_run: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run = dates_run
    inputs = ["march 3, 2001", "3 march 2001", "", "12/25/1999", "july 4, 1976", "march 3, 2001 \u24e7"]
    lines = tmp_path / "dates.txt"
    lines.write_text("\n".join(inputs) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(run), str(lines), "--lines", "--batch-size", "2"]) == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert len(out) == len(inputs) and out[2] == ""  # lined up with the input; a blank line stays blank
    for text, got in zip(inputs, out):
        if text:
            assert [got] == _single(run, text, capsys)  # batched by length, the same as one at a time
    assert "input line(s) hold" in captured.err and "read as <unk>" in captured.err  # one note, not one a line
    assert len(captured.err.splitlines()) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("march 3, 2001\n"))
    assert main(["predict", str(run), "-", "--lines"]) == 0
    assert capsys.readouterr().out.splitlines() == out[:1]
    target = tmp_path / "iso.txt"
    assert main(["predict", str(run), str(lines), "--lines", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8").splitlines() == out
    assert "5 predictions for 6 lines ->" in capsys.readouterr().err


def test_predict_lines_of_numbers_and_classes(vowels_run: Path, vowels_test: list, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    examples = vowels_test[:4]
    rows = [" ".join(f"{v:.6g}" for v in e.x.reshape(-1).tolist()) for e in examples]
    lines = tmp_path / "utterances.txt"
    lines.write_text("\n".join(rows) + "\n")
    assert main(["predict", str(vowels_run), str(lines), "--lines"]) == 0
    out = capsys.readouterr().out.splitlines()
    classes = json.loads((vowels_run / "info.json").read_text())["classes"]
    for row, got in zip(rows, out):
        label, prob = got.split("\t")
        single = _single(vowels_run, row, capsys)
        assert label == single[0] and label in classes
        assert f"  {label}: {prob}" == single[1]  # the best class's probability, as a single call prints it


TWELVE = " ".join(["0.5"] * 12)


@pytest.mark.parametrize("content, argv, message", [
    (f"{TWELVE}\n\n{TWELVE[:-3]} x\n", [], "lines.txt, line 3: the input '0.5 0.5|'x' is not a number"),
    (f"{TWELVE}\n1 2\n", [], "lines.txt, line 2: this run needs 12 feature(s) per step: got 2 value(s)"),
    ("\n\n", [], "lines.txt has no input lines"),
    (f"{TWELVE}\n", ["--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_predict_lines_errors_name_the_line(content: str, argv: list[str], message: str, vowels_run: Path,
                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lines.txt"
    path.write_text(content)
    assert main(["predict", str(vowels_run), str(path), "--lines", *argv]) == 2
    line = _error_line(capsys)
    assert all(part in line for part in message.split("|"))


def test_predict_lines_needs_a_file_and_output_needs_lines(vowels_run: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(vowels_run), str(tmp_path / "nope.txt"), "--lines"]) == 2
    assert "nope.txt does not exist" in _error_line(capsys)
    assert main(["predict", str(vowels_run), "1 2 3", "--output", str(tmp_path / "o.txt")]) == 2
    assert "--output goes with --lines" in _error_line(capsys)


def test_without_model_the_data_set_shape_picks_it_as_the_recipes_do() -> None:
    import rnnkit.datasets
    from rnnkit.bench.accuracy import load_recipe, recipe_names
    from rnnkit.cli.train import model_for

    infos = {i.name: i for i in rnnkit.datasets.list()}
    checked = 0
    for name in recipe_names():
        _, spec, _ = load_recipe(name)
        if spec.data in infos and not spec.vectors:
            assert model_for(infos[spec.data]) == spec.model.lower(), name
            checked += 1
    assert checked >= 15


def test_train_without_model_says_which_it_picked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "jv"
    assert main(["train", "--data", "japanese_vowels", "--hidden", "4", "--epochs", "1", "--limit", "20",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    assert ("model: classifier (the data set is many-to-one classification; pass --model to choose another)"
            in capsys.readouterr().err)
    assert yaml.safe_load((run / "run.yaml").read_text())["model"] == "classifier"


def test_datasets_loads_a_users_file_with_its_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("review,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20)))
    assert main(["datasets", f"csv:{data}", "--data-option", "text=review", "--data-option", "target=label",
                 "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["input"] == "tokens" and facts["classes"] == ["a", "b"] and sum(facts["sizes"].values()) == 20
    assert main(["datasets", f"csv:{data}", "--data-option", "text=review", "--data-option", "target=label",
                 "--data-option", "colour=red"]) == 2
    assert "does not take these options" in _error_line(capsys)
    assert main(["datasets", "--data-option", "text=review"]) == 2
    assert "--data-option goes with a data set NAME" in _error_line(capsys)


def test_predict_lines_conditions_a_generator_on_each_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import rnnkit.datasets

    run = tmp_path / "captions"
    # 200 + 50 captions (the quick tour's), not 10000 + 1000: the images are the same 8 x 32 pixels
    assert main(["train", "--data", "digit_captions", "--data-option", "n_train=200", "--data-option", "n_test=50",
                 "--hidden", "8", "--epochs", "1", "--limit", "30", "--out", str(run), "--no-progress",
                 "--no-report"]) == 0
    images = rnnkit.datasets.load("digit_captions", n_train=200, n_test=50).test.examples[:3]
    rows = [" ".join(f"{v:.6g}" for v in e.cond.reshape(-1).tolist()) for e in images]  # 8 x 32 pixels a line
    lines = tmp_path / "images.txt"
    lines.write_text("\n".join(rows) + "\n")
    capsys.readouterr()
    assert main(["predict", str(run), str(lines), "--lines"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(out)
    assert out == [_single(run, row, capsys)[0] for row in rows]


def test_a_language_model_of_a_text_file_trains_and_continues_prompts(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``text:`` lines -> ``--model lm`` chosen by itself; predict continues a prompt (none: from <bos>),
    samples repeat with --seed, and decoding flags are checked."""
    names = ["anna", "bert", "carl", "dora", "emil", "fenna", "gus", "hilde", "ivo", "jan"] * 6
    data = tmp_path / "names.txt"
    data.write_text("\n".join(names) + "\n", encoding="utf-8")
    run = tmp_path / "lm"
    assert main(["train", "--data", f"text:{data}", "--hidden", "32", "--epochs", "25", "--lr", "0.02",
                 "--out", str(run), "--no-progress"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["class"] == "LanguageModel"
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert 1.0 < metrics["perplexity"] < 4.0  # ten names: far below the 17 letters' uniform guess
    assert "greedy:" in (run / "report.html").read_text()  # the report shows generated names
    capsys.readouterr()
    assert main(["predict", str(run), "hil"]) == 0
    assert capsys.readouterr().out.strip() == "de"
    assert main(["predict", str(run), ""]) == 0
    assert capsys.readouterr().out.strip() + "\n" in {n + "\n" for n in names}  # from <bos>: a whole name
    samples = []
    for seed in (1, 1, 2):
        assert main(["predict", str(run), "", "--temperature", "1.5", "--seed", str(seed), "--max-length", "8"]) == 0
        samples.append(capsys.readouterr().out)
    assert samples[0] == samples[1]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("fen\n\nem\n", encoding="utf-8")
    assert main(["predict", str(run), str(prompts), "--lines", "--beam-size", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["na", "", "il"]
    for flags, message in ((["--beam-size", "2", "--top-k", "3"], "--top-k does not go with --decode beam"),
                           (["--temperature", "0"], "--temperature must be > 0"),
                           (["--decode", "greedy", "--seed", "1"], "--seed does not go with --decode greedy")):
        assert main(["predict", str(run), "a", *flags]) == 2
        assert message in _error_line(capsys)


def test_decoding_flags_are_refused_for_a_classifier(vowels_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(vowels_run), "1 2 3", "--decode", "beam"]) == 2
    assert "for models that generate sequences" in _error_line(capsys)


def test_a_users_series_table_is_scaled_read_by_column_name_and_found_from_anywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Long-format sequences around 1,000 (scaled in training): predict scales them the same way and
    picks the run's columns by their header names; evaluate works from another folder and refuses a
    file that changed since training."""
    rng = np.random.default_rng(0)
    rows = ["sample,t,ax,ay,label"]
    for s in range(60):
        label, base = ("hi", 1050.0) if s % 2 == 0 else ("lo", 950.0)
        rows += [f"s{s},{t},{base + rng.normal(0, 20):.2f},{rng.normal(0, 1):.3f},{label}" for t in range(10)]
    data = tmp_path / "big.csv"
    data.write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert main(["train", "--data", "csv:big.csv", "--data-option", "id=sample", "--data-option", "time=t",
                 "--data-option", "target=label", "--model", "classifier", "--hidden", "8", "--epochs", "6",
                 "--lr", "0.01", "--out", str(run), "--no-progress", "--no-report"]) == 0
    import rnnkit
    from rnnkit.data.batch import collate

    model, ds = rnnkit.load(run).eval(), rnnkit.datasets.load("csv:big.csv", id="sample", time="t", target="label")
    capsys.readouterr()
    for s in (0, 1):
        example = next(e for e in ds.train.examples + ds.valid.examples + ds.test.examples if e.meta["id"] == f"s{s}")
        with torch.no_grad():
            expected = torch.softmax(model(collate([example])).logits, -1)[0]
        lines = [r for r in rows[1:] if r.startswith(f"s{s},")]
        table = tmp_path / f"s{s}.csv"
        table.write_text("label,ay,ax,t\n" + "".join(f"{r.split(',')[4]},{r.split(',')[3]},{r.split(',')[2]},"
                                                     f"{r.split(',')[1]}\n" for r in lines))  # other order
        assert main(["predict", str(run), str(table), "--top", "2"]) == 0
        out = capsys.readouterr().out.splitlines()
        best = int(expected.argmax())
        assert out[0] == ds.info.classes[best]
        assert f"{ds.info.classes[best]}: {float(expected[best]):.3f}" in out[1]
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    assert main(["predict", str(run), str(tmp_path / "bad.csv")]) == 2
    assert "no column 'ax'; this run reads the columns ['ax', 'ay']" in _error_line(capsys)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the run recorded the file by its absolute path
    assert main(["evaluate", str(run)]) == 0
    data.write_text("\n".join(rows + [f"new,{t},{2000 + t},0.5,hi" for t in range(10)]) + "\n")
    assert main(["evaluate", str(run)]) == 2
    assert "the scaler changed" in _error_line(capsys)


def test_predict_encodes_as_the_loader_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A lowercased CoNLL vocabulary reads capitalised words; a pairs: run reads its source with its own
    word tokenizer; with --lines an input of unknown words only gives a blank line and a note."""
    sentences = ["the DET\ncat NOUN\nruns VERB\n", "a DET\ndog NOUN\nsleeps VERB\n"] * 20
    conll = tmp_path / "tags.conll"
    conll.write_text("\n".join(sentences))
    run = tmp_path / "tagger"
    assert main(["train", "--data", f"conll:{conll}", "--data-option", "lowercase=true", "--hidden", "8",
                 "--epochs", "1", "--out", str(run), "--no-progress", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "The Cat runs"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split()[0].startswith("The/") and "<unk>" not in captured.err
    lines = tmp_path / "lines.txt"
    lines.write_text("the cat runs\nzebra zebra\na dog\n")
    assert main(["predict", str(run), str(lines), "--lines"]) == 0
    captured = capsys.readouterr()
    out = captured.out.split("\n")
    assert out[0].startswith("the/") and out[1] == "" and out[2].startswith("a/")
    assert "lines.txt, line 2" in captured.err and "blank" in captured.err
    pairs = tmp_path / "num.tsv"
    pairs.write_text("".join(f"{a}, {b}!\t{i}{j}\n" for i, a in enumerate(["Zero", "One", "Two", "Three"])
                             for j, b in enumerate(["zero", "one", "two", "three", "four"])))
    run = tmp_path / "s2s"
    assert main(["train", "--data", f"pairs:{pairs}", "--data-option", "tokenizer=word", "--data-option",
                 "target_tokenizer=char", "--data-option", "test_fraction=0.1", "--hidden", "8", "--epochs", "1",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "Three, four!"]) == 0  # the word tokenizer splits off the punctuation
    assert "not in the run's vocabulary" not in capsys.readouterr().err


def test_a_forecaster_of_a_users_table_predicts_from_its_window_with_known_covariates(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A forecaster of a scaled CSV with a promotion flag: predict reads the last ``window`` steps of
    any longer history, and the flag's known values over the horizon from --future."""
    t = np.arange(120)
    promo = (t % 5 == 0).astype(float)
    sales = 2000 + 3 * t + 50 * np.sin(t / 3) + 200 * promo
    data = tmp_path / "sales.csv"
    data.write_text("day,sales,promo\n" + "".join(f"{i},{v:.2f},{p:.0f}\n" for i, v, p in zip(t, sales, promo)))
    run = tmp_path / "fc"
    assert main(["train", "--data", f"csv:{data}", "--data-option", "target=sales", "--data-option", "time=day",
                 "--data-option", "window=24", "--data-option", "horizon=4", "--data-option", "covariates=[promo]",
                 "--model", "forecaster", "--hidden", "16", "--epochs", "3", "--out", str(run), "--no-progress",
                 "--no-report"]) == 0
    whole, last = tmp_path / "whole.csv", tmp_path / "last.csv"
    whole.write_text("day,sales\n" + "".join(f"{i},{v:.2f}\n" for i, v in zip(t, sales)))
    last.write_text("sales\n" + "".join(f"{v:.2f}\n" for v in sales[-24:]))
    future = tmp_path / "future.csv"
    outs = []
    for flags in ([1, 0, 0, 0], [0, 0, 0, 0]):
        future.write_text("promo\n" + "".join(f"{f}\n" for f in flags))
        for history in (whole, last):
            capsys.readouterr()
            assert main(["predict", str(run), str(history), "--future", str(future)]) == 0
            lines = capsys.readouterr().out.splitlines()
            assert lines[0] == "forecast for the next 4 steps:"
            outs.append([float(v) for v in lines[1].split()])
    assert outs[0] == outs[1] and outs[2] == outs[3]  # the history beyond the window changes nothing
    assert outs[0] != outs[2] and 1500 < np.mean(outs[0]) < 3000  # in the data's units, and the flag counts
    assert main(["predict", str(run), str(last)]) == 2
    assert "trained with the covariates ['promo']: pass --future FILE" in _error_line(capsys)
    future.write_text("promo\n1\n0\n")
    assert main(["predict", str(run), str(last), "--future", str(future)]) == 2
    assert "2 row(s) of covariates, but this forecaster forecasts 4 steps" in _error_line(capsys)


def test_a_folder_that_holds_a_run_is_never_trained_over_silently(vowels_run: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = _copy_of(vowels_run, tmp_path)  # the run that the command below trained
    base = [*VOWELS, "--out", str(out), "--no-report"]
    (out / "extras" / "stale.json").write_text("{}")  # a leftover of the old run
    (out / "notes.txt").write_text("mine")  # not rnnkit's
    before = (out / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(base) == 2
    assert "already holds a run: pass --resume to continue it, --overwrite to replace it" in _error_line(capsys)
    assert (out / "model.safetensors").read_bytes() == before
    assert main([*base, "--resume", "--overwrite"]) == 2
    assert "pass one" in _error_line(capsys)
    # (one epoch on 20 examples, under half the time of the copied run's two on 40: the claims are the folder's)
    assert main([*base, "--overwrite", "--hidden", "6", "--epochs", "1", "--limit", "20"]) == 0
    assert not (out / "extras" / "stale.json").exists() and (out / "notes.txt").read_text() == "mine"
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["config"]["hidden_size"] == 6


def test_any_trainer_setting_is_a_flag_away(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    base = ["train", "--data", "japanese_vowels", "--model", "classifier", "--hidden", "4", "--epochs", "1",
            "--limit", "20", "--no-progress", "--no-report"]
    assert main([*base, "--out", str(out), "--train-option", "checkpoint_every=2", "--train-option",
                 "ema_decay=0.9"]) == 0
    assert yaml.safe_load((out / "run.yaml").read_text())["train"] == {"checkpoint_every": 2, "ema_decay": 0.9,
                                                                        "epochs": 1}
    for option in ("run_dir=elsewhere", "report=true", "bogus=1"):
        assert main([*base, "--out", str(tmp_path / "other"), "--train-option", option]) == 2
        assert f"--train-option {option.split('=')[0]}: no such Trainer setting" in _error_line(capsys)


def test_a_latin_1_table_predicts_in_its_encoding_and_an_unscored_run_says_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["review,label"] + [f"{w} café,{y}" for w, y in (("bon", "pos"), ("mauvais", "neg"))] * 20
    data = tmp_path / "avis.csv"
    data.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    run = tmp_path / "run"
    assert main(["train", "--data", f"csv:{data}", "--data-option", "text=review", "--data-option", "target=label",
                 "--data-option", "read_options={encoding: latin-1}", "--data-option", "test_fraction=0",
                 "--data-option", "valid_fraction=0", "--model", "classifier", "--hidden", "8", "--epochs", "1",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    assert "nothing to score: the data set has no test or valid examples" in capsys.readouterr().out
    new = tmp_path / "new.csv"
    new.write_bytes("id,review\n1,bon café\n2,mauvais café\n".encode("latin-1"))
    assert main(["predict", str(run), str(new), "--column", "review"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_a_resume_with_other_settings_or_a_broken_checkpoint_says_so_and_changes_nothing(
        vowels_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _copy_of(vowels_run, tmp_path)  # the run that the command below trained
    base = [*VOWELS, "--out", str(out), "--no-report"]
    spec = (out / "run.yaml").read_text()
    capsys.readouterr()
    assert main([*base, "--resume", "--batch-size", "4"]) == 2
    assert "trained with other settings: batch_size 32 (now 4)" in _error_line(capsys)
    assert (out / "run.yaml").read_text() == spec
    last = out / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    assert main([*base, "--resume"]) == 2
    error = _error_line(capsys)
    assert "--resume:" in error and "last.safetensors" in error and "does not fit the model" not in error


def test_data_the_model_cannot_take_mid_training_is_one_line(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A log transform of a standardised series meets values below zero in the early training windows,
    after the first check passed on later (positive) ones: one line, not a traceback."""
    t = np.arange(120)
    (tmp_path / "air.csv").write_text("m,v\n" + "".join(f"{i},{100 + 2 * i + 20 * np.sin(i / 2):.2f}\n" for i in t))
    assert main(["train", "--data", f"csv:{tmp_path / 'air.csv'}", "--data-option", "target=v", "--data-option",
                 "time=m", "--data-option", "window=24", "--data-option", "horizon=6", "--data-option",
                 "scale=standard", "--model", "forecaster", "--set", "transform=log", "--epochs", "1", "--out",
                 str(tmp_path / "run"), "--no-progress"]) == 2
    assert "training stopped: transform='log' needs target values > 0" in _error_line(capsys)


def test_hidden_sizes_a_feedforward_model_too(tmp_path: Path) -> None:
    run = tmp_path / "ff"
    assert main(["train", "--data", "digits", "--model", "feedforward", "--hidden", "12", "--epochs", "1",
                 "--limit", "40", "--out", str(run), "--no-progress", "--no-report"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["config"]["hidden_sizes"] == [12]


def test_predict_prints_a_forecasters_quantiles_as_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--quantiles: the quantile head's own levels, or any levels off a Gaussian head's sample paths
    (repeatable with --seed), one row per step, or a CSV with --output; clear errors elsewhere."""
    base = ["train", "--data", "air_passengers", "--hidden", "8", "--epochs", "2", "--no-progress", "--no-report"]
    quant, gauss, point = tmp_path / "quant", tmp_path / "gauss", tmp_path / "point"
    assert main([*base, "--set", "head=quantile", "--set", "quantiles=[0.1,0.5,0.9]", "--out", str(quant)]) == 0
    assert main([*base, "--set", "head=gaussian", "--out", str(gauss)]) == 0
    assert main([*base, "--out", str(point)]) == 0
    history = " ".join(str(v) for v in range(100, 400, 10))
    capsys.readouterr()
    assert main(["predict", str(quant), history, "--quantiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("forecast for the next 36 steps, with quantiles 0.1, 0.5, 0.9 (from the quantile head)")
    assert lines[1].split() == ["step", "forecast", "q0.1", "q0.5", "q0.9"] and len(lines) == 2 + 36
    rows = np.array([[float(v) for v in line.split()] for line in lines[2:]])
    assert np.all(rows[:, 2] <= rows[:, 3]) and np.all(rows[:, 3] <= rows[:, 4])  # never crossing
    np.testing.assert_allclose(rows[:, 1], rows[:, 3])  # the point forecast is the median
    assert 50 < rows[:, 1].mean() < 2000  # in passengers, not the model's scale
    tables = []
    for _ in range(2):
        assert main(["predict", str(gauss), history, "--quantiles", "0.05,0.95", "--samples", "300", "--seed",
                     "4"]) == 0
        tables.append(capsys.readouterr().out)
    assert tables[0] == tables[1] and "read off 300 sample paths, seed 4" in tables[0]
    out = tmp_path / "q.csv"
    assert main(["predict", str(gauss), history, "--quantiles", "--output", str(out)]) == 0
    csv_lines = out.read_text().splitlines()
    assert csv_lines[0] == "step,forecast,q0.1,q0.5,q0.9" and len(csv_lines) == 37
    assert "-> " + str(out) in capsys.readouterr().err
    for args, message in (
            ([str(point), history, "--quantiles"], "head='point', a point forecast without a distribution"),
            ([str(quant), history, "--quantiles", "0.25"], "trained for the levels [0.1, 0.5, 0.9], not [0.25]"),
            ([str(quant), history, "--quantiles", "--samples", "9"], "--samples is for a Gaussian head"),
            ([str(gauss), history, "--samples", "9"], "--samples goes with --quantiles"),
            ([str(gauss), history, "--quantiles", "0.5,x"], "'x' is not a number"),
            ([str(gauss), history, "--quantiles", "1"], "strictly between 0 and 1"),
            ([str(gauss), "-", "--lines", "--quantiles"], "one history at a time")):
        assert main(["predict", *args]) == 2
        assert message in _error_line(capsys)


def test_a_character_models_unknown_token_does_not_space_out_its_output() -> None:
    """The joiner follows the vocabulary: one <unk> in a character model's output had switched the
    whole line to space-joined characters, so that real spaces could not be told from separators."""
    from types import SimpleNamespace

    from rnnkit.cli.predict import _sequence_text
    from rnnkit.data.vocab import Vocab

    chars = Vocab.build([list("the cat")])
    ids = chars.encode(list("the ")) + [Vocab.unk_id] + chars.encode(list("at"))
    assert _sequence_text(ids, SimpleNamespace(output_vocab=chars)) == "the <unk>at"
    words = Vocab.build([["the", "cat", "a"]])
    assert _sequence_text(words.encode(["a", "cat"]), SimpleNamespace(output_vocab=words)) == "a cat"


def test_ctrl_c_while_the_command_loads_is_one_line_and_130(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The parser imports torch through the sub-commands; Ctrl-C in that second and a half printed a
    traceback. And `import rnnkit` itself loads no torch, so the console script reaches main at once."""
    import subprocess
    import sys

    from rnnkit.cli import main as cli_main

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "build_parser", interrupted)
    assert cli_main.main(["train", "--data", "japanese_vowels"]) == 130
    assert capsys.readouterr().err.strip() == "rnnkit: interrupted"
    # one process for both (each start of one costs a second or more): the parser and every sub-command
    # (the modules split out of the commands named too, though building the parser reads them) load no
    # torch, so --help answers at once; then the names still load, on first use
    done = subprocess.run([sys.executable, "-c", "import sys, rnnkit.cli.main as m; m.build_parser(); "
                           "import rnnkit.cli.train, rnnkit.cli.runspec, rnnkit.bench.cv, rnnkit.bench.accuracy, "
                           "rnnkit.bench.long_stream, rnnkit.bench.long_stream_rows; "
                           "print('torch' in sys.modules); from rnnkit import Recurrent, cells; "
                           "print('torch' in sys.modules, Recurrent.__name__, cells.__name__)"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2, done.stderr
    parser_loaded_torch, names = done.stdout.splitlines()
    assert parser_loaded_torch == "False", "the parser or a sub-command loads torch"
    assert names == "True Recurrent rnnkit.cells", "the names do not load on first use"


def test_a_data_option_read_as_yaml_into_another_type_is_named_with_the_quoted_form(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A column named "on" became True: the loader's TypeError had been reported as an option it lacks."""
    data = tmp_path / "r.csv"
    data.write_text("review,on\n" + "".join(f"{w} phone,{'pos' if i % 2 else 'neg'}\n"
                                            for i, w in enumerate(["good", "bad", "great", "awful"] * 3)))
    assert main(["datasets", f"csv:{data}", "--data-option", "text=review", "--data-option", "target=on"]) == 2
    err = _error_line(capsys)
    assert "cannot use its options" in err and "read as YAML (target=True)" in err and "\"target='...'\"" in err
    assert main(["datasets", f"csv:{data}", "--data-option", "text=review", "--data-option", "target='on'"]) == 0


def test_a_reader_that_stops_early_ends_the_command_quietly() -> None:
    """`rnnkit predict ... | head` had ended in a BrokenPipeError traceback."""
    import subprocess
    import sys

    script = (
        "import argparse, sys\n"
        "from rnnkit.cli import main as m\n"
        "def build():\n"
        "    p = argparse.ArgumentParser(); s = p.add_subparsers(dest='command')\n"
        "    c = s.add_parser('spam'); c.set_defaults(func=lambda a: [print('x' * 80) for _ in range(10**6)])\n"
        "    return p\n"
        "m.build_parser = build\n"
        "sys.exit(m.main(['spam']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


def test_a_misspelled_model_or_recipe_gets_the_closest_name(capsys: pytest.CaptureFixture[str]) -> None:
    for args, hint in ((["--data", "japanese_vowels", "--model", "clasifier"], "(did you mean classifier?)"),
                       (["--data", "japanese_vowels", "--model", "SequenceClasifier"],
                        "(did you mean SequenceClassifier?)"),
                       (["--recipe", "japanese_vowel"], "(did you mean japanese_vowels?)")):
        assert main(["train", *args]) == 2
        assert hint in _error_line(capsys)


def test_a_forecast_of_several_targets_prints_one_line_per_target(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A 2-target run of horizon 6 said 'the next 12 steps' and printed the two series interleaved."""
    t = np.arange(120)
    data = tmp_path / "two.csv"
    data.write_text("a,b\n" + "".join(f"{10 + np.sin(i / 3):.4f},{20 + np.cos(i / 4):.4f}\n" for i in t))
    run = tmp_path / "run"
    assert main(["train", "--data", f"csv:{data}", "--data-option", "target=[a, b]", "--data-option", "window=12",
                 "--data-option", "horizon=6", "--hidden", "8", "--epochs", "1", "--out", str(run), "--no-progress",
                 "--no-report"]) == 0
    capsys.readouterr()
    history = tmp_path / "history.csv"
    history.write_text("a,b\n" + "".join(f"{10 + np.sin(i / 3):.4f},{20 + np.cos(i / 4):.4f}\n" for i in t[:24]))
    assert main(["predict", str(run), str(history)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "forecast for the next 6 steps of 2 targets:"
    assert [ln.split(":")[0] for ln in lines[1:]] == ["a", "b"] and all(len(ln.split()) == 7 for ln in lines[1:])


def test_evaluate_refuses_splits_of_other_sizes_than_the_run_was_trained_on(
        vowels_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without run.yaml (which records --limit) evaluate rebuilt all 370 test examples of a --limit 40 run
    and overwrote metrics.json with their score, saying nothing."""
    run = _copy_of(vowels_run, tmp_path)  # a --limit 40 run
    assert "--limit" in VOWELS and VOWELS[VOWELS.index("--limit") + 1] == "40"
    assert main(["evaluate", str(run)]) == 0
    (run / "run.yaml").unlink()
    kept = (run / "metrics.json").read_text()
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    assert "the split sizes changed" in _error_line(capsys)
    assert (run / "metrics.json").read_text() == kept


def test_a_key_value_that_yaml_cannot_read_is_its_text_unless_it_opens_a_list_a_mapping_or_a_quote() -> None:
    from rnnkit.cli.train import _key_values

    assert _key_values(["time_format=%d/%m/%Y", "window=12"], "--data-option") == {"time_format": "%d/%m/%Y",
                                                                                 "window": 12}
    for broken in ("covariates=[promo, price", "read_options={sep: ;", "target='label"):
        with pytest.raises(CLIError, match=r"the value is not valid YAML .*a list is \[a, b\]"):
            _key_values([broken], "--data-option")
