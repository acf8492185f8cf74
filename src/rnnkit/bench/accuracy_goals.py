"""The goals of issue 6 and the headline metric of each data set, as the results table shows them.

Headline units follow the published anchors in each data set's ``info.published``: accuracy, exact
match and word F1 as fractions; WER, PER and MAPE in percent. The Trainer's evaluation computes
``accuracy``, ``exact_match``, ``token_error_rate``, ``span_f1`` and ``mape``; :func:`headline` maps
them onto the names the data sets use (``per_frame_accuracy``, ``f1_word``, ``wer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PERCENT = ("wer", "per", "mape", "wer_single", "per_single")


@dataclass(frozen=True)
class Goal:
    """A target for the mean over seeds: ``mean >= target`` (or ``<=`` when lower is better).

    ``over_baseline``: the target is the baseline's value plus this margin (sentiment).
    ``max_cpu_s``: the recipe must also train in less than this many CPU seconds per seed (CPU, not
    wall, seconds: the Keras figure it is held to is CPU time, and wall time grows with whatever
    else shares the machine).
    ``secondary``: further metrics reported beside the headline (their own goals are in ``text``).
    """

    metric: str
    target: float | None
    higher_is_better: bool
    text: str
    over_baseline: float | None = None
    max_cpu_s: float | None = None
    secondary: tuple[str, ...] = ()
    secondary_targets: tuple[float, ...] = ()

    def met(self, mean: float, baseline: float | None, *, cpu_s: float | None = None,
            extra: dict[str, float] | None = None) -> bool | None:
        """Whether ``mean`` reaches the goal; None when there is no goal or its baseline is missing."""
        target = self.target
        if self.over_baseline is not None:
            if baseline is None:
                return None
            target = baseline + self.over_baseline
        if target is None:
            return None
        ok = mean >= target if self.higher_is_better else mean <= target
        if self.max_cpu_s is not None and cpu_s is not None:
            ok = ok and cpu_s < self.max_cpu_s
        for name, limit in zip(self.secondary, self.secondary_targets):
            if extra is not None and name in extra:
                ok = ok and extra[name] <= limit  # the secondary goals are error rates
        return ok


def _at_least(metric: str, target: float, text: str | None = None) -> Goal:
    return Goal(metric, target, True, text or f">= {target:g}")


GOALS: dict[str, Goal] = {
    "japanese_vowels": _at_least("accuracy", 0.99),
    "arrowhead": _at_least("accuracy", 0.90),
    "gunpoint": _at_least("accuracy", 1.0, "1.00"),
    "italy_power_demand": _at_least("accuracy", 0.97),
    "basic_motions": _at_least("accuracy", 1.0, "1.00"),
    "air_passengers": Goal("mape", 4.0, False, "<= 4.0%"),
    "addition": Goal("exact_match", 0.995, True, ">= 0.995, in less CPU time than Keras (591 s)",
                     max_cpu_s=591.0),
    "dates_iso": _at_least("exact_match", 0.999),
    "cmudict_g2p": Goal("wer", 22.0, False, "WER <= 22% / PER <= 5.5%", secondary=("per", "wer_single", "per_single"),
                        secondary_targets=(5.5,)),
    "peoples_daily_seg": _at_least("f1_word", 0.96),
    "digit_captions": _at_least("exact_match", 0.97),
    "moving_digits": _at_least("per_frame_accuracy", 0.98),
    "sentiment": Goal("accuracy", None, True, ">= baseline + 0.02", over_baseline=0.02),
}


def forecast_mape(model: Any, dataset: Any, split: str = "test") -> float:
    """MAPE (percent) of ``model.predict`` over every window of ``split``, in the data's units: the
    evaluation's (a scaler the data set declares is undone first, as for every forecasting metric)."""
    from rnnkit.train.evaluation import evaluate_split

    examples = getattr(dataset, split).examples
    if not examples:
        raise ValueError(f"{dataset.info.name}: the {split} split is empty; no forecast to score")
    return float(evaluate_split(model, examples, dataset.info, collate_fn=dataset.collate, extras=dataset.extras,
                                device=model.device)["mape"])


def headline(info: Any, metrics: dict[str, float], model: Any, dataset: Any) -> tuple[float, dict[str, float]]:
    """``(value of info.metric in the table's units, secondary metrics)`` from the test metrics."""
    from rnnkit.train.evaluation import metric_key

    name = info.metric
    if name == "mape":
        return (metrics["mape"] if "mape" in metrics else forecast_mape(model, dataset)), {}
    if name == "wer":  # a word is wrong when any of its phonemes is: 1 - exact match
        extra = {"per": 100 * metrics["token_error_rate"]}
        if "exact_match_single" in metrics:  # scored against every pronunciation; also against y alone
            extra["wer_single"] = 100 * (1 - metrics["exact_match_single"])
            extra["per_single"] = 100 * metrics["token_error_rate_single"]
        return 100 * (1 - metrics["exact_match"]), extra
    key = {"per_frame_accuracy": "accuracy", "f1_word": "span_f1"}.get(name, metric_key(name))
    if key not in metrics:
        raise ValueError(f"{info.name}: the evaluation gave {sorted(metrics)}, not {name!r} ({key!r})")
    return float(metrics[key]), {}


def parse_recipe_notes(text: str) -> str:
    """The ``# note:`` and ``# tried:`` comments of a recipe, joined for the table. A note runs on
    over the comment lines that follow it, up to the next tag or the first line that is not a comment."""
    notes: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        s = line.strip()
        tag = next((t for t in ("# note:", "# tried:") if s.lower().startswith(t)), None)
        if tag is not None:
            current = [] if tag == "# note:" else ["tried:"]
            notes.append("")
            current.append(s[len(tag):].strip())
        elif current is not None and s.startswith("#"):
            current.append(s.lstrip("#").strip())
        else:
            current = None
        if current is not None:
            notes[-1] = " ".join(current)
    return " ".join(notes)


__all__ = ["GOALS", "Goal", "forecast_mape", "headline", "parse_recipe_notes"]
