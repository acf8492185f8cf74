"""The model of a run: a ``--model`` alias or class name resolved to its class, the model built for a
data set (an ensemble of them with ``ensemble: k``), and the spelling hints of misspelled names.

    cls, implied = resolve_model("regressor")     # (SequenceClassifier, {"task": "regression"})
    model = build_model(spec, dataset)            # cls.from_dataset(dataset, **options)
    did_you_mean("clasifier", MODEL_ALIASES)      # " (did you mean classifier?)"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rnnkit.cli.main import CLIError

if TYPE_CHECKING:  # (a RunSpec only as a type: runspec re-exports this module's names)
    from rnnkit.cli.runspec import RunSpec

# alias -> (model class name, options the alias implies)
MODEL_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "feedforward": ("FeedForward", {}),
    "classifier": ("SequenceClassifier", {}),
    "regressor": ("SequenceClassifier", {"task": "regression"}),
    "tagger": ("SequenceTagger", {}),
    "seq2seq": ("Seq2Seq", {}),
    "generator": ("ConditionedGenerator", {}),
    "lm": ("LanguageModel", {}),
    "forecaster": ("Forecaster", {}),
}


def closest(name: str, choices: Any) -> str | None:
    """The one of ``choices`` closest to a misspelled ``name``, if any is close."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, choices: Any) -> str:
    """`` (did you mean X?)`` for the closest of ``choices`` to a misspelled ``name``, else ``""``."""
    close = closest(name, choices)
    return f" (did you mean {close}?)" if close else ""


def resolve_model(name: str) -> tuple[Any, dict[str, Any]]:
    """An alias or class name -> (model class, options the alias implies)."""
    import rnnkit.models  # noqa: F401  (registers every model class)
    from rnnkit.models.base import MODELS

    cls_name, implied = MODEL_ALIASES.get(name.lower(), (name, {}))
    if cls_name not in MODELS:
        choices = ", ".join(MODEL_ALIASES)
        spelled = {**{a: a for a in MODEL_ALIASES}, **{m.lower(): m for m in MODELS}}
        close = closest(name.lower(), spelled)
        hint = f" (did you mean {spelled[close]}?)" if close else ""
        raise CLIError(f"unknown model {name!r}{hint}; choose one of {choices} (or a class name)")
    return MODELS[cls_name], dict(implied)


def build_model(spec: RunSpec, dataset: Any) -> Any:
    """``Model.from_dataset(dataset, **options)`` for the spec's model (an :class:`Ensemble` of
    ``spec.ensemble`` of them when it is over 1), with a one-line error."""
    cls, options = resolve_model(spec.model)
    options.update(spec.model_options)
    if cls.__name__ == "FeedForward" and "hidden_size" in options and "hidden_sizes" not in options:
        options["hidden_sizes"] = (options.pop("hidden_size"),)  # --hidden N: one hidden layer of N units
    try:
        if spec.ensemble > 1:  # the members draw their initial weights one after another
            from rnnkit.models.ensemble import Ensemble

            return Ensemble(members=[cls.from_dataset(dataset, **options) for _ in range(spec.ensemble)])
        return cls.from_dataset(dataset, **options)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise CLIError(f"{cls.__name__} does not take these options {sorted(options)}: {e}") from e
        raise CLIError(f"cannot build {cls.__name__} for {dataset.info.name}: {e}") from e  # a value's type
    except ValueError as e:
        raise CLIError(f"cannot build {cls.__name__} for {dataset.info.name}: {e}") from e
