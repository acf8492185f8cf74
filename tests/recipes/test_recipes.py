"""Every shipped recipe is a valid run spec that selects on valid only, and one recipe per family
loads, trains (one epoch on a few examples) and evaluates end to end through the accuracy bench."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest

from rnnkit.bench import accuracy_recipes
from rnnkit.bench.accuracy import bench_dataset, load_recipe, quick_spec, recipe_names
from rnnkit.bench.accuracy_goals import GOALS
from rnnkit.cli.runspec import resolve_model

ISSUE_SETS = {"japanese_vowels", "arrowhead", "gunpoint", "italy_power_demand", "basic_motions", "air_passengers",
              "addition", "dates_iso", "cmudict_g2p", "peoples_daily_seg", "digit_captions", "moving_digits",
              "sentiment"}
# one recipe per family: UCR classifier, forecaster, seq2seq, tagger, generator, token classifier
BF16_LIMIT = 4  # examples per split of the bf16 runs below: two batches of two
FAMILIES = ["italy_power_demand", "air_passengers", "addition", "moving_digits", "digit_captions", "sentiment"]
BENCH_LIMIT = 8  # examples per split of the bench's --quick runs below (QUICK_LIMIT, 48, in a user's)


@pytest.fixture
def few_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's --quick runs below on BENCH_LIMIT examples per split: they check that a recipe goes
    through the bench end to end (load, train an epoch, evaluate, a row), which no size changes; 48
    examples cost up to seconds of training each and check nothing more."""
    monkeypatch.setattr(accuracy_recipes, "QUICK_LIMIT", BENCH_LIMIT)


def test_a_recipe_for_every_issue_data_set_and_one_with_an_ensemble():
    assert set(recipe_names()) >= ISSUE_SETS
    assert set(GOALS) >= ISSUE_SETS
    # test_every_recipe_builds_its_ensemble_and_trains_and_evaluates_in_bf16 builds each one's members
    assert any(load_recipe(n)[1].ensemble > 1 for n in recipe_names()), "no recipe uses ensemble: k"


@pytest.mark.parametrize("name", sorted(set(recipe_names()) | ISSUE_SETS))
def test_recipe_is_a_valid_spec_that_selects_on_valid(name):
    raw, spec, path = load_recipe(name)
    assert spec.data == name and path.name == f"{name}.yaml"
    resolve_model(spec.model)
    monitor = spec.train.get("monitor")
    assert monitor is None or monitor.startswith("valid_")
    if spec.train.get("early_stopping"):
        assert monitor is not None, "early stopping names what it watches on valid"
    assert raw["data"] == name


@pytest.mark.parametrize("name", FAMILIES)
def test_recipe_family_trains_and_evaluates_end_to_end(name: str, few_examples: None) -> None:
    row = bench_dataset(name, seeds=1, quick=True, baseline=False)
    assert row.dataset == name and row.quick and len(row.values) == 1
    assert math.isfinite(row.mean) and row.cpu_s > 0
    assert row.epochs == 1
    _, spec, _ = load_recipe(name)
    assert (spec.ensemble > 1) == row.notes.startswith(f"an ensemble of {spec.ensemble} models per seed")


@pytest.mark.parametrize("name", ["gunpoint", "arrowhead", "japanese_vowels"])  # italy_power_demand: FAMILIES
def test_ucr_recipe_with_a_conv_branch_trains_and_evaluates(name: str, few_examples: None) -> None:
    _, spec, _ = load_recipe(name)
    assert spec.model_options.get("conv_channels"), "the UCR recipes use the LSTM-FCN conv branch"
    row = bench_dataset(name, seeds=1, quick=True, baseline=False)
    assert row.dataset == name and row.quick and len(row.values) == 1 and row.epochs == 1
    assert 0.0 <= row.mean <= 1.0


def test_quick_spec_shrinks_without_touching_the_recipe():
    _, spec, _ = load_recipe("japanese_vowels")
    small = quick_spec(spec)
    assert small.train["epochs"] == 1 and "early_stopping" not in small.train and small.limit
    assert spec.train["epochs"] > 1 and spec.limit is None


def test_forecaster_recipe_options_reach_the_model():
    """The air_passengers recipe's target transform and differencing are built into the model (and so
    saved with it), and its window is long enough for the differences."""
    from rnnkit.cli.runspec import build_model, load_data

    _, spec, _ = load_recipe("air_passengers")
    model = build_model(quick_spec(spec), load_data(quick_spec(spec)))
    cfg = model.config
    assert cfg.transform == spec.model_options["transform"]
    assert cfg.difference == tuple(spec.model_options["difference"])
    assert cfg.window == spec.data_options["window"] > sum(cfg.difference)


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_builds_its_ensemble_and_trains_and_evaluates_in_bf16(name):
    # precision="bf16" (or "auto" on a CPU with bfloat16 instructions) runs each recipe's model, with its
    # conv branches, n-gram bags, ensembles and forecasting transforms, under CPU autocast
    import torch

    from rnnkit.cli.runspec import build_model, load_data
    from rnnkit.models import Ensemble
    from rnnkit.train import Trainer

    # The recipe's model as it is (every model option kept), on BF16_LIMIT examples per split in batches of
    # half of them: two optimiser steps, then valid and test evaluated in bf16. bfloat16 is emulated on a
    # CPU without AVX512-BF16 and costs per example (folk_tunes' 600-token tunes, cmudict's decoding), so
    # quick_spec's 48 examples per split cost minutes here and check nothing more.
    spec = dataclasses.replace(quick_spec(load_recipe(name)[1]), limit=BF16_LIMIT)
    dataset = load_data(spec)
    assert 0 < len(dataset.train) <= BF16_LIMIT and 0 < len(dataset.test) <= BF16_LIMIT
    torch.manual_seed(0)
    model = build_model(spec, dataset)
    # a recipe's ensemble: k builds k members, each with its own initial weights (checked on the recipe's
    # own model here, which its data set is already loaded for)
    assert isinstance(model, Ensemble) == (spec.ensemble > 1), (type(model).__name__, spec.ensemble)
    if spec.ensemble > 1:
        assert len(model.members) == spec.ensemble
        first, second = (next(m.parameters()) for m in model.members[:2])
        assert not first.equal(second), "the ensemble's members start from the same weights"
    settings = {**spec.train, "batch_size": min(spec.train["batch_size"], BF16_LIMIT // 2), "precision": "bf16",
                "max_steps": 2, "device": "cpu", "progress": False, "run_dir": None, "evaluate_test": True}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*bfloat16 instructions")  # a CPU without them is slow, not wrong
        history = Trainer(**settings).fit(model, dataset)
    assert history.rows[-1]["step"] >= 1 and math.isfinite(history.rows[-1]["train_loss"])
    assert history.test and all(math.isfinite(v) for v in history.test.values()), history.test
