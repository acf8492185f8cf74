"""``rnnkit bench cv``: folds cover the training items once each, stratified; each fold trains for
the recipe's fixed epochs on the other folds and is scored with its final weights; test is never read.
Forecasting is backtested from rolling origins, on the series before test only."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager

import pytest
import torch

import rnnkit.datasets
from rnnkit.bench.accuracy import load_recipe
from rnnkit.bench.cv import (
    CVResult,
    FoldResult,
    backtest_origins,
    compare,
    compare_text,
    cross_validate,
    cv_spec,
    fold_indices,
    optimizer_steps,
    sign_test,
    to_text,
)
from rnnkit.cli.main import main
from rnnkit.data.dataset import ExampleList


def test_every_item_is_held_out_exactly_once():
    labels = [0] * 30 + [1] * 20 + [2] * 10
    folds = fold_indices(60, 5, labels=labels, seed=3)
    assert len(folds) == 5
    assert sorted(i for f in folds for i in f) == list(range(60))
    for f in folds:  # stratified: each fold keeps the 3:2:1 class mix
        assert Counter(labels[i] for i in f) == {0: 6, 1: 4, 2: 2}


def test_folds_follow_the_split_seed():
    labels = [i % 3 for i in range(45)]
    assert fold_indices(45, 3, labels=labels, seed=0) == fold_indices(45, 3, labels=labels, seed=0)
    assert fold_indices(45, 3, labels=labels, seed=0) != fold_indices(45, 3, labels=labels, seed=1)


def test_a_class_smaller_than_the_fold_count_falls_back_to_plain_folds():
    labels = [0] * 18 + [1] * 2
    folds = fold_indices(20, 4, labels=labels)
    assert sorted(i for f in folds for i in f) == list(range(20))
    assert [len(f) for f in folds] == [5, 5, 5, 5]


@pytest.mark.parametrize("n, folds", [(10, 1), (3, 4)])
def test_impossible_fold_counts_are_refused(n, folds):
    with pytest.raises(ValueError, match="folds"):
        fold_indices(n, folds)


def test_cv_trains_fixed_epochs_and_keeps_the_final_weights():
    _, spec, _ = load_recipe("peoples_daily_seg")
    assert spec.train.get("early_stopping")
    cv = cv_spec(spec, model_options={"hidden_size": 8}, train={"epochs": 2}, ensemble=3)
    assert "early_stopping" not in cv.train and cv.train["restore_best"] is False
    assert cv.train["epochs"] == 2 and cv.model_options["hidden_size"] == 8 and cv.ensemble == 3
    assert spec.model_options["hidden_size"] == 128 and "early_stopping" in spec.train  # the recipe is untouched


class _Untouchable(ExampleList):
    def __init__(self) -> None:
        pass

    def __getattribute__(self, name):
        raise AssertionError(f"cross-validation read the test split ({name})")

    def __len__(self) -> int:
        raise AssertionError("cross-validation read the test split (len)")


def test_cross_validation_scores_every_training_item_and_never_reads_test():
    _, spec, _ = load_recipe("italy_power_demand")
    spec = cv_spec(spec, model_options={"hidden_size": 8, "conv_channels": [8, 8, 8]}, train={"epochs": 2},
                   ensemble=1)
    ds = rnnkit.datasets.load("italy_power_demand", valid_fraction=0.2, seed=0)
    n = len(ds.train) + len(ds.valid)  # the valid carve is pooled back in
    ds.test = _Untouchable()
    result = cross_validate(spec, folds=3, dataset=ds)
    assert [f.fold for f in result.folds] == [0, 1, 2]
    assert sum(f.n_valid for f in result.folds) == n
    assert all(len(f.curve) == 2 for f in result.folds) and len(result.curve) == 2
    wrong = [i for f in result.folds for i in f.wrong]
    assert len(wrong) == len(set(wrong)) and all(0 <= i < n for i in wrong)
    assert result.pooled == pytest.approx(1 - len(wrong) / n)  # the listed mistakes are the pooled errors
    assert result.curve[-1] == pytest.approx(result.mean)  # final weights are the ones scored
    assert 1 <= result.best_epoch <= 2
    assert "3-fold" in to_text(result)


def test_command_line(tmp_path, capsys):
    out = tmp_path / "cv.jsonl"
    code = main(["bench", "cv", "italy_power_demand", "--folds", "2", "--ensemble", "1", "--train", "epochs=1",
                 "--set", "hidden_size=8", "--set", "conv_channels=[8, 8, 8]", "--json", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(out.read_text().splitlines()[0])
    assert printed == saved
    assert saved["settings"]["model_options"]["hidden_size"] == 8 and len(saved["folds"]) == 2


def test_command_line_names_the_recipes_when_one_is_missing(capsys):
    assert main(["bench", "cv", "no_such_set"]) != 0
    assert "japanese_vowels" in capsys.readouterr().err


def test_backtest_origins_step_back_from_the_end_of_training():
    assert backtest_origins(108, 3, 12, window=24, horizon=36) == [72, 84, 96]
    assert backtest_origins(108, 4, 12, window=24, horizon=36) == [60, 72, 84, 96]  # one window + horizon left
    assert backtest_origins(100, 2, 5, window=10, horizon=3) == [90, 95]
    with pytest.raises(ValueError, match="at most 4 fit"):
        backtest_origins(108, 5, 12, window=24, horizon=36)
    for folds, step in ((0, 12), (2, 0)):
        with pytest.raises(ValueError, match="folds|origin-step"):
            backtest_origins(108, folds, step, window=24, horizon=36)


def test_optimizer_steps_count_batches_accumulation_and_the_cap():
    assert optimizer_steps({"epochs": 30, "batch_size": 8}, 49) == 30 * 7
    assert optimizer_steps({"epochs": 3, "batch_size": 8, "accumulate": 2}, 49) == 3 * 4
    assert optimizer_steps({"epochs": 30, "batch_size": 8, "max_steps": 50}, 49) == 50


def _tiny_forecaster(**train):
    _, spec, _ = load_recipe("air_passengers")
    return cv_spec(spec, model_options={"hidden_size": 8}, train={"epochs": 1, **train})


def _air_passengers_without_test():
    """The recipe's data with test unreadable and the series' test months NaN (a read would show)."""
    ds = rnnkit.datasets.load("air_passengers", window=24, horizon=36, valid_size=0)
    start = ds.extras["split"].test.start
    series = ds.extras["series"].copy()
    series.iloc[start:] = float("nan")
    ds.extras["series"] = series
    ds.test = _Untouchable()
    return ds, start


def test_forecasting_is_backtested_from_rolling_origins_and_never_reads_test():
    ds, start = _air_passengers_without_test()
    assert start == 108
    spec = _tiny_forecaster(batch_size=8)
    result = cross_validate(spec, folds=3, dataset=ds)
    assert result.backtest and not result.itemwise and result.metric == "mape"
    assert [f.n_valid for f in result.folds] == [36, 24, 12]  # each origin scores up to test's start
    assert [f.origin for f in result.folds] == ["1954-12-01", "1955-12-01", "1956-12-01"]
    assert result.settings["origin_step"] == 12 and result.settings["origins"] == [f.origin for f in result.folds]
    assert result.settings["steps"] == optimizer_steps(spec.train, 49)  # what the recipe's fit takes on 49 windows
    values = [f.value for f in result.folds]
    assert all(v == v and 0 < v < 100 for v in values)  # finite: no NaN test month was read
    assert result.pooled == pytest.approx((36 * values[0] + 24 * values[1] + 12 * values[2]) / 72)
    text = to_text(result)
    assert "rolling-origin backtest, 3 origins 12 steps apart" in text and "over 72 steps" in text
    assert "1956-12-01" in text
    with pytest.raises(ValueError, match="at most 4 fit"):
        cross_validate(spec, folds=5, dataset=ds)
    narrow = cross_validate(spec, folds=2, origin_step=6, dataset=ds)
    assert [f.n_valid for f in narrow.folds] == [12, 6]


def test_a_backtest_fold_scores_the_forecast_from_its_origin():
    """With lr 1e-12 the fold's model keeps its initial weights, so its score can be rebuilt by hand."""
    from rnnkit.cli.runspec import build_model
    from rnnkit.train import metrics
    from rnnkit.train.trainer import seed_everything

    ds, _ = _air_passengers_without_test()
    spec = _tiny_forecaster(lr=1e-12, weight_decay=0.0)
    result = cross_validate(spec, folds=2, seed=3, dataset=ds)
    values = ds.extras["series"].to_numpy()
    for fold, origin in zip(result.folds, (84, 96), strict=True):
        seed_everything(3)
        model = build_model(spec, ds)
        h = 108 - origin
        expected = metrics.mape(values[None, origin:108], model.forecast(values[:origin])[None, :h])
        assert fold.value == pytest.approx(expected, rel=1e-5)


def test_backtest_repeats_retrain_from_new_model_seeds_and_workers_match():
    """The serial run the workers must match is the repeated run's first repeat (model seed 0, the
    same two origins), so it is not trained a second time; all of it on 1 torch thread, as the workers."""
    ds, _ = _air_passengers_without_test()
    spec = _tiny_forecaster()
    with _one_torch_thread():
        repeated = cross_validate(spec, folds=2, repeats=2, dataset=ds)
        second = cross_validate(spec, folds=2, seed=1, dataset=ds)  # repeat 2 is model seed 1
        parallel = cross_validate(spec, folds=2, dataset=ds, jobs=2)
    assert [(f.repeat, f.fold, f.n_valid) for f in repeated.folds] == [(0, 0, 24), (0, 1, 12), (1, 0, 24), (1, 1, 12)]
    assert [f.value for f in repeated.folds[2:]] == pytest.approx([f.value for f in second.folds])
    assert repeated.folds[0].value != pytest.approx(repeated.folds[2].value)
    assert "2 model seeds each" in to_text(repeated) and "(36 steps x 2)" in to_text(repeated)
    serial = repeated.folds[:2]  # repeat 0: what cross_validate(spec, folds=2) trains in this process
    assert [f.origin for f in parallel.folds] == [f.origin for f in serial]
    assert [f.value for f in parallel.folds] == pytest.approx([f.value for f in serial], rel=1e-5), \
        "the folds trained in 2 workers differ from the same folds (repeat 0) trained here"


def test_command_line_backtest_and_origin_step_errors(capsys, tmp_path):
    args = ["bench", "cv", "air_passengers", "--folds", "2", "--train", "epochs=1", "--set", "hidden_size=8"]
    png = tmp_path / "backtest.png"
    assert main(args + ["--origin-step", "6", "--json", "--plot", str(png)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["backtest"] and printed["settings"]["origin_step"] == 6
    assert [f["n_valid"] for f in printed["folds"]] == [12, 6]
    assert [len(f["forecast"]) for f in printed["folds"]] == [12, 6] and png.stat().st_size > 2000
    assert main(args + ["--data-option", "window=36", "--json"]) == 0  # a data option: windows of 36 months
    printed = json.loads(capsys.readouterr().out)
    assert printed["settings"]["data_options"]["window"] == 36 and [f["n_valid"] for f in printed["folds"]] == [24, 12]
    assert main(args + ["--folds", "9"]) != 0
    assert "fewer --folds" in capsys.readouterr().err
    assert main(["bench", "cv", "italy_power_demand", "--origin-step", "3"]) != 0
    assert "forecasting backtests" in capsys.readouterr().err
    assert main(["bench", "cv", "italy_power_demand", "--plot", str(png)]) != 0
    assert "--plot draws a forecasting backtest" in capsys.readouterr().err
    assert main(["bench", "cv", "m1_yearly", "--folds", "2"]) != 0
    assert "a set of many series (m1_yearly) is not backtested" in capsys.readouterr().err


def test_a_set_of_many_series_is_refused_before_it_is_loaded(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The registry says m1_yearly holds 181 series: its load (4.7 s) is not needed to refuse it."""
    import rnnkit.cli.runspec as runspec

    def no_load(spec: object) -> None:
        raise AssertionError(f"loaded {spec}")

    monkeypatch.setattr(runspec, "load_data", no_load)
    assert main(["bench", "cv", "m1_yearly", "--folds", "2"]) != 0
    assert "a set of many series (m1_yearly) is not backtested" in capsys.readouterr().err


@contextmanager
def _one_torch_thread():
    """1 torch thread here and so in the workers, which take this process's count."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        yield
    finally:
        torch.set_num_threads(before)


def _serial_and_parallel(spec, ds, *, folds):
    """The same cross-validation in this process and in 2 workers, 1 torch thread each."""
    with _one_torch_thread():
        return cross_validate(spec, folds=folds, dataset=ds), cross_validate(spec, folds=folds, dataset=ds, jobs=2)


def test_parallel_folds_match_the_serial_run_and_never_read_test():
    _, spec, _ = load_recipe("italy_power_demand")
    spec = cv_spec(spec, model_options={"hidden_size": 8, "conv_channels": [8, 8, 8]}, train={"epochs": 2},
                   ensemble=1)
    ds = rnnkit.datasets.load("italy_power_demand", valid_fraction=0.2, seed=0)
    ds.test = _Untouchable()
    # 2 folds on 2 workers: serial fold 1 trains after fold 0 in one process, its twin in a fresh one (each
    # worker costs seconds of imports here; a third fold would show nothing more)
    serial, parallel = _serial_and_parallel(spec, ds, folds=2)
    assert [f.fold for f in parallel.folds] == [0, 1]
    for a, b in zip(serial.folds, parallel.folds, strict=True):
        assert (a.n_valid, a.wrong) == (b.n_valid, b.wrong)
        assert a.curve == pytest.approx(b.curve) and a.loss == pytest.approx(b.loss)
    assert "2 jobs" in parallel.device
    with pytest.raises(ValueError, match="jobs"):
        cross_validate(spec, folds=3, dataset=ds, jobs=0)


def test_repeats_score_every_item_once_per_fold_assignment_and_match_single_runs():
    _, spec, _ = load_recipe("italy_power_demand")
    spec = cv_spec(spec, model_options={"hidden_size": 8, "conv_channels": [8, 8, 8]}, train={"epochs": 1},
                   ensemble=1)
    ds = rnnkit.datasets.load("italy_power_demand", valid_fraction=0.2, seed=0)
    n = len(ds.train) + len(ds.valid)
    ds.test = _Untouchable()
    repeated = cross_validate(spec, folds=2, split_seed=3, repeats=2, dataset=ds)
    assert [(f.repeat, f.fold) for f in repeated.folds] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert sum(f.n_valid for f in repeated.folds) == 2 * n
    assert repeated.settings["repeats"] == 2 and repeated.settings["split_seed"] == 3
    second = cross_validate(spec, folds=2, split_seed=4, dataset=ds)  # the second repeat on its own
    for a, b in zip(repeated.folds[2:], second.folds, strict=True):
        assert (a.fold, a.n_valid, a.wrong) == (b.fold, b.n_valid, b.wrong)
        assert a.value == pytest.approx(b.value)
    wrong = [i for f in repeated.folds for i in f.wrong]
    assert repeated.pooled == pytest.approx(1 - len(wrong) / (2 * n))
    text = to_text(repeated)
    assert "2-fold cross-validation, repeated 2 times" in text and f"({n} items x 2)" in text
    assert " 2.1 " in text
    with pytest.raises(ValueError, match="repeats"):
        cross_validate(spec, folds=2, repeats=0, dataset=ds)


def test_command_line_repeats(capsys):
    code = main(["bench", "cv", "italy_power_demand", "--folds", "2", "--repeats", "2", "--ensemble", "1",
                 "--train", "epochs=1", "--set", "hidden_size=8", "--set", "conv_channels=[8, 8, 8]", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["settings"]["repeats"] == 2 and [f["repeat"] for f in printed["folds"]] == [0, 0, 1, 1]


def test_sign_test_is_the_exact_two_sided_binomial():
    assert sign_test(0, 0) == 1.0
    assert sign_test(2, 0) == pytest.approx(0.5)  # two items fixed, none broken: a coin would do it half the time
    assert sign_test(5, 1) == sign_test(1, 5) == pytest.approx(2 * (1 + 6) / 64)
    assert sign_test(10, 0) == pytest.approx(2 / 1024)
    assert sign_test(3, 3) == 1.0


def _result(wrong_by_fold, *, repeats=1, metric="accuracy", values=None):
    per = len(wrong_by_fold) // repeats
    folds = [FoldResult(fold=k % per, n_valid=10, value=(values or [0.0] * 9)[k], loss=None, curve=[], cpu_s=0.0,
                        wall_s=0.0, wrong=w, repeat=k // per) for k, w in enumerate(wrong_by_fold)]
    n = 10 * len(folds)
    pooled = 1 - sum(len(w) for w in wrong_by_fold) / n
    return CVResult("d", metric, True, folds, pooled, 0.0, pooled, [], {"repeats": repeats}, "cpu",
                    itemwise=values is None)


def test_compare_lists_the_items_a_change_fixes_and_breaks():
    base = _result([[1, 2], [11], [1, 2], [11, 15]], repeats=2)
    change = _result([[1], [11, 13], [1], [11]], repeats=2)
    paired = compare(base, change)
    assert paired["fixed"] == {2: (2, 0), 15: (1, 0)} and paired["broken"] == {13: (0, 1)}
    assert paired["delta"] == pytest.approx(change.pooled - base.pooled)
    assert paired["p_sign"] == pytest.approx(sign_test(2, 1))
    assert "fixed: 2 items: 2 (2 -> 0 of 2), 15 (1 -> 0 of 2)" in compare_text(base, change, paired)
    with pytest.raises(ValueError, match="same folds"):
        compare(base, _result([[1], [2]]))


def test_compare_falls_back_to_folds_without_item_lists():
    base = _result([[], [], []], metric="f1", values=[0.5, 0.6, 0.7])
    change = _result([[], [], []], metric="f1", values=[0.6, 0.6, 0.65])
    paired = compare(base, change)
    assert paired["unit"] == "folds" and list(paired["fixed"]) == ["1.1"] and list(paired["broken"]) == ["1.3"]


def _a_small_recipe(monkeypatch, tmp_path, name, *, model_options, train):
    """Recipe ``name`` as shipped, comments and all, but with ``model_options`` and ``train`` over it, found
    first by name: ``--paired`` trains the recipe as it is, so a shipped one (italy_power_demand: 100 epochs of
    a 128-256-128 conv branch) costs a minute here for a check of the plumbing."""
    import yaml

    import rnnkit.cli.runspec

    _, _, path = load_recipe(name)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["model_options"] = {**raw["model_options"], **model_options}
    raw["train"] = {**raw["train"], **train}
    comments = "".join(line + "\n" for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    (tmp_path / f"{name}.yaml").write_text(comments + yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    monkeypatch.setattr(rnnkit.cli.runspec, "RECIPES", tmp_path)
    raw_now, spec, now = load_recipe(name)
    assert now == tmp_path / f"{name}.yaml" and raw_now == raw
    return spec


def test_command_line_paired(capsys, monkeypatch, tmp_path):
    recipe = _a_small_recipe(monkeypatch, tmp_path, "italy_power_demand",
                             model_options={"hidden_size": 8, "conv_channels": [16, 16, 16]}, train={"epochs": 2})
    args = ["bench", "cv", "italy_power_demand", "--folds", "2", "--ensemble", "1", "--train", "epochs=1",
            "--set", "conv_channels=[8, 8, 8]", "--paired"]
    assert main(args + ["--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    base, change = printed["paired"]["base"], printed
    assert base["settings"]["model_options"]["conv_channels"] == recipe.model_options["conv_channels"] == [16, 16, 16]
    assert base["settings"]["train"]["epochs"] == 2 and len(base["folds"][0]["curve"]) == 2  # the recipe as it is
    assert change["settings"]["model_options"]["conv_channels"] == [8, 8, 8]
    assert change["settings"]["train"]["epochs"] == 1 and len(change["folds"][0]["curve"]) == 1
    assert 0.0 <= printed["paired"]["p_sign"] <= 1.0
    assert main(["bench", "cv", "italy_power_demand", "--paired"]) != 0
    assert "give it one with --set, --data-option or --train" in capsys.readouterr().err
