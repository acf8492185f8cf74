"""How ``rnnkit predict`` runs a model as training did: the decoding the flags ask for, an input
scaled and cut to the forecaster's window before, and a forecast scaled back to the data's units after.

    >>> options = decoding_options(args, info)     # None: the run's own decoding
    >>> batch = prepare(batch, model, info, extras)
    >>> finish(generate(model, batch, options), info, extras)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from rnnkit.cli.main import CLIError


def decoding_options(args: argparse.Namespace, info: Any) -> dict[str, Any] | None:
    """The decoding keywords that the flags ask for, or None for the run's own decoding. With
    ``--ban-unk`` alone, ``method`` is None: the run's own strategy, with ``<unk>`` banned."""
    sampling = {k: getattr(args, k, None) for k in ("temperature", "top_k", "top_p", "seed")}
    given = {k: v for k, v in {**sampling, "beam_size": getattr(args, "beam_size", None),
                               "max_length": getattr(args, "max_length", None)}.items() if v is not None}
    method = getattr(args, "decode", None)
    ban = {"ban_unk": True} if getattr(args, "ban_unk", False) else {}
    if ban and info.task not in ("seq2seq", "generation"):
        raise CLIError(f"--ban-unk is for models that generate sequences; this run ({info.name}) is {info.task}")
    if method is None and not given:
        return {"method": None, **ban} if ban else None
    if info.task == "forecasting" and getattr(args, "quantiles", None) is not None and set(given) <= {"seed"} \
            and method is None:
        return None  # --seed seeds the forecaster's sample paths
    if info.task not in ("seq2seq", "generation"):
        raise CLIError(f"--decode, --beam-size, --temperature, --top-k, --top-p, --max-length and --seed are for "
                       f"models that generate sequences; this run ({info.name}) is {info.task}")
    if method is None:
        method = "beam" if "beam_size" in given else "sample" if any(k in given for k in sampling) else "greedy"
    wrong = [k for k in given if (k in sampling and method != "sample") or (k == "beam_size" and method != "beam")]
    if wrong:
        flag = "--" + wrong[0].replace("_", "-")
        raise CLIError(f"{flag} does not go with --decode {method}")
    for key, low in (("beam_size", 1), ("top_k", 1), ("max_length", 1)):
        if key in given and given[key] < low:
            raise CLIError(f"--{key.replace('_', '-')} must be >= {low}, got {given[key]}")
    if "temperature" in given and not given["temperature"] > 0:
        raise CLIError(f"--temperature must be > 0, got {given['temperature']}")
    if "temperature" in given and not math.isfinite(given["temperature"]):
        raise CLIError(f"--temperature must be finite, got {given['temperature']}; a large one (1e6, say) samples "
                       "almost uniformly")
    if "top_p" in given and not 0 < given["top_p"] <= 1:
        raise CLIError(f"--top-p must be in (0, 1], got {given['top_p']}")
    return {"method": method, **given, **ban}


def prepare(batch: Any, model: Any, info: Any, extras: dict[str, Any]) -> Any:
    """What training did to an input before the model read it: numbers scaled with the run's
    scaler when its data were, and a forecaster's history cut to the last ``window`` steps it was
    trained on, a shorter one refused (``Forecaster.forecast`` does the same). ``batch`` holds one
    input."""
    import torch

    from rnnkit.train.evaluation import declared_scaler

    if batch.x is None or not batch.x.is_floating_point() or batch.x.dim() != 3:
        return batch
    x, lengths = batch.x, batch.lengths
    window = getattr(getattr(model, "config", None), "window", None) or info.window
    if info.task == "forecasting" and window and x.shape[1] < window:
        raise CLIError(f"a history of {x.shape[1]} steps is shorter than this forecaster's window of {window} "
                       f"steps (it learnt from windows of exactly {window}); pass at least {window} steps")
    if info.task == "forecasting" and window and x.shape[1] > window:
        x, lengths = x[:, -window:], torch.full_like(lengths, window) if lengths is not None else None
    declared = declared_scaler(info, extras)
    if declared is not None:
        x = torch.as_tensor(declared[0].transform(x.numpy()), dtype=torch.float32)
    return dataclasses.replace(batch, x=x, lengths=lengths)


def finish(prediction: Any, info: Any, extras: dict[str, Any]) -> Any:
    """A forecast of scaled data back in the data's units (the targets' columns of the scaler)."""
    import torch

    from rnnkit.train.evaluation import declared_scaler, unscale_targets

    declared = declared_scaler(info, extras)
    if info.task != "forecasting" or declared is None:
        return prediction
    scaler, targets = declared
    return unscale_targets(scaler, torch.as_tensor(prediction).float().cpu(), targets)


def generate(model: Any, batch: Any, options: dict[str, Any] | None) -> Any:
    """``model.predict(batch)``, or the generation the ``options`` of :func:`decoding_options` ask for."""
    if options is None:
        return model.predict(batch)
    import torch

    from rnnkit.models import ConditionedGenerator, LanguageModel
    from rnnkit.models.ensemble import configured_method

    kwargs = dict(options)
    method = kwargs.pop("method") or configured_method(model)
    if "seed" in kwargs:
        kwargs["generator"] = torch.Generator(device=model.device).manual_seed(int(kwargs.pop("seed")))
    if isinstance(model, LanguageModel):
        return model.generate(batch.x, method=method, prompt_lengths=batch.lengths, **kwargs)
    if isinstance(model, ConditionedGenerator):
        return model.generate(batch.cond, method=method, **kwargs)
    return model.generate(batch, method=method, **kwargs)  # Seq2Seq, Ensemble


__all__ = ["decoding_options", "finish", "generate", "prepare"]
