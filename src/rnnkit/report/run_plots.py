"""The glue the CLI and the tour call: a trained model + its data set + its run folder -> the
task's plots under ``plots/`` and ``report.html``.

Which plots depends on ``info.task``: learning curves always; a confusion matrix for
classification; attention maps for seq2seq; tag timelines for tagging; captions under their images
for generation from an image; forecast vs actual (with an interval from validation residuals) for
forecasting. A language model's report shows texts it generates (:func:`continuations`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from rnnkit.data.batch import Batch
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.report import plots, plots_sequence
from rnnkit.report.html import write_report
from rnnkit.report.predictions import decode_tokens, generated_ids, predict_split, sequence_text

Plot = tuple[str, Path]


def read_history(run_dir: Path) -> dict[str, list[float]]:
    """``history.csv`` as columns of floats (empty if the file is absent)."""
    path = run_dir / "history.csv"
    if not path.exists():
        return {}
    cols: dict[str, list[float]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                try:
                    cols.setdefault(k, []).append(float(v))
                except (TypeError, ValueError):
                    continue
    return cols


def _classification(model: Any, split: ExampleList, ds: SequenceDataset, out: Path) -> list[Plot]:
    info = ds.info
    if not info.classes:
        return []
    y_true, y_pred = predict_split(model, split, ds.collate)
    k = len(info.classes)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return [(f"Confusion matrix on the {'test' if split is ds.test else 'valid'} split", plots.confusion_matrix(
        counts, info.classes, out / "confusion_matrix.png", title=f"{info.name}: confusion matrix"))]


def _tagging(model: Any, split: ExampleList, ds: SequenceDataset, out: Path, n: int) -> list[Plot]:
    info = ds.info
    examples = split.examples[:n]
    batch = ds.collate(examples)
    pred = model.predict(batch).cpu().numpy()
    assert batch.y is not None
    true, predicted, tokens = [], [], []
    for i, e in enumerate(examples):
        length = int(batch.lengths[i]) if batch.lengths is not None else pred.shape[1]
        true.append(batch.y[i, :length].cpu().numpy())
        predicted.append(pred[i, :length])
        if info.input_vocab is not None and e.x is not None and not e.x.is_floating_point():
            tokens.append(info.input_vocab.decode(e.x.tolist(), strip_specials=False))
    classes = info.classes or [str(i) for i in range(int(max(np.max(t) for t in true)) + 1)]
    return [("Per-frame labels on test sequences (red ticks: wrong frames)", plots_sequence.tag_timeline(
        true, predicted, classes, out / "tag_timeline.png", tokens=tokens or None,
        title=f"{info.name}: true vs predicted labels"))]


def _seq2seq(model: Any, split: ExampleList, ds: SequenceDataset, out: Path, n: int) -> list[Plot]:
    info = ds.info
    batch = ds.collate(split.examples[:n])
    with torch.no_grad():
        attn = model(batch).extras.get("attention")
    if attn is None or batch.y is None or batch.y_lengths is None:
        return []
    attn = attn.float().cpu().numpy()  # (B, L, T) weights while reading the reference
    weights, sources, targets = [], [], []
    for i in range(len(split.examples[:n])):
        src_len = int(batch.lengths[i]) if batch.lengths is not None else attn.shape[2]
        tgt = decode_tokens(info.output_vocab, batch.y[i, : int(batch.y_lengths[i])].tolist(), keep_eos=True)
        src = decode_tokens(info.input_vocab, batch.x[i, :src_len].tolist(), keep_eos=True) \
            if batch.x is not None and not batch.x.is_floating_point() else [str(t) for t in range(src_len)]
        weights.append(attn[i, : len(tgt), :src_len])
        sources.append(src)
        targets.append(tgt)
    return [("Attention of the decoder over the source, for test samples (teacher-forced on the reference)",
             plots_sequence.attention(weights, sources, targets, out / "attention.png",
                                      title=f"{info.name}: attention"))]


def _captions(model: Any, split: ExampleList, ds: SequenceDataset, out: Path, n: int) -> list[Plot]:
    info = ds.info
    examples = split.examples[: max(n, 8)]
    batch = ds.collate(examples)
    if batch.cond is None:
        return []
    ids = generated_ids(model.predict(Batch(x=None, cond=batch.cond)))
    hyps = [sequence_text(info.output_vocab, seq) for seq in ids]
    refs = [sequence_text(info.output_vocab, e.y.tolist()) if e.y is not None else "" for e in examples]
    images = [c.cpu().numpy() for c in batch.cond]
    if images[0].ndim == 1 and int(round(np.sqrt(images[0].size))) ** 2 != images[0].size:
        return []
    return [("Generated captions under their test images (green: equal to the reference)", plots_sequence.captions(
        images, hyps, out / "captions.png", references=refs, title=f"{info.name}: generated captions"))]


def continuations(model: Any, dataset: SequenceDataset, *, n: int = 8, temperature: float = 0.8,
                  seed: int = 0) -> list[str]:
    """A language model's texts for the report: greedy, then ``n`` samples at ``temperature`` (seeded),
    each from ``<bos>`` when the data's sequences start with it (a ``text:`` file), else from the
    first token of a test sequence. Empty for other models."""
    from rnnkit.data.vocab import Vocab

    info = dataset.info
    if info.task != "generation" or info.input_kind != "tokens" or not hasattr(model, "prompt_state"):
        return []
    vocab = info.output_vocab or info.input_vocab
    split = dataset.test if len(dataset.test) else dataset.valid
    if info.extra.get("prompt_bos") or len(split) == 0:
        prompts = [[Vocab.bos_id]] * n
    else:
        firsts = [e.x for e in split.examples[:n] if e.x is not None and len(e.x)]
        prompts = [[int(firsts[i % len(firsts)][0])] for i in range(n)] if firsts else [[Vocab.bos_id]] * n

    def text(prompt: list[int], ids: list[int]) -> str:
        return sequence_text(vocab, [*prompt, *ids]).replace("\n", "\u21b5")

    generator = torch.Generator(device=model.device).manual_seed(seed)
    greedy = generated_ids(model.generate(torch.tensor(prompts[:1]), method="greedy"))[0]
    sampled = generated_ids(model.generate(torch.tensor(prompts), method="sample", temperature=temperature,
                                           generator=generator))
    return [f"greedy:  {text(prompts[0], greedy)}",
            *(f"sample {i + 1} (temperature {temperature}): {text(p, ids)}"
              for i, (p, ids) in enumerate(zip(prompts, sampled)))]


MAX_HISTORY = 240  # steps of the past a forecast plot shows at most (or four horizons, if more)


def generated_vs_reference(model: Any, dataset: SequenceDataset, drawn: list[Plot], n: int = 8) -> list[str]:
    """For a conditioned generator whose conditions are not images (no captions plot was drawn): the
    sequences it generates for ``n`` test conditions, each under its reference. Empty otherwise."""
    info = dataset.info
    split = dataset.test if len(dataset.test) else dataset.valid
    if info.task != "generation" or not info.cond_shape or len(split) == 0 or any(
            path.name == "captions.png" for _, path in drawn):
        return []
    examples = split.examples[:n]
    batch = dataset.collate(examples)
    if batch.cond is None:
        return []
    vocab = info.output_vocab
    hyps = generated_ids(model.predict(Batch(x=None, cond=batch.cond)))
    lines = []
    for i, (e, hyp) in enumerate(zip(examples, hyps)):
        label = f" ({info.classes[int(e.cond.argmax())]})" if info.classes and e.cond is not None \
            and e.cond.dim() == 1 and len(e.cond) == len(info.classes) else ""
        lines += [f"{i + 1}{label} reference: {sequence_text(vocab, e.y.tolist()) if e.y is not None else '-'}",
                  f"{' ' * len(str(i + 1))}{' ' * len(label)} generated: {sequence_text(vocab, hyp)}"]
    return lines


def _interval(model: Any, ds: SequenceDataset, point: np.ndarray,
              size: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """An 80% band from validation errors: per horizon step with 5+ windows, else pooled |errors|
    (first target; ``size``: the values of one forecast, H*K). None for data of many series, whose
    errors are on different scales."""
    if len(ds.valid) == 0 or len({e.meta.get("series") for e in ds.valid.examples}) > 1:
        return None, None
    y_true, y_pred = predict_split(model, ds.valid, ds.collate)
    errors = (np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)).reshape(len(ds.valid), -1)
    if errors.shape[1] != size:
        return None, None
    errors = errors.reshape(len(ds.valid), point.size, -1)[:, :, 0]
    if errors.shape[0] >= 5:
        return point + np.quantile(errors, 0.1, axis=0), point + np.quantile(errors, 0.9, axis=0)
    width = float(np.quantile(np.abs(errors), 0.8))
    return point - width, point + width


def _own_interval(model: Any, batch: Any, steps: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The model's own band for a forecaster with a distribution: 10-90% of a Gaussian head's sample
    paths (seeded), or a quantile head's outermost levels around the median; None for a point head
    (first target; ``steps``: H)."""
    from rnnkit.models.ensemble import first_member

    config: Any = getattr(first_member(model), "config", None)
    head = getattr(config, "head", "point")
    if head == "gaussian":
        levels = [0.1, 0.9]
    elif head == "quantile":
        known = sorted(float(q) for q in config.quantiles)
        if not known[0] < 0.5 < known[-1]:
            return None
        levels = [known[0], known[-1]]
    else:
        return None
    generator = torch.Generator(device=model.device).manual_seed(0)
    with torch.no_grad():
        q = model.quantiles(batch, levels, samples=1000, generator=generator)
    q = np.asarray(q.cpu().numpy(), dtype=float)[0].reshape(steps, -1, 2)[:, 0, :]
    share = round((levels[1] - levels[0]) * 100)
    how = "sample paths of its Gaussian head" if head == "gaussian" else "its quantile head"
    return q[:, 0], q[:, 1], f"{share}% interval ({how})"


def _forecasting(model: Any, ds: SequenceDataset, out: Path) -> list[Plot]:
    info = ds.info
    test = ds.test.examples[-1]
    if test.x is None or test.y is None:
        return []
    batch = ds.collate([test])
    predicted = np.asarray(model.predict(batch).cpu().numpy(), dtype=float)
    # (1, H) or (1, H, K): the first target is drawn (the series the history shows)
    point = predicted.reshape(predicted.shape[1], -1)[:, 0] if predicted.ndim >= 2 else predicted.reshape(-1)
    own = _own_interval(model, batch, point.size)
    lower: np.ndarray | None
    upper: np.ndarray | None
    if own is not None:  # the model's own distribution
        lower, upper, interval = own
        band = interval.replace(" interval (", " of the model's forecast distribution (")
    else:
        lower, upper = _interval(model, ds, point, predicted[0].size)
        interval, band = "80% interval (validation errors)", "80% of validation errors"
    history = test.x.cpu().numpy().reshape(test.x.shape[0], -1)[:, 0]
    actual = test.y.cpu().numpy().reshape(point.size, -1)[:, 0]
    times, ylabel = None, "value"
    series = ds.extras.get("series")
    origin = test.meta.get("target_start")  # where this window's forecast starts in the whole series
    if series is not None and hasattr(series, "index") and origin is not None and len(series) >= origin + point.size:
        # the observed past up to the forecast, at most the last MAX_HISTORY steps (a long series would
        # leave the forecast a sliver at the right edge)
        first = max(0, int(origin) - max(MAX_HISTORY, 4 * point.size))
        history = np.asarray(series, dtype=float).reshape(len(series), -1)[first:origin, 0]
        times = np.asarray(series.index)[first: origin + point.size]
        ylabel = str(getattr(series, "name", None) or ylabel)
    if lower is not None and upper is not None:  # how many actual values the band holds: its calibration here
        inside = int(np.sum((actual >= lower) & (actual <= upper)))
        band += f", holding {inside} of the {actual.size} actual values"
    caption = "Forecast vs actual on the last test window" + (f"; band: {band}" if lower is not None else "")
    return [(caption, plots.forecast(
        history, actual, point, out / "forecast.png", lower=lower, upper=upper,
        interval=interval, times=times, title=f"{info.name}: forecast vs actual", ylabel=ylabel))]


def task_plots(model: Any, dataset: SequenceDataset, plot_dir: Path, *, samples: int = 4) -> list[Plot]:
    """The plots that suit ``dataset.info.task``, drawn from the model's test-split predictions."""
    info: DatasetInfo = dataset.info
    split = dataset.test if len(dataset.test) else dataset.valid
    if len(split) == 0:
        return []
    model.eval()
    if info.task == "classification":
        return _classification(model, split, dataset, plot_dir)
    if info.task == "tagging":
        return _tagging(model, split, dataset, plot_dir, samples)
    if info.task == "seq2seq":
        return _seq2seq(model, split, dataset, plot_dir, samples)
    if info.task == "generation" and (info.input_kind in ("image", "vector") or info.cond_shape):
        return _captions(model, split, dataset, plot_dir, samples)
    if info.task == "forecasting":
        return _forecasting(model, dataset, plot_dir)
    return []


def make_run_report(
    model: Any,
    dataset: SequenceDataset,
    run_dir: str | Path,
    *,
    metrics: dict[str, Any] | None = None,
    samples: list[str] | None = None,
    facts: dict[str, Any] | None = None,
) -> Path:
    """Draw ``plots/*.png`` and write ``report.html`` in ``run_dir``; returns the report's path.

    ``metrics`` default to ``metrics.json``, the history to ``history.csv``, the config to
    ``config.yaml`` (all in ``run_dir``).
    """
    run = Path(run_dir)
    plot_dir = run / "plots"
    info = dataset.info
    found: list[Plot] = []
    history = read_history(run)
    saved_path = run / "metrics.json"
    saved = json.loads(saved_path.read_text(encoding="utf-8")) if saved_path.exists() else {}
    if history:
        best = saved.get("best_epoch")  # the epoch the run's monitor chose (maybe valid_loss, not the metric)
        found.append(("Loss and validation metric per epoch", plots.learning_curves(
            history, plot_dir / "learning_curves.png", metric=info.metric or None,
            higher_is_better=info.higher_is_better, title=f"{info.name}: learning curves",
            best_epoch=float(best) if isinstance(best, (int, float)) else None)))
    found += task_plots(model, dataset, plot_dir)
    if metrics is None:
        metrics = saved.get("test") or saved.get("valid") or {}
    config_path = run / "config.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    n_params = sum(p.numel() for p in model.parameters())
    sizes = "/".join(str(info.sizes.get(s, "?")) for s in ("train", "valid", "test"))
    all_facts = {"data set": info.name, "shape": info.shape, "task": info.task,
                 "model": type(model).__name__, "parameters": f"{n_params:,}", "examples (train/valid/test)": sizes}
    all_facts.update(facts or {})
    flat = {k: v for k, v in (metrics or {}).items() if isinstance(v, (int, float, str))}
    if samples is None:
        samples = continuations(model, dataset) or generated_vs_reference(model, dataset, found)
    split = "test" if len(dataset.test) else "valid"  # the split the metrics and task plots come from
    if split == "valid":
        all_facts["scored on"] = "the valid split (the data have no test split): the split the run selected on"
    return write_report(run / "report.html", title=f"rnnkit · {info.name} · {type(model).__name__}",
                        config=config or {}, metrics=flat, plots=found, published=info.published,
                        facts=all_facts, primary=info.metric, higher_is_better=info.higher_is_better,
                        samples=samples, split=split)


__all__ = ["continuations", "generated_vs_reference", "make_run_report", "read_history", "task_plots"]
