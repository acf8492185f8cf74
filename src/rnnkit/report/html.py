"""Self-contained HTML reports: one page per run, and the tour's index that links every run.

No external assets: images are embedded as base64 ``data:`` URIs and the CSS is inline, so a
``report.html`` can be mailed, attached to an issue or opened offline.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from rnnkit.data.dataset import PublishedResult

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --accent:#0072B2; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: var(--fg); margin: 0; background: #fff; }
header { background: linear-gradient(90deg, #0b3d66, #0072B2); color: #fff; padding: 22px 32px; }
header h1 { margin: 0; font-size: 26px; } header p { margin: 4px 0 0; opacity: .85; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 32px 48px; }
h2 { font-size: 19px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 6px 12px; text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.better { color: #1a7f37; font-weight: 600; } .worse { color: #c62828; }
.muted { color: var(--muted); font-size: 13px; }
figure { margin: 18px 0; } figure img { max-width: 100%; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 12px;
      overflow-x: auto; font-size: 13px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 18px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card img { width: 100%; border-radius: 4px; } .card h3 { margin: 0 0 6px; font-size: 16px; }
a { color: var(--accent); }
"""


def data_uri(png: str | Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return html.escape(str(value))


def _page(title: str, subtitle: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"<main>{body}</main></body></html>\n")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".html", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def metrics_table(metrics: Mapping[str, Any], published: Sequence[PublishedResult],
                  *, primary: str = "", higher_is_better: bool = True, split: str = "test") -> str:
    """HTML table: each metric of this run (on the ``split`` it names), next to published figures for
    the same metric."""
    rows = []
    for name, value in metrics.items():
        if isinstance(value, (list, dict)):
            continue
        refs = [p for p in published if p.metric == name]
        ref_text = "<br>".join(f"{_fmt(p.value)} — {html.escape(p.model)} "
                               f"<span class=\"muted\">({html.escape(p.source)})</span>" for p in refs) or "—"
        cls = ""
        if refs and isinstance(value, (int, float)):
            best = max(p.value for p in refs) if higher_is_better else min(p.value for p in refs)
            ahead = value >= best if higher_is_better else value <= best
            cls = "better" if ahead else "worse"
        mark = " ★" if name == primary else ""
        rows.append(f"<tr><td>{html.escape(name)}{mark}</td><td class=\"num {cls}\">{_fmt(value)}</td>"
                    f"<td>{ref_text}</td></tr>")
    return (f"<table><tr><th>metric ({html.escape(split)} split)</th><th>rnnkit</th>"
            "<th>published / baseline</th></tr>"
            + "".join(rows) + "</table>")


def write_report(
    path: str | Path,
    *,
    title: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    plots: Sequence[tuple[str, str | Path]],
    published: Sequence[PublishedResult] = (),
    facts: Mapping[str, Any] | None = None,
    primary: str = "",
    higher_is_better: bool = True,
    samples: Sequence[str] = (),
    split: str = "test",
) -> Path:
    """Write a run's ``report.html``: facts, metrics vs published figures, plots, samples, config.
    ``split``: the split the metrics and plots come from (valid when the data have no test split).

    Args:
        plots: ``(caption, png path)`` pairs, embedded in that order.
        facts: short key/value lines about the run (data set, shape, model, parameters, time).
        primary: the primary metric (starred); ``higher_is_better`` colours the comparison.
        samples: a few predictions as text (shown verbatim).
    """
    parts = []
    if facts:
        parts.append("<h2>Run</h2><table>" + "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in facts.items()) + "</table>")
    parts.append("<h2>Metrics</h2>" + metrics_table(metrics, published, primary=primary,
                                                    higher_is_better=higher_is_better, split=split))
    if plots:
        parts.append("<h2>Plots</h2>")
        for caption, png in plots:
            parts.append(f"<figure><img alt=\"{html.escape(caption)}\" src=\"{data_uri(png)}\">"
                         f"<figcaption>{html.escape(caption)} "
                         f"<span class=\"muted\">(plots/{html.escape(Path(png).name)})</span></figcaption></figure>")
    if samples:
        parts.append("<h2>Sample predictions</h2><pre>" + html.escape("\n".join(samples)) + "</pre>")
    parts.append("<h2>Configuration</h2><pre>"
                 + html.escape(yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)) + "</pre>")
    return _write(Path(path), _page(title, "rnnkit run report", "".join(parts)))


def write_tour_report(
    rows: Sequence[Mapping[str, Any]],
    run_dirs: Sequence[str | Path],
    path: str | Path | None = None,
    *,
    note: str = "",
) -> Path:
    """Write the tour's ``index.html``: the results table and a card per run linking its report.

    Args:
        rows: one mapping per run with keys ``shape``, ``dataset``, ``model``, ``metric``,
            ``result``, ``published`` (text), ``seconds``; optional ``thumbnail`` (a PNG path).
        run_dirs: the run folders, in the order of ``rows``.
        path: where to write; default ``<parent of the first run>/index.html``.
        note: a line shown above the results (a quick tour, splits cut by ``limit``), so that its
            figures are not read as comparable with the published ones.
    """
    if len(rows) != len(run_dirs):
        raise ValueError(f"got {len(rows)} rows for {len(run_dirs)} run folders")
    if not run_dirs and path is None:
        raise ValueError("no runs and no path: nothing to write")
    out = Path(path) if path is not None else Path(run_dirs[0]).parent / "index.html"
    cols = ["shape", "dataset", "model", "metric", "result", "published", "seconds"]
    head = "".join(f"<th>{c}</th>" for c in cols) + "<th>report</th>"
    body, cards = [], []
    for row, run in zip(rows, run_dirs):
        link = os.path.relpath(Path(run) / "report.html", out.parent)
        if not (Path(run) / "report.html").exists():
            link = os.path.relpath(Path(run), out.parent)  # a failed run: link its folder
        cells = "".join(f"<td class=\"{'num' if c in ('result', 'seconds') else ''}\">{_fmt(row.get(c, ''))}</td>"
                        for c in cols)
        body.append(f"<tr>{cells}<td><a href=\"{html.escape(link)}\">report</a></td></tr>")
        thumb = row.get("thumbnail")
        img = (f"<a href=\"{html.escape(link)}\"><img alt=\"{html.escape(str(row.get('dataset', '')))}\" "
               f"src=\"{data_uri(thumb)}\"></a>" if thumb and Path(thumb).exists() else "")
        cards.append(f"<div class=\"card\"><h3>{html.escape(str(row.get('shape', '')))}: "
                     f"<a href=\"{html.escape(link)}\">{html.escape(str(row.get('dataset', '')))}</a></h3>"
                     f"<div class=\"muted\">{html.escape(str(row.get('model', '')))} · "
                     f"{html.escape(str(row.get('metric', '')))} {_fmt(row.get('result', ''))}</div>{img}</div>")
    parts = [f"<p class=\"note\"><strong>{html.escape(note)}</strong></p>" if note else "",
             f"<h2>Results</h2><table><tr>{head}</tr>{''.join(body)}</table>",
             "<p class=\"muted\">Each model was trained on this machine's CPU by <code>rnnkit tour</code>; "
             "published figures come from each data set's info (source named in each run's report).</p>",
             f"<h2>Runs</h2><div class=\"grid\">{''.join(cards)}</div>"]
    return _write(out, _page("rnnkit tour", "one model per problem shape, on bundled real data", "".join(parts)))


__all__ = ["data_uri", "metrics_table", "write_report", "write_tour_report"]
