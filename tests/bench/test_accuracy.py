"""The accuracy bench's rules and plumbing: it refuses selection on test, its anchors are issue 6's,
goals are judged as the issue states them, and the results section merges by data set."""

from __future__ import annotations

import copy
import dataclasses
import functools
import statistics
from pathlib import Path

import pytest
import torch

import rnnkit.datasets
from rnnkit.bench.accuracy import Row, read_rows, to_markdown, write_results
from rnnkit.bench.accuracy_goals import GOALS, headline, parse_recipe_notes
from rnnkit.bench.accuracy_selection import check_recipe_keys, check_selection, check_splits
from rnnkit.data.batch import Example
from rnnkit.data.dataset import ExampleList

RECIPE = {"data": "gunpoint", "model": "classifier", "train": {"epochs": 2, "monitor": "valid_accuracy"}}

# issue 6's table of published anchors: (model, metric, value) per data set
ISSUE_ANCHORS = {
    "japanese_vowels": {("FCN", "accuracy", 0.993), ("ResNet", "accuracy", 0.992), ("MLSTM-FCN", "accuracy", 1.00),
                        ("MiniRocket", "accuracy", 0.989)},
    "arrowhead": {("LSTM-FCN", "accuracy", 0.897), ("InceptionTime", "accuracy", 0.846),
                  ("ROCKET", "accuracy", 0.814), ("MiniRocket", "accuracy", 0.863)},
    "gunpoint": {("FCN", "accuracy", 1.00), ("InceptionTime", "accuracy", 1.00)},
    "italy_power_demand": {("ROCKET", "accuracy", 0.970), ("InceptionTime", "accuracy", 0.968),
                           ("MiniRocket", "accuracy", 0.963)},
    "basic_motions": {("InceptionTime", "accuracy", 1.00)},
    "air_passengers": {("ExponentialSmoothing", "mape", 5.11), ("Theta (tuned)", "mape", 4.40),
                       ("Darts RNNModel (LSTM)", "mape", 7.8), ("Darts BlockRNNModel (LSTM)", "mape", 4.6)},
    "addition": {("LSTM seq2seq (Keras 3 example, torch backend)", "exact_match", 0.944)},
    "cmudict_g2p": {("BiLSTM", "wer", 23.55), ("BiLSTM", "per", 5.45),
                    ("attention encoder-decoder ensemble", "wer", 20.24),
                    ("attention encoder-decoder ensemble", "per", 4.69), ("deep BiLSTM-CTC", "wer", 25.8)},
    "peoples_daily_seg": {("CRF", "f1_word", 0.950), ("BiLSTM", "f1_word", 0.961)},
}


@pytest.mark.parametrize("raw", [
    {**RECIPE, "select_on": "test"},
    {**RECIPE, "train": {"monitor": "test_accuracy"}},
    {**RECIPE, "train": {"monitor": "train_loss", "early_stopping": 3}},
    {**RECIPE, "data_options": {"valid_split": "test"}},
])
def test_refuses_a_recipe_that_selects_on_test(raw):
    with pytest.raises(ValueError, match="test|valid"):
        check_selection(raw, where="recipe.yaml")


@pytest.mark.parametrize("raw,message", [
    ({**RECIPE, "limit": {"test": 10}}, "cuts the test split"),
    ({**RECIPE, "limit": 50}, "cuts the test split"),
    ({**RECIPE, "data_options": {"test_size": 12}}, r"data_options \['test_size'\] change the test split"),
])
def test_refuses_a_recipe_that_changes_the_test_split(raw, message):
    with pytest.raises(ValueError, match=message):
        check_selection(raw, where="recipe.yaml")


def test_a_refused_recipe_is_one_line_from_the_command_line(tmp_path, monkeypatch, capsys):
    import yaml

    from rnnkit.cli import runspec
    from rnnkit.cli.main import main

    (tmp_path / "peek.yaml").write_text(yaml.safe_dump({**RECIPE, "train": {"monitor": "test_accuracy"}}))
    from rnnkit.bench import accuracy

    monkeypatch.setattr(runspec, "RECIPES", tmp_path)
    monkeypatch.setattr(accuracy, "recipe_names", lambda: ["peek"])
    assert main(["bench", "accuracy", "peek", "--seeds", "1", "--no-baseline", "--out", str(tmp_path / "R.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "selects on test data" in err and "Traceback" not in err


def test_results_record_the_library_versions_they_ran_with():
    import torch

    from rnnkit.bench import library_versions

    versions = library_versions()
    assert versions["torch"] == torch.__version__ and {"python", "rnnkit", "numpy"} <= set(versions)


def test_accepts_a_recipe_that_selects_on_valid():
    check_recipe_keys(RECIPE, "recipe.yaml")


@functools.lru_cache(maxsize=1)
def _gunpoint():
    return rnnkit.datasets.load("gunpoint", valid_fraction=0.2)


def _tiny(valid_is_test: bool = False, with_valid: bool = True):
    ds = copy.copy(_gunpoint())  # the splits are replaced below, never changed in place
    if valid_is_test:
        ds.valid = ExampleList(ds.test.examples[:20])
    if not with_valid:
        ds.valid = ExampleList([])
    return ds


def test_refuses_data_options_that_make_valid_the_test_split():
    with pytest.raises(ValueError, match="valid examples .* are test examples"):
        check_splits(_tiny(valid_is_test=True), RECIPE, "recipe.yaml")
    check_splits(_tiny(), RECIPE, "recipe.yaml")


def test_refuses_early_stopping_without_a_valid_split():
    with pytest.raises(ValueError, match="needs a valid split"):
        check_splits(_tiny(with_valid=False), {**RECIPE, "train": {"early_stopping": 3}}, "recipe.yaml")


def test_a_copied_example_counts_as_the_same_example():
    ds = _tiny()
    copies = [Example(x=e.x.clone(), y=e.y.clone()) for e in ds.test.examples[:30]]
    ds.valid = ExampleList(copies + [Example(x=torch.randn(150, 1), y=torch.tensor(0))])
    with pytest.raises(ValueError, match="selects on test data"):
        check_splits(ds, RECIPE, "recipe.yaml")


@pytest.mark.parametrize("name", sorted(ISSUE_ANCHORS))
def test_published_anchors_are_the_issues(name):
    info = next(i for i in rnnkit.datasets.list() if i.name == name)
    assert {(p.model, p.metric, p.value) for p in info.published} == ISSUE_ANCHORS[name]
    assert all(p.source for p in info.published)


def _row(name: str, values: list[float], **kw) -> dict:
    info = next(i for i in rnnkit.datasets.list() if i.name == name)
    goal = GOALS[name]
    std = statistics.stdev(values) if len(values) > 1 else None
    row = Row(dataset=name, metric=goal.metric, higher_is_better=goal.higher_is_better, values=values,
              mean=sum(values) / len(values), std=std, cpu_s=1.0, wall_s=1.0, epochs=2, goal=goal.text,
              goal_met=goal.met(sum(values) / len(values), None), baseline=None,
              published=[{"model": p.model, "metric": p.metric, "value": p.value, "source": p.source,
                          **({"note": p.note} if p.note else {})} for p in info.published],
              device="cpu", recipe=f"{name}.yaml", **kw)
    return dataclasses.asdict(row)


def test_the_table_shows_the_anchors_with_their_sources():
    text = to_markdown([_row("arrowhead", [0.9]), _row("cmudict_g2p", [21.0], extra={"per": 5.0})])
    info = next(i for i in rnnkit.datasets.list() if i.name == "arrowhead")
    for p in info.published:
        assert f"{p.model} {p.value:.4f} ({p.source})" in text
    assert "BiLSTM 23.55% (Yao" in text and "per 5.00%" in text
    assert "| 0.9000 (n=1) |" in text  # one seed has no std
    air = _row("air_passengers", [5.0])  # a note on a published figure is shown with it (a best of 3 seeds)
    assert "Darts RNNModel (LSTM) 7.80% (measured by the rnnkit team" in to_markdown([air])
    assert "same split, 3 seeds; range 7.8-12.3% across 3 seeds)" in to_markdown([air])
    assert "0.8500 ± 0.0707 (n=2)" in to_markdown([_row("arrowhead", [0.9, 0.8])])


def test_g2p_headline_scores_any_pronunciation_and_reports_the_single_reference_beside():
    info = next(i for i in rnnkit.datasets.list() if i.name == "cmudict_g2p")
    metrics = {"exact_match": 0.75, "token_error_rate": 0.06, "exact_match_single": 0.7,
               "token_error_rate_single": 0.07}
    value, extra = headline(info, metrics, None, None)
    assert value == pytest.approx(25.0)
    assert extra == pytest.approx({"per": 6.0, "wer_single": 30.0, "per_single": 7.0})
    assert headline(info, {"exact_match": 0.75, "token_error_rate": 0.06}, None, None)[1] == pytest.approx(
        {"per": 6.0})  # no word with several references: nothing else to report
    row = _row("cmudict_g2p", [25.0], extra=extra)
    assert "per 6.00%, wer_single 30.00%, per_single 7.00%" in to_markdown([row])


def test_goals_are_judged_as_the_issue_states_them():
    assert GOALS["gunpoint"].met(1.0, None) and not GOALS["gunpoint"].met(0.993, None)
    assert GOALS["air_passengers"].met(3.9, 5.1) and not GOALS["air_passengers"].met(4.1, 5.1)
    assert GOALS["sentiment"].met(0.93, 0.90) and not GOALS["sentiment"].met(0.91, 0.90)
    assert GOALS["sentiment"].met(0.93, None) is None
    assert not GOALS["addition"].met(0.999, None, cpu_s=600.0)
    assert GOALS["addition"].met(0.999, None, cpu_s=300.0)
    assert not GOALS["cmudict_g2p"].met(21.0, None, extra={"per": 6.0})
    assert set(GOALS) == {"japanese_vowels", "arrowhead", "gunpoint", "italy_power_demand", "basic_motions",
                          "air_passengers", "addition", "dates_iso", "cmudict_g2p", "peoples_daily_seg",
                          "digit_captions", "moving_digits", "sentiment"}


def test_results_merge_by_data_set(tmp_path: Path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Results\n\nkept text\n")
    write_results(out, [_row("gunpoint", [1.0]), _row("arrowhead", [0.8])])
    write_results(out, [_row("arrowhead", [0.95])])
    rows = {r["dataset"]: r for r in read_rows(out)}
    assert set(rows) == {"gunpoint", "arrowhead"} and rows["arrowhead"]["mean"] == 0.95
    text = out.read_text()
    assert "kept text" in text and text.count("<!-- bench:accuracy -->") == 1


def test_recipe_notes_come_from_comments():
    assert parse_recipe_notes("# note: reduced budget\ndata: x\n# tried: lstm 0.9\n") == \
        "reduced budget tried: lstm 0.9"


def test_an_unknown_recipe_is_a_one_line_error(capsys):
    from rnnkit.cli.main import main

    assert main(["bench", "accuracy", "no_such_set", "--quick"]) != 0
    err = capsys.readouterr().err
    assert "no recipe for no_such_set" in err and "Traceback" not in err
    assert main(["bench", "accuracy", "gunpoint", "--seeds", "0"]) != 0
    assert "--seeds must be >= 1" in capsys.readouterr().err


def test_parallel_seeds_match_the_serial_run_and_a_stop_keeps_the_finished_ones(capsys):
    """--jobs trains seeds in fresh worker processes; each seed's result is the one a serial run gets
    (which prints its progress: that changes nothing either). SIGTERM (Stopped) while workers train: the
    seeds already in are kept, the workers end.

    One pool shows both (every worker costs seconds of imports here): three seeds on two workers, stopped
    at the second result, so the third seed is still training (or the second, if the third came in first)
    when the stop comes. Which two are kept depends on the workers' pace, so the serial run trains all
    three; a kept seed trained in a worker process, its serial twin after other seeds in this one, so a
    match shows a seed's result depends on nothing a run did before it."""
    import multiprocessing

    from rnnkit.bench import accuracy

    _, spec, _ = accuracy.load_recipe("gunpoint")
    spec = accuracy.quick_spec(spec)
    from rnnkit.cli.runspec import load_data

    dataset = load_data(spec)
    seen: list[int] = []

    def stop_at_the_second(r):
        seen.append(r.seed)
        if len(seen) == 2:
            raise accuracy.Stopped("signal 15")

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = accuracy.run_seeds("gunpoint", spec, dataset, 3, jobs=1, progress=True)
        progress = capsys.readouterr().err.splitlines()
        assert [line.split(": epoch")[0] for line in progress] == [f"[accuracy] gunpoint seed {s}" for s in range(3)]
        assert all(" epoch 1/1 " in line and line.endswith(" s)") for line in progress)
        kept = accuracy.run_seeds("gunpoint", spec, dataset, 3, jobs=2, quick=True, on_result=stop_at_the_second)
    finally:
        torch.set_num_threads(before)
    assert not multiprocessing.active_children(), "a worker trains on after the stop"
    assert len(kept) == 2, f"the stop kept {len(kept)} seeds, not the 2 finished ones ({seen})"
    assert [r.seed for r in kept] == sorted(seen), "the kept seeds are the finished ones, in seed order"
    for r in kept:
        twin = serial[r.seed]
        assert r.metrics == pytest.approx(twin.metrics, rel=1e-6), ("worker and serial run differ", r.seed, r.metrics,
                                                                     twin.metrics)
    assert len({r.metrics["loss"] for r in serial}) == 3, "the seeds differ, so the match means something"


def test_jobs_below_one_is_a_one_line_error(capsys):
    from rnnkit.cli.main import main

    assert main(["bench", "accuracy", "gunpoint", "--jobs", "0"]) != 0
    assert "--jobs must be >= 1" in capsys.readouterr().err


def test_a_printed_subset_leaves_the_other_recipes_out_and_the_baseline_keeps_the_threads(monkeypatch, capsys):
    """The printed table of a subset does not call the other recipes unmeasured. aeon/numba reset torch's
    thread count; a run over several data sets keeps --threads: the baseline here takes a thread more, and
    the row (measured after it) and the run go on with --threads 1."""
    import rnnkit.bench.baselines as baselines
    from rnnkit.cli.main import main

    ran: list[str] = []

    def greedy_baseline(name, dataset):
        ran.append(name)
        torch.set_num_threads(torch.get_num_threads() + 1)
        return None

    monkeypatch.setattr(baselines, "run_baseline", greedy_baseline)
    before = torch.get_num_threads()
    try:
        assert main(["bench", "accuracy", "gunpoint", "--quick", "--seeds", "1", "--threads", "1"]) == 0
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert ran == ["gunpoint"], "the baseline did not run, so the threads were not put to the test"
    assert threads == 1, f"the baseline left {threads} torch threads for the data sets after it"
    assert "1 torch threads" in out, "the row's device does not show the threads it was measured with"
    assert "| gunpoint |" in out and "without a measured row" not in out
    # the file's section still lists them
    assert "without a measured row yet: addition, air_passengers" in to_markdown([])


def test_baselines_only_updates_the_baseline_and_its_verdict_and_keeps_the_measured_figures(
        tmp_path: Path, monkeypatch, capsys):
    """--baselines-only trains nothing: the sentiment row keeps its mean, takes the new baseline, and
    its goal (baseline + 2 points) is judged against that baseline."""
    import rnnkit.bench.baselines as baselines
    import rnnkit.cli.runspec as runspec
    from rnnkit.cli.main import main

    out = tmp_path / "RESULTS.md"
    write_results(out, [_row("sentiment", [0.85, 0.85]), _row("gunpoint", [1.0])])
    calls: list[str] = []

    def fake_baseline(name, dataset):
        calls.append(name)
        return {"name": "tfidf", "value": 0.82, "seconds": 0.5, "also": []}

    monkeypatch.setattr(baselines, "run_baseline", fake_baseline)
    monkeypatch.setattr(runspec, "load_data", lambda spec: object())
    assert main(["bench", "accuracy", "sentiment", "--baselines-only", "--out", str(out)]) == 0
    assert calls == ["sentiment"] and "sentiment: tfidf 0.8200" in capsys.readouterr().out
    rows = {r["dataset"]: r for r in read_rows(out)}
    assert rows["sentiment"]["mean"] == 0.85 and rows["sentiment"]["values"] == [0.85, 0.85]
    assert rows["sentiment"]["baseline"]["value"] == 0.82 and rows["sentiment"]["goal_met"] is True
    monkeypatch.setattr(baselines, "run_baseline",
                        lambda name, dataset: {"name": "tfidf", "value": 0.84, "seconds": 0.5, "also": []})
    assert main(["bench", "accuracy", "sentiment", "--baselines-only", "--out", str(out)]) == 0
    assert {r["dataset"]: r for r in read_rows(out)}["sentiment"]["goal_met"] is False
    assert rows["gunpoint"] == {r["dataset"]: r for r in read_rows(out)}["gunpoint"]
    # a data set without a row is printed, not written; mixing with --quick is a one-line error
    assert main(["bench", "accuracy", "arrowhead", "--baselines-only", "--out", str(out)]) == 0
    assert "has no row for arrowhead" in capsys.readouterr().err
    assert "arrowhead" not in {r["dataset"] for r in read_rows(out)}
    assert main(["bench", "accuracy", "gunpoint", "--baselines-only", "--quick"]) != 0
    assert "does not combine" in capsys.readouterr().err


def test_device_name_says_when_the_recipe_trains_in_bf16(monkeypatch):
    from rnnkit.bench.accuracy import device_name
    from rnnkit.ops import cpu_kernels

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cpu_kernels, "bf16_instructions", lambda: True)
    assert device_name(2, "auto") == device_name(2) + ", bf16 autocast"
    assert device_name(1, "bf16").endswith(", bf16 autocast")
    assert "bf16" not in device_name(1, "fp32") and "bf16" not in device_name()
    monkeypatch.setattr(cpu_kernels, "bf16_instructions", lambda: False)
    assert "bf16" not in device_name(2, "auto")


def test_epoch_log_prints_now_and_then_and_at_the_end():
    import io
    from types import SimpleNamespace

    from rnnkit.bench import accuracy

    out = io.StringIO()
    log = accuracy.epoch_log("demo seed 0", every_s=3600.0, stream=out)
    trainer = SimpleNamespace(config=SimpleNamespace(epochs=4, monitor="valid_accuracy", early_stopping=None))
    for done in range(1, 5):  # state.epoch counts the epochs done when on_epoch_end is called
        log.on_epoch_end(trainer, SimpleNamespace(epoch=done, stop=False, bad_epochs=0,
                                                  row={"valid_accuracy": 0.4 + done / 10}))
    assert out.getvalue().splitlines() == ["[accuracy] demo seed 0: epoch 4/4 valid_accuracy=0.8 (0 s)"]
    log = accuracy.epoch_log("demo seed 1", every_s=3600.0, stream=out)
    trainer.config.monitor, trainer.config.early_stopping = None, 2
    log.on_epoch_end(trainer, SimpleNamespace(epoch=1, stop=False, bad_epochs=1, row={"train_loss": 1.25}))
    log.on_epoch_end(trainer, SimpleNamespace(epoch=2, stop=False, bad_epochs=2, row={}))  # early stopping ends it
    assert out.getvalue().splitlines()[1:] == ["[accuracy] demo seed 1: epoch 2/4 (0 s)"]
