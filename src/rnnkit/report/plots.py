"""Plots of a run's numbers: learning curves, a confusion matrix, and a forecast against the truth.

Each function is pure: arrays in, one PNG out (the path is returned). Sequence-shaped plots
(attention, tag timelines, captions) live in :mod:`rnnkit.report.plots_sequence`.

Example:
    >>> learning_curves({"epoch": [1, 2], "train_loss": [1.0, 0.5], "valid_loss": [1.1, 0.7]},
    ...                 "plots/learning_curves.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from rnnkit.report.style import (
    PALETTE,
    PREDICTED,
    SEQUENTIAL_CMAP,
    TRAIN,
    TRUTH,
    VALID,
    color,
    new_figure,
    save_png,
    short,
)

_SPLIT_COLORS = {"train": TRAIN, "valid": VALID, "test": PALETTE[2]}
_NOT_CURVES = {"epoch", "step", "lr", "learning_rate", "time", "seconds", "samples_per_s", "throughput"}


def _split_columns(history: Mapping[str, Sequence[float]], metric: str | None) -> tuple[list[str], list[str]]:
    loss = [k for k in history if k.endswith("loss") and k not in _NOT_CURVES]
    others = [k for k in history if k not in loss and k not in _NOT_CURVES and len(history[k]) > 0]
    if metric:
        chosen = [k for k in others if k == metric or k.split("_", 1)[-1] == metric]  # not valid_token_<metric>
        others = chosen or others
    return loss, others


def _label(column: str) -> str:
    return column.replace("_", " ")


def learning_curves(
    history: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    metric: str | None = None,
    higher_is_better: bool = True,
    title: str = "Learning curves",
    best_epoch: float | None = None,
) -> Path:
    """Loss per epoch (left) and the validation metric per epoch (right), best epoch marked.

    Args:
        history: columns of ``history.csv``: ``epoch`` plus e.g. ``train_loss``, ``valid_loss``,
            ``valid_accuracy``. Columns named ``lr``/``time``/``step`` are not drawn.
        metric: the primary metric name; columns ``<split>_<metric>`` go in the right panel.
        higher_is_better: which end of the metric marks the best epoch.
        best_epoch: the epoch to mark, when the run chose it by another column (its monitor: the
            run folder's metrics.json); else the best of the metric's valid column.
    """
    loss_cols, metric_cols = _split_columns(history, metric)
    if not loss_cols and not metric_cols:
        raise ValueError(f"history has no loss or metric column to plot (columns: {sorted(history)})")
    n = max(len(history[c]) for c in loss_cols + metric_cols)
    epochs = np.asarray(history.get("epoch", range(1, n + 1)), dtype=float)
    panels = [c for c in (loss_cols, metric_cols) if c]
    with new_figure(5.2 * len(panels), 3.8) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        if best_epoch is None and metric_cols:
            valid = [c for c in metric_cols if c.startswith("valid")] or metric_cols
            values = np.asarray(history[valid[0]], dtype=float)
            if np.isfinite(values).any():
                idx = int(np.nanargmax(values) if higher_is_better else np.nanargmin(values))
                best_epoch = epochs[idx]
        for ax, cols, ylabel in zip(axes, panels, ["loss", metric or "metric"]):
            for i, c in enumerate(cols):
                y = np.asarray(history[c], dtype=float)
                x = epochs[: len(y)]
                colour = _SPLIT_COLORS.get(c.split("_")[0], PALETTE[(i + 3) % len(PALETTE)])
                ax.plot(x, y, color=colour, lw=2, marker="o" if len(y) <= 30 else None, ms=3.5, label=_label(c))
            if best_epoch is not None:
                ax.axvline(best_epoch, color="#888888", ls="--", lw=1, label=f"best epoch ({best_epoch:g})")
            ax.set_xlabel("epoch")
            ax.set_ylabel(_label(ylabel))
            ax.legend(loc="best")
            if ylabel == "loss":
                y_all = np.concatenate([np.asarray(history[c], dtype=float) for c in cols])
                pos = y_all[np.isfinite(y_all) & (y_all > 0)]
                if pos.size and pos.max() / pos.min() > 50:
                    ax.set_yscale("log")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[0].set_title("Loss")
        if len(axes) > 1:
            axes[1].set_title(_label(metric or "metric").capitalize())
        fig.suptitle(title, fontweight="bold", fontsize=13)
        return save_png(fig, path)


MAX_LABELLED_CLASSES = 40  # a confusion matrix names at most this many classes on each axis


def confusion_matrix(
    counts: ArrayLike,
    classes: Sequence[str],
    path: str | Path,
    *,
    title: str = "Confusion matrix",
) -> Path:
    """A row-normalised confusion matrix (rows: true class, columns: predicted), labelled in %.

    Args:
        counts: ``(K, K)`` counts, ``counts[i, j]`` = examples of class ``i`` predicted as ``j``.
        classes: the ``K`` class names.
    """
    m = np.asarray(counts, dtype=float)
    k = len(classes)
    if m.shape != (k, k):
        raise ValueError(f"counts must be ({k}, {k}) for {k} classes, got {m.shape}")
    totals = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    accuracy = np.trace(m) / max(m.sum(), 1)
    side = min(max(3.8, 0.5 * k + 2.2), 14)
    with new_figure(side + 1.0, side) as fig:
        ax = fig.subplots()
        im = ax.imshow(norm, cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1)
        ax.grid(False)
        every = max(1, -(-k // MAX_LABELLED_CLASSES))  # many classes: label every n-th, so the names stay legible
        ticks = list(range(0, k, every))
        labels = [short(classes[i]) for i in ticks]
        tilt = k > 4 and max(len(lb) for lb in labels) > 2
        ax.set_xticks(ticks, labels, rotation=45 if tilt else 0, ha="right" if tilt else "center")
        ax.set_yticks(ticks, labels)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        if k <= 25:
            for i in range(k):
                for j in range(k):
                    if m[i, j] == 0:
                        continue
                    ax.text(j, i, f"{100 * norm[i, j]:.0f}", ha="center", va="center",
                            fontsize=9 if k <= 12 else 7, color="white" if norm[i, j] > 0.55 else "#222222")
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cbar.set_label("share of the true class (%)")
        cbar.set_ticks([0, 0.25, 0.5, 0.75, 1.0], labels=["0", "25", "50", "75", "100"])
        ax.set_title(f"{title}\naccuracy {100 * accuracy:.1f}% on {int(m.sum())} examples")
        return save_png(fig, path)


def forecast(
    history: ArrayLike,
    actual: ArrayLike,
    point: ArrayLike,
    path: str | Path,
    *,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
    interval: str = "prediction interval",
    start: int = 0,
    times: ArrayLike | None = None,
    title: str = "Forecast vs actual",
    ylabel: str = "value",
) -> Path:
    """The observed history, then the truth, the point forecast and its interval band.

    Args:
        history: ``(N,)`` observed values before the forecast origin.
        actual: ``(H,)`` what really happened over the horizon (may be shorter than ``point``).
        point: ``(H,)`` the point forecast; ``lower``/``upper``: ``(H,)`` the band's edges.
        start: the time index of ``history[0]`` (x axis), when ``times`` is not given.
        times: ``(N + H,)`` x values (e.g. dates) of the history then the horizon.
    """
    hist = np.asarray(history, dtype=float).reshape(-1)
    act = np.asarray(actual, dtype=float).reshape(-1)
    pt = np.asarray(point, dtype=float).reshape(-1)
    if (lower is None) != (upper is None):
        raise ValueError("give both lower and upper for the interval, or neither")
    n, h = len(hist), max(len(pt), len(act))
    t_all = np.arange(start, start + n + h) if times is None else np.asarray(times)[: n + h]
    if len(t_all) < n + h:
        raise ValueError(f"times has {len(t_all)} values for {n} history and {h} future steps")
    t_hist, t_fut = t_all[:n], t_all[n: n + len(pt)]
    with new_figure(8.0, 3.8) as fig:
        ax = fig.subplots()
        ax.plot(t_hist, hist, color=TRUTH, lw=1.6, label="history")
        if lower is not None and upper is not None:
            lo = np.asarray(lower, dtype=float).reshape(-1)
            hi = np.asarray(upper, dtype=float).reshape(-1)
            ax.fill_between(t_fut, lo, hi, color=PALETTE[0], alpha=0.2, lw=0, label=interval)
        if len(act):
            t_act = t_all[n: n + len(act)]
            ax.plot(np.r_[t_hist[-1:], t_act], np.r_[hist[-1:], act], color=TRUTH, lw=1.6, ls="--",
                    marker="o", ms=3, label="actual")
        ax.plot(np.r_[t_hist[-1:], t_fut], np.r_[hist[-1:], pt], color=PREDICTED, lw=2.2, marker="o", ms=3,
                label="forecast")
        ax.axvline(t_hist[-1], color="#888888", lw=1, ls=":")
        ax.annotate("forecast origin", xy=(t_hist[-1], 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-4, -4), textcoords="offset points", ha="right", va="top", fontsize=8, color="#555555")
        ax.set_xlabel("time step" if times is None else "time")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="upper left", ncol=2)
        return save_png(fig, path)


def backtest(
    series: ArrayLike,
    forecasts: Sequence[tuple[int, Sequence[ArrayLike]]],
    path: str | Path,
    *,
    times: ArrayLike | None = None,
    title: str = "Backtest from rolling origins",
    ylabel: str = "value",
) -> Path:
    """The observed series and, from each forecast origin, the forecasts made there.

    Args:
        series: ``(N,)`` the observed values (the training series of the backtest).
        forecasts: ``(origin, paths)`` per origin: ``origin`` the index of the first forecast step,
            ``paths`` one forecast per model seed (each may run past ``N``: it is cut there).
            Several paths are drawn thin, with their mean bold.
        times: ``(N,)`` x values (e.g. dates); the steps' indices when not given.
    """
    values = np.asarray(series, dtype=float).reshape(-1)
    n = len(values)
    t = np.arange(n) if times is None else np.asarray(times)[:n]
    if len(t) < n:
        raise ValueError(f"times has {len(t)} values for a series of {n}")
    with new_figure(8.0, 3.8) as fig:
        ax = fig.subplots()
        ax.plot(t, values, color=TRUTH, lw=1.6, label="observed")
        for i, (origin, paths) in enumerate(forecasts):
            if not 0 < origin < n:
                raise ValueError(f"origin {origin} is outside the series of {n} steps")
            arrays = [np.asarray(p, dtype=float).reshape(-1)[: n - origin] for p in paths]
            if not arrays:
                continue
            h = min(len(a) for a in arrays)
            steps = np.r_[t[origin - 1: origin], t[origin: origin + h]]
            c = color(i + 1)
            for a in arrays if len(arrays) > 1 else []:
                ax.plot(steps, np.r_[values[origin - 1], a[:h]], color=c, lw=0.8, alpha=0.45)
            mean = np.mean([a[:h] for a in arrays], axis=0)
            seeds = f" ({len(arrays)} seeds)" if len(arrays) > 1 else ""
            ax.plot(steps, np.r_[values[origin - 1], mean], color=c, lw=2.0,
                    label=f"trained to {short(str(t[origin - 1])[:10], 12)}{seeds}")
            ax.axvline(t[origin - 1], color=c, lw=0.8, ls=":")
        ax.set_xlabel("time step" if times is None else "time")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="upper left")
        return save_png(fig, path)


__all__ = ["backtest", "confusion_matrix", "forecast", "learning_curves"]
