"""``layers/recurrent.py``, ``ops/cpu_stream.py`` and ``bench/long_stream.py``, split by idea (recurrent:
the conversion from torch and the wording of its checks; cpu_stream: what is compiled, the packed
layouts, the watch on the parameters; long_stream: the measurements), still offer every name they
offered, as the very objects the split modules define; ``Recurrent`` stays defined where saved models
say it is; the names tests patch on ``cpu_stream`` and ``long_stream`` are still looked up there, and
the compiled library is cached in one place (their sizes: tests/test_module_sizes.py)."""

from __future__ import annotations

import importlib
import pickle

import pytest
import torch
from torch import nn

from rnnkit.bench import long_stream
from rnnkit.layers import recurrent
from rnnkit.layers.recurrent import Recurrent
from rnnkit.ops import cpu_stream, cpu_stream_build, cpu_stream_packing, cpu_stream_watch

# every name each module defined before the split -> the module that defines it now
OLD_NAMES = {
    "rnnkit.layers.recurrent": {
        "rnnkit.layers.recurrent": ["Recurrent", "RecurrentOutput", "State"],
        "rnnkit.layers.recurrent_words": ["_check_rate", "_empty_examples", "_join"],
    },
    "rnnkit.ops.cpu_stream": {
        "rnnkit.ops.cpu_stream": ["BYTES_PER_THREAD", "GreedyLSTM", "MAX_BATCH", "MAX_TABLE_BYTES", "PRECISIONS",
                                  "StepLSTM", "_function", "_kernel_dtype", "check_precision", "has_avx512_bf16",
                                  "has_avx512_vnni", "kernel_suffix", "load_library", "thread_cap", "threads_for",
                                  "unavailable_reason"],
        "rnnkit.ops.cpu_stream_build": ["DTYPES", "FLAGS", "LINK", "_I64", "_INT", "_P", "_isa_flags", "source"],
        "rnnkit.ops.cpu_stream_packing": ["_Packed", "_cell_bias", "gate_order", "int8_layers", "pack_gates",
                                          "pack_head_int8", "pack_int8", "pack_pairs_bf16", "pack_rows", "padded",
                                          "quantize_activations", "quantize_rows", "units"],
        "rnnkit.ops.cpu_stream_watch": ["PROBES", "ParamsWatch", "_key_of", "_no_probe", "cell_params",
                                        "probe_table"],
    },
    "rnnkit.bench.long_stream": {
        "rnnkit.bench.long_stream": ["add_flags", "main", "report_sections", "run_flags", "run_long_stream",
                                     "thread_counts", "to_markdown", "with_threads", "write_saved"],
        "rnnkit.bench.long_stream_rows": ["Row", "_forward_backward", "_rows", "accelerated_scan_contenders",
                                          "cuda_step_rows", "generation_rows", "interleaved", "long_rows",
                                          "step_rows"],
    },
}
CASES = [(old, home, name) for old, homes in OLD_NAMES.items() for home, names in homes.items() for name in names]
# rnnkit names the old modules imported, which callers could import from them: still there
IMPORTED = {
    "rnnkit.layers.recurrent": {
        "rnnkit.cells": ["CELLS", "Cell", "GRUCell", "LSTMCell", "SimpleRNNCell", "make_cell"],
        "rnnkit.data.batch": ["lengths_to_mask"],
        "rnnkit.layers.backends": ["Backend", "available_backends", "get_backend", "noisy_step", "step_noise"],
        "rnnkit.ops.fast_step": ["fast_step"],
        "rnnkit.ops.masks": ["zero_padding"],
    },
    "rnnkit.ops.cpu_stream": {"rnnkit.ops": ["cpu_kernels"]},
    "rnnkit.bench.long_stream": {"rnnkit.bench.timing": ["timed_rounds"]},
}
IMPORTED_CASES = [(old, home, name) for old, homes in IMPORTED.items() for home, names in homes.items()
                  for name in names]


@pytest.mark.parametrize(("old", "home", "name"), CASES, ids=[f"{o.split('.')[-1]}.{n}" for o, _, n in CASES])
def test_every_name_the_module_defined_is_the_object_its_new_home_defines(old: str, home: str, name: str) -> None:
    before, now = importlib.import_module(old), importlib.import_module(home)
    assert getattr(before, name) is getattr(now, name)


@pytest.mark.parametrize(("old", "home", "name"), IMPORTED_CASES,
                         ids=[f"{o.split('.')[-1]}.{n}" for o, _, n in IMPORTED_CASES])
def test_the_rnnkit_names_the_module_imported_are_still_importable_from_it(old: str, home: str, name: str) -> None:
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(home), name)


def test_recurrent_stays_defined_where_saved_models_say() -> None:
    assert Recurrent.__module__ == recurrent.RecurrentOutput.__module__ == "rnnkit.layers.recurrent"
    layer = Recurrent("gru", 3, 4)
    assert type(pickle.loads(pickle.dumps(layer))) is Recurrent
    assert pickle.loads(b"crnnkit.layers.recurrent\nRecurrent\n.") is Recurrent


def test_from_torch_still_builds_the_class_it_is_called_on_with_torch_s_outputs() -> None:
    class Sub(Recurrent):
        pass

    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True).eval()
    layer = Sub.from_torch(lstm, backend="loop")
    assert type(layer) is Sub and layer._requested == "loop" and not layer.training
    x = torch.randn(2, 6, 3)
    with torch.no_grad():
        out, (h, c) = layer(x)
        ref, (h_ref, c_ref) = lstm(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, h_ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="proj_size"):
        Recurrent.from_torch(nn.LSTM(3, 5, proj_size=2))


def test_the_checks_still_word_their_refusals() -> None:
    layer = Recurrent("gru", 3, 4)
    layer.owner = "SequenceClassifier"
    with pytest.raises(ValueError, match=r"SequenceClassifier: batch rows \[0, 2\] of 3 have no steps"):
        layer(torch.randn(3, 2, 3), lengths=torch.tensor([0, 2, 0]))
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\)"):
        Recurrent("gru", 3, 4, dropout=1.0)
    assert recurrent._join(["'a'", "'b'", "'c'"]) == "'a', 'b' and 'c'"


def test_the_compiled_library_is_cached_in_one_place() -> None:
    """``cpu_stream`` holds the one cache of the library and of its kernels; the split modules hold none,
    and the watch finds the library through ``cpu_stream``."""
    assert hasattr(cpu_stream.load_library, "cache_clear") and hasattr(cpu_stream._function, "cache_clear")
    for module in (cpu_stream_build, cpu_stream_packing, cpu_stream_watch):
        assert not [k for k, v in vars(module).items() if hasattr(v, "cache_clear")], module.__name__
    assert cpu_stream_watch._library() is cpu_stream


def test_a_patched_load_library_reaches_every_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_stream, "load_library", lambda: None)
    layer = Recurrent("lstm", 3, 4)
    with pytest.raises(RuntimeError, match="not available"):
        cpu_stream.StepLSTM(layer.cell_list)
    with pytest.raises(RuntimeError, match="not available"):
        cpu_stream.GreedyLSTM(nn.Embedding(5, 3), layer.cell_list, nn.Linear(4, 5), list(layer.parameters()))
    params = cpu_stream.cell_params(layer.cell_list)
    assert cpu_stream.probe_table(params) is None  # (the watch module's lookup lands on the patch)
    watch = cpu_stream.ParamsWatch()
    watch.mark(params)
    assert watch.probe_args() == (0, 0) and not watch.changed(params)
    assert not cpu_stream.has_avx512_bf16() and not cpu_stream.has_avx512_vnni()
    assert cpu_stream.unavailable_reason() is not None


def test_a_patched_bytes_per_thread_reaches_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert cpu_stream.threads_for(1000) == 1
    monkeypatch.setattr(cpu_stream, "BYTES_PER_THREAD", 1)
    assert cpu_stream.thread_cap(1000) == 1000 and cpu_stream.threads_for(1000) == 4


@pytest.mark.skipif(cpu_stream.load_library() is None, reason="no C++ compiler here")
def test_a_patched_isa_flags_reaches_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    base, calls = cpu_stream._isa_flags, []

    def spy() -> list[str]:
        calls.append(1)
        return base()  # the same flags: the library already built is loaded again, not rebuilt

    cpu_stream.load_library.cache_clear()
    cpu_stream._function.cache_clear()
    monkeypatch.setattr(cpu_stream, "_isa_flags", spy)
    try:
        assert cpu_stream.load_library() is not None and calls == [1]
    finally:
        monkeypatch.setattr(cpu_stream, "_isa_flags", base)
        cpu_stream.load_library.cache_clear()
        cpu_stream._function.cache_clear()
    assert cpu_stream.load_library() is not None


def test_a_patched_row_function_reaches_the_bench_run(monkeypatch: pytest.MonkeyPatch) -> None:
    row = {"what": "w", "config": "c", "contender": "x", "value": 1.0, "unit": "ms", "speedup": 1.0}
    monkeypatch.setattr(long_stream, "long_rows", lambda device, repeats, quick: [row])
    report = long_stream.run_long_stream(long=True, stream=False, repeats=1, quick=True, devices=("cpu",))
    assert report["rows"] == [dict(row, device="cpu")]
