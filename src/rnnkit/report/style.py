"""The look shared by every rnnkit plot: one palette, readable fonts, and a safe PNG writer.

Plots are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``: no global figure state, no display needed, safe in tests and worker processes.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

# A colour-blind-friendly palette (Okabe & Ito, 2008), used in this order by every plot.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
TRAIN, VALID, TRUTH, PREDICTED = PALETTE[0], PALETTE[1], "#333333", PALETTE[5]
SEQUENTIAL_CMAP = "Blues"

MARGIN = 0.1  # inches of white around every figure, and around each of its axes and titles
RC: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": "-",
    "legend.frameon": False,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.family": "DejaVu Sans",
}

# Fonts that draw what DejaVu Sans cannot (Chinese, Japanese and Korean characters), most preferred
# first; the first installed of each is added behind DejaVu Sans, and matplotlib falls back to it glyph
# by glyph. None ships with matplotlib: without one, such text would draw as boxes, and the plots that
# label tokens leave those labels out (``can_draw``).
FALLBACK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK", "Noto Sans SC", "Source Han Sans", "WenQuanYi Zen Hei",
                  "WenQuanYi Micro Hei", "Droid Sans Fallback", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB",
                  "SimHei", "Heiti SC", "Arial Unicode MS", "AR PL UMing", "Noto Sans JP", "Noto Sans KR",
                  "Noto Sans TC", "IPAexGothic", "IPAGothic", "Unifont")


@functools.cache
def font_families() -> tuple[str, ...]:
    """DejaVu Sans, then the installed fonts of :data:`FALLBACK_FONTS` (one per entry, in its order)."""
    from matplotlib import font_manager

    installed = sorted({f.name for f in font_manager.fontManager.ttflist})
    found: list[str] = []
    for wanted in FALLBACK_FONTS:
        match = next((name for name in installed if name == wanted or name.startswith(wanted + " ")), None)
        if match is not None and match not in found:
            found.append(match)
    return ("DejaVu Sans", *found)


@functools.cache
def _charmap(family: str) -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    return frozenset(FT2Font(path).get_charmap())


def can_draw(text: str) -> bool:
    """Whether the plot fonts (:func:`font_families`) hold a glyph for every character of ``text``."""
    missing = {ord(ch) for ch in text if not ch.isspace()}
    for family in font_families():
        missing -= _charmap(family)
        if not missing:
            return True
    return not missing


def _rc() -> dict[str, Any]:
    return {**RC, "font.family": list(font_families())}


@contextmanager
def new_figure(width: float, height: float) -> Iterator[Figure]:
    """A fresh Agg figure drawn under the rnnkit style (``with new_figure(6, 4) as fig: ...``)."""
    with mpl.rc_context(_rc()):  # type: ignore[arg-type]
        # constrained layout keeps every label inside the figure, MARGIN inches from its edges; a "tight"
        # bounding box at saving would draw the figure a second time to measure it (~0.5 s a figure here)
        fig = Figure(figsize=(width, height), layout=ConstrainedLayoutEngine(w_pad=MARGIN, h_pad=MARGIN))
        yield fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically (temp file + rename) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        with mpl.rc_context(_rc()):  # type: ignore[arg-type]
            fig.savefig(tmp, format="png", facecolor="white")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def color(i: int) -> str:
    """The ``i``-th palette colour (cycling)."""
    return PALETTE[i % len(PALETTE)]


def short(label: str, width: int = 14) -> str:
    """A label cut to ``width`` characters with an ellipsis, for crowded axes."""
    return label if len(label) <= width else label[: width - 1] + "…"
