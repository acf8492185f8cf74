"""``rnnkit.bench.cv`` and ``rnnkit.bench.accuracy``, split by idea (cv: the plan of folds, one fold,
the pooled folds and the paired comparison, the report; accuracy: the recipes, the seeds, the table),
still offer every name they offered, as the very objects the split modules define; a patch of
``accuracy.recipe_names`` still reaches the command (their sizes: tests/test_module_sizes.py)."""

from __future__ import annotations

import pytest

from rnnkit.bench import (
    accuracy,
    accuracy_goals,
    accuracy_recipes,
    accuracy_seeds,
    accuracy_selection,
    accuracy_table,
    cv,
    cv_fold,
    cv_plan,
    cv_pooled,
    cv_report,
    library_versions,
)

# every name the modules offered before the split, and the module that defines it now
CV_NAMES = {
    "HELP": cv, "add_arguments": cv, "cross_validate": cv, "run": cv,
    "backtest_origins": cv_plan, "cv_spec": cv_plan, "fold_indices": cv_plan, "optimizer_steps": cv_plan,
    "_class_labels": cv_plan, "_origin_label": cv_plan, "_training_series": cv_plan,
    "FoldResult": cv_fold, "_WORKER": cv_fold, "_backtest_fold": cv_fold, "_fold_result": cv_fold,
    "_run_fold": cv_fold, "_worker_fold": cv_fold, "_worker_setup": cv_fold, "_wrong": cv_fold,
    "CVResult": cv_pooled, "compare": cv_pooled, "pooled_value": cv_pooled, "sign_test": cv_pooled,
    "compare_text": cv_report, "plot_backtest": cv_report, "to_text": cv_report,
}
ACCURACY_NAMES = {
    "HELP": accuracy, "DEFAULT_OUT": accuracy, "add_arguments": accuracy, "run": accuracy,
    "bench_dataset": accuracy, "baseline_of": accuracy, "refresh_baseline": accuracy,
    "QUICK_LIMIT": accuracy_recipes, "load_recipe": accuracy_recipes, "quick_spec": accuracy_recipes,
    "recipe_names": accuracy_recipes,
    "SeedResult": accuracy_seeds, "Stopped": accuracy_seeds, "_stop": accuracy_seeds, "_WORKER": accuracy_seeds,
    "_worker_seed": accuracy_seeds, "_worker_setup": accuracy_seeds, "device_name": accuracy_seeds,
    "epoch_log": accuracy_seeds, "run_seeds": accuracy_seeds, "train_seed": accuracy_seeds,
    "Row": accuracy_table, "SECTION": accuracy_table, "_ROWS_TAG": accuracy_table, "_fmt": accuracy_table,
    "_published": accuracy_table, "merge_rows": accuracy_table, "read_rows": accuracy_table,
    "to_markdown": accuracy_table, "write_results": accuracy_table,
    "GOALS": accuracy_goals, "Goal": accuracy_goals, "PERCENT": accuracy_goals, "headline": accuracy_goals,
    "parse_recipe_notes": accuracy_goals,
    "RecipeError": accuracy_selection, "check_selection": accuracy_selection,
}
CV_ALL = ["CVResult", "FoldResult", "backtest_origins", "compare", "compare_text", "cross_validate", "cv_spec",
          "fold_indices", "optimizer_steps", "plot_backtest", "sign_test", "to_text"]
ACCURACY_ALL = ["Row", "SeedResult", "baseline_of", "bench_dataset", "load_recipe", "merge_rows", "read_rows",
                "recipe_names", "refresh_baseline", "run_seeds", "to_markdown", "train_seed", "write_results"]


@pytest.mark.parametrize("name", sorted(CV_NAMES))
def test_every_name_cv_offered_is_the_split_modules_object(name: str) -> None:
    assert getattr(cv, name) is getattr(CV_NAMES[name], name), name


@pytest.mark.parametrize("name", sorted(ACCURACY_NAMES))
def test_every_name_accuracy_offered_is_the_split_modules_object(name: str) -> None:
    assert getattr(accuracy, name) is getattr(ACCURACY_NAMES[name], name), name


def test_all_is_what_it_was() -> None:
    assert cv.__all__ == CV_ALL and accuracy.__all__ == ACCURACY_ALL
    assert accuracy.library_versions is library_versions


def test_the_workers_share_one_state_with_their_setup() -> None:
    """A spawned worker's setup fills the ``_WORKER`` its task reads: both live in one module."""
    assert cv._worker_setup.__module__ == cv._worker_fold.__module__ == "rnnkit.bench.cv_fold"
    assert accuracy._worker_setup.__module__ == accuracy._worker_seed.__module__ == "rnnkit.bench.accuracy_seeds"


def test_patching_recipe_names_reaches_the_command(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``rnnkit bench accuracy`` looks ``recipe_names`` up in rnnkit.bench.accuracy, where tests patch it."""
    from rnnkit.cli.main import main

    monkeypatch.setattr(accuracy, "recipe_names", lambda: ["peek"])
    assert main(["bench", "accuracy", "gunpoint", "--quick"]) != 0
    assert "no recipe for gunpoint; recipes exist for: peek" in capsys.readouterr().err
