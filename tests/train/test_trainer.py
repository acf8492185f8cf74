"""Trainer: determinism, NaN stop, accumulation, early stopping with best restore, quiet progress."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from tinyrun import TinyGRUClassifier, tiny_model, toy_classification

from rnnkit.data.batch import Example
from rnnkit.data.dataset import ExampleList, SequenceDataset
from rnnkit.train import Callback, Trainer, TrainingDiverged, load_checkpoint

FAST = {"batch_size": 16, "lr": 1e-2, "progress": False, "evaluate_test": False, "report": False}


def _strip_time(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_deterministic_mode_gives_identical_histories_and_weights() -> None:
    data = toy_classification(64, valid=16, test=0)
    runs = []
    for _ in range(2):
        model = tiny_model(data, dropout=0.2)
        history = Trainer(epochs=2, deterministic=True, seed=3, **FAST).fit(model, data)
        runs.append((_strip_time(history.rows), model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k, v in runs[0][1].items():
        assert torch.equal(v, runs[1][1][k]), k
    assert not torch.are_deterministic_algorithms_enabled()  # fit restores the global switch


def test_deterministic_switch_is_restored_when_fit_fails_before_training(tmp_path) -> None:
    data = toy_classification(32, valid=8, test=0)
    trainer = Trainer(epochs=1, deterministic=True, resume=True, run_dir=tmp_path / "empty", **FAST)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        trainer.fit(tiny_model(data), data)  # nothing to resume: fails before the first epoch
    assert not torch.are_deterministic_algorithms_enabled()


def test_history_rows_columns_and_best() -> None:
    data = toy_classification(48, valid=16, test=16)
    history = Trainer(epochs=2, **{**FAST, "evaluate_test": True}).fit(tiny_model(data), data)
    assert [r["epoch"] for r in history] == [1, 2]
    assert history.rows[-1]["step"] == 2 * 3
    for col in ("train_loss", "valid_loss", "valid_accuracy", "valid_macro_f1", "lr", "seconds"):
        assert all(math.isfinite(v) for v in history.column(col)), col
    assert history.monitor == "valid_accuracy" and history.higher_is_better
    assert history.best == max(history.column("valid_accuracy"))
    assert set(history.test) == {"loss", "accuracy", "macro_f1"}


def _with_nan_example(data: SequenceDataset, index: int) -> SequenceDataset:
    examples = list(data.train.examples)
    bad = examples[index]
    assert bad.x is not None
    examples[index] = Example(x=torch.full_like(bad.x, float("nan")), y=bad.y)
    return SequenceDataset(data.info, ExampleList(examples), data.valid, data.test)


def test_nan_loss_stops_naming_epoch_step_batch_and_keeps_last_checkpoint(tmp_path, monkeypatch) -> None:
    # collate now names a NaN in the data itself (tests/train/test_fit_errors.py); switched off here
    # so the NaN reaches the loss, as a diverging run's would
    monkeypatch.setattr("rnnkit.data.batch._check_finite", lambda batch: None)
    data = _with_nan_example(toy_classification(48, valid=8, test=0), 5)
    trainer = Trainer(epochs=3, bucket=False, run_dir=str(tmp_path), checkpoint_every=1, **FAST)
    plan = trainer._batch_plan(data)
    epoch0 = plan(0)
    bad_batch = next(i for i, b in enumerate(epoch0) if 5 in b)
    with pytest.raises(TrainingDiverged) as err:
        trainer.fit(tiny_model(data), data)
    message = str(err.value)
    assert f"epoch 1, step {bad_batch + 1}, batch {bad_batch}" in message
    assert "nan" in message
    if bad_batch > 0:  # the checkpoint of the last good step is untouched and loads
        ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")
        assert ckpt.meta["step"] == bad_batch
        assert all(torch.isfinite(v).all() for v in ckpt.model.values())


def test_gradient_accumulation_equals_the_larger_batch() -> None:
    data = toy_classification(64, valid=0, test=0)
    common = {"epochs": 1, "bucket": False, "lr": 1e-2, "progress": False, "schedule": "none"}
    big, small = tiny_model(data), tiny_model(data)
    Trainer(batch_size=16, **common).fit(big, data)
    Trainer(batch_size=8, accumulate=2, **common).fit(small, data)
    for k, v in big.state_dict().items():
        torch.testing.assert_close(small.state_dict()[k], v, atol=1e-6, rtol=1e-5)


def test_early_stopping_stops_and_restores_the_best_weights() -> None:
    data = toy_classification(32, valid=16, test=0)
    seen: list[dict[str, torch.Tensor]] = []

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
            seen.append({k: v.clone() for k, v in state.model.state_dict().items()})

    model = tiny_model(data)
    history = Trainer(epochs=20, early_stopping=2, monitor="valid_loss", lr=0.5, batch_size=8, progress=False,
                      evaluate_test=False, callbacks=[Snapshot()]).fit(model, data)
    assert len(history) < 20
    best = history.best_epoch
    assert best is not None and len(history) - best == 2
    assert history.best == min(history.column("valid_loss"))
    for k, v in model.state_dict().items():
        assert torch.equal(v, seen[best - 1][k])


def test_monitor_that_is_not_computed_is_a_clear_error() -> None:
    data = toy_classification(16, valid=8, test=0)
    with pytest.raises(ValueError, match="monitor 'valid_bleu' is not computed for this run"):
        Trainer(epochs=1, monitor="valid_bleu", **FAST).fit(tiny_model(data), data)


def test_bad_settings_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Trainer(batch_size=0)
    with pytest.raises(ValueError, match="resume=True needs run_dir"):
        Trainer(resume=True)
    with pytest.raises(ValueError, match="precision"):
        Trainer(precision="fp8")


def test_quiet_without_a_terminal(capsys) -> None:
    data = toy_classification(16, valid=8, test=0)
    Trainer(epochs=1, batch_size=8).fit(tiny_model(data), data)  # progress=True, but stderr is not a TTY
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_evaluate_on_a_split_and_on_examples() -> None:
    data = toy_classification(16, valid=8, test=8)
    model: TinyGRUClassifier = tiny_model(data)
    trainer = Trainer()
    by_split = trainer.evaluate(model, data, split="test")
    by_examples = trainer.evaluate(model, data.test, data.info)
    assert by_split == by_examples
    assert 0.0 <= by_split["accuracy"] <= 1.0


def test_bucketing_plan_covers_every_example_once_per_epoch() -> None:
    data = toy_classification(50, valid=0, test=0)
    plan = Trainer(batch_size=8)._batch_plan(data)
    for epoch in (0, 1):
        flat = sorted(i for b in plan(epoch) for i in b)
        assert flat == list(range(50))
    assert plan(0) != plan(1)


def test_progress_bar_shows_loss_metric_throughput_and_eta_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from rnnkit.train.callbacks import ProgressBar

    out = io.StringIO()
    bar = ProgressBar("valid_accuracy", console=Console(file=out, force_terminal=True, width=150))
    data = toy_classification(16, valid=8, test=0)
    Trainer(epochs=2, batch_size=8, progress=False, callbacks=[bar]).fit(tiny_model(data), data)
    text = out.getvalue()
    for piece in ("epoch 2/2", "2/2", "loss ", "valid_accuracy ", "it/s"):
        assert piece in text, piece


def test_a_callback_can_stop_training() -> None:
    class StopAfterFirst(Callback):
        def on_epoch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
            state.stop = True

    data = toy_classification(16, valid=8, test=0)
    history = Trainer(epochs=5, callbacks=[StopAfterFirst()], **FAST).fit(tiny_model(data), data)
    assert len(history) == 1


class _AutocastSpy:
    """Records, for every call of the model's forward, whether it ran under CPU autocast."""

    def __init__(self, model) -> None:
        self.seen: list[bool] = []
        model.register_forward_pre_hook(lambda *_: self.seen.append(torch.is_autocast_enabled("cpu")))


@pytest.mark.parametrize(("native", "precision", "want"), [
    (True, "auto", "bf16"), (False, "auto", "fp32"), (None, "auto", "fp32"),
    (False, "fp32", "fp32"), (True, "fp32", "fp32"), (True, "bf16", "bf16")])
def test_precision_auto_takes_bf16_where_the_cpu_multiplies_it(monkeypatch, native, precision, want) -> None:
    from rnnkit.ops import cpu_kernels
    from rnnkit.train import resolve_precision

    monkeypatch.setattr(cpu_kernels, "bf16_instructions", lambda: native)
    assert resolve_precision(precision, "cpu") == want
    data = toy_classification(32, valid=8, test=0)
    model = tiny_model(data)
    spy = _AutocastSpy(model)
    history = Trainer(epochs=1, precision=precision, device="cpu", **FAST).fit(model, data)
    assert spy.seen and set(spy.seen) == {want == "bf16"}  # training batches and valid alike
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay float32
    assert math.isfinite(history.rows[-1]["valid_loss"])


def test_precision_auto_on_a_gpu_without_bf16_is_fp32(monkeypatch) -> None:
    from rnnkit.train import resolve_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", torch.device("cuda", 0)) == "bf16"
    # emulated bfloat16 (Turing, Volta) is slow: "auto" asks for the native kind
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert resolve_precision("auto", "cuda") == "fp32"


def test_bf16_on_a_cpu_without_bf16_instructions_warns(monkeypatch) -> None:
    from rnnkit.ops import cpu_kernels

    data = toy_classification(16, valid=0, test=0)
    monkeypatch.setattr(cpu_kernels, "bf16_instructions", lambda: False)
    with pytest.warns(UserWarning, match="without bfloat16 instructions"):
        Trainer(epochs=1, precision="bf16", device="cpu", **FAST).fit(tiny_model(data), data)
    monkeypatch.setattr(cpu_kernels, "bf16_instructions", lambda: True)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*bfloat16 instructions")
        Trainer(epochs=1, precision="bf16", device="cpu", **FAST).fit(tiny_model(data), data)


def test_bf16_instructions_reads_the_cpu_flags(monkeypatch) -> None:
    from rnnkit.ops import cpu_kernels

    for flags, want in [("flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni", True),
                        ("flags\t\t: fpu avx2 amx_bf16 amx_tile", True), ("flags\t\t: fpu avx2 fma", False),
                        ("", None)]:
        monkeypatch.setattr(cpu_kernels, "cpu_flags", lambda flags=flags: flags)
        cpu_kernels.bf16_instructions.cache_clear()
        assert cpu_kernels.bf16_instructions() is want, flags
    cpu_kernels.bf16_instructions.cache_clear()


def test_the_run_folder_records_what_precision_auto_chose(monkeypatch, tmp_path) -> None:
    import yaml

    from rnnkit.ops import cpu_kernels

    monkeypatch.setattr(cpu_kernels, "bf16_instructions", lambda: True)
    data = toy_classification(16, valid=0, test=0)
    Trainer(epochs=1, precision="auto", device="cpu", run_dir=tmp_path / "run", **FAST).fit(tiny_model(data), data)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["trainer"]["precision"] == "auto"
    assert config["ran_on"] == {"device": "cpu", "precision": "bf16"}


def test_early_stopping_without_a_valid_split_says_what_it_watches() -> None:
    from tinyrun import tiny_model, toy_classification

    data = toy_classification(16, valid=0, test=0)
    with pytest.warns(UserWarning, match="early_stopping with no valid split watches train_loss"):
        Trainer(epochs=1, early_stopping=2, progress=False).fit(tiny_model(data), data)


def test_a_tie_on_the_monitor_goes_to_the_lower_valid_loss() -> None:
    """number_words' exact match stayed 0.0 for three epochs while valid loss fell, and the first
    epoch's weights were kept: a tie on the monitor now goes to the epoch that fits valid better."""
    from rnnkit.train.history import History

    h = History(monitor="valid_exact_match", higher_is_better=True)
    h.rows = [{"epoch": 1, "valid_exact_match": 0.0, "valid_loss": 2.0}]
    h.best, h.best_epoch = 0.0, 1
    assert h.ties_better({"epoch": 2, "valid_exact_match": 0.0, "valid_loss": 1.5})
    assert not h.ties_better({"epoch": 2, "valid_exact_match": 0.0, "valid_loss": 2.5})
    assert not h.ties_better({"epoch": 2, "valid_exact_match": -0.1, "valid_loss": 0.5})  # worse: no tie
    assert not h.ties_better({"epoch": 2, "valid_exact_match": 0.0})  # nothing to break the tie with
    on_loss = History(monitor="valid_loss", higher_is_better=False, rows=[{"epoch": 1, "valid_loss": 1.0}],
                      best=1.0, best_epoch=1)
    assert not on_loss.ties_better({"epoch": 2, "valid_loss": 1.0})
