"""A differenced forecaster's exported program and a history too short for its differencing: a lag-m
difference needs ``m + 1`` steps (``sum(difference) + 1``), and with fewer the program returned NaN.
TorchScript and torch.export programs now refuse one; an ONNX file records ``min_steps`` in its
metadata, which ``run_session`` (how rnnkit runs an ONNX program) applies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.models import Forecaster

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

LAG, WINDOW, HORIZON = 3, 8, 2
FEWEST = LAG + 1
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
def command_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A run of a lag-3 differenced forecaster on a user's CSV, exported by ``rnnkit export`` as TorchScript
    and as ONNX: the run folder and the command's message for each format. One ONNX export (seconds) for
    the test of the command's message and for the ONNX case of the test of the program itself."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("history")
    rows = ["day,sales"] + [f"{t},{10 + t % 5 + 0.1 * t:.2f}" for t in range(60)]
    data = tmp / "sales.csv"
    data.write_text("\n".join(rows) + "\n")
    run = tmp / "run"
    assert main(["train", "--data", f"csv:{data}", "--data-option", "target=sales", "--data-option", "time=day",
                 "--data-option", f"window={WINDOW}", "--data-option", f"horizon={HORIZON}", "--model", "forecaster",
                 "--hidden", "4", "--set", f"difference=[{LAG}]", "--set", "transform=none", "--epochs", "1",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    messages = {}
    for fmt in ("torchscript", "onnx"):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert main(["export", str(run), "--format", fmt]) == 0
        messages[fmt] = out.getvalue()
    return run, messages


@pytest.mark.parametrize(("fmt", "window"), [(fmt, WINDOW) for fmt in SUFFIXES]
                         + [(fmt, None) for fmt in ("torchscript", "torch.export")])
def test_a_differenced_forecaster_program_refuses_a_history_too_short_and_takes_the_fewest_steps(
        fmt: str, window: int | None, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """TorchScript and torch.export: a Forecaster exported by ``export``; ONNX: the program that ``rnnkit
    export`` wrote for a trained run of the same shape (lag 3, window 8, horizon 2), against that run's
    model, as the command checks it (an ONNX export costs seconds: the command's is checked here)."""
    from rnnkit.cli.export import export, scoring_module

    if fmt == "onnx":
        from rnnkit.cli.export_scoring import Scaling
        from rnnkit.cli.runspec import open_run

        run, messages = request.getfixturevalue("command_run")
        loaded = open_run(run)[0]
        model = loaded.model.eval()
        reference = scoring_module(model, scaling=Scaling.of_run(loaded.info, loaded.extras))
        assert tuple(model.config.difference) == (LAG,)
        assert model.config.window == WINDOW and model.config.horizon == HORIZON
        path = run / "export" / "model.onnx"
        found = re.search(r"\(x of any batch size, ([^;)]*)\).*max difference on the 2 longest and \d+ other "
                          r"test examples ([-+.e0-9]+)", messages["onnx"])
        assert found, messages["onnx"]
        steps, diff = found.group(1), float(found.group(2))
        x = torch.rand(2, WINDOW, 1) + 1
    else:
        torch.manual_seed(0)
        # without a window the network reads T - LAG steps: 1 at the fewest, which torch.export's guards
        # against a size of 1 refused before (a program that asked for one step more than it needs)
        model = Forecaster(horizon=HORIZON, hidden_size=4, difference=[LAG], window=window).eval()
        reference = scoring_module(model)
        x, lengths = torch.rand(2, WINDOW, 1) + 1, torch.tensor([WINDOW, WINDOW])
        path = tmp_path / f"model{SUFFIXES[fmt]}"
        diff, steps = export(model, x, lengths, path, fmt, max_steps=WINDOW)
    assert diff < 1e-5 and steps == f"at least {FEWEST} steps", steps  # TorchScript said nothing ("")
    program = _runner(fmt, path)
    short_x, short_length = REFUSED[fmt]
    with pytest.raises(Exception, match=short_x):  # x of 3 steps: NaN before
        program(x[:, : FEWEST - 1], torch.tensor([FEWEST - 1, FEWEST - 1]))  # type: ignore[operator]
    with pytest.raises(Exception, match=short_length):  # a padded batch whose second history has 3 steps
        program(x, torch.tensor([WINDOW, FEWEST - 1]))  # type: ignore[operator]
    with torch.no_grad():
        for t in (FEWEST, WINDOW + 3):  # the fewest steps, and a longer history (cut to its window)
            history, given = torch.rand(3, t, 1) + 1, torch.tensor([t, FEWEST, t])
            got = program(history, given)  # type: ignore[operator]
            assert torch.isfinite(got).all()
            torch.testing.assert_close(got, reference(history, given), rtol=1e-5, atol=1e-5)
    if fmt == "onnx":
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert meta["min_steps"] == str(FEWEST) and meta["steps"] == f"at least {FEWEST} steps"


def test_a_windowed_differenced_forecaster_is_traced_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its differencing needs FEWEST steps whatever its window: a trace over a range from 1 step could only
    fail (a whole trace lost, seconds), so its own guards set the range at the first trace."""
    from rnnkit.cli.export import torch_export

    torch.manual_seed(0)
    model = Forecaster(horizon=HORIZON, hidden_size=4, difference=[LAG], window=WINDOW).eval()
    traces = []
    real = torch.export.export

    def counted(*args: object, **kwargs: object) -> object:
        traces.append(kwargs.get("dynamic_shapes"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.export, "export", counted)
    with torch.no_grad():
        program = torch_export(model, torch.rand(2, WINDOW, 1) + 1, torch.tensor([WINDOW, WINDOW]), max_steps=WINDOW)
    assert len(traces) == 1, traces
    got = program.module()(torch.rand(1, FEWEST, 1) + 1, torch.tensor([FEWEST]))  # the fewest steps it takes
    assert torch.isfinite(got).all()


def test_the_model_the_export_is_checked_against_refuses_a_short_history_too() -> None:
    from rnnkit.cli.export import scoring_module

    module = scoring_module(Forecaster(horizon=HORIZON, hidden_size=4, difference=[LAG], window=WINDOW).eval())
    with pytest.raises(ValueError, match=TOO_SHORT):
        module(torch.rand(1, FEWEST - 1, 1) + 1, torch.tensor([FEWEST - 1]))


def test_the_export_command_states_the_rule_and_writes_min_steps(command_run: tuple[Path, dict[str, str]]) -> None:
    run, messages = command_run
    for fmt in ("torchscript", "onnx"):
        message = messages[fmt]
        assert f"at least {FEWEST} steps" in message
        assert f"every history (and length) needs at least {FEWEST} steps" in message, message
    assert "min_steps in its metadata" in message and "run_session" in message
    meta = {p.key: p.value for p in onnx.load(str(run / "export" / "model.onnx")).metadata_props}
    assert json.loads(meta["min_steps"]) == FEWEST
