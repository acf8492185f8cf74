"""``rnnkit predict RUN PROMPT --ban-unk``: reaches the model's generate with every strategy (the
run's own, beam, sample) and keeps ``<unk>`` out of what it prints; refused for models that do not
generate."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from predict_checks import train_names_lm
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from rnnkit.cli.main import CLIError, main
from rnnkit.cli.predict import decoding_options
from rnnkit.data.vocab import Vocab
from rnnkit.models import LanguageModel, Seq2Seq
from rnnkit.models.ensemble import configured_method


@pytest.fixture(scope="module")
def unk_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A language model of a few names after one epoch, its output bias then set on <unk>."""
    run = train_names_lm(tmp_path_factory.mktemp("ban_unk"))
    weights = run / "model.safetensors"
    with safe_open(str(weights), "pt") as f:
        header = f.metadata()
    tensors = load_file(str(weights))
    tensors["head.bias"][Vocab.unk_id] = 10.0
    save_file(tensors, str(weights), metadata=header)
    return run


def test_ban_unk_reaches_generate_with_every_strategy(unk_run: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []
    real = LanguageModel.generate

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LanguageModel, "generate", spy)
    capsys.readouterr()
    assert main(["predict", str(unk_run), "an", "--max-length", "6"]) == 0
    assert "<unk>" in capsys.readouterr().out, "without the flag the model prints <unk>"
    for flags in ([], ["--beam-size", "2"], ["--temperature", "1.0", "--seed", "1"], ["--decode", "greedy"]):
        calls.clear()
        assert main(["predict", str(unk_run), "an", "--max-length", "6", "--ban-unk", *flags]) == 0
        out = capsys.readouterr().out
        assert "<unk>" not in out and out.strip(), flags
        assert calls and calls[-1]["ban_unk"] is True, flags


def test_ban_unk_alone_keeps_the_runs_own_strategy(unk_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["predict", str(unk_run), "an", "--ban-unk"]) == 0
    alone = capsys.readouterr().out
    assert main(["predict", str(unk_run), "an", "--ban-unk", "--decode", "greedy"]) == 0
    assert capsys.readouterr().out == alone and "<unk>" not in alone
    assert configured_method(LanguageModel(vocab_size=8)) == "greedy"
    assert configured_method(Seq2Seq(src_vocab_size=8, tgt_vocab_size=8, decode="beam")) == "beam"


def test_ban_unk_is_refused_for_models_that_do_not_generate() -> None:
    args = argparse.Namespace(ban_unk=True, decode=None, beam_size=None, temperature=None, top_k=None, top_p=None,
                              seed=None, max_length=None)
    info = argparse.Namespace(task="classification", name="japanese_vowels")
    with pytest.raises(CLIError, match="--ban-unk is for models that generate sequences"):
        decoding_options(args, info)
    assert decoding_options(args, argparse.Namespace(task="seq2seq", name="dates")) == {"method": None,
                                                                                         "ban_unk": True}
    assert decoding_options(argparse.Namespace(ban_unk=False), info) is None
