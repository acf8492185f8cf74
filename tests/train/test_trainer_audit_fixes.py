"""Fixes from an audit of the Trainer: a stop set in on_epoch_end survives a resume, class-weighted split
losses do not depend on eval_batch_size, a resume that holds more epochs leaves its folder alone, devices
this machine lacks are refused at construction, huge seeds and over-long warm-ups."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from tinyrun import tiny_model, toy_classification

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.models.base import Model
from rnnkit.train import Callback
from rnnkit.train.resume import NothingTrains
from rnnkit.train.trainer import Trainer, TrainerConfig

FAST = {"batch_size": 8, "lr": 1e-2, "progress": False, "report": False, "seed": 3, "evaluate_test": False}


# --- 1. a stop from on_epoch_end is kept by the checkpoint ---------------------------------------------

class StopAt(Callback):
    """Sets ``state.stop`` in one hook once ``epoch`` epochs are done (on_epoch_end) or under way."""

    def __init__(self, hook: str, epoch: int) -> None:
        self.hook, self.epoch = hook, epoch

    def on_epoch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        if self.hook == "on_epoch_end" and state.epoch == self.epoch:
            state.stop = True

    def on_step_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        if self.hook == "on_step_end" and state.epoch == self.epoch - 1:
            state.stop = True


@pytest.mark.parametrize("hook", ["on_epoch_end", "on_step_end"])
def test_a_callback_stop_holds_after_resume_whichever_hook_set_it(tmp_path: Path, hook: str) -> None:
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    first = Trainer(run_dir=run, epochs=3, callbacks=[StopAt(hook, 1)], **FAST).fit(tiny_model(data), data)
    assert len(first.rows) == 1
    with pytest.warns(NothingTrains, match="a callback stopped it at epoch 1"):
        again = Trainer(run_dir=run, resume=True, epochs=3, **FAST).fit(tiny_model(data), data)
    assert [r["epoch"] for r in again.rows] == [1]


def test_an_on_epoch_end_stop_holds_after_an_epoch_cut_by_max_steps(tmp_path: Path) -> None:
    """A run given more steps finishes an epoch cut by max_steps, unless a callback stopped it there."""
    data = toy_classification(16, valid=8, test=0)  # 2 steps an epoch: max_steps=3 cuts epoch 2
    run = tmp_path / "run"
    first = Trainer(run_dir=run, epochs=3, max_steps=3, callbacks=[StopAt("on_epoch_end", 2)], **FAST).fit(
        tiny_model(data), data)
    assert len(first.rows) == 2
    with pytest.warns(NothingTrains, match="a callback stopped it at epoch 2"):
        again = Trainer(run_dir=run, resume=True, epochs=3, **FAST).fit(tiny_model(data), data)
    assert [r["epoch"] for r in again.rows] == [1, 2]


def test_the_checkpoint_is_written_before_on_epoch_end_and_once_an_epoch(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Callbacks at on_epoch_end see this epoch's checkpoint (InterruptAtEpochEnd relies on it); a run
    no callback stops writes it once an epoch."""
    from rnnkit.train import trainer_runs

    writes: list[int] = []
    real = trainer_runs.save_checkpoint

    def counting(path, **kw):  # type: ignore[no-untyped-def]
        if Path(path).name == "last.safetensors":
            writes.append(int(kw["meta"]["epoch"]))
        return real(path, **kw)

    monkeypatch.setattr(trainer_runs, "save_checkpoint", counting)
    seen: list[int] = []

    class Look(Callback):
        def on_epoch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
            seen.append(len(writes))

    data = toy_classification(16, valid=8, test=0)
    Trainer(run_dir=tmp_path / "run", epochs=2, callbacks=[Look()], **FAST).fit(tiny_model(data), data)
    assert writes == [1, 2] and seen == [1, 2]


# --- 2. class-weighted split losses ------------------------------------------------------------------

def _two_class_data(n_valid: int = 13) -> SequenceDataset:
    g = torch.Generator().manual_seed(0)
    examples = []
    for _ in range(24 + n_valid):
        x = torch.randn(int(torch.randint(3, 7, (1,), generator=g)), 3, generator=g)
        examples.append(Example(x=x, y=torch.tensor(int(x[:, 0].sum() > 0))))
    info = DatasetInfo(name="two", shape="many-to-one", task="classification", input_kind="series",
                       num_features=3, classes=["a", "b"], metric="accuracy", higher_is_better=True)
    return SequenceDataset(info, ExampleList(examples[:24]), ExampleList(examples[24:]), ExampleList([]))


def _weighted_model(data: SequenceDataset) -> Model:
    from rnnkit.models import SequenceClassifier

    torch.manual_seed(0)
    return SequenceClassifier.from_dataset(data, cell="gru", hidden_size=8, class_weights=(1.0, 5.0))


def _brute_force_weighted_nll(model: Model, data: SequenceDataset) -> float:
    """sum_i w_{y_i} * nll_i / sum_i w_{y_i} over the whole split, one example at a time."""
    w = torch.tensor([1.0, 5.0])
    num = den = 0.0
    model.eval()
    with torch.no_grad():
        for e in data.valid:
            logits = model(data.collate([e])).logits  # (1, C)
            nll = -float(logits.log_softmax(-1)[0, int(e.y)])
            num, den = num + float(w[int(e.y)]) * nll, den + float(w[int(e.y)])
    return num / den


def test_a_class_weighted_loss_does_not_depend_on_eval_batch_size() -> None:
    data = _two_class_data()
    model = _weighted_model(data)
    losses = [Trainer(progress=False, eval_batch_size=b).evaluate(model, data, split="valid")["loss"]
              for b in (128, 5, 1)]
    truth = _brute_force_weighted_nll(model, data)
    for loss in losses:
        assert loss == pytest.approx(truth, abs=1e-6)


def test_a_class_weighted_ensembles_loss_does_not_depend_on_eval_batch_size() -> None:
    """An Ensemble reports its mixture's loss, weighted by its first member's class weights."""
    from rnnkit.models import Ensemble

    data = _two_class_data()
    torch.manual_seed(0)
    model = Ensemble.from_dataset(data, size=2, cell="gru", hidden_size=8, class_weights=(1.0, 5.0))
    losses = [Trainer(progress=False, eval_batch_size=b).evaluate(model, data, split="valid")["loss"]
              for b in (128, 5, 1)]
    assert losses[1] == pytest.approx(losses[0], abs=1e-6) and losses[2] == pytest.approx(losses[0], abs=1e-6)


def test_the_valid_loss_of_a_class_weighted_fit_does_not_depend_on_eval_batch_size() -> None:
    data = _two_class_data()
    rows = []
    for b in (128, 5):
        history = Trainer(epochs=1, eval_batch_size=b, **FAST).fit(_weighted_model(data), data)
        rows.append(history.rows[0]["valid_loss"])
    assert rows[0] == pytest.approx(rows[1], abs=1e-6)


# --- 3. a resume holding more epochs writes nothing ------------------------------------------------

def test_a_resume_holding_more_epochs_leaves_the_run_folder_alone(tmp_path: Path) -> None:
    data = toy_classification(16, valid=8, test=8)
    run = tmp_path / "run"
    Trainer(run_dir=run, epochs=3, **{**FAST, "evaluate_test": True}).fit(tiny_model(data), data)
    before = {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    with pytest.warns(NothingTrains, match="already holds 3 epochs and epochs=2: nothing is trained"):
        Trainer(run_dir=run, resume=True, epochs=2, **{**FAST, "evaluate_test": True}).fit(tiny_model(data), data)
    after = {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    assert after[Path("config.yaml")] == before[Path("config.yaml")]
    assert after == before


# --- 4. devices this machine lacks --------------------------------------------------------------------

@pytest.mark.parametrize("device", ["meta", "mps", "xpu", "hpu", "ipu", "mtia"])
def test_a_device_this_machine_lacks_is_refused_at_construction(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    if getattr(torch, "xpu", None) is not None:
        monkeypatch.setattr(torch.xpu, "is_available", lambda: False)
    with pytest.raises(ValueError, match=rf"device {device!r}.*available here: 'auto', 'cpu'"):
        TrainerConfig(device=device)


def test_mps_and_xpu_are_taken_where_torch_has_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    TrainerConfig(device="mps")
    if getattr(torch, "xpu", None) is not None:
        monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
        TrainerConfig(device="xpu")


def test_a_missing_cuda_index_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    TrainerConfig(device="cuda:0")
    with pytest.raises(ValueError, match=r"device 'cuda:1'.*1 CUDA GPU.*'cuda:0'"):
        TrainerConfig(device="cuda:1")


# --- 5. huge seeds, over-long warm-up ---------------------------------------------------------------

def test_a_huge_seed_trains() -> None:
    data = toy_classification(16, valid=0, test=0)
    for seed in (2**62, 2**64 - 1, -2**63):
        history = Trainer(epochs=2, bucket=False, **{**FAST, "seed": seed}).fit(tiny_model(data), data)
        assert len(history.rows) == 2


def test_ordinary_seeds_shuffle_as_before() -> None:
    """The per-epoch shuffle of seeds that worked before the fix is unchanged, so existing runs repeat."""
    data = toy_classification(16, valid=0, test=0)
    for seed in (0, 3, -1, 12345, 2**31, 2**40 - 1, 2**44):
        plan = Trainer(bucket=False, **{**FAST, "seed": seed})._batch_plan(data)
        for epoch in (0, 1, 7):
            order = torch.randperm(16, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
            assert plan(epoch) == [order[:8], order[8:]]


def test_a_seed_out_of_torchs_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"seed must be in \[-2\*\*63, 2\*\*64 - 1\]"):
        TrainerConfig(seed=2**64)


def test_a_warm_up_longer_than_the_run_warns_once_naming_both_numbers() -> None:
    data = toy_classification(16, valid=0, test=0)  # 2 steps an epoch, 4 in all
    with pytest.warns(UserWarning, match=r"warmup_steps=50 .* 4 optimizer steps") as caught:
        Trainer(epochs=2, warmup_steps=50, **FAST).fit(tiny_model(data), data)
    assert sum("warmup_steps" in str(w.message) for w in caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(epochs=2, warmup_steps=4, **FAST).fit(tiny_model(data), data)

