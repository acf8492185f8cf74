"""``rnnkit predict RUN FILE --lines --seed S`` with sampling: each line's sample is the one its input
gets alone with the same seed, whatever the other lines and ``--batch-size`` (greedy still batches).
And ``--temperature``: an infinite one is refused by name, not as an input the model cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest
from predict_checks import train_names_lm

from rnnkit.cli.main import main
from rnnkit.models import LanguageModel

PROMPTS = ["an", "be", "ca", "do"]  # of one length: the inputs batch together


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A character language model of a few names after one epoch (a few seconds)."""
    run = train_names_lm(tmp_path_factory.mktemp("sample_lines"))
    return run


def _lines(run: Path, tmp: Path, prompts: list[str], capsys: pytest.CaptureFixture[str], *flags: str) -> list[str]:
    path = tmp / "prompts.txt"
    path.write_text("".join(p + "\n" for p in prompts), encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(run), str(path), "--lines", "--max-length", "10", *flags]) == 0
    return capsys.readouterr().out.splitlines()


def test_a_sampled_line_is_that_of_its_input_alone(lm_run: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    flags = ("--decode", "sample", "--seed", "3", "--temperature", "1.5")
    alone = []
    for p in PROMPTS:
        alone += _lines(lm_run, tmp_path, [p], capsys, *flags)
        capsys.readouterr()
        assert main(["predict", str(lm_run), p, "--max-length", "10", *flags]) == 0
        assert capsys.readouterr().out.splitlines() == alone[-1:], "one line is the call for that input"
    assert _lines(lm_run, tmp_path, PROMPTS, capsys, *flags) == alone
    assert _lines(lm_run, tmp_path, PROMPTS, capsys, *flags, "--batch-size", "3") == alone
    assert _lines(lm_run, tmp_path, PROMPTS[::-1], capsys, *flags) == alone[::-1]


def test_greedy_lines_still_batch(lm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = LanguageModel.generate

    def spy(self, prompt_ids, *args, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(int(prompt_ids.shape[0]))
        return real(self, prompt_ids, *args, **kwargs)

    monkeypatch.setattr(LanguageModel, "generate", spy)
    _lines(lm_run, tmp_path, PROMPTS, capsys, "--decode", "greedy")
    assert sizes == [len(PROMPTS)]
    sizes.clear()
    _lines(lm_run, tmp_path, PROMPTS, capsys, "--decode", "sample", "--seed", "0")
    assert sizes == [1] * len(PROMPTS)


@pytest.mark.parametrize("t", ["inf", "1e400"])
def test_an_infinite_temperature_is_refused_by_name(lm_run: Path, capsys: pytest.CaptureFixture[str], t: str) -> None:
    capsys.readouterr()
    assert main(["predict", str(lm_run), "an", "--temperature", t]) == 2
    err = capsys.readouterr().err
    assert "--temperature must be finite" in err and "cannot read this input" not in err


def test_tiny_and_huge_temperatures_sample(lm_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    for t in ("1e-40", "1e308"):
        assert main(["predict", str(lm_run), "an", "--temperature", t, "--seed", "0", "--max-length", "5"]) == 0, t
    capsys.readouterr()
    assert main(["predict", str(lm_run), "an", "--temperature", "1e-40", "--seed", "0"]) == 0
    assert main(["predict", str(lm_run), "an", "--decode", "greedy"]) == 0
    tiny, greedy = capsys.readouterr().out.splitlines()
    assert tiny == greedy


def test_the_temperature_help_says_below_1_sharpens(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "below 1 sharpens the distribution, more conservative" in text and "above 1 flattens it, bolder" in text
    assert "below 1 is bolder" not in text
