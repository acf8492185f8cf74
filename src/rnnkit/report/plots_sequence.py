"""Plots of sequence outputs: attention heat-maps, per-frame label timelines, captioned images.

Each function is pure: arrays in, one PNG out (the path is returned).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from numpy.typing import ArrayLike

from rnnkit.report.style import PALETTE, SEQUENTIAL_CMAP, can_draw, new_figure, save_png, short

_GOOD, _BAD = "#1a7f37", "#c62828"
# 20 distinguishable colours for tag bands: the palette first, then tab20's lighter half.
_TAG_COLORS = PALETTE[:6] + ["#999999", "#8c564b", "#17becf", "#bcbd22", "#393b79", "#ad494a",
                             "#637939", "#7b4173", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
                             "#c5b0d5", "#c49c94"]


def attention(
    weights: Sequence[ArrayLike],
    sources: Sequence[Sequence[str]],
    targets: Sequence[Sequence[str]],
    path: str | Path,
    *,
    title: str = "Attention",
) -> Path:
    """Heat-maps of decoder attention, one panel per sample (rows: target tokens, cols: source).

    Args:
        weights: per sample a ``(T_target, T_source)`` array; rows sum to 1.
        sources / targets: the tokens on each axis (cut to the array's size).
    """
    n = len(weights)
    if n == 0 or len(sources) != n or len(targets) != n:
        raise ValueError(f"need as many sources and targets as weight maps, got {n}, {len(sources)}, {len(targets)}")
    maps = [np.asarray(w, dtype=float) for w in weights]
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    cell = max(max(m.shape) for m in maps)
    side = min(max(3.4, 0.2 * cell + 1.4), 6.0)
    with new_figure(side * cols + 0.8, side * rows) as fig:
        axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
        im = None
        for ax, m, src, tgt in zip(axes, maps, sources, targets):
            im = ax.imshow(m, cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1, aspect="auto")
            ax.grid(False)
            src_labels = [short(s, 8) for s in list(src)[: m.shape[1]]]
            tgt_labels = [short(t, 8) for t in list(tgt)[: m.shape[0]]]
            # tokens no plot font can draw (CJK without a CJK font) would be boxes: their positions instead
            src_labels = src_labels if _drawable(src_labels) else [str(i + 1) for i in range(len(src_labels))]
            tgt_labels = tgt_labels if _drawable(tgt_labels) else [str(i + 1) for i in range(len(tgt_labels))]
            upright = all(len(s) <= 2 for s in src_labels)  # characters read upright; words turned
            ax.set_xticks(range(len(src_labels)), src_labels, rotation=0 if upright else 90, fontsize=8)
            ax.set_yticks(range(len(tgt_labels)), tgt_labels, fontsize=8)
            ax.set_xlabel("source")
            ax.set_ylabel("output")
            text = "".join(src) if all(len(s) == 1 for s in src) else " ".join(src)
            if _drawable([text]):
                ax.set_title(short(text, 36), fontsize=10, fontweight="normal")
        for ax in axes[n:]:
            ax.set_visible(False)
        if im is not None:
            fig.colorbar(im, ax=list(axes[:n]), fraction=0.03, pad=0.02, label="attention weight")
        fig.suptitle(title, fontweight="bold", fontsize=13)
        return save_png(fig, path)


def tag_timeline(
    true: Sequence[ArrayLike],
    predicted: Sequence[ArrayLike],
    classes: Sequence[str],
    path: str | Path,
    *,
    tokens: Sequence[Sequence[str]] | None = None,
    title: str = "Per-frame labels: true vs predicted",
) -> Path:
    """Per-sample pairs of coloured bands (true above, predicted below), one colour per label.

    Frames where the prediction is wrong are marked with a red tick under the predicted band.

    Args:
        true / predicted: per sample ``(T,)`` label ids (the same length per sample).
        classes: label names, indexed by id.
        tokens: optional per-sample tokens written under each frame (short sequences only).
    """
    n = len(true)
    if n == 0 or len(predicted) != n:
        raise ValueError(f"need as many predicted as true sequences, got {len(predicted)} and {n}")
    k = len(classes)
    colors = tag_colors(k)
    cmap = ListedColormap(colors)
    longest = max(len(np.asarray(t).reshape(-1)) for t in true)
    width = min(max(6.0, 0.22 * longest + 2.5), 16.0)
    with new_figure(width, 1.25 * n + 1.2) as fig:
        axes = fig.subplots(n, 1, squeeze=False)[:, 0]
        used: set[int] = set()
        for i, ax in enumerate(axes):
            t = np.asarray(true[i], dtype=int).reshape(-1)
            p = np.asarray(predicted[i], dtype=int).reshape(-1)[: len(t)]
            used.update(t.tolist())
            used.update(p.tolist())
            ax.imshow(np.stack([t, p]), cmap=cmap, vmin=-0.5, vmax=k - 0.5, aspect="auto",
                      interpolation="nearest", extent=(-0.5, len(t) - 0.5, 1.5, -0.5))
            wrong = np.nonzero(t != p)[0]
            ax.scatter(wrong, np.full(len(wrong), 1.62), marker="|", color=_BAD, s=40, clip_on=False)
            ax.grid(False)
            ax.set_yticks([0, 1], ["true", "predicted"])
            acc = 100 * float((t == p).mean()) if len(t) else 0.0
            ax.set_title(f"sample {i + 1}: {acc:.0f}% of {len(t)} frames right", fontsize=9,
                         fontweight="normal", loc="left")
            for s in ax.spines.values():
                s.set_visible(False)
            if tokens is not None and len(t) <= 60 and _drawable(tokens[i]):
                ax.set_xticks(range(len(t)), [short(x, 4) for x in list(tokens[i])[: len(t)]], fontsize=7)
            elif i == n - 1:
                ax.set_xlabel("frame")
                ax.xaxis.get_major_locator().set_params(integer=True)
            else:
                ax.set_xticks([])
        handles = [Patch(color=colors[c], label=short(classes[c], 12))
                   for c in sorted(used) if 0 <= c < k]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8), fontsize=8)
        fig.suptitle(title, fontweight="bold", fontsize=13)
        return save_png(fig, path)


def tag_colors(k: int) -> list[str]:
    """``k`` distinct colours: the 20 of :data:`_TAG_COLORS`, then matplotlib's tab20b and tab20c
    (56 distinct in all), then evenly spaced hues: a tag set of 40+ (People's Daily POS) repeats none."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    colors = list(_TAG_COLORS)
    for name in ("tab20b", "tab20c"):
        colors += [to_hex(c) for c in colormaps[name].colors]  # type: ignore[attr-defined]
    colors = list(dict.fromkeys(c.lower() for c in colors))  # _TAG_COLORS holds a few of tab20b's
    if k > len(colors):
        colors += [to_hex(colormaps["hsv"](i / (k - len(colors)))) for i in range(k - len(colors))]
    return colors[:k]


def _drawable(tokens: Sequence[str]) -> bool:
    """Whether the plot fonts have the glyphs: CJK characters draw as boxes unless a font for them is
    installed (``style.FALLBACK_FONTS``)."""
    return can_draw("".join(tokens))


def _as_image(a: ArrayLike) -> np.ndarray:
    img = np.asarray(a, dtype=float)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = np.moveaxis(img, 0, -1)  # (C, H, W) -> (H, W, C)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 1:
        side = int(round(np.sqrt(img.size)))
        if side * side != img.size:
            raise ValueError(f"a flat image must be square, got {img.size} values")
        img = img.reshape(side, side)
    if img.ndim not in (2, 3):
        raise ValueError(f"an image must be (H, W), (H, W, C) or (C, H, W), got shape {img.shape}")
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def captions(
    images: Sequence[ArrayLike],
    generated: Sequence[str],
    path: str | Path,
    *,
    references: Sequence[str] | None = None,
    title: str = "Generated captions",
) -> Path:
    """A grid of images, each with its generated caption under it (and the reference, if given).

    A caption that equals its reference is green, one that differs is red.
    """
    n = len(images)
    if n == 0 or len(generated) != n or (references is not None and len(references) != n):
        raise ValueError("need one generated caption (and reference, if given) per image")
    pictures = [_as_image(im) for im in images]
    aspect = max(p.shape[1] / p.shape[0] for p in pictures)  # width / height
    cols = min(n, 4 if aspect < 2 else 2)
    rows = (n + cols - 1) // cols
    width = 2.4 * min(aspect, 2.0)
    with new_figure(width * cols + 0.3, (width / aspect + 0.9) * rows + 0.5) as fig:
        axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
        for i, ax in enumerate(axes):
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= n:
                ax.set_visible(False)
                continue
            img = pictures[i]
            ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None, interpolation="nearest")
            for s in ax.spines.values():
                s.set_visible(True)
                s.set_color("#bbbbbb")
            text = generated[i] or "(empty)"
            colour = "#222222"
            if references is not None:
                colour = _GOOD if generated[i].strip() == references[i].strip() else _BAD
                ax.set_title(f"true: {short(references[i], 30)}", fontsize=8, fontweight="normal", color="#555555")
            ax.set_xlabel(short(text, 30), fontsize=10, color=colour, fontweight="bold")
        fig.suptitle(title, fontweight="bold", fontsize=13)
        return save_png(fig, path)


__all__ = ["attention", "captions", "tag_timeline"]
