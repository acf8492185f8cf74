"""``rnnkit bench speed --long --stream``: CPU rows and GPU rows go to sections of their own, and a
report saved on a GPU machine is written into the docs here."""

from __future__ import annotations

import json

import pytest

from rnnkit.bench import gpu, long_stream


def _cuda_report() -> dict:
    rows = [{"what": "linear scan alone, forward+backward", "config": "B=16, C=512, T=4096, fp32",
             "contender": "ops/triton_scan.py", "value": 0.77, "unit": "ms", "speedup": 1.0, "device": "cuda"},
            {"what": "linear scan alone, forward+backward", "config": "", "contender": "accelerated-scan",
             "value": None, "unit": "ms", "speedup": None, "note": "not installed", "device": "cuda"}]
    machine = {"cpu": "host cpu", "cores": 16, "torch_threads": 16, "gpu": "NVIDIA H200", "torch": "2.11",
               "date": "2026-11-27"}
    return {"machine": machine, "settings": {"repeats": 10, "quick": False, "devices": ["cuda"], "load": None},
            "rows": rows}


def test_quick_cpu_run_tags_rows_and_renders_only_the_cpu_section():
    report = long_stream.run_long_stream(long=True, stream=False, repeats=1, quick=True, devices=("cpu",))
    assert report["rows"] and {r["device"] for r in report["rows"]} == {"cpu"}
    text = long_stream.to_markdown(report, device="cpu")
    assert text is not None and "minGRU vs GRU" in text and "needs a CUDA device" in text
    assert long_stream.to_markdown(report, device="cuda") is None  # the GPU section is left as it is


def test_cuda_rows_without_a_gpu_are_refused(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        long_stream.run_long_stream(long=True, stream=False, quick=True, devices=("cuda",))


def test_a_saved_gpu_report_fills_the_gpu_section_and_keeps_the_cpu_one(tmp_path):
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# Benchmarks\n\n<!-- bench:long -->\nCPU rows\n<!-- /bench:long -->\n\n"
                    "<!-- bench:long-gpu -->\npending\n<!-- /bench:long-gpu -->\n")
    saved = tmp_path / "bench_long_gpu.json"
    saved.write_text(json.dumps(_cuda_report()))
    assert long_stream.main(["--from-json", str(saved), "--output", str(docs)]) == 0
    text = docs.read_text()
    assert "CPU rows" in text and "pending" not in text
    assert "Device: NVIDIA H200 (host: host cpu, 16 cores)" in text
    assert "| ops/triton_scan.py | 0.77 ms | 1.00x |" in text and "| accelerated-scan | not installed |" in text


def test_a_saved_report_without_rows_writes_nothing(tmp_path):
    saved = tmp_path / "empty.json"
    saved.write_text(json.dumps(dict(_cuda_report(), rows=[])))
    docs = tmp_path / "BENCHMARKS.md"
    assert long_stream.main(["--from-json", str(saved), "--output", str(docs)]) == 1
    assert not docs.exists()
    assert gpu.main(["--from-json", str(saved), "--output", str(docs)]) == 1
    assert not docs.exists()


def test_a_saved_gpu_speed_report_is_written_with_its_device(tmp_path):
    row = {"size": 512, "dtype": "float32", "batch": 64, "steps": 100, "contender": "layer-norm LSTM",
           "backend": "triton-fused", "ms": 28.18, "per_step_us": 281.9, "ratio": 4.95, "baseline": "nn.LSTM (cuDNN)"}
    report = {"machine": _cuda_report()["machine"], "rows": [row],
              "settings": {"repeats": 10, "warmup": 3, "quick": False, "steps": 100, "tf32": False}}
    saved = tmp_path / "bench_gpu.json"
    saved.write_text(json.dumps(report))
    docs = tmp_path / "BENCHMARKS.md"
    assert gpu.main(["--from-json", str(saved), "--output", str(docs)]) == 0
    text = docs.read_text()
    assert "Device: NVIDIA H200" in text and "| 512 | float32 | 64 | layer-norm LSTM | triton-fused | 28.18 |" in text
