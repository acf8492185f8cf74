"""A differenced forecaster's exported program and a history too short for its differencing: a lag-m
difference needs ``m + 1`` steps (``sum(difference) + 1``), and with fewer the program returned NaN.
TorchScript and torch.export programs now refuse one; an ONNX file records ``min_steps`` in its
metadata, which ``run_session`` (how rnnkit runs an ONNX program) applies."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import torch

import rnnkit
from rnnkit.cli.main import main
from rnnkit.data.batch import collate
from rnnkit.models import Forecaster

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

LAG, WINDOW, HORIZON = 3, 8, 2
FEWEST = LAG + 1
AIR_HORIZON = 4  # the air run's horizon: just past the lag
SUFFIXES = {"torchscript": ".pt", "torch.export": ".pt2", "onnx": ".onnx"}
# what each program says of 3 steps: rnnkit's message where the program can carry one; torch.export's
# own guard on x's steps and runtime assertion on the lengths, each naming the fewest steps
TOO_SHORT = rf"a history of {FEWEST - 1} steps is too short for this (ONNX )?forecaster: .*at least {FEWEST} steps"
REFUSED = {"torchscript": (TOO_SHORT, TOO_SHORT),
           "torch.export": (rf"x.size\(\)\[1\] >= {FEWEST}", rf">= {FEWEST}"),
           "onnx": (TOO_SHORT, TOO_SHORT)}


def _runner(fmt: str, path: Path) -> object:
    """The program at ``path`` as a function of ``(x, lengths)`` -> a tensor."""
    if fmt == "torchscript":
        return torch.jit.load(str(path))
    if fmt == "torch.export":
        return torch.export.load(str(path)).module()
    from rnnkit.cli.export_onnx import run_session

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x, lengths: torch.from_numpy(run_session(session, {"x": x.numpy(), "lengths": lengths.numpy()}))


@pytest.fixture(scope="module")
def air_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list[object]]:
    """The air_passengers recipe differenced at lag 3 with a horizon of 4, exported by ``rnnkit export`` as
    ONNX, torch.export (``--out model.pt2``: the suffix alone chooses the format) and TorchScript: the run
    folder, the command's message for each format, and the ``dynamic_shapes`` of each torch.export trace
    of the .pt2 export. One training and one export of each format (an ONNX or torch.export export costs
    seconds) for the tests of the programs, of the command's message and of the number of traces.

    The recipe's log values differenced (at lag 12 there), autoregressive over the horizon. Its horizon of
    36 is unrolled into every trace (about 100 s here; 13, just past lag 12, still took 40 s); a lag of 3
    and a horizon of 4 keep what matters, the horizon past the lag, so the forecast is added back block by
    block onto its own earlier months as with 36 and lag 12 (undifference's cumsum over ceil(H / lag) = 2
    blocks), in a third of the unrolled steps. Hidden 8 for the recipe's 128: the same ops, smaller matrices."""
    run = tmp_path_factory.mktemp("history") / "air"
    assert main(["train", "--recipe", "air_passengers", "--data-option", f"horizon={AIR_HORIZON}", "--set",
                 f"difference=[{LAG}]", "--hidden", "8", "--epochs", "1", "--out", str(run), "--no-progress",
                 "--no-report"]) == 0
    messages, traces = {}, []
    real = torch.export.export

    def counted(*args: object, **kwargs: object) -> object:
        traces.append(kwargs.get("dynamic_shapes"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    for fmt, how in (("onnx", ["--format", "onnx"]), ("torch.export", ["--out", str(run / "export" / "model.pt2")]),
                     ("torchscript", ["--format", "torchscript"])):
        with contextlib.redirect_stdout(io.StringIO()) as out, pytest.MonkeyPatch.context() as patch:
            if fmt == "torch.export":  # no --format: the .pt2 suffix chooses torch.export
                patch.setattr(torch.export, "export", counted)
            assert main(["export", str(run), *how]) == 0
        messages[fmt] = out.getvalue()
    return run, messages, traces


@pytest.fixture(scope="module")
def air_program(air_run: tuple[Path, dict[str, str], list[object]]) -> object:
    """The .pt2 program of ``air_run``, loaded once (a load and its first call cost seconds) for both tests of it."""
    return _runner("torch.export", air_run[0] / "export" / "model.pt2")


def test_onnx_and_torch_export_of_a_differenced_forecaster(
        air_run: tuple[Path, dict[str, str], list[object]], air_program: object) -> None:
    run, messages, _ = air_run
    path = run / "export" / "model.onnx"
    assert f"to {path}" in messages["onnx"]
    message = messages["onnx"]
    assert f"at least {LAG + 1} steps" in message and "output predictions" in message  # lag 3: 4 or more
    model = rnnkit.load(run)
    assert model.config.horizon == AIR_HORIZON and tuple(model.config.difference) == (LAG,)
    assert model.config.strategy == "autoregressive" and model.config.transform == "log"
    dataset = rnnkit.datasets.load("air_passengers", window=24, horizon=AIR_HORIZON, valid_size=0)
    windows = [collate(dataset.test.examples[:1]), collate(dataset.train.examples[:5])]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in windows:
        got = session.run(None, {"x": batch.x.numpy(), "lengths": batch.lengths.numpy()})[0]
        with torch.no_grad():
            expected = model(batch).predictions
        torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-5, atol=1e-5)
    assert "(torch.export)" in messages["torch.export"]  # `--out model.pt2`, no --format (the fixture)
    for batch in windows:
        got = air_program(batch.x, batch.lengths)  # type: ignore[operator]
        torch.testing.assert_close(got, model(batch).predictions)


# run: the program that `rnnkit export` wrote for the module's trained run (window 24), as the command
# checked it; otherwise a Forecaster exported by `export` (window 8 or none)
@pytest.mark.parametrize(("fmt", "window"), [("torchscript", WINDOW), ("torch.export", "run"), ("onnx", "run"),
                                             ("torchscript", None), ("torch.export", None)])
def test_a_differenced_forecaster_program_refuses_a_history_too_short_and_takes_the_fewest_steps(
        fmt: str, window: int | str | None, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """TorchScript (and torch.export without a window): a Forecaster exported by ``export``; ONNX and
    torch.export with a window: the programs that ``rnnkit export`` wrote for a trained run of lag 3 (the
    module's air_run), against that run's model, as the command checks it (an ONNX or torch.export export
    costs seconds: the command's are checked here)."""
    from rnnkit.cli.export import export, scoring_module

    if window == "run":
        from rnnkit.cli.export_scoring import Scaling
        from rnnkit.cli.runspec import open_run

        run, messages, _ = request.getfixturevalue("air_run")
        loaded = open_run(run)[0]
        model = loaded.model.eval()
        reference = scoring_module(model, scaling=Scaling.of_run(loaded.info, loaded.extras))
        assert tuple(model.config.difference) == (LAG,) and model.config.window == 24
        path = run / "export" / f"model{SUFFIXES[fmt]}"
        found = re.search(r"\(x of any batch size, ([^;)]*)\).*max difference on the 2 longest and \d+ other "
                          r"test examples ([-+.e0-9]+)", messages[fmt])
        assert found, messages[fmt]
        steps, diff = found.group(1), float(found.group(2))
        x = torch.rand(2, model.config.window, 1) + 1
    else:
        torch.manual_seed(0)
        # without a window the network reads T - LAG steps: 1 at the fewest, which torch.export's guards
        # against a size of 1 refused before (a program that asked for one step more than it needs)
        model = Forecaster(horizon=HORIZON, hidden_size=4, difference=[LAG],
                           window=window).eval()  # type: ignore[arg-type]
        reference = scoring_module(model)
        x, lengths = torch.rand(2, WINDOW, 1) + 1, torch.tensor([WINDOW, WINDOW])
        path = tmp_path / f"model{SUFFIXES[fmt]}"
        diff, steps = export(model, x, lengths, path, fmt, max_steps=WINDOW)
    longest = int(x.shape[1])  # the window: the run's 24 or 8; WINDOW steps without one
    assert diff < 1e-5 and steps == f"at least {FEWEST} steps", steps  # TorchScript said nothing ("")
    shared = fmt == "torch.export" and window == "run"  # the module's program of path, loaded once
    program = request.getfixturevalue("air_program") if shared else _runner(fmt, path)
    short_x, short_length = REFUSED[fmt]
    with pytest.raises(Exception, match=short_x):  # x of 3 steps: NaN before
        program(x[:, : FEWEST - 1], torch.tensor([FEWEST - 1, FEWEST - 1]))  # type: ignore[operator]
    with pytest.raises(Exception, match=short_length):  # a padded batch whose second history has 3 steps
        program(x, torch.tensor([longest, FEWEST - 1]))  # type: ignore[operator]
    with torch.no_grad():
        for t in (FEWEST, longest + 3):  # the fewest steps, and a longer history (cut to its window)
            history, given = torch.rand(3, t, 1) + 1, torch.tensor([t, FEWEST, t])
            got = program(history, given)  # type: ignore[operator]
            assert torch.isfinite(got).all()
            torch.testing.assert_close(got, reference(history, given), rtol=1e-5, atol=1e-5)
    if fmt == "onnx":
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert meta["min_steps"] == str(FEWEST) and meta["steps"] == f"at least {FEWEST} steps"


def test_a_windowed_differenced_forecaster_is_traced_once(air_run: tuple[Path, dict[str, str], list[object]]) -> None:
    """Its differencing needs FEWEST steps whatever its window: a trace over a range from 1 step could only
    fail (a whole trace lost, seconds), so its own guards set the range at the first trace. The traces are
    those of the .pt2 export of the module's run (window 24), whose program takes the fewest steps: the
    torch.export-run case of the test of a history too short above."""
    run, _, traces = air_run
    assert rnnkit.load(run).config.window == 24
    assert len(traces) == 1, traces


def test_the_model_the_export_is_checked_against_refuses_a_short_history_too() -> None:
    from rnnkit.cli.export import scoring_module

    module = scoring_module(Forecaster(horizon=HORIZON, hidden_size=4, difference=[LAG], window=WINDOW).eval())
    with pytest.raises(ValueError, match=TOO_SHORT):
        module(torch.rand(1, FEWEST - 1, 1) + 1, torch.tensor([FEWEST - 1]))


def test_the_export_command_states_the_rule_and_writes_min_steps(
        air_run: tuple[Path, dict[str, str], list[object]]) -> None:
    run, messages, _ = air_run
    for fmt in ("torchscript", "onnx"):
        message = messages[fmt]
        assert f"at least {FEWEST} steps" in message
        assert f"every history (and length) needs at least {FEWEST} steps" in message, message
    assert "min_steps in its metadata" in message and "run_session" in message
    meta = {p.key: p.value for p in onnx.load(str(run / "export" / "model.onnx")).metadata_props}
    assert json.loads(meta["min_steps"]) == FEWEST
