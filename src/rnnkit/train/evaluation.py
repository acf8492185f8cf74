"""Evaluate a model on a split, by task: the loss plus the metrics of ``info.task``.

Only the Model contract is used: ``model(batch).loss`` and ``model.predict(batch)``. A model whose
prediction is not what its ``loss`` scores gives the loss of its prediction as
``extras["mixture_loss"]``, and that is the ``loss`` reported: an Ensemble's (the negative
log-likelihood of its members' mean probabilities, where its ``loss`` is their mean loss; see
:mod:`rnnkit.models.ensemble`). ``perplexity`` is taken from it too. The split's ``loss`` is the mean
over all of it whatever the batch size: each batch counts by its examples (tokens for sequences), or,
for a classifier with ``config.class_weights``, by its sum of ``w_y`` (torch's weighted mean divides by it).

=============  ======================================================================================
task           metrics (keys of the returned dict, besides ``loss``)
=============  ======================================================================================
classification accuracy, macro_f1
regression     mae, rmse
tagging        accuracy (per valid step, padding masked by lengths); span_f1 when the classes are
               BIO (``B-X``/``I-X``/``O``) or BMES tags (then it is the word F1 of segmentation)
seq2seq        exact_match, token_error_rate (the phoneme error rate on phonemes),
               sequence_error_rate (percent of sequences with any token wrong: the word error rate
               of grapheme-to-phoneme), bleu — on the best hypothesis of ``Generated``, cut at
               ``<eos>``, specials dropped, against ``y``. An Example whose ``meta["references"]``
               lists several accepted targets (id sequences, ``y``'s among them; cmudict_g2p's
               pronunciations) counts as exact when the hypothesis equals any of them, and its
               token errors are taken against the closest; exact_match_single and
               token_error_rate_single then give the scores against ``y`` alone
generation     perplexity (``exp`` of the token-weighted loss), and the seq2seq metrics when
               ``predict`` returns a ``Generated`` and the batch has targets ``y`` (a language
               model's text has none: it is scored by its perplexity alone)
forecasting    mae, rmse, mape and smape (percent), mase (each window's MAE over the in-window
               seasonal-naive MAE, season ``info.extra["season_length"]``, lag 1 when the window is
               not longer than a season)
=============  ======================================================================================

Units of forecasting: by the Model contract ``predict`` returns point forecasts in the batch's
units, the units ``y`` is in, so the two are compared as they are, once. A scaler is applied only
when the data set says its Examples were scaled with it: ``info.extra["scale"]`` set (the ``csv:``
/ ``parquet:`` forecasting layout does, with ``info.extra["target_features"]``) and
``dataset.extras["scaler"]`` present; then prediction, targets and input window are put back in
the original units by ``scaler.inverse_transform(..., features=target_features)``. A scaler in
extras alone says nothing about the Examples: the bundled sets (air_passengers, ...) hold raw
values and keep a scaler only for models that want one, so they are scored as they are.

``per`` is the token error rate in percent (the phoneme error rate of G2P papers).
``info.metric`` may name any of these or an alias (``ter`` -> token_error_rate, ``wer`` ->
sequence_error_rate, ``f1`` -> macro_f1, ``word_f1``/``f1_word`` -> span_f1, ``ppl`` -> perplexity,
``em`` -> exact_match, ``per_frame_accuracy`` -> accuracy); the alias is added to the result so
``valid_<info.metric>`` always exists when the task computes it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from rnnkit.data.batch import Batch, Example, collate
from rnnkit.data.dataset import DatasetInfo
from rnnkit.train import metrics as M

ALIASES = {"ter": "token_error_rate", "phoneme_error_rate": "per",
           "wer": "sequence_error_rate", "f1": "macro_f1", "word_f1": "span_f1", "f1_word": "span_f1",
           "ppl": "perplexity", "em": "exact_match", "acc": "accuracy", "step_accuracy": "accuracy",
           "per_frame_accuracy": "accuracy", "frame_accuracy": "accuracy"}
PAD, BOS, EOS = 0, 2, 3  # the fixed special ids of rnnkit.data.vocab.Vocab


def metric_key(name: str) -> str:
    """Normalise a metric name (``"Macro-F1"`` -> ``"macro_f1"``) and resolve aliases."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return ALIASES.get(key, key)


def tag_scheme(classes: Sequence[str] | None) -> str | None:
    """``"BIO"`` or ``"BMES"`` when the class names are such tags, else None."""
    if not classes:
        return None
    prefixes = {c.split("-", 1)[0].upper() for c in classes if c not in ("O", "<pad>")}
    if prefixes and prefixes <= {"B", "I"} and any("-" in c for c in classes):
        return "BIO"
    if prefixes and prefixes <= {"B", "M", "E", "S"}:
        return "BMES"
    return None


def declared_scaler(info: Any, extras: dict[str, Any]) -> tuple[Any, list[int]] | None:
    """The scaler a data set's Examples were scaled with, and its target features, when the data set
    says so (``info.extra["scale"]``); None otherwise. Evaluation, ``rnnkit predict`` and the
    exported programs all read inputs and forecasts through it."""
    scaler, extra = extras.get("scaler"), getattr(info, "extra", None) or {}
    if not extra.get("scale") or not hasattr(scaler, "transform") or not hasattr(scaler, "inverse_transform"):
        return None
    return scaler, [int(i) for i in extra.get("target_features", [0])]


def unscale_targets(scaler: Any, t: Tensor, targets: list[int]) -> Tensor:
    """``(B, H)`` (one target) or ``(B, H, K)`` back to the data's units."""
    if t.dim() == 2 and len(targets) == 1:
        return scaler.inverse_transform(t.unsqueeze(-1), features=targets).squeeze(-1)
    return scaler.inverse_transform(t, features=targets)


def _clean(ids: Sequence[int]) -> list[int]:
    out = []
    for i in ids:
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(int(i))
    return out


class TaskMetrics:
    """Accumulates predictions over batches, then computes the metrics of one task."""

    def __init__(self, info: DatasetInfo, extras: dict[str, Any] | None = None, *,
                 class_weights: Sequence[float] | None = None) -> None:
        self.info = info
        self.extras = extras or {}
        # the loss's class weights: its batch value is then sum(w_y * nll) / sum(w_y) (torch's weighted
        # mean), and a batch counts by its sum(w_y), which makes the split's loss that same mean over all
        # of it, whatever the batch size
        self.class_weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float64)
        self.true: list[Any] = []
        self.pred: list[Any] = []
        self.scales: list[float] = []
        self.references: dict[int, list[list[int]]] = {}  # item -> its accepted targets, when several
        self.loss_sum = 0.0
        self.loss_weight = 0.0

    def merge(self, other: TaskMetrics) -> TaskMetrics:
        """These predictions and losses with ``other``'s added (the folds of a cross-validation pooled:
        an F1, a perplexity or a macro F1 over all of them is not a mean of the folds')."""
        merged = TaskMetrics(self.info)
        merged.true, merged.pred, merged.scales = self.true + other.true, self.pred + other.pred, \
            self.scales + other.scales
        merged.references = {**self.references, **{len(self.true) + i: r for i, r in other.references.items()}}
        merged.loss_sum, merged.loss_weight = self.loss_sum + other.loss_sum, self.loss_weight + other.loss_weight
        return merged

    def add_loss(self, loss: Tensor | None, batch: Batch) -> None:
        if loss is None:
            return
        if batch.y_lengths is not None:
            weight = float(batch.y_lengths.sum())
        elif self.info.task == "generation" and batch.y is None and batch.lengths is not None:
            weight = float((batch.lengths - 1).clamp(min=0).sum())  # a language model: next tokens of x
        elif self.class_weights is not None and batch.y is not None and self.info.task == "classification":
            weight = float(self.class_weights[batch.y.reshape(-1).long().cpu()].sum())
        else:
            weight = float(batch.size)
        if weight == 0:  # a batch of one-token texts has no next token to score (its loss is 0 / 0)
            return
        self.loss_sum += float(loss) * weight
        self.loss_weight += weight

    def add(self, batch: Batch, prediction: Any) -> None:
        task = self.info.task
        y = batch.y
        if y is None:
            raise ValueError("evaluation needs targets: this batch has no y")
        if task in ("classification", "regression"):
            self.true.extend(y.cpu().numpy().tolist())
            self.pred.extend(torch.as_tensor(prediction).cpu().numpy().tolist())
        elif task == "tagging":
            lengths = batch.y_lengths if batch.y_lengths is not None else batch.lengths
            pred = torch.as_tensor(prediction).cpu()
            for i, n in enumerate(lengths.cpu().tolist() if lengths is not None else [y.shape[1]] * len(y)):
                self.true.append(y[i, :n].cpu().tolist())
                self.pred.append(pred[i, :n].tolist())
        elif task in ("seq2seq", "generation"):
            if not hasattr(prediction, "tokens"):
                return
            tokens, lengths = prediction.tokens[:, 0].cpu(), prediction.lengths[:, 0].cpu()
            y_len = batch.y_lengths.cpu().tolist() if batch.y_lengths is not None else [y.shape[1]] * len(y)
            for i in range(tokens.shape[0]):
                self.pred.append(_clean(tokens[i, : int(lengths[i])].tolist()))
                self.true.append(_clean(y[i, : y_len[i]].cpu().tolist()))
                meta = batch.meta[i] if i < len(batch.meta) else {}
                if meta.get("references"):
                    self.references[len(self.true) - 1] = [_clean(r) for r in meta["references"]]
        elif task == "forecasting":
            self._add_forecast(batch, torch.as_tensor(prediction).detach().float().cpu(), y.float().cpu())
        else:
            raise ValueError(f"unknown task {task!r}")

    def _add_forecast(self, batch: Batch, pred: Tensor, y: Tensor) -> None:
        x = batch.x.float().cpu() if batch.x is not None else None
        declared = declared_scaler(self.info, self.extras)
        if declared is not None:  # the Examples are scaled: score in the data's own units
            scaler, targets = declared
            pred, y = unscale_targets(scaler, pred, targets), unscale_targets(scaler, y, targets)
            if x is not None and x.dim() == 3:
                x = x[..., : len(targets)]  # (B, T, K): the targets' history, for MASE
                x = scaler.inverse_transform(x, features=targets)
        self.pred.extend(pred.numpy())
        self.true.extend(y.numpy())
        season = max(1, int(self.info.extra.get("season_length", 1)))
        for i in range(pred.shape[0]):
            scale = float("nan")
            if x is not None and x.dim() >= 2:
                n = int(batch.lengths[i]) if batch.lengths is not None else x.shape[1]
                hist = x[i, :n].reshape(n, -1)[:, : (y.shape[-1] if y.dim() == 3 else 1)]
                lag = season if n > season else 1
                if n > lag:
                    scale = float((hist[lag:] - hist[:-lag]).abs().mean())
            self.scales.append(scale)

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.loss_weight:
            out["loss"] = self.loss_sum / self.loss_weight
        task = self.info.task
        if task == "classification" and self.true:
            out["accuracy"] = M.accuracy(self.true, self.pred)
            out["macro_f1"] = M.macro_f1(self.true, self.pred)
        elif task == "regression" and self.true:
            out["mae"], out["rmse"] = M.mae(self.true, self.pred), M.rmse(self.true, self.pred)
        elif task == "tagging" and self.true:
            out["accuracy"] = M.step_accuracy(self.true, self.pred)
            scheme = tag_scheme(self.info.classes)
            if scheme is not None and self.info.classes is not None:
                names = self.info.classes
                to_tags = [[names[i] for i in seq] for seq in self.true]
                pr_tags = [[names[i] if 0 <= i < len(names) else "O" for i in seq] for seq in self.pred]
                out["span_f1"] = M.span_f1(to_tags, pr_tags, scheme=scheme)
        elif task in ("seq2seq", "generation"):
            if task == "generation" and "loss" in out:
                out["perplexity"] = math.exp(min(out["loss"], 50.0))
            if self.true:
                out["exact_match"] = M.exact_match(self.true, self.pred)
                out["token_error_rate"] = M.token_error_rate(self.true, self.pred)
                if self.references:  # several accepted targets: score against the closest
                    refs = [self.references.get(i, [t]) for i, t in enumerate(self.true)]
                    out["exact_match_single"] = out["exact_match"]
                    out["token_error_rate_single"] = out["token_error_rate"]
                    out["exact_match"] = M.exact_match_any(refs, self.pred)
                    out["token_error_rate"] = M.token_error_rate_any(refs, self.pred)
                out["per"] = 100 * out["token_error_rate"]  # percent, as G2P papers report PER
                out["sequence_error_rate"] = 100 * (1 - out["exact_match"])
                out["bleu"] = M.bleu(self.true, self.pred)
        elif task == "forecasting" and self.true:
            t, p = np.stack(self.true), np.stack(self.pred)
            out.update(mae=M.mae(t, p), rmse=M.rmse(t, p), mape=M.mape(t, p), smape=M.smape(t, p))
            errors = np.abs(t - p).reshape(len(t), -1).mean(1)
            scales = np.asarray(self.scales)
            ok = np.isfinite(scales) & (scales > 0)
            if ok.any():
                out["mase"] = float((errors[ok] / scales[ok]).mean())
        if self.info.metric:
            key = metric_key(self.info.metric)
            if key in out:
                out[self.info.metric] = out[key]
        return out


def loss_class_weights(model: Any) -> tuple[float, ...] | None:
    """The class weights a classifier's loss is a weighted mean by (its config's ``class_weights``; an
    Ensemble's mixture loss takes its first member's, ensemble_members.mixture_loss), or None."""
    members = getattr(model, "members", None)
    source = members[0] if isinstance(members, torch.nn.ModuleList) and len(members) else model
    weights = getattr(getattr(source, "config", None), "class_weights", None)
    return None if weights is None else tuple(float(w) for w in weights)


def evaluate_split(model: Any, examples: Sequence[Example], info: DatasetInfo, *,
                   collate_fn: Callable[[Sequence[Example]], Batch] = collate, batch_size: int = 64,
                   device: torch.device | str | None = None, extras: dict[str, Any] | None = None,
                   autocast: Any = None) -> dict[str, float]:
    """Mean loss and the task metrics of ``info.task`` over ``examples`` (see the module table)."""
    if len(examples) == 0:
        return {}
    return tally_split(model, examples, info, collate_fn=collate_fn, batch_size=batch_size, device=device,
                       extras=extras, autocast=autocast).compute()


@torch.no_grad()
def tally_split(model: Any, examples: Sequence[Example], info: DatasetInfo, *,
                collate_fn: Callable[[Sequence[Example]], Batch] = collate, batch_size: int = 64,
                device: torch.device | str | None = None, extras: dict[str, Any] | None = None,
                autocast: Any = None) -> TaskMetrics:
    """:func:`evaluate_split`'s predictions and losses before the metrics: a :class:`TaskMetrics`, whose
    ``compute()`` gives them, and which ``merge`` pools with another split's."""
    device = device if device is not None else model.device
    was_training = model.training
    model.eval()
    acc = TaskMetrics(info, extras, class_weights=loss_class_weights(model))
    loader: DataLoader[Any] = DataLoader(examples, batch_size=batch_size, shuffle=False, collate_fn=collate_fn,  # type: ignore[arg-type,var-annotated]
                        generator=torch.Generator())  # leaves the global RNG (dropout of training) untouched
    try:
        for batch in loader:
            batch = batch.to(device)
            if info.task == "generation" and batch.y is None and batch.x is not None and batch.x.dim() == 2 \
                    and batch.x.shape[1] < 2:
                continue  # texts of one token each: no next token to score, whatever the batch size
            with autocast() if autocast is not None else contextlib.nullcontext():
                out = model(batch)
                scored = (getattr(out, "extras", None) or {}).get("mixture_loss", out.loss)  # see the module doc
                acc.add_loss(scored, batch)
                if batch.y is None and info.task == "generation":
                    continue  # a language model's text: its next tokens are x's own, scored by the loss
                try:
                    prediction = model.predict(batch)
                except NotImplementedError:
                    continue
            acc.add(batch, prediction)
    finally:
        model.train(was_training)
    return acc



# the columns of an epoch's row besides the valid split's (History; "lr" and "seconds" are monitorable too)
ROW_COLUMNS = ("train_loss", "lr", "seconds")


def check_monitor(monitor: str | None, model: Any, dataset: Any, device: torch.device) -> None:
    """Refuse, before training, a ``monitor`` that no epoch would compute (a typo such as
    ``"valid_acuracy"``, or a ``valid_`` column of a data set without a valid split), naming the
    columns there are. The valid columns are found by scoring four valid examples, under a forked
    RNG so that the run draws the same numbers as without the check; a model that cannot score them
    is left to fail in the fit, with its context."""
    if monitor is None or monitor in ROW_COLUMNS:
        return
    if not len(dataset.valid):
        raise ValueError(f"monitor {monitor!r}: data set {dataset.info.name!r} has no valid split, so an epoch "
                         f"computes only {', '.join(ROW_COLUMNS)}; give it one (valid_fraction) or monitor "
                         "'train_loss'")
    forked = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=forked):
            first = [dataset.valid[i] for i in range(min(4, len(dataset.valid)))]
            scores = evaluate_split(model, first, dataset.info, collate_fn=dataset.collate,
                                    extras=dataset.extras, device=device)
    except Exception:  # noqa: BLE001 - the fit meets it again and says where
        return
    known = [*ROW_COLUMNS, "valid_loss", *(f"valid_{k}" for k in scores if k != "loss")]
    if monitor not in known:
        raise ValueError(f"monitor {monitor!r} is not computed for this run; choose one of {', '.join(known)}")
