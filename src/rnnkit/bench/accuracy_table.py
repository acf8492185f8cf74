"""The results table of ``rnnkit bench accuracy``: a :class:`Row` per data set, the ``bench:accuracy``
section of docs/RESULTS.md rendered from the rows (:func:`to_markdown`), which keeps them as JSON in a
comment so that a later run of a subset merges its rows into them (:func:`read_rows`,
:func:`merge_rows`, :func:`write_results`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.bench.accuracy_goals import GOALS, PERCENT
from rnnkit.bench.accuracy_recipes import recipe_names

SECTION = "accuracy"
_ROWS_TAG = "accuracy-rows"


@dataclass
class Row:
    """One data set's line of the results table (and its JSON record)."""

    dataset: str
    metric: str
    higher_is_better: bool
    values: list[float]
    mean: float
    std: float | None  # the sample std over seeds; None for one seed
    cpu_s: float  # mean CPU seconds per seed (all threads), fit + evaluation
    wall_s: float
    epochs: float
    goal: str
    goal_met: bool | None
    baseline: dict[str, Any] | None
    published: list[dict[str, Any]]
    device: str
    recipe: str
    notes: str = ""
    quick: bool = False
    extra: dict[str, float] = field(default_factory=dict)  # secondary metrics, means over seeds
    date: str = ""
    versions: dict[str, str] = field(default_factory=dict)  # python and libraries (bench.library_versions)


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}%" if metric in PERCENT else f"{value:.4f}"


def _published(row: dict[str, Any]) -> str:
    pubs = [p for p in row["published"] if p["metric"] == row["metric"]]
    # a note qualifies the figure (a best of several seeds gives its range): it is shown with it
    return "; ".join(f"{p['model']} {_fmt(p['value'], row['metric'])} ({p['source']}"
                     f"{'; ' + p['note'] if p.get('note') else ''})" for p in pubs) or "-"


def to_markdown(rows: list[dict[str, Any]], *, list_missing: bool = True) -> str:
    """The ``bench:accuracy`` section: the table, then the rows as JSON for later merges.
    ``list_missing`` names the recipes without a row (off for a run's own subset of rows)."""
    lines = ["## Accuracy: recipes vs classical baselines and published results", "",
             "Written by `rnnkit bench accuracy` (issue 6). rnnkit = mean ± sample std over n seeds of the "
             "recipe (`src/rnnkit/recipes/<data set>.yaml`) on the standard test split, model selection on "
             "valid only. Time = per seed, CPU seconds of the process (all threads) and wall seconds, "
             "training + evaluation (wall seconds grow with whatever else the machine runs; CPU seconds are the "
             "process's own). Goals are issue 6's. Baselines learn from train + valid and select nothing. "
             "Each row's JSON below records the Python and library versions it ran with (`versions`, and "
             "`baseline.versions`; rows measured before 2026-11-28 lack them).", "",
             "| data set | metric | rnnkit (mean ± std, n) | baseline | published (source) | goal | met? | "
             "time/seed CPU s (wall s) | epochs | device | notes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["dataset"]):
        m = r["metric"]
        spread = f" ± {_fmt(r['std'], m)}" if r.get("std") is not None else ""  # one seed: no std to show
        ours = f"{_fmt(r['mean'], m)}{spread} (n={len(r['values'])})"
        if r["extra"]:
            ours += "; " + ", ".join(f"{k} {_fmt(v, k)}" for k, v in r["extra"].items())
        base = r["baseline"]
        base_s = "-" if base is None else "; ".join(
            f"{_fmt(b['value'], m)} ({b['name']}, {b['seconds']:.1f} s)" for b in [base, *base.get("also", [])])
        if base is not None and base.get("kept_from"):  # a rerun that ran no baseline kept the stored one
            base_s += f" (kept from the row of {base['kept_from']})"
        met = "-" if r["goal_met"] is None else ("yes" if r["goal_met"] else "**no**")
        notes = ("**quick run, not a measurement.** " if r["quick"] else "") + r["notes"]
        lines.append(f"| {r['dataset']} | {m} | {ours} | {base_s} | {_published(r)} | {r['goal']} | {met} | "
                     f"{r['cpu_s']:.0f} ({r['wall_s']:.0f}) | {r['epochs']:.0f} | {r['device']} | "
                     f"{notes.replace('|', '/')} |")
    missing = sorted(set(recipe_names()) - {r["dataset"] for r in rows}) if list_missing else []
    if missing:
        lines += ["", f"Recipes without a measured row yet: {', '.join(missing)} "
                      "(`rnnkit bench accuracy NAME` adds one)."]
    lines += ["", f"<!-- {_ROWS_TAG}"]
    lines += [json.dumps(r, sort_keys=True) for r in sorted(rows, key=lambda r: r["dataset"])]
    lines += ["-->"]
    return "\n".join(lines)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows recorded in an earlier ``bench:accuracy`` section of ``path`` (none if absent)."""
    p = Path(path)
    if not p.is_file():
        return []
    match = re.search(rf"<!-- {_ROWS_TAG}\n(.*?)\n-->", p.read_text(encoding="utf-8"), re.DOTALL)
    if not match:
        return []
    return [json.loads(line) for line in match.group(1).splitlines() if line.strip()]


def merge_rows(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with each data set of ``new`` replaced (or added)."""
    fresh = {r["dataset"]: r for r in new}
    return [r for r in old if r["dataset"] not in fresh] + list(fresh.values())


def keep_baseline(row: dict[str, Any], stored: list[dict[str, Any]]) -> dict[str, Any]:
    """``row`` of a run that measured no baseline (``--no-baseline``, or stopped) with the baseline of
    the ``stored`` row it replaces, where that row has one and is as quick as ``row``: marked
    ``kept_from`` the date it was measured, and the goal judged against it. A rerun thus never
    erases a measured baseline silently."""
    old = next((r for r in stored if r["dataset"] == row["dataset"]), None)
    if row["baseline"] is not None or old is None or old.get("baseline") is None \
            or bool(old.get("quick")) != bool(row.get("quick")):
        return row
    base = {**old["baseline"]}
    base.setdefault("kept_from", old.get("date") or "an earlier run")
    goal = GOALS.get(row["dataset"])
    met = row["goal_met"] if goal is None else goal.met(row["mean"], base["value"], cpu_s=row.get("cpu_s"),
                                                        extra=row.get("extra") or {})
    return {**row, "baseline": base, "goal_met": met}


def write_results(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Merge ``rows`` into the ``bench:accuracy`` section of ``path``; a lock file (in the temporary
    folder) lets benches that run side by side (one data set each) update the file in turn."""
    import fcntl

    from rnnkit.bench import write_section

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    import hashlib
    import tempfile

    key = hashlib.blake2b(str(p.resolve()).encode(), digest_size=8).hexdigest()
    with open(Path(tempfile.gettempdir()) / f"rnnkit-results-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not p.exists():
            p.write_text("# Results\n\nMeasured by `rnnkit bench`; each section is written by its bench.\n")
        return write_section(p, SECTION, to_markdown(merge_rows(read_rows(p), rows)))


__all__ = ["SECTION", "Row", "keep_baseline", "merge_rows", "read_rows", "to_markdown", "write_results"]
