"""The defects the audit of ``rnnkit bench`` found: cv folds that let the scored fold steer training,
stops that lost the finished seeds or exited 0, reruns that erased a measured baseline, tracebacks for
odd arguments, ``--json`` ignored by ``speed --long``, and headers that misreported what ran."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

import rnnkit.bench.accuracy_seeds as accuracy_seeds
from rnnkit.bench import long_stream, tables
from rnnkit.bench.accuracy import Row, read_rows, write_results
from rnnkit.bench.accuracy_recipes import load_recipe
from rnnkit.bench.cv_plan import cv_spec
from rnnkit.cli.main import main

# --- cv: the held-out fold is evaluation data only -----------------------------------------------------


def test_cv_folds_monitor_the_training_loss_whatever_the_recipe_or_train_says():
    _, taylor, _ = load_recipe("taylor")
    assert taylor.train["monitor"] == "valid_mae"  # a backtest fold has no valid split to read it from
    for spec in (cv_spec(taylor), cv_spec(taylor, train={"monitor": "valid_mae", "schedule": "plateau"})):
        assert spec.train["monitor"] == "train_loss"
        assert "early_stopping" not in spec.train and spec.train["restore_best"] is False
    assert taylor.train["monitor"] == "valid_mae"  # the recipe is untouched


def test_a_backtest_of_a_recipe_that_monitors_valid_runs_and_shows_no_std_for_one_fold(capsys):
    code = main(["bench", "cv", "air_passengers", "--folds", "1", "--train", "epochs=1", "--train",
                 "monitor=valid_mae", "--set", "hidden_size=8"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = next(line for line in captured.out.splitlines() if line.startswith("mean "))
    assert "±" not in summary  # one fold: the std is undefined, not 0


def test_schedule_plateau_in_a_fold_never_reads_the_held_out_labels():
    """The same fold trained twice, once with its held-out labels flipped: the same final weights."""
    from rnnkit.bench.cv_plan import _class_labels, fold_indices
    from rnnkit.cli.runspec import build_model, load_data
    from rnnkit.data.dataset import ExampleList, SequenceDataset
    from rnnkit.train import Trainer
    from rnnkit.train.trainer import seed_everything

    _, recipe, _ = load_recipe("gunpoint")
    spec = cv_spec(recipe, train={"schedule": "plateau", "epochs": 5, "warmup_steps": 0})
    ds = load_data(spec)
    pool = list(ds.train.examples) + list(ds.valid.examples)
    held = fold_indices(len(pool), 2, labels=_class_labels(ds, pool), seed=0)[0]
    train = ExampleList([e for i, e in enumerate(pool) if i not in set(held)])

    def final_weights(flip: bool) -> torch.Tensor:
        valid = [dataclasses.replace(pool[i], y=1 - pool[i].y) if flip else pool[i] for i in held]
        fold = SequenceDataset(dataclasses.replace(ds.info, sizes=dict(ds.info.sizes)), train, ExampleList(valid),
                               ExampleList([]), collate=ds.collate, extras=ds.extras)
        seed_everything(0)
        model = build_model(spec, fold)
        settings = {**spec.train, "seed": 0, "progress": False, "run_dir": None, "evaluate_test": False}
        Trainer(**settings).fit(model, fold)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(final_weights(False), final_weights(True))


# --- accuracy: a stop keeps the finished seeds and exits 128 + the signal --------------------------------


def _fake_seeds(monkeypatch, stop_at: int | None = None, signum: int = signal.SIGINT) -> None:
    """Seeds that train in no time; seed ``stop_at`` gets ``signum`` while it trains."""
    def train_seed(spec, dataset, seed, *, label=None):
        if seed == stop_at:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises here
        return accuracy_seeds.SeedResult(seed, 0.5 + seed / 10, {"accuracy": 0.5 + seed / 10}, 1, 1, 0.1, 0.1)

    monkeypatch.setattr(accuracy_seeds, "train_seed", train_seed)


def test_sigterm_during_the_baseline_keeps_the_seeds_and_exits_143(tmp_path: Path, monkeypatch, capsys):
    import rnnkit.bench.baselines as baselines

    def slow_baseline(name, dataset):
        os.kill(os.getpid(), signal.SIGTERM)  # `kill PID` while the baseline runs
        time.sleep(5)
        return {"name": "fake", "value": 0.0, "seconds": 5.0, "also": []}

    _fake_seeds(monkeypatch)
    monkeypatch.setattr(baselines, "run_baseline", slow_baseline)
    out = tmp_path / "RESULTS.md"
    assert main(["bench", "accuracy", "gunpoint", "--quick", "--seeds", "2", "--out", str(out), "--json"]) == 143
    (row,) = read_rows(out)
    assert row["values"] == [0.5, 0.6] and row["baseline"] is None
    assert "stopped during the baseline" in row["notes"] and "out of time" not in row["notes"]
    assert json.loads(capsys.readouterr().out)[0]["values"] == [0.5, 0.6]
    assert signal.getsignal(signal.SIGTERM) is not accuracy_seeds._stop  # the handlers are put back


def test_ctrl_c_between_seeds_keeps_the_finished_ones_and_exits_130(tmp_path: Path, monkeypatch, capsys):
    _fake_seeds(monkeypatch, stop_at=1, signum=signal.SIGINT)
    out = tmp_path / "RESULTS.md"
    assert main(["bench", "accuracy", "gunpoint", "--quick", "--seeds", "3", "--no-baseline",
                 "--out", str(out)]) == 130
    (row,) = read_rows(out)
    assert row["values"] == [0.5] and row["notes"].startswith("stopped after 1 of 3 seeds; ")
    assert "out of time" not in row["notes"] and "stopped by Ctrl-C" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- accuracy: a rerun does not erase a measured row silently --------------------------------------------


def _stored_row(quick: bool = False) -> dict:
    return dataclasses.asdict(Row(
        dataset="gunpoint", metric="accuracy", higher_is_better=True, values=[1.0] * 5, mean=1.0, std=0.0,
        cpu_s=9.0, wall_s=9.0, epochs=50, goal="1.00", goal_met=True, published=[], device="cpu",
        recipe="gunpoint.yaml", quick=quick, date="2026-11-20 10:00 UTC",
        baseline={"name": "MiniRocket + ridge (aeon)", "value": 0.99, "seconds": 0.8, "also": []}))


def test_a_no_baseline_rerun_keeps_the_stored_baseline_and_says_from_when(tmp_path: Path, monkeypatch, capsys):
    _fake_seeds(monkeypatch)
    out = tmp_path / "RESULTS.md"
    write_results(out, [_stored_row()])
    assert main(["bench", "accuracy", "gunpoint", "--seeds", "1", "--no-baseline", "--out", str(out)]) == 0
    (row,) = read_rows(out)
    assert row["values"] == [0.5]  # the new seeds
    assert row["baseline"]["value"] == 0.99 and row["baseline"]["kept_from"] == "2026-11-20 10:00 UTC"
    assert "kept from the row of 2026-11-20" in out.read_text()


def test_a_quick_run_does_not_replace_a_measured_row_unless_told(tmp_path: Path, monkeypatch, capsys):
    _fake_seeds(monkeypatch)
    out = tmp_path / "RESULTS.md"
    write_results(out, [_stored_row()])
    assert main(["bench", "accuracy", "gunpoint", "--quick", "--seeds", "1", "--no-baseline",
                 "--out", str(out)]) == 2
    assert "--replace-measured" in capsys.readouterr().err
    assert read_rows(out)[0]["values"] == [1.0] * 5
    assert main(["bench", "accuracy", "gunpoint", "--quick", "--seeds", "1", "--no-baseline", "--out", str(out),
                 "--replace-measured"]) == 0
    assert read_rows(out)[0]["values"] == [0.5] and read_rows(out)[0]["quick"] is True


# --- odd arguments: one line, no traceback --------------------------------------------------------------


@pytest.mark.parametrize("argv, said", [
    (["accuracy", "gunpoint", "--quick", "--no-baseline", "--threads", "0"], "--threads must be >= 1, got 0"),
    (["cv", "gunpoint", "--threads", "0"], "--threads must be >= 1, got 0"),
    (["cv", "italy_power_demand", "--folds", "2", "--train", "epochs=1", "--ensemble", "0"],
     "--ensemble must be >= 1, got 0"),
    (["cv", "italy_power_demand", "--folds", "2", "--train", "epochs=1", "--ensemble", "-1"],
     "--ensemble must be >= 1, got -1"),
])
def test_odd_counts_are_one_line_errors(argv, said, capsys):
    before = torch.get_num_threads()
    try:
        assert main(["bench", *argv]) == 2
    finally:
        torch.set_num_threads(before)
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


def test_an_unknown_train_setting_is_named_with_the_valid_ones(capsys):
    assert main(["bench", "cv", "gunpoint", "--folds", "2", "--train", "nosuch=1"]) == 2
    err = capsys.readouterr().err
    assert "--train nosuch: not a Trainer setting" in err and "epochs" in err and "weight_decay" in err


def test_an_unknown_model_option_names_only_itself(capsys):
    assert main(["bench", "cv", "italy_power_demand", "--folds", "2", "--train", "epochs=1", "--set", "hidden_size=8",
                 "--set", "nosuch_option=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--set nosuch_option" in err and "hidden_size" not in err and len(err.splitlines()) == 1


# --- headers and output that say what ran ---------------------------------------------------------------


def _long_report(**settings) -> dict:
    machine = {"cpu": "cpu", "cores": 2, "torch_threads": 1, "gpu": "none", "torch": "2.x", "date": "2026-11-29"}
    rows = [{"what": "minGRU vs GRU", "config": "T=64", "contender": "GRU", "value": 1.0, "unit": "ms",
             "speedup": 1.0, "device": "cpu"}]
    return {"machine": machine, "settings": {"repeats": 1, "quick": True, "devices": ["cpu"], "load": None,
                                             **settings}, "rows": rows}


def test_speed_long_prints_json_when_asked_and_names_the_flags_given(monkeypatch, capsys):
    measure = long_stream.run_long_stream
    monkeypatch.setattr(long_stream, "run_long_stream",
                        lambda *, long, stream, repeats, quick: _long_report(long=long, stream=stream))
    assert main(["bench", "speed", "--long", "--quick", "--repeats", "1", "--json", "--output", ""]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["long"] is True and report["settings"]["stream"] is False
    text = long_stream.to_markdown(report)
    assert text is not None and "Command: `rnnkit bench speed --long --quick --repeats 1`." in text
    measured = measure(long=False, stream=False, repeats=1, quick=True, devices=("cpu",))
    assert measured["settings"]["long"] is False and measured["settings"]["stream"] is False


def test_tables_header_says_how_many_steps_were_timed():
    machine = {"cpu": "cpu", "cores": 2, "torch_threads": 1, "gpu": "none", "torch": "2.x", "date": "2026-11-29",
               "python": "3", "platform": "linux"}
    settings = {"steps": 20, "rounds": 1, "quick": True, "seed": 0, "dtype": "float32", "device": "cpu"}
    row = {"recipe": "sentiment", "table_rows": 10, "batch_size": 8, "steps": 7, "dense_ms": 1.0,
           "sparse_ms": 1.0, "ratio": 1.0}
    text = tables.to_markdown({"machine": machine, "settings": settings, "rows": [row]})
    assert "over 7 (of 20 asked for" in text and "over 20 real" not in text


def test_the_cores_a_bench_names_are_those_it_may_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `taskset -c 0` a 2-core machine lends the bench one core: its header says 1, not 2."""
    from rnnkit.bench import machine_info
    from rnnkit.bench.accuracy_seeds import device_name

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert machine_info()["cores"] == 1
    if not torch.cuda.is_available():
        assert device_name(1).startswith("cpu (1 cores")
