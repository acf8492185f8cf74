"""``rnnkit.cli.predict`` split by idea (inputs, the model's run, descriptions, --future) keeps every
name it offered, as the objects that the command itself calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.cli import predict

NAMES = ["CLIError", "STDIN", "Layout", "check_encoding", "name_of", "numbers", "read_table", "read_text",
         "IMAGE_SUFFIXES", "FILE_SUFFIXES", "add_parser", "decoding_options", "prepare", "finish", "generate",
         "parse_numbers", "feature_names", "read_future", "input_file", "read_image", "encode_text", "UnknownInput",
         "check_unknown", "build_batches", "batch_for", "item_batch", "_class_probs", "_tags_text", "_sequence_text",
         "describe", "describe_rows", "read_lines", "_stack", "predict_many", "_note_unknown", "_same_file",
         "write_text", "predict_lines", "predict_column", "predict_each", "run", "predict_quantiles"]


@pytest.mark.parametrize("name", NAMES)
def test_every_name_predict_offered_is_still_there(name: str) -> None:
    assert hasattr(predict, name), name


def test_the_split_modules_are_of_the_styles_size() -> None:
    folder = Path(predict.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("predict*.py")}
    assert {"predict_inputs.py", "predict_describe.py", "predict_model.py", "predict_future.py"} <= set(sizes)
    assert all(n <= 400 for n in sizes.values()), sizes
