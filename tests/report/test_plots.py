"""Every plot writes a readable, non-empty PNG; the HTML report is self-contained and shows them all."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from rnnkit.data.dataset import PublishedResult
from rnnkit.report import plots, plots_sequence
from rnnkit.report.html import write_report, write_tour_report

RNG = np.random.default_rng(0)


def _check_png(path: Path) -> np.ndarray:
    assert path.exists() and path.stat().st_size > 2000, f"{path} is missing or nearly empty"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img.std() > 0.01, "the image is a flat colour"
    return img


def _all_plots(tmp: Path) -> list[Path]:
    e = np.arange(1, 9)
    history = {"epoch": e, "train_loss": 1 / e, "valid_loss": 1.2 / e, "valid_accuracy": 1 - 0.5 / e, "lr": e}
    pt = np.linspace(0, 1, 12)
    return [
        plots.learning_curves(history, tmp / "lc.png", metric="accuracy"),
        plots.confusion_matrix(RNG.integers(0, 9, (4, 4)), ["a", "b", "c", "a very long class name"], tmp / "cm.png"),
        plots.forecast(np.sin(np.arange(48) / 3), np.sin(np.arange(48, 60) / 3), pt, tmp / "fc.png",
                       lower=pt - 0.2, upper=pt + 0.2),
        plots.backtest(np.sin(np.arange(60) / 3), [(36, [np.zeros(24), np.ones(24)]), (48, [np.zeros(24)])],
                       tmp / "bt.png"),
        plots_sequence.attention([RNG.dirichlet(np.ones(6), 5)] * 2, [list("abcdef")] * 2, [list("vwxyz")] * 2,
                                 tmp / "att.png"),
        plots_sequence.tag_timeline([RNG.integers(0, 3, 20)] * 2, [RNG.integers(0, 3, 20)] * 2, ["B", "I", "O"],
                                    tmp / "tag.png", tokens=[list("abcdefghijklmnopqrst"), list("中文字")]),
        plots_sequence.captions([RNG.random((8, 8)), RNG.random((1, 8, 8)), RNG.random(64)], ["one", "two", "six"],
                                tmp / "cap.png", references=["one", "two", "three"]),
    ]


def test_every_plot_writes_a_readable_png(tmp_path: Path) -> None:
    for p in _all_plots(tmp_path):
        _check_png(p)


def test_a_figure_keeps_its_set_size_and_its_margin(tmp_path: Path) -> None:
    """Saved as laid out (constrained layout, style.MARGIN from the edges), not cropped to a tight box,
    which drew every figure twice: a two-panel learning-curve figure is 2 x 5.2 by 3.8 inches at 110 dpi,
    and its outer rows and columns are blank."""
    path = plots.learning_curves({"epoch": [1, 2, 3], "train_loss": [1.0, 0.7, 0.5], "valid_loss": [1.1, 0.9, 0.8],
                                  "valid_accuracy": [0.5, 0.6, 0.7]}, tmp_path / "lc.png", metric="accuracy")
    image = mpimg.imread(path)
    assert image.shape[:2] == (round(3.8 * 110), round(2 * 5.2 * 110))
    edge = 5  # pixels: less than the 0.1 in (11 px) margin
    for band in (image[:edge], image[-edge:], image[:, :edge], image[:, -edge:]):
        assert np.allclose(band[..., :3], 1.0), "something is drawn in the figure's margin"


def test_confusion_matrix_rejects_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        plots.confusion_matrix(np.ones((2, 2)), ["a", "b", "c"], tmp_path / "x.png")


def test_backtest_refuses_an_origin_outside_the_series(tmp_path: Path) -> None:
    for origin in (0, 60):
        with pytest.raises(ValueError, match="outside the series"):
            plots.backtest(np.arange(60.0), [(origin, [np.zeros(3)])], tmp_path / "x.png")


def test_learning_curves_needs_a_curve(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no loss or metric"):
        plots.learning_curves({"epoch": [1, 2], "lr": [0.1, 0.1]}, tmp_path / "x.png")


def test_forecast_needs_both_band_edges(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both lower and upper"):
        plots.forecast([1, 2], [3], [3], tmp_path / "x.png", lower=[2])


def test_report_is_self_contained_and_embeds_every_plot(tmp_path: Path) -> None:
    pngs = _all_plots(tmp_path / "plots")
    published = [PublishedResult("DTW", "accuracy", 0.9, "UCR archive")]
    out = write_report(tmp_path / "report.html", title="demo <run>", config={"model": {"hidden": 8}},
                       metrics={"accuracy": 0.95, "loss": 0.1}, plots=[(p.stem, p) for p in pngs],
                       published=published, facts={"data set": "demo"}, primary="accuracy",
                       samples=["a -> b"])
    text = out.read_text()
    assert text.count("data:image/png;base64,") == len(pngs)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "external asset referenced"
    assert "<link" not in text and "<script" not in text
    assert "demo &lt;run&gt;" in text and "UCR archive" in text and 'class="num better"' in text


def test_tour_index_links_every_run(tmp_path: Path) -> None:
    runs = [tmp_path / "tour" / n for n in ("a", "b")]
    runs[0].mkdir(parents=True)
    (runs[0] / "report.html").write_text("<html></html>")  # run "b" failed: no report, its folder is linked
    thumb = plots.confusion_matrix(np.eye(2), ["x", "y"], tmp_path / "t.png")
    rows = [{"shape": "many-to-one", "dataset": n.name, "model": "m", "metric": "accuracy", "result": 0.5,
             "published": "0.9", "seconds": 1.0, "thumbnail": thumb} for n in runs]
    index = write_tour_report(rows, runs)
    assert index == tmp_path / "tour" / "index.html"
    text = index.read_text()
    assert 'href="a/report.html"' in text and 'href="b"' in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    with pytest.raises(ValueError, match="rows"):
        write_tour_report(rows[:1], runs)


def test_an_installed_fallback_font_draws_what_dejavu_cannot(tmp_path: Path, monkeypatch) -> None:
    """CJK fonts are found among the installed ones and put behind DejaVu Sans; token labels are drawn
    only where some plot font has their glyphs. STIXGeneral (shipped with matplotlib) stands in for a
    CJK font here: it holds U+1D81, which DejaVu Sans lacks."""
    from matplotlib.figure import Figure

    from rnnkit.report import style

    def fresh() -> None:
        style.font_families.cache_clear()

    rare = "\u1d81"
    monkeypatch.setattr(style, "FALLBACK_FONTS", ("No Such Font",))
    fresh()
    assert style.font_families() == ("DejaVu Sans",)
    assert style.can_draw("abc é") and not style.can_draw(rare) and not style.can_draw("中文")
    monkeypatch.setattr(style, "FALLBACK_FONTS", ("No Such Font", "STIXGeneral"))
    fresh()
    try:
        assert style.font_families() == ("DejaVu Sans", "STIXGeneral")
        assert style.can_draw("a" + rare) and not style.can_draw(rare + "中")
        with style.new_figure(2, 2) as fig:
            assert isinstance(fig, Figure)
            import matplotlib as mpl

            assert mpl.rcParams["font.family"] == ["DejaVu Sans", "STIXGeneral"]
        labelled = plots_sequence.tag_timeline([np.array([0, 1])], [np.array([0, 1])], ["B", "E"], tmp_path / "t.png",
                                               tokens=[["a", rare]])
        _check_png(labelled)
    finally:
        monkeypatch.undo()
        fresh()
