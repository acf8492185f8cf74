"""The tables bench's plumbing (not its timings): both sides train the same model on the same
batches, the sparse side really runs sparse, a quick run makes a row and the markdown, the CLI
refuses recipes without hashed tables."""

from __future__ import annotations

import pytest

from rnnkit.bench import tables
from rnnkit.cli.main import build_parser


def test_a_quick_run_times_both_sides_and_writes_its_section(tmp_path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    args = build_parser().parse_args(["bench", "tables", "sentiment", "--quick", "--steps", "2",
                                      "--output", str(out), "--json"])
    assert args.func(args) == 0
    text = out.read_text()
    assert "<!-- bench:tables -->" in text and "`--quick` run" in text
    assert "| sentiment | 1,024 | 8 |" in text


def test_an_ensemble_recipe_is_timed_as_one_model() -> None:
    from rnnkit.bench.accuracy import load_recipe

    assert load_recipe("peoples_daily_seg")[1].ensemble > 1
    row = tables.run_recipe("peoples_daily_seg", steps=1, quick=True)
    assert row.table_rows == 1024  # one member's bigram table (quick size), not every member's


def test_the_sides_differ_only_in_the_tables_gradients(monkeypatch) -> None:
    seen: list[tuple[bool, float, bool]] = []
    from rnnkit.train import optim  # step_times imports build_optimizer from here when it runs

    real = optim.build_optimizer

    def spy(model, **kw):  # type: ignore[no-untyped-def]
        tabs = optim.hashed_tables(model)
        seen.append((all(t.sparse for t in tabs), float(sum(p.detach().sum() for p in model.parameters())), bool(tabs)))
        return real(model, **kw)

    monkeypatch.setattr(optim, "build_optimizer", spy)
    row = tables.run_recipe("sentiment", steps=2, quick=True)
    assert row.dense_ms > 0 and row.sparse_ms > 0 and row.steps == 2
    (dense_sparse, dense_sum, has_tables), (sparse_sparse, sparse_sum, _) = seen[:2]
    assert has_tables and not dense_sparse and sparse_sparse
    assert dense_sum == pytest.approx(sparse_sum)  # the same initial weights on both sides


def test_only_recipes_with_hashed_tables() -> None:
    from rnnkit.cli.main import CLIError

    args = build_parser().parse_args(["bench", "tables", "gunpoint", "--quick"])
    with pytest.raises(CLIError, match="recipes with hashed tables"):
        args.func(args)
