"""What ``rnnkit bench cv`` shows: a table of the folds (:func:`to_text`), the paired comparison in a
few lines (:func:`compare_text`) and a backtest's forecasts drawn over the training series
(:func:`plot_backtest`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rnnkit.bench.cv_plan import _training_series
from rnnkit.bench.cv_pooled import CVResult


def plot_backtest(result: CVResult, dataset: Any, path: str | Path) -> Path:
    """Draw a backtest's forecasts over the training series of ``dataset`` (the one it ran on)."""
    from rnnkit.report import plots

    if not result.backtest:
        raise ValueError("--plot draws a forecasting backtest; this run cut classification folds")
    series, _ = _training_series(dataset)
    origins = [int(o) for o in result.settings["origin_index"]]
    by_origin = [(o, [f.forecast for f in result.folds if f.fold == k]) for k, o in enumerate(origins)]
    return plots.backtest(series.to_numpy(), by_origin, path, times=series.index,
                          title=f"{result.dataset}: backtest, pooled {result.metric} {result.pooled:.2f}",
                          ylabel=str(series.name or "value"))


def compare_text(base: CVResult, change: CVResult, paired: dict[str, Any]) -> str:
    """The paired comparison in a few lines."""
    unit = paired["unit"]
    lines = [f"paired: the change {paired['delta']:+.4f} pooled {base.metric} "
             f"({base.pooled:.4f} -> {change.pooled:.4f})"]
    for key in ("fixed", "broken"):
        found = paired[key]
        if unit == "items":
            shown = ", ".join(f"{i} ({b} -> {c} of {base.settings.get('repeats', 1)})" for i, (b, c) in found.items())
        else:
            shown = ", ".join(f"{k} ({d:+.4f})" for k, d in found.items())
        lines.append(f"  {key}: {len(found)} {unit}" + (f": {shown}" if shown else ""))
    lines.append(f"  sign test over the {unit} that changed: p = {paired['p_sign']:.3g} (two-sided)")
    return "\n".join(lines)


def to_text(result: CVResult) -> str:
    """A short plain-text table of the folds and their summary."""
    repeats = int(result.settings.get("repeats", 1))
    folds = len(result.folds) // repeats
    if result.backtest:
        kind = (f"rolling-origin backtest, {folds} origins {result.settings.get('origin_step')} steps apart"
                + (f", {repeats} model seeds each," if repeats > 1 else ""))
    else:
        kind = f"{folds}-fold cross-validation" + (f", repeated {repeats} times," if repeats > 1 else "")
    lines = [f"{result.dataset}: {kind} on train ({result.metric}, final weights; {result.device})",
             f"{'fold':>6} {'n':>5} {result.metric:>10} {'loss':>8} {'CPU s':>7}"
             + ("  trained to" if result.backtest else "")]
    for r in result.folds:
        loss = "" if r.loss is None else f"{r.loss:.4f}"
        name = f"{r.repeat + 1}.{r.fold + 1}" if repeats > 1 else str(r.fold + 1)
        lines.append(f"{name:>6} {r.n_valid:>5} {r.value:>10.4f} {loss:>8} {r.cpu_s:>7.0f}"
                     + (f"  {r.origin}" if r.origin else ""))
    n = sum(r.n_valid for r in result.folds)
    unit = "steps" if result.backtest else "items"
    spread = "" if result.std is None else f" ± {result.std:.4f}"  # one fold: no std to show
    lines.append(f"mean {result.mean:.4f}{spread}; pooled {result.pooled:.4f} over {n} "
                 + (f"predictions ({n // repeats} {unit} x {repeats})" if repeats > 1 else unit))
    if result.curve:
        best = result.best_epoch
        lines.append(f"mean valid {result.metric} by epoch: best {result.curve[best - 1]:.4f} at epoch {best} "
                     f"of {len(result.curve)} (final {result.curve[-1]:.4f})")
    wrong = sorted(i for r in result.folds for i in r.wrong)
    if wrong and repeats > 1:
        counts = Counter(wrong)
        lines.append(f"wrong (pooled item index: times of {repeats}): "
                     + ", ".join(f"{i}: {counts[i]}" for i in sorted(counts)))
    elif wrong:
        lines.append(f"wrong (pooled item indices): {wrong}")
    return "\n".join(lines)


__all__ = ["compare_text", "plot_backtest", "to_text"]
