"""What ``rnnkit predict`` prints for a prediction: a class with its probabilities, the tags, the
generated sequence, the values or the forecast, decoded with the run's saved vocabulary.

:func:`describe` writes the lines for one input; :func:`describe_rows` one line per input of a batch,
as ``--lines``, ``--column`` and a table of several ids print them.

    >>> describe_rows(prediction, model, batch, info, [[], []])
    ['pos\t0.912', 'neg\t0.774']
"""

from __future__ import annotations

from typing import Any

from rnnkit.cli.predict_inputs import feature_names


def _class_probs(model: Any, batch: Any) -> Any:
    """``(B, C)`` class probabilities, or None for a model that gives neither them nor logits."""
    if callable(getattr(model, "predict_proba", None)):  # classifiers, and an Ensemble's members' mean
        return model.predict_proba(batch)
    logits = model(batch).logits
    return None if logits is None else logits.softmax(-1)


def _tags_text(tags: Any, tokens: list[str], info: Any) -> str:
    names = info.classes or []
    named = [names[int(t)] if int(t) < len(names) else str(int(t)) for t in tags[: len(tokens) or None]]
    return " ".join(f"{w}/{t}" for w, t in zip(tokens, named)) if tokens else " ".join(named)


def _sequence_text(ids: list[int], info: Any) -> str:
    from rnnkit.report.predictions import sequence_text

    return sequence_text(info.output_vocab, ids)


def describe(prediction: Any, model: Any, batch: Any, info: Any, tokens: list[str], top: int) -> list[str]:
    """Lines of text that say what the model predicted for a batch of one: the ``top`` classes with
    their probabilities, else :func:`describe_rows`'s line (a forecast under a line that says so)."""
    import torch

    if info.task == "classification" and info.classes:
        probs = _class_probs(model, batch)
        if probs is None:
            return [info.classes[int(prediction[0])]]
        best = torch.argsort(probs[0], descending=True)[: max(1, top)]
        return [info.classes[int(best[0])]] + [f"  {info.classes[int(i)]}: {float(probs[0, i]):.3f}" for i in best]
    lines = describe_rows(prediction, model, batch, info, [tokens])
    if info.task == "forecasting":
        values = torch.as_tensor(prediction)
        if values.dim() == 3 and values.shape[-1] > 1:  # (1, H, K): one line per target, not K*H steps
            names = (feature_names(info) or [])[: values.shape[-1]]
            names = names if len(names) == values.shape[-1] else [f"target {k + 1}" for k in range(values.shape[-1])]
            return [f"forecast for the next {values.shape[1]} steps of {values.shape[-1]} targets:",
                    *(f"{name}: " + " ".join(f"{v:.4g}" for v in values[0, :, k].tolist())
                      for k, name in enumerate(names))]
        return [f"forecast for the next {values.numel()} steps:", *lines]
    return lines


def describe_rows(prediction: Any, model: Any, batch: Any, info: Any, tokens: list[list[str]]) -> list[str]:
    """One line per row of the batch: the class and its probability (tab-separated), the tags, the
    generated sequence or the values."""
    import torch

    from rnnkit.report.predictions import generated_ids

    task, rows = info.task, len(tokens)
    if task == "classification" and info.classes:
        probs = _class_probs(model, batch)
        if probs is None:
            return [info.classes[int(c)] for c in prediction]
        best = probs.argmax(-1)
        return [f"{info.classes[int(b)]}\t{float(probs[i, b]):.3f}" for i, b in enumerate(best)]
    if task == "tagging":
        return [_tags_text(prediction[i], tokens[i], info) for i in range(rows)]
    if task in ("seq2seq", "generation"):
        return [_sequence_text(ids, info) for ids in generated_ids(prediction)]
    values = torch.as_tensor(prediction).reshape(rows, -1).tolist()
    return [" ".join(f"{v:.4g}" for v in row) for row in values]


__all__ = ["describe", "describe_rows"]
