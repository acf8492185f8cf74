"""Run folder: written by the Trainer, rebuilt from the folder alone; clear errors when it is not usable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from tinyrun import tiny_model, toy_classification

import rnnkit
from rnnkit.data.scalers import StandardScaler
from rnnkit.data.vocab import Vocab
from rnnkit.train import RunDirError, Trainer, load_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("run")
    data = toy_classification(32, valid=8, test=8)
    data.extras["scaler"] = StandardScaler().fit(np.arange(12.0).reshape(6, 2))
    data.extras["vocab"] = Vocab(["a", "b"])
    data.extras["season"] = 12
    model = tiny_model(data)
    history = Trainer(epochs=2, batch_size=8, progress=False, run_dir=str(path)).fit(model, data,
                                                                                  data_options={"n": 32})
    return path, data, model, history


def test_folder_has_every_file(trained) -> None:  # type: ignore[no-untyped-def]
    path, data, model, history = trained
    for name in ("config.yaml", "model.safetensors", "info.json", "metrics.json", "history.csv",
                 "extras/extras.json", "checkpoints/last.safetensors", "checkpoints/best.safetensors",
                 "report.html", "plots/learning_curves.png", "plots/confusion_matrix.png"):
        assert (path / name).is_file(), name
    config = yaml.safe_load((path / "config.yaml").read_text())
    assert config["model"] == {"class": "TinyGRUClassifier", "config": model.config_dict()}
    assert config["trainer"]["epochs"] == 2 and config["data"] == {"name": "toy", "options": {"n": 32}}
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["best_epoch"] == history.best_epoch and metrics["monitor"] == "valid_accuracy"
    assert metrics["test"] == pytest.approx(history.test)
    assert metrics["valid"]["accuracy"] == history.best


def test_load_run_rebuilds_model_info_extras_history(trained) -> None:  # type: ignore[no-untyped-def]
    path, data, model, history = trained
    run = load_run(path)
    batch = data.collate(data.test.examples)
    model.eval()
    assert torch.equal(run.model.predict(batch), model.predict(batch))
    torch.testing.assert_close(run.model(batch).logits, model(batch).logits)
    assert run.info.classes == data.info.classes and run.info.metric == "accuracy"
    assert run.extras["vocab"] == Vocab(["a", "b"]) and run.extras["season"] == 12
    z = np.array([[1.0, 2.0]])
    assert np.allclose(run.extras["scaler"].transform(z), data.extras["scaler"].transform(z))
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert run.history[1]["valid_accuracy"] == pytest.approx(history.rows[1]["valid_accuracy"])
    assert Trainer().evaluate(run.model, data, split="test") == pytest.approx(history.test)


def test_model_save_and_rnnkit_load(tmp_path) -> None:
    data = toy_classification(8, valid=0, test=0)
    model = tiny_model(data, hidden_size=5)
    model.save(tmp_path / "m")
    again = rnnkit.load(tmp_path / "m")
    assert type(again) is type(model) and again.config == model.config and not again.training
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v)


def test_a_stored_config_with_a_key_this_version_lacks_names_the_file(tmp_path) -> None:
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    model = tiny_model(toy_classification(8, valid=0, test=0), hidden_size=5)
    model.save(tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"

    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["rnnkit_model"])
    header["config"]["bogus"] = 1
    save_file(load_file(str(path)), str(path), metadata={"rnnkit_model": json.dumps(header)})
    with pytest.raises(ValueError, match=r"safetensors: its stored config does not build a TinyGRUClassifier .*bogus"):
        rnnkit.load(tmp_path / "m")


def test_missing_and_corrupt_folders_are_clear_errors(tmp_path, trained) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RunDirError, match="no run folder"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(RunDirError, match="no model folder"):
        rnnkit.load(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("model: {}\n")
    with pytest.raises(RunDirError, match="model.safetensors is missing"):
        load_run(tmp_path / "half")
    path = trained[0]
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.yaml", "info.json"):
        (broken / name).write_bytes((path / name).read_bytes())
    (broken / "model.safetensors").write_bytes((path / "model.safetensors").read_bytes()[:40])
    with pytest.raises(RunDirError, match="corrupt"):
        load_run(broken)


def test_pandas_extras_are_saved_as_csv_and_the_rest_skipped_with_a_logged_note(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    # forecasting sets keep a pandas Series, a ChronoSplit and a DatetimeIndex in extras: a run
    # folder used to refuse them, so every forecasting run with run_dir failed
    import pandas as pd

    from rnnkit.data.windows import chronological_split

    data = toy_classification(8, valid=0, test=0)
    series = pd.Series([1.5, 2.25, 3.0], index=pd.date_range("1949-01-01", periods=3, freq="MS"), name="passengers")
    data.extras.update(series=series, frame=series.to_frame(), missing=series.index[:1],
                       split=chronological_split(20, test_size=4, valid_size=4, window=3, horizon=2),
                       handle=object())
    with caplog.at_level("INFO", logger="rnnkit.train.run_dir"):
        Trainer(epochs=1, progress=False, report=False, run_dir=str(tmp_path)).fit(tiny_model(data), data)
    skipped = {name for name in ("missing", "split", "handle") if f"extras[{name!r}]" in caplog.text}
    assert skipped == {"missing", "split", "handle"}
    extras = load_run(tmp_path).extras
    assert set(extras) == {"series", "frame"}
    pd.testing.assert_series_equal(extras["series"], series, check_freq=False)
    pd.testing.assert_frame_equal(extras["frame"], series.to_frame(), check_freq=False)


def test_run_dir_may_be_a_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = toy_classification(8, valid=0, test=0)
    Trainer(epochs=1, progress=False, report=False, run_dir=tmp_path / "run").fit(tiny_model(data), data)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["trainer"]["run_dir"] == str(tmp_path / "run")
    assert load_run(tmp_path / "run").config["trainer"]["run_dir"] == str(tmp_path / "run")


def test_a_python_run_records_the_options_the_data_set_was_loaded_with(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """So that `rnnkit evaluate`, `predict` and `export` rebuild the same splits and vocabularies."""
    import yaml

    import rnnkit
    import rnnkit.datasets
    from rnnkit.cli.runspec import load_data, open_run
    from rnnkit.models import Seq2Seq

    dataset = rnnkit.datasets.load("dates_iso", n_train=120, n_test=30, seed=3)
    assert dataset.load_options == {"n_train": 120, "n_test": 30, "seed": 3}
    model = Seq2Seq.from_dataset(dataset, hidden_size=8)
    # report=False: the drawing (test_folder_has_every_file) is not what this checks, and costs seconds
    rnnkit.Trainer(epochs=1, run_dir=tmp_path / "run", progress=False, report=False).fit(model, dataset)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["data"] == {"name": "dates_iso", "options": {"n_train": 120, "n_test": 30, "seed": 3}}
    again = load_data(open_run(tmp_path / "run")[1])
    assert len(again.test) == 30 and again.info.input_vocab.itos == dataset.info.input_vocab.itos
    assert [e.x.tolist() for e in again.test] == [e.x.tolist() for e in dataset.test]


def test_a_python_run_on_a_users_file_records_the_file_so_the_cli_rebuilds_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    import rnnkit
    import rnnkit.datasets
    from rnnkit.cli.main import main
    from rnnkit.models import SequenceClassifier

    words = ["great", "love", "good", "fast", "bad", "awful", "slow", "broken"]
    rows = ["review,label"] + [f'"{words[i % 8]} {words[(5 * i) % 8]}",{"pos" if i % 8 < 4 else "neg"}'
                               for i in range(80)]
    (tmp_path / "reviews.csv").write_text("\n".join(rows) + "\n")
    name = f"csv:{tmp_path / 'reviews.csv'}"
    dataset = rnnkit.datasets.load(name, text="review", target="label", seed=1)
    assert dataset.load_name == name
    model = SequenceClassifier.from_dataset(dataset, cell="gru", hidden_size=8)
    rnnkit.Trainer(epochs=1, run_dir=tmp_path / "run", progress=False, report=False).fit(model, dataset)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["data"] == {"name": name, "options": {"text": "review", "target": "label", "seed": 1}}
    assert main(["evaluate", str(tmp_path / "run")]) == 0  # rebuilt from the folder alone


def test_the_report_is_optional_and_a_failing_one_loses_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rnnkit import _hooks

    data = toy_classification(16, valid=4, test=4)
    Trainer(epochs=1, batch_size=8, progress=False, run_dir=str(tmp_path / "plain"), report=False).fit(
        tiny_model(data), data)
    assert (tmp_path / "plain" / "model.safetensors").is_file()
    assert not (tmp_path / "plain" / "report.html").exists() and not (tmp_path / "plain" / "plots").exists()

    def broken(model, dataset, run_dir):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(_hooks, "after_fit", [broken])
    with pytest.warns(RuntimeWarning, match="is saved, but its report could not be drawn: OSError: disk full"):
        Trainer(epochs=1, batch_size=8, progress=False, run_dir=str(tmp_path / "broken")).fit(tiny_model(data), data)
    assert load_run(tmp_path / "broken").metrics["test"]
