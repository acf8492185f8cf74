"""The modules split by idea (since 2026-11-28) stay within the style's 400 lines (STYLE.md, rule 1): each
family's files, found by pattern, with the modules the split made among them."""

from __future__ import annotations

from pathlib import Path

import pytest

import rnnkit

SRC = Path(rnnkit.__file__).parent
# (folder under src/rnnkit, file pattern): the modules the split made, which the pattern must find
SPLITS = {
    ("cli", "predict*.py"): {"predict.py", "predict_inputs.py", "predict_describe.py", "predict_model.py",
                             "predict_future.py"},
    ("cli", "export*.py"): {"export.py", "export_decoding.py", "export_scoring.py", "export_backends.py",
                            "export_checks.py", "export_decoding_loops.py"},
    ("cli", "train*.py"): {"train.py", "train_flags.py", "train_fit.py", "train_checks.py", "train_resume.py",
                           "train_metrics.py"},
    ("cli", "runspec*.py"): {"runspec.py", "runspec_data.py", "runspec_limit.py", "runspec_model.py"},
    ("bench", "cv*.py"): {"cv.py", "cv_plan.py", "cv_fold.py", "cv_pooled.py", "cv_report.py"},
    ("bench", "accuracy*.py"): {"accuracy.py", "accuracy_recipes.py", "accuracy_seeds.py", "accuracy_table.py"},
    ("bench", "long_stream*.py"): {"long_stream.py", "long_stream_rows.py"},
    ("layers", "recurrent*.py"): {"recurrent.py", "recurrent_words.py", "recurrent_torch.py"},
    ("ops", "cpu_stream*.py"): {"cpu_stream.py", "cpu_stream_build.py", "cpu_stream_packing.py", "cpu_stream_watch.py"},
    ("ops", "triton_scan*.py"): {"triton_scan.py", "triton_scan_kernels.py"},
    ("models", "forecast*.py"): {"forecaster.py", "forecast_config.py", "forecast_inputs.py", "forecast_heads.py",
                                 "forecast_options.py", "forecast_quantiles.py", "forecast_transforms.py"},
    ("models", "one_to_many*.py"): {"one_to_many.py", "one_to_many_decoder.py"},
    ("models", "ensemble*.py"): {"ensemble.py", "ensemble_members.py", "ensemble_decoding.py"},
    (".", "estimators*.py"): {"estimators.py", "estimators_base.py", "estimators_inputs.py"},
}


@pytest.mark.parametrize("folder, pattern", sorted(SPLITS))
def test_the_split_modules_are_of_the_styles_size(folder: str, pattern: str) -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (SRC / folder).glob(pattern)}
    assert SPLITS[folder, pattern] <= set(sizes)
    assert all(n <= 400 for n in sizes.values()), sizes
