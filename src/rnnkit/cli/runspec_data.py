"""The data of a run: its data set loaded as a spec names it (options, ``limit``, ``vectors``), with
one-line errors, and the check that data loaded again are encoded as the run's training data were.

    dataset = load_data(spec)                 # rnnkit.datasets.load(spec.data, **spec.data_options), cut
    check_same_encoding(dataset, run)         # before scoring a run on data loaded again
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rnnkit.cli.main import CLIError
from rnnkit.cli.runspec_limit import limit_splits

if TYPE_CHECKING:  # (a RunSpec only as a type: runspec re-exports this module's names)
    from rnnkit.cli.runspec import RunSpec


def options_error(name: str, options: dict[str, Any], error: TypeError) -> CLIError:
    """One line for a loader's TypeError: an option it does not take, or an option whose value has the
    wrong type, where --data-option's YAML reading is the usual cause (target=on is True, 2020 an int)."""
    if "unexpected keyword argument" in str(error) or "takes no option" in str(error):
        return CLIError(f"data set {name!r} does not take these options {options}: pass the loader's options "
                        f"with --data-option KEY=VALUE (docs/DATA.md): {error}")
    typed = {k: v for k, v in options.items() if v is None or isinstance(v, bool | int | float)}
    hint = ""
    if typed:
        shown = ", ".join(f"{k}={v!r}" for k, v in typed.items())
        first = next(iter(typed))
        hint = (f"; --data-option values are read as YAML ({shown}): quote one that names a column or "
                f"holds text, --data-option \"{first}='...'\"")
    return CLIError(f"data set {name!r} cannot use its options {options}: {error}{hint}")


def load_data(spec: RunSpec) -> Any:
    """Load the spec's data set (bundled or FORMAT:path), then cut each split to ``limit`` (:func:`limit_splits`)."""
    import rnnkit.datasets

    if not spec.data:
        raise CLIError("no data set given: pass --data NAME (see `rnnkit datasets`) or a config with data:")
    try:
        ds = rnnkit.datasets.load(spec.data, **spec.data_options)
    except TypeError as e:
        raise options_error(spec.data, spec.data_options, e) from e
    except (ValueError, OSError, ImportError) as e:
        raise CLIError(str(e).splitlines()[0] if str(e) else repr(e)) from e
    if spec.limit:
        limit_splits(ds, spec.limit, rule=spec.limit_rule or "sample")
    if spec.vectors:
        as_vectors(ds)
    return ds


def check_same_encoding(dataset: Any, run: Any) -> None:
    """CLIError when ``dataset``, loaded again, is not encoded as the run's training data was.

    A user's file that changed since training (new rows bring new words, labels or a new range of
    values) refits the loader's vocabulary, classes and scaler, so the test examples would come
    back as ids and scaled values that the trained model never learned: its score would be
    wrong, with no error. The bundled data sets never change, and pass."""
    info, saved = dataset.info, run.info
    differ = [what for what, a, b in (
        ("input vocabulary", info.input_vocab, saved.input_vocab),
        ("output vocabulary", info.output_vocab, saved.output_vocab),
        ("classes", list(info.classes or []), list(saved.classes or [])),
        ("number of features", info.num_features, saved.num_features),
        # the splits' sizes as trained (--limit lives in run.yaml: without it every example came back)
        ("split sizes", dict(info.sizes or {}), dict(saved.sizes or {}) or dict(info.sizes or {}))) if a != b]
    scaler, kept = dataset.extras.get("scaler"), run.extras.get("scaler")
    if hasattr(scaler, "state_dict") and hasattr(kept, "state_dict"):
        import numpy as np

        def same(a: Any, b: Any) -> bool:
            if not isinstance(a, (list, float, int)):
                return a == b
            a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))

        now, then = scaler.state_dict(), kept.state_dict()
        if now.keys() != then.keys() or not all(same(now[k], then[k]) for k in now):
            differ.append("scaler")
    if differ:
        raise CLIError(f"the data {dataset.load_name or info.name!r} differ from what this run was trained on: "
                       f"refitted on them now, the {' and the '.join(differ)} changed, so the test examples would "
                       "not be encoded as in training; score the data the run was trained on, or train again")


def as_vectors(dataset: Any) -> None:
    """Flatten every example's fixed-length ``(T, F)`` input into one ``(T*F,)`` vector, in place:
    the one-to-one view of a set of equal-length series (what an MLP baseline sees)."""
    import dataclasses

    from rnnkit.data.dataset import ExampleList

    lengths = {tuple(e.x.shape) for s in ("train", "valid", "test") for e in getattr(dataset, s).examples
               if e.x is not None}
    if len(lengths) != 1:
        raise CLIError(f"vectors: true needs inputs of one fixed shape; {dataset.info.name} has {len(lengths)} shapes")
    for split in ("train", "valid", "test"):
        flat = [dataclasses.replace(e, x=e.x.reshape(-1)) for e in getattr(dataset, split).examples]
        setattr(dataset, split, ExampleList(flat))
    size = int(next(iter(lengths))[0]) * int(next(iter(lengths))[1] if len(next(iter(lengths))) > 1 else 1)
    dataset.info = dataclasses.replace(dataset.info, shape="one-to-one", input_kind="vector", num_features=size,
                                       sizes=dict(dataset.info.sizes))
