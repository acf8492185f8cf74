"""Tokenizers: text <-> ids, fitted on training texts only, saved as one JSON file in a run directory.

Three kinds share one interface (``fit``, ``tokenize``, ``encode``, ``decode``, ``vocab``,
``save``/``load``):

- :class:`CharTokenizer`: one token per character; ``decode`` joins them back exactly.
- :class:`WordTokenizer`: tokens from a regular expression (words and single punctuation marks by
  default); ``decode`` joins them with single spaces.
- :class:`BPETokenizer`: subword byte-pair encoding trained with Hugging Face ``tokenizers``;
  whitespace is kept as the ``▁`` marker, so ``decode`` gives the text back exactly (less a
  leading space).

Unknown policy (all kinds): a character or token never seen by ``fit`` encodes to ``<unk>`` (id 1)
and decodes to the text ``<unk>``. With ``strict=True`` it raises ``ValueError`` naming the
character and its position instead. Nothing is ever dropped silently.

Example:
    >>> tok = CharTokenizer().fit(["hello", "world"])
    >>> tok.decode(tok.encode("hold", eos=True))
    'hold'
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rnnkit.data.vocab import SPECIALS, UNK, Vocab

TOKENIZERS: dict[str, type[Tokenizer]] = {}


class Tokenizer(ABC):
    """Common interface. Subclasses set ``kind`` and implement ``tokenize``/``decode``/config."""

    kind: ClassVar[str]

    def __init__(self, *, min_freq: int = 1, max_size: int | None = None, lowercase: bool = False,
                 strict: bool = False) -> None:
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be >= 1 or None, got {max_size}")
        self.min_freq, self.max_size, self.lowercase, self.strict = min_freq, max_size, lowercase, strict
        self._vocab: Vocab | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        TOKENIZERS[cls.kind] = cls

    @property
    def vocab(self) -> Vocab:
        if self._vocab is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(texts) on the training texts")
        return self._vocab

    def _norm(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    def fit(self, texts: Iterable[str]) -> Tokenizer:
        """Build the vocabulary from training texts (``min_freq``, ``max_size``); returns self."""
        self._vocab = Vocab.build((self.tokenize(t) for t in texts), min_freq=self.min_freq,
                                  max_size=self.max_size)
        return self

    @abstractmethod
    def tokenize(self, text: str) -> list[str]:
        """Text -> token strings (no ids, no specials)."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; stops at ``<eos>``, skips ``<pad>``/``<bos>``, ``<unk>`` shows as ``<unk>``."""

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Text -> ids, with ``<bos>``/``<eos>`` around when asked (unknowns: see module doc)."""
        tokens = self.tokenize(text)
        ids = self.vocab.encode(tokens, bos=bos, eos=eos)
        if self.strict:
            body = ids[1:] if bos else ids
            for token, i in zip(tokens, body):
                if i == Vocab.unk_id:
                    pos = self._norm(text).find(token)
                    raise ValueError(f"{self.kind} tokenizer never saw {token!r} (at position {pos} of "
                                     f"{text!r}); pass strict=False to encode it as <unk>")
        return ids

    def _config(self) -> dict[str, Any]:
        return {"min_freq": self.min_freq, "max_size": self.max_size, "lowercase": self.lowercase,
                "strict": self.strict}

    def _state(self) -> dict[str, Any]:
        return {"tokens": self.vocab.itos}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._vocab = Vocab(state["tokens"])

    def save(self, directory: str | Path, name: str = "tokenizer") -> Path:
        """Write ``directory/NAME.json`` (kind, options and vocabulary); returns its path."""
        path = Path(directory) / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"kind": self.kind, "config": self._config(), "state": self._state()}
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path, name: str = "tokenizer") -> Tokenizer:
        """Read back what :meth:`save` wrote; the saved kind must be this class's kind."""
        tok = load_tokenizer(directory, name)
        if not isinstance(tok, cls):
            raise ValueError(f"{Path(directory) / name}.json holds a {tok.kind!r} tokenizer, not {cls.kind!r}")
        return tok

    def __repr__(self) -> str:
        size = len(self._vocab) if self._vocab is not None else "unfitted"
        return f"{type(self).__name__}(vocab={size})"


def load_tokenizer(directory: str | Path, name: str = "tokenizer") -> Tokenizer:
    """Rebuild whichever tokenizer kind was saved as ``directory/NAME.json``."""
    path = Path(directory) / f"{name}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        kind, config, state = doc["kind"], doc["config"], doc["state"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"cannot read tokenizer {path}: {e}") from e
    if kind not in TOKENIZERS:
        raise ValueError(f"{path}: unknown tokenizer kind {kind!r}; known: {sorted(TOKENIZERS)}")
    tok = TOKENIZERS[kind](**config)
    tok._set_state(state)
    return tok


class CharTokenizer(Tokenizer):
    """One token per character. ``decode(encode(s)) == s`` for any text made of seen characters."""

    kind = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(self._norm(text))

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.vocab.decode(ids))


class WordTokenizer(Tokenizer):
    """Tokens are the matches of ``pattern`` (default: runs of word characters, or one other
    non-space character). ``decode`` joins tokens with one space."""

    kind = "word"
    DEFAULT_PATTERN = r"\w+|[^\w\s]"

    def __init__(self, pattern: str = DEFAULT_PATTERN, **options: Any) -> None:
        super().__init__(**options)
        try:
            self._regex = re.compile(pattern)
        except re.error as e:
            raise ValueError(f"WordTokenizer pattern {pattern!r} is not a valid regular expression: {e}") from e
        if self._regex.groups:  # findall would give tuples of the groups, not the tokens
            raise ValueError(f"WordTokenizer pattern {pattern!r} has capturing groups, so its matches are tuples of "
                             "them; write each group as (?:...), which groups without capturing")
        self.pattern = pattern

    def tokenize(self, text: str) -> list[str]:
        return self._regex.findall(self._norm(text))

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.vocab.decode(ids))

    def _config(self) -> dict[str, Any]:
        return {**super()._config(), "pattern": self.pattern}


class BPETokenizer(Tokenizer):
    """Subword BPE (Hugging Face ``tokenizers``), trained with ``vocab_size`` merges budget.

    The four specials take ids 0-3 so ``vocab`` is an ordinary :class:`Vocab`; ``min_freq`` is the
    minimum pair frequency of a merge. Characters not seen in training become ``<unk>``. ``max_size``
    caps ``vocab_size`` (``max_size`` + 4), but the vocabulary always holds every character seen in
    training (Hugging Face's trainer keeps the whole alphabet), so it may be larger than either.
    """

    kind = "bpe"

    def __init__(self, vocab_size: int = 1000, **options: Any) -> None:
        super().__init__(**options)
        if vocab_size <= len(SPECIALS):
            raise ValueError(f"vocab_size must be > {len(SPECIALS)} (the specials), got {vocab_size}")
        self.vocab_size = vocab_size
        self._hf: Any = None

    @staticmethod
    def _new_hf() -> Any:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers

        hf = HFTokenizer(models.BPE(unk_token=UNK))
        hf.pre_tokenizer = pre_tokenizers.Metaspace()
        hf.decoder = decoders.Metaspace()
        hf.encode_special_tokens = True  # "<pad>" written in a text is text, never the special id
        return hf

    def fit(self, texts: Iterable[str]) -> BPETokenizer:
        from tokenizers import trainers

        size = self.vocab_size if self.max_size is None else min(self.vocab_size, self.max_size + len(SPECIALS))
        trainer = trainers.BpeTrainer(vocab_size=size, min_frequency=self.min_freq,
                                      special_tokens=list(SPECIALS), show_progress=False)
        self._hf = self._new_hf()
        self._hf.train_from_iterator((self._norm(t) for t in texts), trainer=trainer)
        self._sync_vocab()
        return self

    def _sync_vocab(self) -> None:
        table = self._hf.get_vocab()
        tokens = sorted(table, key=table.__getitem__)
        if tokens[: len(SPECIALS)] != list(SPECIALS):
            raise RuntimeError(f"BPE specials are not at ids 0-3: {tokens[:4]}")
        self._vocab = Vocab(tokens)

    def tokenize(self, text: str) -> list[str]:
        if self._hf is None:
            raise RuntimeError("BPETokenizer is not fitted: call fit(texts) on the training texts")
        return list(self._hf.encode(self._norm(text)).tokens)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        if self._hf is None:
            raise RuntimeError("BPETokenizer is not fitted: call fit(texts) on the training texts")
        norm = self._norm(text)
        enc = self._hf.encode(norm)
        if self.strict:
            for i, (start, end) in zip(enc.ids, enc.offsets):
                if i == Vocab.unk_id:
                    raise ValueError(f"bpe tokenizer never saw {norm[start:end]!r} (at position {start} of "
                                     f"{text!r}); pass strict=False to encode it as <unk>")
        return ([Vocab.bos_id] if bos else []) + list(enc.ids) + ([Vocab.eos_id] if eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        # the Metaspace rule by hand, so that <unk> stays visible (HF's decoder skips specials)
        text = "".join(self.vocab.decode(ids)).replace("\u2581", " ")
        return text[1:] if text.startswith(" ") else text

    def _config(self) -> dict[str, Any]:
        return {**super()._config(), "vocab_size": self.vocab_size}

    def _state(self) -> dict[str, Any]:
        return {"hf": self._hf.to_str()}

    def _set_state(self, state: dict[str, Any]) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        self._hf = HFTokenizer.from_str(state["hf"])
        self._hf.encode_special_tokens = True
        self._sync_vocab()


def make_tokenizer(kind: str, **options: Any) -> Tokenizer:
    """``"char"`` | ``"word"`` | ``"bpe"`` -> an unfitted tokenizer built with ``options``."""
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {kind!r}; choose one of {sorted(TOKENIZERS)}")
    return TOKENIZERS[kind](**options)


__all__ = ["BPETokenizer", "CharTokenizer", "Tokenizer", "WordTokenizer", "load_tokenizer", "make_tokenizer"]
