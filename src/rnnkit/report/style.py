"""The look shared by every rnnkit plot: one palette, readable fonts, and a safe PNG writer.

Plots are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``: no global figure state, no display needed, safe in tests and worker processes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

# A colour-blind-friendly palette (Okabe & Ito, 2008), used in this order by every plot.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
TRAIN, VALID, TRUTH, PREDICTED = PALETTE[0], PALETTE[1], "#333333", PALETTE[5]
SEQUENTIAL_CMAP = "Blues"

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
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.15,
    "font.family": "DejaVu Sans",
}


@contextmanager
def new_figure(width: float, height: float) -> Iterator[Figure]:
    """A fresh Agg figure drawn under the rnnkit style (``with new_figure(6, 4) as fig: ...``)."""
    with mpl.rc_context(RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(width, height), layout="constrained")
        yield fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically (temp file + rename) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        with mpl.rc_context(RC):  # type: ignore[arg-type]
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
