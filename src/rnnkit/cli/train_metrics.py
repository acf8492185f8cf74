"""A run's scores: the test metrics of a trained model, stored in its metrics.json, and printed next
to the best published figures (``rnnkit train`` and ``rnnkit evaluate``).

    metrics = evaluate_run(model, dataset, run_dir)     # test split (valid without one)
    print_metrics(metrics, dataset.info, "japanese_vowels: test metrics")
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rnnkit.cli.runspec_limit import LIMIT_CUTS as LIMIT_CUTS


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


def limit_cuts(info: Any) -> dict[str, list[int]]:
    """``{split: [kept, before]}`` for each split that ``--limit`` cut, as
    :func:`~rnnkit.cli.runspec_limit.limit_splits` recorded it in ``info.extra`` (none without a cut)."""
    return dict((getattr(info, "extra", None) or {}).get(LIMIT_CUTS) or {})


def scored_cut(info: Any) -> tuple[str, int, int] | None:
    """``(split, kept, before)`` when the split a run is scored on (test; valid without one) was cut by
    ``--limit``, else None: the metrics table's note and the tour's row say so."""
    scored = "test" if (getattr(info, "sizes", None) or {}).get("test") else "valid"
    cut = limit_cuts(info).get(scored)
    return None if cut is None else (scored, cut[0], cut[1])


def limit_facts(spec: Any, cuts: dict[str, list[int]]) -> dict[str, str]:
    """The report's ``cut by --limit`` fact: which splits lost examples and how many of how many; none
    when the limit cut nothing (a small data set keeps every example, and its scores stand)."""
    if not cuts:
        return {}
    kept = "their first examples" if spec.limit_rule == "first" else \
        "a seeded random sample (by class share for classification, in the split's order)"
    splits = ", ".join(f"{s} {k} of {n}" for s, (k, n) in cuts.items())
    return {"cut by --limit": f"{splits} examples, {kept}: the scores are not comparable with the published "
                              "figures, which use the whole test split"}


def limit_note(info: Any) -> str | None:
    """The line under the metrics table when the split it scores was cut by --limit, else None."""
    cut = scored_cut(info)
    if cut is None:
        return None
    scored, kept, before = cut
    against = "the published figures" if getattr(info, "published", None) else "a run on the whole split"
    return f"note: {scored} holds {kept} of its {before} examples (--limit {kept}): not comparable with {against}"


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
    """A rich table: each metric next to the published figures for it, and a note under it when the
    scored split was cut by --limit (:func:`limit_cuts`): a figure on 40 of 370 examples beside the
    published one reads as a result otherwise."""
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
    note = limit_note(info)
    if note:
        print(note)
