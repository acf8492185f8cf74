"""Turning model outputs into arrays and text: batched predictions over a split, the best
hypothesis of a ``Generated``, and token ids back to tokens.

Shared by the report (plots) and the CLI (``rnnkit predict``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import ExampleList
from rnnkit.data.vocab import Vocab


def generated_ids(generated: Any) -> list[list[int]]:
    """The best hypothesis of each row of a ``decoding.Generated`` (or a ``(B, L)`` tensor), as ids.

    ``Generated.tokens`` is ``(B, n_best, L)`` and ``lengths`` ``(B, n_best)`` (counting eos).
    """
    tokens = getattr(generated, "tokens", generated)
    lengths = getattr(generated, "lengths", None)
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"expected a Generated or a tensor of token ids, got {type(generated).__name__}")
    if tokens.dim() == 3:
        tokens = tokens[:, 0]
        lengths = None if lengths is None else lengths[:, 0]
    out = []
    for i in range(tokens.shape[0]):
        n = int(lengths[i]) if lengths is not None else tokens.shape[1]
        out.append([int(t) for t in tokens[i, :n]])
    return out


def decode_tokens(vocab: Vocab | None, ids: Sequence[int], *, keep_eos: bool = False) -> list[str]:
    """Ids -> tokens (stopping at eos, dropping pad/bos); ``keep_eos`` keeps the ``<eos>`` itself."""
    if vocab is None:
        return [str(i) for i in ids]
    tokens = vocab.decode(ids)
    if keep_eos and vocab.eos_id in [int(i) for i in ids]:
        tokens.append("<eos>")
    return tokens


METASPACE = "\u2581"  # the word-start mark of a BPE vocabulary's subwords (BPETokenizer)


def sequence_text(vocab: Vocab | None, ids: Sequence[int]) -> str:
    """Ids as text, by the kind of vocabulary (the vocabulary decides, not one output: a character
    model's ``<unk>`` must not space out the rest). Characters run together; BPE subwords, whose word
    starts carry the Metaspace mark, are joined with the mark read as a space, as
    ``BPETokenizer.decode`` does; other tokens (words, phonemes) are spaced."""
    tokens = decode_tokens(vocab, ids)
    if vocab is None:
        return " ".join(tokens)
    body = vocab.itos[4:]
    if any(len(t) > 1 and t.startswith(METASPACE) for t in body):
        text = "".join(tokens).replace(METASPACE, " ")
        return text[1:] if text.startswith(" ") else text
    return ("" if all(len(t) == 1 for t in body) else " ").join(tokens)


def _as_numpy(pred: Any) -> np.ndarray:
    if isinstance(pred, torch.Tensor):
        return pred.detach().float().cpu().numpy() if pred.is_floating_point() else pred.cpu().numpy()
    return np.asarray(pred)


def predict_split(
    model: Any,
    split: ExampleList,
    collate: Callable[[Sequence[Example]], Batch],
    *,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` over a split whose targets are fixed-size (classes, values, horizons).

    Runs ``model.predict`` batch by batch on the model's device, without gradients.
    """
    trues, preds = [], []
    device = getattr(model, "device", torch.device("cpu"))
    model.eval()
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            batch = collate(split.examples[start:start + batch_size])
            pred = model.predict(batch.to(device))
            assert batch.y is not None, "predict_split needs targets"
            trues.append(_as_numpy(batch.y))
            preds.append(_as_numpy(pred))
    return np.concatenate(trues), np.concatenate(preds)


__all__ = ["decode_tokens", "generated_ids", "predict_split", "sequence_text"]
