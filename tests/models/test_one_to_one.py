"""FeedForward: learns a vector task, reads images, and *is* a recurrent model run for one step."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.models import FeedForward, SequenceClassifier


def test_learns_a_nonlinear_vector_task() -> None:
    torch.manual_seed(0)
    x = torch.rand(512, 2) * 2 - 1
    y = ((x[:, 0] * x[:, 1]) > 0).long()  # XOR of the signs: not linearly separable
    model = FeedForward(input_shape=(2,), num_outputs=2, hidden_sizes=(32,))
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(200):
        loss = model(Batch(x=x[:400], y=y[:400])).loss
        assert loss is not None
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (model.predict(Batch(x=x[400:])) == y[400:]).float().mean().item()
    assert accuracy >= 0.95, accuracy


def test_a_recurrent_model_run_for_one_step_is_this_shape() -> None:
    """With a zero initial state, one step of a tanh RNN plus a linear head is ``W_o tanh(A x + b) + c``:
    a one-hidden-layer MLP. Read ``A`` and ``b`` off the recurrent layer by probing it (whatever its
    backend or parameter names), copy them into a FeedForward and compare on random inputs."""
    torch.manual_seed(1)
    F_, H, C = 4, 6, 3
    rnn_model = SequenceClassifier(num_outputs=C, cell="rnn", num_features=F_, embed_dim=None,
                                   hidden_size=H).eval()
    with torch.no_grad():
        probes = torch.cat([torch.zeros(1, F_), torch.eye(F_)]).unsqueeze(1)  # (1 + F, T=1, F)
        h = rnn_model.rnn(probes).outputs[:, 0]  # (1 + F, H) = tanh(A x + b)
        pre = torch.atanh(h.double())
        b, A = pre[0], (pre[1:] - pre[0]).T  # (H,), (H, F)
    mlp = FeedForward(input_shape=(F_,), num_outputs=C, hidden_sizes=(H,), activation="tanh").eval()
    linear = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    assert len(linear) == 2  # exactly one hidden layer, then the head
    with torch.no_grad():
        linear[0].weight.copy_(A.float())
        linear[0].bias.copy_(b.float())
        mlp.head.load_state_dict(rnn_model.head.state_dict())
    x = torch.randn(16, F_)
    expected = rnn_model(Batch(x=x.unsqueeze(1), lengths=torch.ones(16, dtype=torch.long))).logits
    torch.testing.assert_close(mlp(Batch(x=x)).logits, expected, atol=1e-4, rtol=1e-4)


def test_small_images_through_the_cnn_encoder() -> None:
    torch.manual_seed(2)
    model = FeedForward(input_shape=(1, 8, 8), num_outputs=3, encoder="cnn", hidden_sizes=(16, 8))
    out = model(Batch(x=torch.randn(5, 1, 8, 8), y=torch.tensor([0, 1, 2, 0, 1])))
    assert out.logits is not None and out.logits.shape == (5, 3)
    assert out.loss is not None
    out.loss.backward()
    flat = FeedForward(input_shape=(1, 8, 8), num_outputs=3)  # flattened pixels
    assert flat(Batch(x=torch.randn(2, 1, 8, 8))).logits.shape == (2, 3)  # type: ignore[union-attr]


def test_regression_outputs_and_loss() -> None:
    model = FeedForward(input_shape=(3,), num_outputs=2, task="regression", regression_loss="mae")
    batch = Batch(x=torch.randn(4, 3), y=torch.randn(4, 2))
    out = model(batch)
    assert out.predictions is not None and out.predictions.shape == (4, 2)
    torch.testing.assert_close(out.loss, (out.predictions - batch.y).abs().mean())


def test_bad_input_gets_a_clear_error() -> None:
    model = FeedForward(input_shape=(3,), num_outputs=2)
    with pytest.raises(ValueError, match=r"\(B, 3\) float"):
        model(Batch(x=torch.randn(4, 5)))
    with pytest.raises(ValueError, match=r"class id out of range \[0, 2\)"):
        model(Batch(x=torch.randn(2, 3), y=torch.tensor([1, 5])))
    with pytest.raises(ValueError, match="activation"):
        FeedForward(input_shape=(3,), num_outputs=2, activation="swish")
    with pytest.raises(ValueError, match="encoder='cnn' needs image"):
        FeedForward(input_shape=(3,), num_outputs=2, encoder="cnn")


def test_from_dataset_picks_the_cnn_for_images() -> None:
    examples = [Example(x=torch.randn(1, 8, 8), y=torch.tensor(i % 2)) for i in range(4)]
    info = DatasetInfo(name="imgs", shape="one-to-one", task="classification", input_kind="image",
                       classes=["a", "b"])
    ds = SequenceDataset(info, ExampleList(examples), ExampleList([]), ExampleList([]))
    model = FeedForward.from_dataset(ds, hidden_sizes=(8,))
    assert model.config.encoder == "cnn" and model.config.input_shape == (1, 8, 8)
    assert FeedForward.from_config(model.config).config == model.config
    assert model(ds.collate(examples)).loss is not None


@pytest.mark.parametrize("build, x", [
    (lambda: FeedForward(input_shape=(3,), num_outputs=3), torch.randn(2, 3)),
    (lambda: SequenceClassifier(num_outputs=3, num_features=3, hidden_size=4), torch.randn(2, 4, 3)),
])
def test_an_out_of_range_class_id_names_the_option_that_sets_the_classes(build, x) -> None:
    """The advice names ``num_outputs``, the option these models take (``num_classes`` is a TypeError)."""
    with pytest.raises(ValueError, match=r"class id out of range \[0, 3\).*set num_outputs to the number of "
                                         r"classes in the data") as info:
        build()(Batch(x=x, y=torch.tensor([0, 5])))
    assert "num_classes" not in str(info.value)


def test_label_smoothing_is_in_the_training_loss_only() -> None:
    torch.manual_seed(0)
    model = FeedForward(input_shape=(3,), num_outputs=3, label_smoothing=0.2)
    batch = Batch(x=torch.randn(5, 3), y=torch.tensor([0, 1, 2, 1, 0]))
    logits = model(batch).logits
    torch.testing.assert_close(model(batch).loss, F.cross_entropy(logits, batch.y, label_smoothing=0.2))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(batch).loss, F.cross_entropy(logits, batch.y))
