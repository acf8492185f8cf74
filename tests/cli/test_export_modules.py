"""The export command's modules after their split by idea: every name that ``rnnkit.cli.export`` and
``rnnkit.cli.export_decoding`` defined before is still importable from them (callers, benchmarks and
tests import them there, and tests patch ``rnnkit.cli.export.export`` and ``.rounding_drift``), is the
object its new module defines (their sizes: tests/test_module_sizes.py)."""

from __future__ import annotations

import importlib

import pytest

# what each module defined before the split, and where it lives now (None: still in the module itself)
EXPORT = {
    "ONE_PASS_TASKS": None, "add_parser": None, "run": None, "attempt": None, "random_inputs": "export_checks",
    "example_steps": None, "longest_steps": None, "export": None, "export_format": None, "SUFFIXES": None,
    "_suffix": None, "torch_export": None,
    "scoring_module": "export_scoring", "Scaling": "export_scoring",
    "_recurrent_layers": "export_backends", "export_backends": "export_backends", "loop_layers": "export_backends",
    "_traced_backends": "export_backends", "torchscript_backends": "export_backends",
    "takes_one_step": "export_checks", "refused_steps": "export_checks", "step_range": "export_checks",
    "steps_in_words": "export_checks", "relative_difference": "export_checks", "rounding_drift": "export_checks",
    "DRIFT_FACTOR": "export_checks",
    "forecast_steps": "export_history", "history_check": "export_history",  # imported there before, too
}
DECODING = {
    "Parts": None, "_state_names": None, "seq2seq_parts": None, "generator_parts": None, "ensemble_parts": None,
    "parts_of": None, "inner_config": None, "longest_output": None, "_dims": None, "export_parts": None,
    "model_greedy": None, "model_first_log_probs": None, "run_decoding": None,
    "_advance": "export_decoding_loops", "_start": "export_decoding_loops", "_banned": "export_decoding_loops",
    "onnx_greedy": "export_decoding_loops", "onnx_beam": "export_decoding_loops",
}


@pytest.mark.parametrize(("module", "names"), [("export", EXPORT), ("export_decoding", DECODING)])
def test_every_name_the_old_module_exposed_is_still_there(module: str, names: dict[str, str | None]) -> None:
    old = importlib.import_module(f"rnnkit.cli.{module}")
    missing = [name for name in names if not hasattr(old, name)]
    assert not missing, f"rnnkit.cli.{module} no longer has {missing}"
    for name, home in names.items():
        if home is not None:  # a re-export: the very object its new module defines, not a copy
            assert getattr(old, name) is getattr(importlib.import_module(f"rnnkit.cli.{home}"), name), name


def test_the_command_calls_export_and_rounding_drift_through_its_own_module() -> None:
    """Tests patch ``rnnkit.cli.export.export`` and ``.rounding_drift`` to drive ``run``: both must be
    names that ``run`` looks up in that module's globals."""
    from rnnkit.cli import export

    names = export.run.__code__.co_names
    assert "export" in names and "rounding_drift" in names
    assert export.run.__globals__ is vars(export)
