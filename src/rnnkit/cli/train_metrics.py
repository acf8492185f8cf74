"""A run's scores: the test metrics of a trained model, stored in its metrics.json, and printed next
to the best published figures (``rnnkit train`` and ``rnnkit evaluate``).

    metrics = evaluate_run(model, dataset, run_dir)     # test split (valid without one)
    print_metrics(metrics, dataset.info, "japanese_vowels: test metrics")
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def evaluate_run(model: Any, dataset: Any, run_dir: Path) -> dict[str, float]:
    """Test-split metrics of ``model`` (valid if there is no test split), stored under ``"test"``
    (or ``"valid"``) in the run's metrics.json, which keeps its other entries."""
    import json
    import math

    from rnnkit.train.checkpoint import atomic_write_text
    from rnnkit.train.evaluation import evaluate_split
    from rnnkit.train.run_dir import scores_mixture

    split_name = "test" if len(dataset.test) else "valid"
    split = getattr(dataset, split_name)
    metrics = evaluate_split(model, split.examples, dataset.info, collate_fn=dataset.collate,
                             extras=dataset.extras)
    path = run_dir / "metrics.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    saved[split_name] = {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
    if scores_mixture(model) and saved.get("ensemble_loss") != "mixture":
        saved["ensemble_loss"] = _older_ensemble_losses(saved, split_name, run_dir)
    atomic_write_text(path, json.dumps(saved, indent=1))
    return metrics


def _older_ensemble_losses(saved: dict[str, Any], split_name: str, run_dir: Path) -> str | dict[str, str]:
    """metrics.json's ``ensemble_loss`` after scoring ``split_name`` of an ensemble run trained before
    rnnkit scored an ensemble's loss on its mixture (no ``"ensemble_loss": "mixture"`` there): the
    split just scored holds the mixture's loss; entries from training hold the members' mean (said
    on stderr, since the two are not comparable)."""
    earlier = saved.get("ensemble_loss")
    kinds = dict(earlier) if isinstance(earlier, dict) else {
        name: "members' mean" for name in ("valid", "test") if isinstance(saved.get(name), dict) and saved[name]}
    kinds[split_name] = "mixture"
    older = sorted(name for name, kind in kinds.items() if kind != "mixture")
    if not older:
        return "mixture"
    print(f"note: {run_dir} is an ensemble run trained before rnnkit scored an ensemble's loss (and perplexity) on "
          f"its mixture: metrics.json's {' and '.join(older)} loss is its members' mean, the {split_name} loss "
          "just scored is the mixture's (never higher); metrics.json says which is which (ensemble_loss)",
          file=sys.stderr)
    return kinds


def best_published(info: Any, metric: str) -> str:
    """The best published figure for ``metric`` as ``"0.993 FCN"`` (all of them are in the report), or ``"-"``."""
    refs = [p for p in getattr(info, "published", []) if p.metric == metric]
    if not refs:
        return "-"
    from rnnkit.train.history import lower_is_better

    lower = (not getattr(info, "higher_is_better", True) if metric == getattr(info, "metric", "")
             else lower_is_better(metric))  # per, wer, mae ... by name
    best = min(refs, key=lambda p: p.value) if lower else max(refs, key=lambda p: p.value)
    return f"{best.value:.4g} {best.model}"


def print_metrics(metrics: dict[str, float], info: Any, title: str) -> None:
    """A rich table: each metric next to the published figures for it."""
    from rich.console import Console
    from rich.table import Table

    if not metrics:
        sizes = getattr(info, "sizes", None) or {}
        print(f"{title}: nothing to score: the data set has no test or valid examples (sizes {sizes}); give it a "
              "test file (--data-option test=FILE) or a test_fraction")
        return
    table = Table(title=title)
    for col in ("metric", "rnnkit", "published / baseline"):
        table.add_column(col, justify="right" if col == "rnnkit" else "left")
    for name, value in metrics.items():
        ref = best_published(info, name)
        star = " *" if name == getattr(info, "metric", "") else ""
        table.add_row(name + star, f"{value:.4g}" if isinstance(value, float) else str(value), ref)
    Console().print(table)
