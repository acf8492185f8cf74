"""What a resume checks and repairs in the Python API: EMA dropped, other data, a folder whose run
stopped between its first best and last checkpoints, settings and files rewritten, an early-stopped run,
a read-only folder, temp files of cut writes, a model that does not fit the checkpoint."""

from __future__ import annotations

import errno
import json
import re
import tempfile
from pathlib import Path

import pytest
import torch
import yaml
from tinyrun import InterruptAtEpochEnd, tiny_model, toy_classification

from rnnkit.data.dataset import ExampleList
from rnnkit.train import Callback, CheckpointError, RunDirError, Trainer, load_checkpoint
from rnnkit.train import checkpoint as checkpoint_module

FAST = {"batch_size": 8, "lr": 1e-2, "progress": False, "report": False, "seed": 3}


def _interrupted(run: Path, data, *, epochs: int = 2, **settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir=run, callbacks=[InterruptAtEpochEnd(1)], **{**FAST, **settings}, epochs=epochs).fit(
            tiny_model(data), data)


def test_resume_refuses_dropping_ema_as_it_refuses_another_lr(tmp_path: Path) -> None:
    data = toy_classification(24, valid=8, test=0)
    _interrupted(tmp_path / "run", data, ema_decay=0.9)
    dropped = r"other settings or data: lr 0.01 \(now 0.1\), ema_decay 0.9 \(now None\)"
    with pytest.raises(CheckpointError, match=dropped):
        Trainer(run_dir=tmp_path / "run", resume=True, **{**FAST, "lr": 0.1}, epochs=2).fit(tiny_model(data), data)
    with pytest.raises(CheckpointError, match=r"ema_decay 0.9 \(now None\)"):
        Trainer(run_dir=tmp_path / "run", resume=True, **FAST, epochs=2).fit(tiny_model(data), data)
    Trainer(run_dir=tmp_path / "run", resume=True, **FAST, epochs=2, ema_decay=0.9).fit(tiny_model(data), data)


def test_resume_refuses_other_data_naming_what_changed_and_takes_the_same_data(tmp_path: Path) -> None:
    data = toy_classification(32, valid=8, test=0)
    straight_model = tiny_model(data)
    straight = Trainer(run_dir=tmp_path / "straight", **FAST, epochs=2).fit(straight_model, data)
    run = tmp_path / "run"
    _interrupted(run, data)
    smaller = toy_classification(32, valid=8, test=0)
    smaller.train = ExampleList(smaller.train.examples[:24])
    smaller.info.sizes = {"train": 24, "valid": 8, "test": 0}
    sizes = r"split sizes \{'train': 32, 'valid': 8, 'test': 0\} \(now \{'train': 24"
    with pytest.raises(CheckpointError, match=sizes):
        Trainer(run_dir=run, resume=True, **FAST, epochs=2).fit(tiny_model(smaller), smaller)
    other = toy_classification(32, valid=8, test=0)
    other.info.classes = ["a", "b", "c"]
    with pytest.raises(CheckpointError, match=r"classes \['low', 'mid', 'high'\] \(now \['a', 'b', 'c'\]\)"):
        Trainer(run_dir=run, resume=True, **FAST, epochs=2).fit(tiny_model(other), other)
    (run / "info.json").unlink()  # the checkpoint keeps its own record of the data
    with pytest.raises(CheckpointError, match=r"split sizes"):
        Trainer(run_dir=run, resume=True, **FAST, epochs=2).fit(tiny_model(smaller), smaller)
    resumed_model = tiny_model(data, seed=5)
    resumed = Trainer(run_dir=run, resume=True, **FAST, epochs=2).fit(resumed_model, data)
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.rows] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in straight.rows]
    for k, v in straight_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[k], v), k


def test_a_folder_with_only_a_best_checkpoint_is_taken_by_a_new_run(tmp_path: Path) -> None:
    """A kill between the first best.safetensors and the first last.safetensors: nothing to resume, so a
    plain run replaces it (saying so); resume=True says there is no checkpoint to continue."""
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    Trainer(run_dir=run, **FAST, epochs=1).fit(tiny_model(data), data)
    for name in ("model.safetensors", "metrics.json", "history.csv", "checkpoints/last.safetensors"):
        (run / name).unlink()
    with pytest.raises(FileNotFoundError, match="has no checkpoint"):
        Trainer(run_dir=run, resume=True, **FAST, epochs=1).fit(tiny_model(data), data)
    with pytest.warns(UserWarning, match=r"held best.safetensors of a run stopped before its first last checkpoint"):
        Trainer(run_dir=run, **FAST, epochs=1).fit(tiny_model(data), data)
    assert (run / "model.safetensors").is_file()


def test_a_resume_records_the_settings_it_ran_with_and_rewrites_deleted_files(tmp_path: Path) -> None:
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    Trainer(run_dir=run, **FAST, epochs=1).fit(tiny_model(data), data)
    info = (run / "info.json").read_text()
    (run / "info.json").unlink()
    Trainer(run_dir=run, resume=True, **FAST, epochs=2).fit(tiny_model(data), data)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["trainer"]["epochs"] == 2 and config["trainer"]["resume"] is False
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2
    assert (run / "info.json").read_text() == info
    (run / "config.yaml").unlink()
    Trainer(run_dir=run, resume=True, **FAST, epochs=3).fit(tiny_model(data), data)
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["epochs"] == 3


def test_an_early_stopped_run_resumed_with_more_epochs_says_why_nothing_trains(tmp_path: Path) -> None:
    data = toy_classification(32, valid=8, test=0)
    settings = {**FAST, "lr": 0.5, "early_stopping": 1}
    run = tmp_path / "run"
    history = Trainer(run_dir=run, **settings, epochs=8).fit(tiny_model(data), data)
    stopped = len(history.rows)
    assert stopped < 8
    with pytest.warns(UserWarning, match=rf"stopped early \(early_stopping=1: .* patience spent at epoch {stopped}\): "
                                         r"nothing more is trained for epochs=12.*train a new run"):
        again = Trainer(run_dir=run, resume=True, **settings, epochs=12).fit(tiny_model(data), data)
    assert len(again.rows) == stopped


def test_a_read_only_run_folder_is_refused_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    run.mkdir()
    real = tempfile.mkstemp
    epochs: list[int] = []

    def read_only(*args, dir=None, **kwargs):  # type: ignore[no-untyped-def]  # noqa: A002 - mkstemp's name
        if dir is not None and Path(dir).is_relative_to(run):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real(*args, dir=dir, **kwargs)

    class Epochs(Callback):
        def on_epoch_start(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
            epochs.append(state.epoch)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(RunDirError, match=rf"cannot write to the run folder {run}: Read-only file system"):
        Trainer(run_dir=run, **FAST, epochs=1, callbacks=[Epochs()]).fit(tiny_model(data), data)
    assert epochs == []  # refused before the first epoch


def test_a_checkpoint_that_cannot_be_written_names_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = toy_classification(16, valid=8, test=0)

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "save_file", no_space)
    with pytest.raises(OSError, match=r"No space left on device: '.*best.safetensors'") as e:
        Trainer(run_dir=tmp_path / "run", **FAST, epochs=1).fit(tiny_model(data), data)
    assert e.value.errno == errno.ENOSPC and not list((tmp_path / "run" / "checkpoints").glob(".*.tmp"))


def test_temp_files_of_cut_writes_are_removed_at_start_and_resume(tmp_path: Path) -> None:
    data = toy_classification(16, valid=8, test=0)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    stale = [run / "checkpoints" / ".last.safetensors.abc123.tmp", run / ".config.yaml.xyz.tmp"]
    mine = run / ".notes.tmp"
    for p in [*stale, mine]:
        p.write_bytes(b"half")
    Trainer(run_dir=run, **FAST, epochs=1).fit(tiny_model(data), data)
    assert not any(p.exists() for p in stale) and mine.exists()
    stale[0].write_bytes(b"half")
    Trainer(run_dir=run, resume=True, **FAST, epochs=2).fit(tiny_model(data), data)
    assert not stale[0].exists()


def test_a_model_that_does_not_fit_the_checkpoint_is_one_short_line(tmp_path: Path) -> None:
    from rnnkit.models import Ensemble

    data = toy_classification(16, valid=8, test=0)

    def ensemble(size: int) -> Ensemble:
        torch.manual_seed(0)
        return Ensemble.from_dataset(data, size=size, model="SequenceClassifier", cell="gru", hidden_size=4,
                                     embed_dim=None)

    Trainer(run_dir=tmp_path / "run", **FAST, epochs=1).fit(ensemble(2), data)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    with pytest.raises(CheckpointError) as e:
        ckpt.restore(ensemble(3))
    message = str(e.value)
    assert "\n" not in message and re.search(r"\d+ missing key\(s\) \(members\.2\.[^,]+, [^,]+, [^,]+ and \d+ more\)",
                                            message), message


def test_the_resume_checks_keep_their_old_import_paths() -> None:
    """resume.py holds the checks that trainer.py and run_data.py held; both paths still import them."""
    from rnnkit.train import resume, run_data, trainer

    assert trainer.resume_changes is resume.resume_changes
    assert Trainer.RESUME_FIXED is trainer.RESUME_FIXED is resume.RESUME_FIXED and "batch_size" in resume.RESUME_FIXED
    assert (run_data.data_record, run_data.recorded_data, run_data.data_changes) == \
        (resume.data_record, resume.recorded_data, resume.data_changes)
    from rnnkit.train import TrainerConfig, resolve_precision, seed_everything

    assert (trainer.TrainerConfig, trainer.resolve_precision, trainer.seed_everything) == \
        (TrainerConfig, resolve_precision, seed_everything)
    # one _shown: settings cut at 40 characters, the data's split sizes and such at 80
    assert resume._shown("x" * 50) == repr("x" * 50)[:37] + "..."
    assert resume._shown("x" * 50, width=80) == repr("x" * 50)


def test_a_resume_that_trains_nothing_names_the_python_keywords_or_the_callers_terms() -> None:
    from types import SimpleNamespace

    from rnnkit.train import TrainerConfig
    from rnnkit.train.resume import ResumeTerms, nothing_trains

    config = TrainerConfig(epochs=12, early_stopping=1)
    stopped = SimpleNamespace(stop=True, epoch=3, best_epoch=2, bad_epochs=1)
    said = nothing_trains(Path("runs/x"), config, stopped, "valid_accuracy", patience_spent=True)  # type: ignore[arg-type]
    assert said == ("the run in runs/x stopped early (early_stopping=1: no better valid_accuracy than epoch 2 in 1 "
                    "epochs, patience spent at epoch 3): nothing more is trained for epochs=12. A resume cannot train "
                    "on past it: early_stopping is kept on resume (it shapes the run); train a new run "
                    "(overwrite=True, or another run_dir) with more patience or early_stopping=None to train longer")
    full = SimpleNamespace(stop=False, epoch=12, best_epoch=2, bad_epochs=0)
    assert nothing_trains(Path("runs/x"), config, full, "valid_accuracy", patience_spent=False) == (  # type: ignore[arg-type]
        "runs/x already holds 12 epochs and epochs=12: nothing is trained (pass more epochs to extend the run)")
    terms = ResumeTerms(epochs="{} epochs", more_epochs="ask for more")
    assert nothing_trains(Path("r"), config, full, "m", patience_spent=False, terms=terms) == (  # type: ignore[arg-type]
        "r already holds 12 epochs and 12 epochs: nothing is trained (ask for more)")
    going_on = SimpleNamespace(stop=False, epoch=5, best_epoch=2, bad_epochs=0)
    assert nothing_trains(Path("r"), config, going_on, "m", patience_spent=False) is None  # type: ignore[arg-type]
