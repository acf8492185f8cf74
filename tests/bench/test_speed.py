"""The speed bench's plumbing (not its timings): cases, a tiny run, the markdown section, the CLI."""

import pytest

from rnnkit.bench import write_section
from rnnkit.bench.speed import Case, cases, paired_ms, run_attention, run_case, run_precision, to_markdown
from rnnkit.cli.main import build_parser


def test_the_issue_cases():
    full = cases()
    assert {(c.batch, c.steps, c.size) for c in full if c.cell == "lstm" and not c.varlen} == \
        {(64, 100, 256), (1, 100, 256)}
    varlen = [c for c in full if c.varlen]
    assert [(c.batch, c.steps, c.size, dict(c.options)) for c in varlen] == [(32, 400, 128, {"bidirectional": True})]
    assert {(c.batch, c.steps) for c in full if c.cell == "mingru"} == {(64, 2048), (1, 2048)}
    assert any(dict(c.options).get("layer_norm") for c in full)


def test_a_tiny_variable_length_case_runs_against_packed_nn_lstm():
    row = run_case(Case("v", 3, 6, 4, "nn.LSTM", "lstm", (("bidirectional", True),), varlen=True),
                   repeats=1, warmup=0)
    assert row.backend == "torch" and row.rnnkit == "rnnkit lstm bidirectional"
    assert row.rnnkit_ms > 0 and row.baseline_ms > 0


def test_a_tiny_case_runs():
    row = run_case(Case("t", 2, 3, 4, "rnnkit gru", "mingru"), repeats=1, warmup=0)
    assert row.backend == "scan" and row.baseline == "rnnkit gru (torch)"
    assert row.rnnkit_ms > 0 and row.baseline_ms > 0
    assert abs(row.ratio - row.rnnkit_ms / row.baseline_ms) < 0.01


def test_a_tiny_attention_row_runs_and_is_written():
    row = run_attention(2, 3, 4, 5, repeats=1, warmup=0)
    assert row["torch_ms"] > 0 and row["rnnkit_ms"] > 0 and (row["B"], row["L"], row["S"], row["A"]) == (2, 3, 4, 5)
    report = {"machine": {"cpu": "X", "cores": 2, "torch_threads": 2, "torch": "2", "python": "3", "date": "d"},
              "settings": {"repeats": 1, "warmup": 0, "quick": False, "seed": 0, "dtype": "float32"}, "rows": [],
              "attention": [{**row, "torch_ms": 22.0, "rnnkit_ms": 5.5, "ratio": 0.25}]}
    assert f"| 2 | 3 | 4 | 5 | 22.00 | {row['rnnkit']} | 5.50 | 0.25x (" in to_markdown(report)  # then its spread


@pytest.mark.parametrize(("what", "options"), [("lstm", {"layer_norm": True}), ("seq2seq", {})])
def test_a_tiny_precision_row_runs_and_is_written(what, options):
    row = run_precision(what, 3, 4, 8, options, repeats=1, warmup=0)
    assert row["fp32_ms"] > 0 and row["bf16_ms"] > 0 and (row["B"], row["T"], row["size"]) == (3, 4, 8)
    assert row["model"] == ("rnnkit lstm layer_norm" if what == "lstm" else "Seq2Seq, cmudict_g2p's sizes")
    report = {"machine": {"cpu": "X", "cores": 2, "torch_threads": 2, "torch": "2", "python": "3", "date": "d"},
              "settings": {"repeats": 1, "warmup": 0, "quick": False, "seed": 0, "dtype": "float32",
                           "bf16_instructions": False}, "rows": [],
              "precision": [{**row, "fp32_ms": 20.0, "bf16_ms": 12.5, "ratio": 0.625}]}
    text = to_markdown(report)
    assert f"| {row['model']} | {row['backend']} | 3 | 4 | 8 | 20.0 | 12.5 | 0.62x (" in text
    assert "This CPU lacks bfloat16 instructions" in text


def test_write_section_replaces_only_its_own(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "accuracy", "acc table")
    write_section(path, "speed", "first")
    write_section(path, "speed", "second")
    text = path.read_text()
    assert "acc table" in text and "second" in text and "first" not in text
    assert text.count("<!-- bench:speed -->") == 1 and text.count("<!-- /bench:speed -->") == 1


def test_markdown_table():
    report = {"machine": {"cpu": "X", "cores": 2, "torch_threads": 2, "torch": "2", "python": "3", "date": "d"},
              "settings": {"repeats": 5, "warmup": 2, "quick": False, "seed": 0, "dtype": "float32"},
              "rows": [{"case": "c", "batch": 64, "steps": 100, "size": 256, "baseline": "nn.LSTM",
                        "baseline_ms": 10.0, "rnnkit": "rnnkit lstm", "backend": "torch", "rnnkit_ms": 10.5,
                        "ratio": 1.05}]}
    text = to_markdown(report)
    assert "| c | 64 | 100 | 256 | nn.LSTM | 10.0 | rnnkit lstm | torch | 10.5 | 1.05x |" in text
    assert "X, 2 cores" in text and "Median of 5 runs" in text


def test_paired_timing_alternates_the_sides_and_reports_the_rounds_spread(monkeypatch):
    from rnnkit.bench import timing

    clock = iter(range(1000))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(clock)))
    calls = []
    t = paired_ms(lambda: calls.append("base"), lambda: calls.append("ours"), repeats=4, warmup=1)
    # warm-up once each, then rounds base-ours, ours-base, base-ours, ours-base
    assert calls == ["base", "ours"] + ["base", "ours", "ours", "base"] * 2
    assert (t.base_ms, t.ours_ms, t.ratio_low, t.ratio_high, t.ratio) == (1000.0, 1000.0, 1.0, 1.0, 1.0)


def test_a_row_with_its_rounds_spread_shows_it_beside_the_ratio():
    report = {"machine": {"cpu": "X", "cores": 2, "torch_threads": 2, "torch": "2", "python": "3", "date": "d"},
              "settings": {"repeats": 5, "warmup": 2, "quick": False, "seed": 0, "dtype": "float32"},
              "rows": [{"case": "c", "batch": 1, "steps": 100, "size": 256, "baseline": "nn.LSTM",
                        "baseline_ms": 2.0, "rnnkit": "rnnkit lstm", "backend": "torch", "rnnkit_ms": 2.1,
                        "ratio": 1.05, "ratio_low": 0.98, "ratio_high": 1.12}]}
    assert "| 2.0 | rnnkit lstm | torch | 2.1 | 1.05x (0.98-1.12x) |" in to_markdown(report)
    row = run_case(Case("t", 2, 3, 4, "rnnkit gru", "mingru"), repeats=3, warmup=0)
    assert row.ratio_low is not None and row.ratio_high is not None and row.ratio_low <= row.ratio_high


def test_cli_parses_bench_speed():
    args = build_parser().parse_args(["bench", "speed", "--quick", "--json", "--repeats", "3"])
    assert (args.quick, args.json, args.repeats) == (True, True, 3)


def test_a_quick_run_writes_no_results_file(tmp_path, monkeypatch):
    from rnnkit.bench import speed

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(speed, "run_speed", lambda repeats, quick: {
        "machine": {"cpu": "c", "cores": 1, "torch_threads": 1, "torch": "t", "python": "p", "date": "d"},
        "settings": {"repeats": repeats, "warmup": 1, "quick": quick, "seed": 0, "dtype": "float32"}, "rows": []})
    args = build_parser().parse_args(["bench", "speed", "--quick"])
    assert speed.run(args) == 0 and not (tmp_path / "docs").exists()
    args = build_parser().parse_args(["bench", "speed", "--quick", "--output", "out.md"])
    assert speed.run(args) == 0 and "--quick" in (tmp_path / "out.md").read_text()
