"""``rnnkit export`` beyond the vowel classifier of test_cli.py: ONNX (checked in onnxruntime against the
model for other batch sizes and numbers of steps), and torch.export of the models whose input checks
or data-dependent sizes used to stop the trace (token ids, differenced forecasts, frames)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import rnnkit
from rnnkit.cli.main import main
from rnnkit.data.batch import Batch, collate

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")


def _reviews(data: Path) -> list[str]:
    """Write a small ``review,label`` CSV of three-word reviews; the training flags that read it."""
    words = ["great", "love", "good", "fast", "bad", "awful", "slow", "broken"]
    rows = ["review,label"] + [f'"{words[i % 8]} {words[(3 * i) % 8]} phone",{"pos" if i % 8 < 4 else "neg"}'
                               for i in range(60)]
    data.write_text("\n".join(rows) + "\n")
    return ["--data", f"csv:{data}", "--data-option", "text=review", "--data-option", "target=label", "--model",
            "classifier"]


# the generated data sets' sizes, not their defaults (20000 + 2000 dates, 2000 + 400 videos, 10000 + 1000
# captions: seconds to generate, in train, export and here each): the same vocabularies and shapes, and
# more than the --limit of each run and the examples each test reads
DATES = {"n_train": 1000, "n_test": 100}
VIDEOS = {"n_train": 60, "n_test": 20}
CAPTIONS = {"n_train": 1000, "n_test": 100}


def _options(options: dict[str, int]) -> list[str]:
    return [arg for key, value in options.items() for arg in ("--data-option", f"{key}={value}")]


def _train(root: Path, name: str, *args: str) -> Path:
    run = root / name
    assert main(["train", *args, "--epochs", "1", "--out", str(run), "--no-progress", "--no-report"]) == 0
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export_runs")


@pytest.fixture(scope="module")
def lstm_run(runs: Path) -> Path:
    return _train(runs, "jv_lstm", "--data", "japanese_vowels", "--model", "classifier", "--cell", "lstm", "--hidden",
                  "8", "--layers", "2", "--bidirectional", "--limit", "40")


@pytest.fixture(scope="module")
def lstm_onnx(lstm_run: Path, runs: Path) -> tuple[str, Path]:
    """One ONNX export of ``lstm_run`` (about 10 s) for the tests that check different things of it: the
    graph and its outputs, and that ``--out``'s .onnx suffix alone chose the format. Returns the command's
    message and the file."""
    import contextlib
    import io

    path = runs / "jv_suffix" / "model.onnx"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["export", str(lstm_run), "--out", str(path)]) == 0  # no --format: the suffix chooses
    return out.getvalue(), path


@pytest.fixture(scope="module")
def reviews_run(runs: Path) -> Path:
    """A token classifier on a user's CSV of reviews (its tokenizer in the run folder), trained once: the
    test of its ONNX export and, on a copy, the test of a run whose data is gone."""
    return _train(runs, "reviews", *_reviews(runs / "reviews.csv"), "--cell", "gru", "--hidden", "8")


@pytest.fixture(scope="module")
def dates_run(runs: Path) -> Callable[[str], Path]:
    """``dates_run(cell)``: a seq2seq run on dates_iso with that cell, trained once per module (the seq2seq
    export tests and, on a copy, the test of a run whose data is gone)."""
    made: dict[str, Path] = {}

    def get(cell: str) -> Path:
        if cell not in made:
            made[cell] = _train(runs, f"dates_{cell}", "--data", "dates_iso", *_options(DATES), "--model", "seq2seq",
                                "--cell", cell, "--hidden", "16", "--limit", "200")
        return made[cell]
    return get


def _onnx(run: Path, capsys: pytest.CaptureFixture[str]) -> tuple[object, str]:
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx"]) == 0
    message = capsys.readouterr().out
    path = run / "export" / "model.onnx"
    assert f"to {path}" in message
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]), message


def _check(session: object, model: torch.nn.Module, batches: list, output: str) -> None:
    for batch in batches:
        got = session.run(None, {"x": batch.x.numpy(), "lengths": batch.lengths.numpy()})[0]  # type: ignore[attr-defined]
        with torch.no_grad():
            out = model(batch)
        expected = out.logits if output == "logits" else out.predictions
        torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-5, atol=1e-5)


def test_onnx_classifier_is_one_node_per_layer_and_matches_the_model(
        lstm_run: Path, lstm_onnx: tuple[str, Path]) -> None:
    run = lstm_run
    message, path = lstm_onnx
    assert f"to {path}" in message
    assert "any number of steps" in message and "output logits" in message
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph = onnx.load(str(path))
    kinds = [n.op_type for n in graph.graph.node]
    assert kinds.count("LSTM") == 2 and "Loop" not in kinds  # the recurrence is ONNX's own node, not unrolled
    dims = [d.dim_param for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims[:2] == ["batch", "steps"] and graph.graph.output[0].name == "logits"
    meta = {p.key: p.value for p in graph.metadata_props}
    dataset = rnnkit.datasets.load("japanese_vowels")
    assert json.loads(meta["labels"]) == dataset.info.classes and meta["task"] == "classification"
    test = dataset.test.examples
    batches = [collate(test[5:8]), collate(test[10:11]), collate(test[20:45])]  # other batch sizes and steps
    _check(session, rnnkit.load(run), batches, "logits")


def test_the_out_suffix_chooses_the_format_and_a_mismatch_is_refused(
        lstm_run: Path, lstm_onnx: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out model.onnx` without --format wrote TorchScript into an .onnx file, which loads nowhere."""
    from rnnkit.cli import export as export_cli

    message, out = lstm_onnx  # `export RUN --out model.onnx`, no --format (the fixture)
    assert "(onnx)" in message
    onnx.load(str(out))
    assert main(["export", str(lstm_run), "--format", "torchscript", "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "has the suffix of onnx but --format is torchscript; use a .pt file or --format onnx" in err
    # .pt2 chooses torch.export: what the command asks of its export function (a real .pt2 export through
    # the suffix alone is air_run's, in test_export_history.py: 5-7 s a trace)
    asked: list[tuple[Path, str]] = []

    def record(model: object, x: object, lengths: object, path: Path, fmt: str, **kwargs: object) -> tuple:
        asked.append((path, fmt))
        return 0.0, "any number of steps"

    monkeypatch.setattr(export_cli, "export", record)
    assert main(["export", str(lstm_run), "--out", str(tmp_path / "m.pt2")]) == 0
    assert "(torch.export)" in capsys.readouterr().out
    assert asked == [(tmp_path / "m.pt2", "torch.export")], asked


def test_onnx_frame_tagger_runs_the_cnn_on_every_frame_and_carries_its_crf(
        runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rnnkit.layers.crf import _viterbi

    run = _train(runs, "frames", "--data", "moving_digits", *_options(VIDEOS), "--model", "tagger", "--hidden", "8",
                 "--limit", "40", "--set", "crf=true")
    session, message = _onnx(run, capsys)
    assert "a CRF tagger: the logits are emission scores" in message
    model = rnnkit.load(run)
    batch = collate(rnnkit.datasets.load("moving_digits", **VIDEOS).test.examples[:4])
    _check(session, model, [batch], "logits")
    # Viterbi outside rnnkit: the file's emissions and the potentials in its metadata give the model's tags
    meta = {p.key: p.value for p in onnx.load(str(run / "export" / "model.onnx")).metadata_props}
    trans, start, end = (torch.tensor(json.loads(meta[k])) for k in ("crf_transitions", "crf_start", "crf_end"))
    emissions = torch.from_numpy(session.run(None, {"x": batch.x.numpy(), "lengths": batch.lengths.numpy()})[0])
    tags, _ = _viterbi(emissions, batch.mask(), trans, start, end)
    assert torch.equal(tags, model.predict(batch))


class _Normed(torch.nn.Module):  # a model whose layer (layer norm) has no ONNX recurrent operator
    config = None

    def __init__(self) -> None:
        super().__init__()
        self.rnn = rnnkit.Recurrent("lstm", 3, 4, layer_norm=True, bidirectional=True)

    def forward(self, batch: Batch) -> object:
        from rnnkit.models.base import ModelOutput

        return ModelOutput(logits=self.rnn(batch.x, batch.lengths).outputs.sum(1))


def test_a_layer_onnx_cannot_compute_is_one_scan_node_per_direction_for_any_number_of_steps(tmp_path: Path) -> None:
    """A layer-norm LSTM went through the loop, unrolled to the data's longest sequence: an ONNX export of
    a People's Daily tagger (463 steps) did not finish in 500 s. Now the loop is torch's scan operator,
    which becomes one ONNX Scan node per direction, and T is free."""
    from rnnkit.cli.export import export

    torch.manual_seed(0)
    model = _Normed().eval()
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 4])
    path = tmp_path / "tiny.onnx"
    diff, steps = export(model, x, lengths, path, "onnx", max_steps=9, output_name="logits")
    assert diff < 1e-5 and steps == "any number of steps"
    graph = onnx.load(str(path)).graph
    assert [n.op_type for n in graph.node].count("Scan") == 2
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for t in (1, 8, 60):  # 60: far past the data's longest (9)
        x, lengths = torch.randn(3, t, 3), torch.tensor([t, 1, max(1, t - 3)])
        got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
        with torch.no_grad():
            want = model(Batch(x=x, lengths=lengths)).logits
        torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-4)


def _refused(*args: object, **kwargs: object) -> None:
    raise RuntimeError("this step cannot be scanned")


def test_a_loop_the_scan_operator_cannot_hold_is_unrolled_up_to_the_longest_sequence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.cli.export import export
    from rnnkit.layers import export_loop

    monkeypatch.setattr(export_loop, "scan_direction", _refused)
    torch.manual_seed(0)
    model = _Normed().eval()
    path = tmp_path / "tiny.onnx"
    # the longest sequence 3 (9, then 5 before), past the traced 2: each step of both directions is unrolled
    # into the graph, which ONNX's rewriter then walks, so the cost grows with it (5: 4 s more); the claim
    # (unrolled, up to the longest) does not
    diff, steps = export(model, torch.randn(2, 2, 3), torch.tensor([2, 1]), path, "onnx", max_steps=3,
                         output_name="logits")
    assert diff < 1e-5 and steps == "1 to 3 steps"
    assert "Scan" not in [n.op_type for n in onnx.load(str(path)).graph.node]


def test_an_export_may_differ_by_the_models_own_rounding_drift_and_no_more(
        lstm_run: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Over hundreds of steps a float32 model drifts from itself in float64 by more than 1e-4 (a
    layer-norm LSTM tagger on People's Daily, 295 steps: 1.2e-3), and any two correct float32 programs
    of it differ by about as much: such an export was refused. The allowance is 10x that drift."""
    from rnnkit.cli import export as export_cli

    monkeypatch.setattr(export_cli, "export", lambda *args, **kwargs: (3e-3, "any number of steps"))
    monkeypatch.setattr(export_cli, "rounding_drift", lambda *args, **kwargs: 1e-3)
    capsys.readouterr()
    assert main(["export", str(lstm_run), "--format", "torch.export"]) == 0
    assert "3.0e-03 (within 10x the model's own float32 rounding there" in capsys.readouterr().out
    monkeypatch.setattr(export_cli, "rounding_drift", lambda *args, **kwargs: 1e-4)
    assert main(["export", str(lstm_run), "--format", "torch.export"]) == 2
    assert "differs from the model by 3.00e-03 on test examples, more than 10x the model's own float32 " \
           "rounding there (1.0e-04 from float64); not kept" in capsys.readouterr().err


def test_the_rounding_drift_of_a_layer_norm_lstm_grows_with_the_steps() -> None:
    """Below 1e-5 over 3 steps, above it over 300 (per-step outputs; seeds 0-2 gave about 5e-5 to
    3e-3 here: how far rounding grows depends on the weights)."""
    from rnnkit.cli.export import rounding_drift
    from rnnkit.models.base import ModelOutput

    class Steps(torch.nn.Module):
        config = None

        def __init__(self) -> None:
            super().__init__()
            self.rnn = rnnkit.Recurrent("lstm", 16, 32, layer_norm=True, bidirectional=True)

        def forward(self, batch: Batch) -> ModelOutput:
            return ModelOutput(logits=self.rnn(batch.x, batch.lengths).outputs)

    shorts, longs = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        model = Steps().eval()
        shorts.append(rounding_drift(model, (torch.randn(2, 3, 16), torch.tensor([3, 2]))))
        longs.append(rounding_drift(model, (torch.randn(2, 300, 16), torch.tensor([300, 290]))))
    assert max(shorts) < 1e-5 < min(longs), (shorts, longs)


def test_onnx_without_its_packages_says_what_to_install(
        lstm_run: Path, runs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.cli import export_onnx

    run = lstm_run
    monkeypatch.setattr(export_onnx, "missing_packages", lambda: ["onnxruntime"])
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx", "--out", str(runs / "none.onnx")]) == 2
    assert "ONNX export needs onnxruntime: pip install 'rnnkit[export]'" in capsys.readouterr().err
    assert not (runs / "none.onnx").exists()


def test_a_failed_export_leaves_no_file(lstm_run: Path, runs: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.cli import export as export_cli

    out = runs / "broken.onnx"

    # an export that fails with its file half written, inside the command's export function: here at the
    # trace (this run's real trace costs seconds and is no part of the claim; ONNX's translation after it
    # writes the file and fails the same way)
    def broken(*args: object, **kwargs: object) -> None:
        out.write_bytes(b"half a model")
        raise RuntimeError("translation failed\nmore detail")

    monkeypatch.setattr(export_cli, "torch_export", broken)
    capsys.readouterr()
    assert main(["export", str(lstm_run), "--format", "onnx", "--out", str(out)]) == 2
    assert "onnx could not export SequenceClassifier: translation failed" in capsys.readouterr().err
    assert not out.exists()


def test_onnx_of_a_token_classifier_skips_the_id_range_check_inside_the_program(
        reviews_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = reviews_run
    session, message = _onnx(run, capsys)  # the id range check used to stop torch.export's trace
    assert "any number of steps" in message  # the bag of 1-3-grams takes reviews shorter than 3 tokens too
    from rnnkit.cli.runspec import load_data, open_run

    dataset = load_data(open_run(run)[1])
    example = dataset.test.examples[0]
    assert example.x.dtype == torch.int64 and len(example.x) == 3
    meta = {p.key: p.value for p in onnx.load(str(run / "export" / "model.onnx")).metadata_props}
    tokenizer = json.loads(meta["tokenizer"])  # how to turn a review into the file's token ids
    assert tokenizer["kind"] == "word" and tokenizer["state"]["tokens"] == json.loads(meta["input_vocab"])
    assert json.loads(meta["input_vocab"]) == dataset.info.input_vocab.itos
    short = [dataclasses.replace(example, x=example.x[:n]) for n in (1, 2)]
    _check(session, rnnkit.load(run), [collate(dataset.test.examples[:5]), collate(short)], "logits")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_onnx_seq2seq_is_an_init_and_a_decoding_step_that_greedy_decoding_calls(
        cell: str, dates_run: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    from rnnkit.cli.export_decoding import onnx_beam, onnx_greedy

    run = dates_run(cell)
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx"]) == 0
    assert "gave the model's output on 16 of 16 examples" in capsys.readouterr().out
    sessions = _sessions(run)
    graph = onnx.load(str(run / "export" / "model.init.onnx"))
    assert [n.op_type for n in graph.graph.node].count(cell.upper()) == 1  # the bidirectional encoder, one node
    meta = {p.key: p.value for p in graph.metadata_props}
    model = rnnkit.load(run)
    dataset = rnnkit.datasets.load("dates_iso", **DATES)
    assert json.loads(meta["output_vocab"]) == dataset.info.output_vocab.itos and int(meta["eos_id"]) == 3
    batch = collate(dataset.test.examples[20:45])  # not the examples the command checked, another batch size
    got = onnx_greedy(*sessions, {"x": batch.x.numpy(), "lengths": batch.lengths.numpy()}, bos=int(meta["bos_id"]),
                      eos=int(meta["eos_id"]), max_length=int(meta["max_length"]))
    _same_as_greedy(got, model.generate(batch, "greedy"))
    # beam search in numpy over the same two files: the hypotheses rnnkit's beam_search picks
    feeds = {"x": batch.x.numpy(), "lengths": batch.lengths.numpy()}
    beams = onnx_beam(*sessions, feeds, bos=2, eos=3, max_length=int(meta["max_length"]), beam_size=3,
                      length_penalty=0.6)
    _same_as_greedy(beams, model.generate(batch, "beam", beam_size=3, length_penalty=0.6))
    state = [s.name for s in sessions[0].get_outputs()]
    assert state == (["h", "c"] if cell == "lstm" else ["h"]) + ["feed", "memory", "keys", "mask"]
    assert main(["export", str(run), "--format", "torch.export"]) == 2
    assert "a seq2seq run exports to ONNX only" in capsys.readouterr().err


def test_a_run_whose_data_is_gone_exports_on_random_inputs_of_its_shapes(
        runs: Path, reviews_run: Path, dates_run: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from rnnkit.cli.runspec import load_data, open_run

    # copies of the module's token classifier (its CSV) and seq2seq runs (a bundled set), trained once for
    # the tests that export them with their data; their exports are left behind
    text, dates = runs / "gone_text", runs / "gone_dates"
    shutil.copytree(reviews_run, text, ignore=shutil.ignore_patterns("export"))
    shutil.copytree(dates_run("lstm"), dates, ignore=shutil.ignore_patterns("export"))
    real = load_data(open_run(text)[1]).collate(load_data(open_run(text)[1]).test.examples[:4])
    gone = runs / "gone.csv"  # the data is not on this machine any more: the copy reads a CSV that is not there
    assert not gone.exists() and str(runs / "reviews.csv") in (text / "run.yaml").read_text()
    (text / "run.yaml").write_text((text / "run.yaml").read_text().replace(str(runs / "reviews.csv"), str(gone)))
    spec = (dates / "run.yaml").read_text()
    (dates / "run.yaml").write_text(spec.replace("dates_iso", "no_such_data"))  # a bundled set we lack
    for run in (text, dates):
        capsys.readouterr()
        assert main(["export", str(run), "--format", "onnx"]) == 0
        captured = capsys.readouterr()
        assert "tracing and checking on random inputs of the run's shapes" in captured.err
    session = ort.InferenceSession(str(text / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    _check(session, rnnkit.load(text), [real], "logits")  # real inputs, which the export never saw


def _sessions(run: Path) -> list:
    return [ort.InferenceSession(str(run / "export" / f"model.{part}.onnx"), providers=["CPUExecutionProvider"])
            for part in ("init", "step")]


def _same_as_greedy(got: list[list[int]], generated: object, eos: int = 3) -> None:
    pairs = zip(generated.tokens[:, 0].tolist(), generated.lengths[:, 0].tolist(), got)  # type: ignore[attr-defined]
    for tokens, n, mine in pairs:
        assert mine == [t for t in tokens[:n] if t != eos]


@pytest.mark.parametrize("conditioning", ["init", "both"])
def test_onnx_conditioned_generator_from_its_condition(conditioning: str, runs: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from rnnkit.cli.export_decoding import onnx_greedy

    cell = "lstm" if conditioning == "init" else "gru"
    run = _train(runs, f"captions_{conditioning}", "--data", "digit_captions", *_options(CAPTIONS), "--model",
                 "generator", "--cell", cell, "--hidden", "16", "--set", f"conditioning={conditioning}", "--limit",
                 "100")
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx"]) == 0
    assert "16 of 16 examples" in capsys.readouterr().out
    init, step = _sessions(run)
    assert [i.name for i in init.get_inputs()] == ["cond"]
    assert [i.name for i in step.get_inputs()] == (["tokens", "h", "c"] if cell == "lstm" else
                                                   ["tokens", "h", "context"])
    model = rnnkit.load(run)
    cond = collate(rnnkit.datasets.load("digit_captions", **CAPTIONS).test.examples[16:40]).cond
    got = onnx_greedy(init, step, {"cond": cond.numpy()}, bos=2, eos=3, max_length=model.config.max_length)
    _same_as_greedy(got, model.generate(cond))
    if conditioning == "init":
        assert main(["export", str(run)]) == 2
        assert "a generation run exports to ONNX only" in capsys.readouterr().err


def test_onnx_language_model_continues_a_prompt(tmp_path: Path) -> None:
    from rnnkit.cli.export_decoding import export_parts, onnx_beam, onnx_greedy
    from rnnkit.models import LanguageModel

    torch.manual_seed(0)
    model = LanguageModel(vocab_size=12, cell="lstm", embed_dim=8, hidden_size=16, num_layers=2).eval()
    prompts = torch.randint(4, 12, (3, 5))
    lengths = torch.tensor([5, 2, 4])
    init, step = export_parts(model, {"x": prompts, "lengths": lengths}, tmp_path / "init.onnx",
                              tmp_path / "step.onnx", {"task": "generation"})
    assert [o.name for o in init.get_outputs()] == ["log_probs", "h", "c"]
    prompts, lengths = torch.randint(4, 12, (4, 7)), torch.tensor([7, 1, 3, 6])  # other batch size and length
    got = onnx_greedy(init, step, {"x": prompts.numpy(), "lengths": lengths.numpy()}, bos=2, eos=3, max_length=9)
    _same_as_greedy(got, model.generate(prompts, 9, prompt_lengths=lengths))
    assert all(len(g) <= 9 for g in got)
    beams = onnx_beam(init, step, {"x": prompts.numpy(), "lengths": lengths.numpy()}, bos=2, eos=3, max_length=9,
                      beam_size=4)  # the prompt's own next-token distribution starts the beams
    _same_as_greedy(beams, model.generate(prompts, 9, "beam", prompt_lengths=lengths, beam_size=4))


def test_a_forecaster_with_known_future_covariates_takes_them_as_a_third_input(
        runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import math

    rows = ["day,sales,promo"]
    for t in range(160):  # weekly pattern, and a promotion known ahead that lifts sales
        promo = int(t % 9 == 0)
        rows.append(f"{t},{10 + 3 * math.sin(2 * math.pi * t / 7) + 4 * promo:.3f},{promo}")
    data = runs / "sales.csv"
    data.write_text("\n".join(rows) + "\n")
    run = _train(runs, "sales", "--data", f"csv:{data}", "--data-option", "target=sales", "--data-option", "time=day",
                 "--data-option", "covariates=[promo]", "--data-option", "window=14", "--data-option", "horizon=7",
                 "--model", "forecaster", "--hidden", "8")
    from rnnkit.cli.runspec import load_data, open_run

    loaded, spec = open_run(run)
    dataset = load_data(spec)
    batch = dataset.collate(dataset.test.examples[:3])
    assert batch.future is not None and batch.future.shape[1:] == (7, 1)
    assert loaded.model.config.num_future == 1
    with torch.no_grad():
        expected = loaded.model(batch).predictions
    session, message = _onnx(run, capsys)
    assert "inputs (x, lengths, future)" in message
    assert [i.name for i in session.get_inputs()] == ["x", "lengths", "future"]
    got = session.run(None, {"x": batch.x.numpy(), "lengths": batch.lengths.numpy(), "future": batch.future.numpy()})
    torch.testing.assert_close(torch.from_numpy(got[0]), expected, rtol=1e-5, atol=1e-4)
    for fmt in ("torch.export", "torchscript"):
        assert main(["export", str(run), "--format", fmt]) == 0
    program = torch.export.load(str(run / "export" / "model.pt2")).module()
    torch.testing.assert_close(program(batch.x, batch.lengths, batch.future), expected)


def test_onnx_ensembles_of_decoders_mix_their_members_as_the_model_does(
        runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An ensemble's step runs every member's and mixes their probabilities (log mean exp), as
    EnsembleDecoder does: greedy and beam decoding in onnxruntime pick the model's outputs."""
    from rnnkit.cli.export_decoding import export_parts, onnx_beam, onnx_greedy
    from rnnkit.models import LanguageModel
    from rnnkit.models.ensemble import Ensemble

    # digit_captions' recipe is an ensemble of 3 generators. DATES: the same 60-character vocabulary
    run = _train(runs, "dates_pair", "--data", "dates_iso", *_options(DATES), "--model", "seq2seq", "--hidden", "8",
                 "--limit", "100", "--ensemble", "2")
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx"]) == 0
    assert "16 of 16 examples" in capsys.readouterr().out
    init, step = _sessions(run)
    assert [o.name for o in init.get_outputs()][:3] == ["h_0", "c_0", "feed_0"]
    model = rnnkit.load(run)
    batch = collate(rnnkit.datasets.load("dates_iso", **DATES).test.examples[30:40])
    feeds = {"x": batch.x.numpy(), "lengths": batch.lengths.numpy()}
    _same_as_greedy(onnx_greedy(init, step, feeds, bos=2, eos=3, max_length=20),
                    model.generate(batch, "greedy", max_length=20))
    _same_as_greedy(onnx_beam(init, step, feeds, bos=2, eos=3, max_length=20, beam_size=3),
                    model.generate(batch, "beam", max_length=20, beam_size=3))
    torch.manual_seed(1)  # language models: the prompt's mixed distribution starts the output
    pair = Ensemble(members=[LanguageModel(vocab_size=12, cell="gru", embed_dim=8, hidden_size=16)
                             for _ in range(2)]).eval()
    prompts, lengths = torch.randint(4, 12, (3, 5)), torch.tensor([5, 2, 4])
    init, step = export_parts(pair, {"x": prompts, "lengths": lengths}, tmp_path / "i.onnx", tmp_path / "s.onnx", {})
    got = onnx_greedy(init, step, {"x": prompts.numpy(), "lengths": lengths.numpy()}, bos=2, eos=3, max_length=8)
    from rnnkit.data.batch import Batch

    _same_as_greedy(got, pair.generate(Batch(x=prompts, lengths=lengths), "greedy", max_length=8))


def test_an_ensemble_of_taggers_exports_the_log_of_its_mean_probabilities_unless_it_has_a_crf(
        runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import math

    run = _train(runs, "frames_pair", "--data", "moving_digits", *_options(VIDEOS), "--model", "tagger", "--hidden",
                 "8", "--limit", "30", "--ensemble", "2")
    session, _ = _onnx(run, capsys)
    model = rnnkit.load(run)
    batch = collate(rnnkit.datasets.load("moving_digits", **VIDEOS).test.examples[:3])
    got = torch.from_numpy(session.run(None, {"x": batch.x.numpy(), "lengths": batch.lengths.numpy()})[0])
    with torch.no_grad():
        probs = model.predict_proba(batch)  # the ensemble's own per-step mean probabilities
    mask = batch.mask()
    torch.testing.assert_close(got.exp()[mask], probs[mask], rtol=1e-4, atol=1e-6)
    assert math.isclose(float(got.exp()[mask].sum(-1).mean()), 1.0, rel_tol=1e-5)
    # refused before any trace, whatever the run's size: a few examples to train on are enough
    crf = _train(runs, "frames_crf_pair", "--data", "moving_digits", *_options(VIDEOS), "--model", "tagger",
                 "--hidden", "8", "--limit", "8", "--ensemble", "2", "--set", "crf=true")
    capsys.readouterr()
    assert main(["export", str(crf), "--format", "onnx"]) == 2
    assert "an ensemble of 2 CRF taggers" in capsys.readouterr().err


def test_a_scaled_users_table_exports_a_program_of_the_datas_own_units(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Runs on a user's numeric tables were trained on scaled values: the exported programs take and
    return the data's own units, as ``rnnkit predict`` does, and say so in their metadata."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["sample,t,ax,ay,label"]
    for s in range(40):
        label, base = ("hi", 1050.0) if s % 2 == 0 else ("lo", 950.0)
        rows += [f"s{s},{t},{base + rng.normal(0, 20):.2f},{rng.normal(0, 1):.3f},{label}" for t in range(8)]
    (tmp_path / "seq.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "seq"
    assert main(["train", "--data", f"csv:{tmp_path / 'seq.csv'}", "--data-option", "id=sample", "--data-option",
                 "time=t", "--data-option", "target=label", "--model", "classifier", "--hidden", "8", "--epochs", "2",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    raw = np.array([[float(v) for v in r.split(",")[2:4]] for r in rows[1:9]], dtype=np.float32)[None]  # s0
    (tmp_path / "s0.csv").write_text("ax,ay\n" + "".join(f"{a},{b}\n" for a, b in raw[0]))
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "s0.csv"), "--top", "2"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert main(["export", str(run), "--format", "onnx"]) == 0 and main(["export", str(run)]) == 0
    assert "x in the data's own units" in capsys.readouterr().out
    session = ort.InferenceSession(str(run / "export" / "model.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["features"]) == ["ax", "ay"] and "offset" in json.loads(meta["input_scaling"])
    lengths = np.array([raw.shape[1]], dtype=np.int64)
    for logits in (session.run(None, {"x": raw, "lengths": lengths})[0][0],
                   torch.jit.load(str(run / "export" / "model.pt"))(torch.from_numpy(raw),
                                                                   torch.from_numpy(lengths))[0].detach().numpy()):
        probs = torch.softmax(torch.as_tensor(logits), -1)
        best = int(probs.argmax())
        assert shown[0] == json.loads(meta["labels"])[best] and f"{float(probs[best]):.3f}" in shown[1]

    t = np.arange(90)
    sales = 2000 + 3 * t + 50 * np.sin(t / 3)
    (tmp_path / "sales.csv").write_text("day,sales\n" + "".join(f"{i},{v:.2f}\n" for i, v in zip(t, sales)))
    run = tmp_path / "fc"
    assert main(["train", "--data", f"csv:{tmp_path / 'sales.csv'}", "--data-option", "target=sales",
                 "--data-option", "time=day", "--data-option", "window=24", "--data-option", "horizon=4",
                 "--data-option", "scale=standard", "--model", "forecaster", "--hidden", "8", "--epochs", "2",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    (tmp_path / "last.csv").write_text("sales\n" + "".join(f"{v:.2f}\n" for v in sales[-24:]))
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "last.csv")]) == 0
    expected = [float(v) for v in capsys.readouterr().out.splitlines()[1].split()]
    assert main(["export", str(run), "--format", "onnx"]) == 0
    printed = capsys.readouterr().out
    assert "x: a history of ['sales'], of which it reads the last 24 steps" in printed
    assert "the run's scaler is inside the program" in printed
    session = ort.InferenceSession(str(run / "export" / "model.onnx"))
    history = np.array([f"{v:.2f}" for v in sales], dtype=np.float32)
    window = history[-24:][None, :, None]
    got = session.run(None, {"x": window, "lengths": np.array([24], dtype=np.int64)})[0][0]
    assert np.allclose(got, expected, rtol=1e-3) and 1500 < float(np.mean(got)) < 3000
    # a longer history, and two right-padded ones in a batch: the program reads each one's last 24 steps
    ragged = np.zeros((2, 90, 1), dtype=np.float32)
    ragged[0, :, 0], ragged[1, :40, 0] = history, history[-40:]
    for x, lengths in ((history[None, :, None], [90]), (ragged, [90, 40])):
        out = session.run(None, {"x": x, "lengths": np.array(lengths, dtype=np.int64)})[0]
        assert np.allclose(out, got, rtol=1e-5)


def test_a_segmentation_tagger_says_it_takes_one_character(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """torch.export takes a free size to be >= 2; a one-character sentence runs all the same, and the
    message says so (it said "at least 2 steps")."""
    run = _train(runs, "seg", "--data", "peoples_daily_seg", "--limit", "60", "--hidden", "8", "--set",
                 "bigram_buckets=1024")
    session, message = _onnx(run, capsys)
    assert "any number of steps" in message
    model = rnnkit.load(run)
    x, lengths = torch.tensor([[7]]), torch.tensor([1])
    got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]  # type: ignore[attr-defined]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(Batch(x=x, lengths=lengths)).logits)


def _same(program: object, reference: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(program(x, lengths), reference(x, lengths), rtol=1e-5, atol=1e-5)  # type: ignore[operator]


@pytest.mark.parametrize("unrolled", [False, True])
def test_torch_export_cuts_only_per_step_outputs_and_keeps_every_length_up_to_the_longest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unrolled: bool) -> None:
    """A classifier with as many classes as its longest sequence had its logits cut to x's steps, and a
    tagger traced on an example of the longest length came out as a program of that length alone
    (``unrolled``: the loop unrolled and x padded, as where the scan operator cannot hold the step)."""
    from rnnkit.cli.export import export, scoring_module
    from rnnkit.layers import export_loop
    from rnnkit.models import SequenceClassifier, SequenceTagger

    if unrolled:
        monkeypatch.setattr(export_loop, "scan_direction", _refused)
    torch.manual_seed(0)
    for model in (SequenceClassifier(num_outputs=4, num_features=2, cell="lstm", hidden_size=4, embed_dim=None),
                  SequenceTagger(num_tags=3, num_features=2, cell="lstm", hidden_size=4)):
        model.eval()
        path = tmp_path / f"{type(model).__name__}.pt2"
        x, lengths = torch.randn(2, 4, 2), torch.tensor([4, 3])
        diff, steps = export(model, x, lengths, path, "torch.export", max_steps=4)
        assert diff < 1e-5 and steps == ("1 to 4 steps" if unrolled else "any number of steps"), steps
        program = torch.export.load(str(path)).module()
        for t in (1, 2, 4) if unrolled else (1, 2, 4, 9):
            _same(program, scoring_module(model), torch.randn(3, t, 2), torch.tensor([t, 1, t]))


def test_torchscript_of_a_differenced_forecaster_and_of_a_fused_layer(tmp_path: Path) -> None:
    """TorchScript traced a differenced forecaster's step guard (a tensor there: an error) and the fused
    C++ kernel of a layer-normed LSTM (a Python call it cannot hold): now the guard is left to the caller,
    and such a layer runs the loop, padded to the longest sequence."""
    from rnnkit.cli.export import export, scoring_module
    from rnnkit.models import Forecaster, SequenceClassifier

    torch.manual_seed(0)
    forecaster = Forecaster(horizon=3, hidden_size=4, difference=[2], transform="log").eval()
    x, lengths = torch.rand(2, 8, 1) + 1, torch.tensor([8, 6])
    diff, _ = export(forecaster, x, lengths, tmp_path / "fc.pt", "torchscript")
    assert diff < 1e-5
    _same(torch.jit.load(str(tmp_path / "fc.pt")), scoring_module(forecaster), torch.rand(3, 7, 1) + 1,
          torch.tensor([7, 5, 3]))
    normed = SequenceClassifier(num_outputs=2, num_features=2, cell="lstm", hidden_size=4, embed_dim=None,
                                layer_norm=True).eval()
    diff, steps = export(normed, torch.randn(2, 5, 2), torch.tensor([5, 2]), tmp_path / "ln.pt", "torchscript",
                         max_steps=9)
    assert diff < 1e-5 and steps == "1 to 9 steps"
    program = torch.jit.load(str(tmp_path / "ln.pt"))
    for t in (1, 5, 9):
        _same(program, scoring_module(normed), torch.randn(2, t, 2), torch.tensor([t, 1]))


def test_a_torchscript_program_masks_nan_padding_whatever_it_was_traced_on(tmp_path: Path) -> None:
    """The padding mask that Recurrent and the models skip for an all-finite batch on a CPU is recorded
    by TorchScript's trace: a program traced on finite data must still zero NaN padding."""
    from rnnkit.cli.export import export, scoring_module
    from rnnkit.models import SequenceClassifier

    torch.manual_seed(0)
    model = SequenceClassifier(num_outputs=2, num_features=2, cell="gru", hidden_size=4, embed_dim=None,
                               conv_channels=[4], conv_kernel_sizes=[3]).eval()
    export(model, torch.randn(2, 5, 2), torch.tensor([5, 2]), tmp_path / "m.pt", "torchscript")
    program = torch.jit.load(str(tmp_path / "m.pt"))
    x, lengths = torch.randn(2, 5, 2), torch.tensor([5, 3])
    padded = x.clone()
    padded[1, 3:] = float("nan")
    zeroed = x * (torch.arange(5) < lengths[:, None])[..., None]
    with torch.no_grad():
        torch.testing.assert_close(program(padded, lengths), scoring_module(model)(zeroed, lengths))


def test_an_export_that_refuses_a_few_steps_the_model_takes_is_an_error() -> None:
    """A range for x of "any number of steps" did not show a size derived from it (T - 1): a tagger's
    program refused two steps. The fewest three numbers of steps are tried before the command says so."""
    from rnnkit.cli.export import refused_steps

    class Program:
        def __init__(self, refuses: int) -> None:
            self.refuses = refuses

        def module(self) -> object:
            def run(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
                assert x.shape[1] != self.refuses, "Guard failed"
                return x.sum(1)
            return run

    def model(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return x.sum(1)

    args = (torch.randn(2, 6, 3), torch.tensor([6, 4]))
    assert refused_steps(Program(2), model, args, (1, None)) == 2
    assert refused_steps(Program(5), model, args, (1, None)) is None  # past the three fewest
    assert refused_steps(Program(2), model, args, (1, 1)) is None  # outside the range it claims
    assert refused_steps(Program(1), model, args, None) is None  # one vector per example: no steps


def test_a_torchscript_forecaster_with_a_window_takes_a_history_of_any_length(tmp_path: Path) -> None:
    """It said "1 to 6 steps" (the loop padded to the window), yet it cuts any longer history to its window
    first, as Forecaster.forecast does."""
    from rnnkit.cli.export import export, scoring_module
    from rnnkit.models import Forecaster

    torch.manual_seed(0)
    model = Forecaster(horizon=3, hidden_size=4, window=6, layer_norm=True).eval()
    x, lengths = torch.randn(2, 6, 1), torch.tensor([6, 6])
    diff, steps = export(model, x, lengths, tmp_path / "fc.pt", "torchscript", max_steps=6)
    assert diff < 1e-5 and steps == "any number of steps", steps
    program = torch.jit.load(str(tmp_path / "fc.pt"))
    _same(program, scoring_module(model), torch.randn(2, 40, 1), torch.tensor([40, 40]))
