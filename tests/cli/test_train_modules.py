"""``rnnkit.cli.train`` and ``rnnkit.cli.runspec``, split by idea (the flags, the run, its checks, a
resume, the scores; the spec's data, ``limit`` and model), keep every name they offered, as the
objects the split modules define (their sizes: tests/test_module_sizes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.cli import runspec, train

TRAIN_NAMES = ["CLIError", "MODEL_ALIASES", "MODEL_FLAGS", "PRECISIONS", "RunSpec", "SPEC_FILE", "TrainResult",
               "_foreign_config", "_key_values", "_older_ensemble_losses", "add_parser", "applied_limit_rule",
               "best_published", "build_model", "check_fit", "check_resume", "choose_model", "clear_previous_run",
               "cli_terms", "data_changes", "evaluate_run", "load_data", "load_yaml", "make_run_dir", "make_trainer",
               "model_for", "print_metrics", "rank_zero", "read_spec", "recipe_path", "run", "save_spec_at_start",
               "saved_limit_rule", "saved_spec", "settings_files", "spec_from_args", "spec_from_dict", "train_keys",
               "train_run"]
RUNSPEC_NAMES = ["CLIError", "LIMIT_RULES", "LIMIT_SEED", "MODEL_ALIASES", "RECIPES", "RUN_OWNED", "RunSpec",
                 "SPEC_FILE", "SPLITS", "_SpecLoader", "_unfinished", "applied_limit_rule", "as_vectors", "build_model",
                 "check_same_encoding", "class_ids", "closest", "did_you_mean", "limit_indices", "limit_splits",
                 "load_data", "load_yaml", "open_run", "options_error", "read_spec", "recipe_path", "resolve_model",
                 "spec_from_dict", "train_keys"]


@pytest.mark.parametrize("name", TRAIN_NAMES)
def test_every_name_train_offered_is_still_there(name: str) -> None:
    assert hasattr(train, name), name


@pytest.mark.parametrize("name", RUNSPEC_NAMES)
def test_every_name_runspec_offered_is_still_there(name: str) -> None:
    assert hasattr(runspec, name), name


def test_runspec_all_names_what_it_exports() -> None:
    assert all(hasattr(runspec, name) for name in runspec.__all__)


def test_both_modules_offer_the_same_objects() -> None:
    """A name re-exported is the object itself, not a copy: train's runspec names are runspec's."""
    for name in ("MODEL_ALIASES", "RunSpec", "build_model", "load_data", "applied_limit_rule", "read_spec"):
        assert getattr(train, name) is getattr(runspec, name), name


def test_patching_train_run_reaches_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``rnnkit train`` looks ``train_run`` up in rnnkit.cli.train, where tests patch it."""
    from rnnkit.cli.main import main

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train_run", interrupted)
    assert main(["train", "--data", "air_passengers", "--model", "forecaster", "--out", str(tmp_path / "run"),
                 "--no-progress", "--no-report"]) == 130
    assert "interrupted; no checkpoint was written yet" in capsys.readouterr().err


def test_patching_recipes_reaches_recipe_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``recipe_path`` reads ``RECIPES`` from rnnkit.cli.runspec, where tests patch it."""
    (tmp_path / "mine.yaml").write_text("data: air_passengers\nmodel: forecaster\n")
    monkeypatch.setattr(runspec, "RECIPES", tmp_path)
    assert runspec.recipe_path("mine") == tmp_path / "mine.yaml"
