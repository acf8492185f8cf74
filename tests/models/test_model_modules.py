"""``models/one_to_many.py``, ``models/ensemble.py`` and ``estimators.py``, split by idea (the token
decoder; the ensemble's members and its decoding; the estimators' shared base and their inputs), keep
every name they defined, as the very objects the split modules define; the models and estimators stay
defined where saved configs and pickles say they are (their sizes: tests/test_module_sizes.py)."""

from __future__ import annotations

import importlib
import inspect
import pickle
from pathlib import Path

import pytest
import torch

from rnnkit.data.batch import Batch
from rnnkit.models import Ensemble, LanguageModel
from rnnkit.models.io import load_model, read_header

# every name each module defined before the split -> the module that defines it now
OLD_NAMES = {
    "rnnkit.models.one_to_many": {
        "rnnkit.models.one_to_many": ["CONDITIONING", "ConditionedGenerator", "ConditionedGeneratorConfig",
                                      "LanguageModel", "LanguageModelConfig", "prompt_tensor"],
        "rnnkit.models.one_to_many_decoder": ["DecoderState", "RNNState", "_METHODS", "_TokenDecoder", "_select",
                                              "_token_targets_loss"],
    },
    "rnnkit.models.ensemble": {
        "rnnkit.models.ensemble": ["COMBINE", "Ensemble", "EnsembleConfig"],
        "rnnkit.models.ensemble_members": ["_INTERFACE", "_build_member", "_kind", "_member_entry", "mixture_loss"],
        "rnnkit.models.ensemble_decoding": ["EnsembleDecoder", "_batch_call", "_cond_call", "_prompt_call",
                                            "configured_method", "decoding_start", "first_member"],
        "rnnkit.models.one_to_many_decoder": ["_METHODS"],
        "rnnkit.models.base": ["MODELS"],
        "rnnkit.models.forecaster": ["SAMPLED_LEVELS"],
    },
    "rnnkit.estimators": {
        "rnnkit.estimators": ["RNNClassifier", "RNNForecaster", "RNNRegressor"],
        "rnnkit.estimators_base": ["RandomStateLike", "_FIT_PARAMS", "_RNNEstimator", "_keeping_global_rng"],
        "rnnkit.estimators_inputs": ["_SequenceInputs", "_is_ragged", "_is_text", "_ndim", "_one_sequence",
                                     "_require_y", "_series"],
    },
}
CASES = [(old, home, name) for old, homes in OLD_NAMES.items() for home, names in homes.items() for name in names]
# what saved configs, run folders and pickles record: {"class", "module"}
DEFINED_AT = {"ConditionedGenerator": "rnnkit.models.one_to_many",
              "ConditionedGeneratorConfig": "rnnkit.models.one_to_many",
              "LanguageModel": "rnnkit.models.one_to_many", "LanguageModelConfig": "rnnkit.models.one_to_many",
              "Ensemble": "rnnkit.models.ensemble", "EnsembleConfig": "rnnkit.models.ensemble",
              "RNNClassifier": "rnnkit.estimators", "RNNRegressor": "rnnkit.estimators",
              "RNNForecaster": "rnnkit.estimators"}


@pytest.mark.parametrize(("old", "home", "name"), CASES, ids=[f"{o.split('.')[-1]}.{n}" for o, _, n in CASES])
def test_every_name_the_module_defined_is_the_object_its_new_home_defines(old: str, home: str, name: str) -> None:
    before, now = importlib.import_module(old), importlib.import_module(home)
    assert getattr(before, name) is getattr(now, name)
    # a pickle written before the split names the old module (its GLOBAL opcode): it finds the same object
    assert pickle.loads(f"c{old}\n{name}\n.".encode()) is getattr(now, name)


@pytest.mark.parametrize("name", sorted(DEFINED_AT))
def test_models_configs_and_estimators_stay_defined_where_saved_files_say(name: str) -> None:
    module = importlib.import_module(DEFINED_AT[name])
    assert getattr(module, name).__module__ == DEFINED_AT[name]


def test_ensemble_all_still_names_what_it_exports() -> None:
    from rnnkit.models import ensemble

    assert set(ensemble.__all__) == {"Ensemble", "EnsembleConfig", "EnsembleDecoder", "configured_method",
                                     "decoding_start", "mixture_loss"}
    assert all(hasattr(ensemble, name) for name in ensemble.__all__)


def test_estimator_parameters_are_read_from_the_same_signatures() -> None:
    from rnnkit.estimators import RNNClassifier, RNNForecaster, RNNRegressor

    shared = ["cell", "hidden_size", "num_layers", "dropout", "epochs", "batch_size", "lr", "weight_decay",
              "early_stopping", "ema_decay", "ensemble", "valid_fraction", "device", "random_state", "verbose"]
    sequences = ["layout", "tokenizer", "lowercase", "min_freq", *shared]
    for cls, want in ((RNNClassifier, sequences), (RNNRegressor, sequences),
                      (RNNForecaster, ["window", "horizon", "stride", "target_transform", *shared])):
        assert list(inspect.signature(cls.__init__).parameters)[1:] == want
        assert sorted(cls().get_params()) == sorted(want)
    clf = pickle.loads(pickle.dumps(RNNClassifier(hidden_size=7, tokenizer="char")))
    assert type(clf) is RNNClassifier and clf.get_params()["hidden_size"] == 7


def _lm(seed: int) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(vocab_size=9, embed_dim=4, hidden_size=4)


def test_saved_models_name_the_same_module_and_load(tmp_path: Path) -> None:
    lm = _lm(0)
    lm.save(tmp_path / "lm")
    assert read_header(tmp_path / "lm" / "model.safetensors")["module"] == "rnnkit.models.one_to_many"
    ens = Ensemble(members=[_lm(1), _lm(2)])
    assert {e["module"] for e in ens.config.members} == {"rnnkit.models.one_to_many"}
    ens.save(tmp_path / "ens")
    assert read_header(tmp_path / "ens" / "model.safetensors")["module"] == "rnnkit.models.ensemble"
    for folder, model in (("lm", lm), ("ens", ens)):
        loaded = load_model(tmp_path / folder)
        assert type(loaded) is type(model)
        for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
            assert torch.equal(a, b)
    again = pickle.loads(pickle.dumps(ens.eval()))
    prompt = torch.tensor([[3, 4, 5]])
    assert torch.equal(again.generate(prompt, max_length=4).tokens, ens.generate(prompt, max_length=4).tokens)


def test_patching_mixture_loss_in_the_ensemble_module_reaches_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Ensemble.forward`` looks ``mixture_loss`` up in rnnkit.models.ensemble, where a patch lands."""
    from rnnkit.models import ensemble

    ens = Ensemble(members=[_lm(1), _lm(2)]).eval()
    batch = Batch(x=torch.tensor([[1, 4, 5, 2]]), lengths=torch.tensor([4]))
    with torch.no_grad():
        real = ens(batch).extras["mixture_loss"]
        monkeypatch.setattr(ensemble, "mixture_loss", lambda members, outs, batch: torch.tensor(-1.0))
        assert float(ens(batch).extras["mixture_loss"]) == -1.0
    assert float(real) > 0
