"""A batch with an empty example (length 0) is refused in the model user's terms: which rows, that
every example needs a step, and what to do. A model's user cannot pass a state, so the layer's advice
(``state=`` passes an empty row through) is not theirs; a layer user keeps it."""

from __future__ import annotations

import re

import pytest
import torch

from rnnkit import Recurrent
from rnnkit.data.batch import Batch
from rnnkit.models import Ensemble, SequenceClassifier, SequenceTagger

EMPTY = r"batch rows? \[{rows}\] of {n} ha(s|ve) no steps \(length 0\); every example needs at least one step: " \
        r"drop the empty examples or fill them"


def classifier() -> SequenceClassifier:
    return SequenceClassifier(num_outputs=3, cell="gru", num_features=2, embed_dim=None, hidden_size=4)


def tagger() -> SequenceTagger:
    return SequenceTagger(num_tags=3, cell="lstm", num_features=2, embed_dim=None, hidden_size=4, crf=True)


@pytest.mark.parametrize("build", [classifier, tagger])
@pytest.mark.parametrize("call", ["forward", "predict", "predict_proba"])
def test_an_empty_example_is_named_to_the_model_user(build, call):
    torch.manual_seed(0)
    model = build().eval()
    batch = Batch(x=torch.randn(3, 4, 2), lengths=torch.tensor([4, 0, 2]))
    name = type(model).__name__
    with pytest.raises(ValueError, match=rf"^{name}: " + EMPTY.format(rows="1", n=3)) as info:
        getattr(model, call)(batch)
    assert "state=" not in str(info.value)


def test_many_empty_examples_are_counted_and_a_few_named():
    lengths = torch.tensor([0, 3, 0, 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=re.escape("batch rows [0, 2, 3, 4, 5, ... (9 in all)] of 10 have")):
        classifier()(Batch(x=torch.randn(10, 3, 2), lengths=lengths))


def test_an_ensemble_names_itself():
    torch.manual_seed(0)
    model = Ensemble(members=[classifier(), classifier()])
    with pytest.raises(ValueError, match=r"^Ensemble: " + EMPTY.format(rows="0", n=2)):
        model.predict(Batch(x=torch.randn(2, 4, 2), lengths=torch.tensor([0, 4])))


def test_a_layer_user_keeps_the_layers_advice_and_a_state_still_passes_an_empty_row_through():
    layer = Recurrent("gru", 2, 4)
    x, lengths = torch.randn(2, 4, 2), torch.tensor([4, 0])
    with pytest.raises(ValueError, match=r"^lengths must be between 1 and T=4 \(x's time dimension\), got min 0 "
                                         r"and max 4; drop empty sequences \(or pass state=: a row of length 0 "
                                         r"then passes its state through\) and pad x to the longest one$"):
        layer(x, lengths)
    # the same in a model's layer called with a state: a layer user's call, unchanged
    rnn = classifier().rnn
    assert rnn.owner == "SequenceClassifier"
    h0 = torch.randn(rnn.num_layers * rnn.num_directions, 2, rnn.hidden_size)
    out = rnn(torch.randn(2, 4, rnn.input_size), lengths, h0)
    assert torch.equal(out.state[:, 1], h0[:, 1]) and not out.outputs[1].any()
