"""``rnnkit.cli.predict`` split by idea (inputs, the model's run, descriptions, --future) keeps every
name it offered, as the objects that the command itself calls."""

from __future__ import annotations

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
