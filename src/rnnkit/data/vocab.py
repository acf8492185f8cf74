"""Vocabularies: token <-> id, with the four specials at fixed ids."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
ENDING_PREFIX = "<unk:"


def ending_token(token: str) -> str:
    """The token that stands for unknown words ending in ``token``'s last character: ``<unk:X>``."""
    return f"{ENDING_PREFIX}{token[-1]}>"


class Vocab:
    """A token vocabulary. ``<pad>``=0, ``<unk>``=1, ``<bos>``=2, ``<eos>``=3, then tokens.

    The specials are reached by their ids (``pad_id`` ...), never by their spelling: a data token
    spelled ``<pad>`` or ``<eos>`` is a token like any other, with an id of its own after the specials
    (so it neither embeds as padding nor ends a decoding), and ``encode`` reads every string as data.

    Unknown tokens encode to ``<unk>`` (the documented policy), or raise with ``strict=True``. A
    vocabulary built with ``endings=True`` (People's Daily's ``unknown="last_char"``) also holds
    tokens for the last character of unknown words (``<unk:化>``, see :func:`ending_token`), and
    encodes an unknown token ending in such a character to that token instead, so new text is read
    as the training data were. The rule is a property of the vocabulary, saved with it, never
    guessed from its tokens: a data token spelled ``<unk:X>`` is an ordinary token.

    Example:
        >>> v = Vocab.build([["a", "b"], ["b"]])
        >>> v.encode(["b", "z"])
        [4, 1]
    """

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3
    has_endings = False  # reads unknown words by their <unk:X> tokens (the class default serves old pickles)

    def __init__(self, tokens: Sequence[str], *, endings: bool = False) -> None:
        """``tokens``: the specials then the data tokens (what :meth:`save` writes), or data tokens
        alone, in which case spellings of the specials among them are dropped. ``endings``: encode
        an unknown token by its ending token where this vocabulary holds one (:meth:`unknown_id`)."""
        tokens = list(tokens)
        if tokens[: len(SPECIALS)] == list(SPECIALS):
            data = tokens[len(SPECIALS) :]
        else:
            data = [t for t in tokens if t not in SPECIALS]
        if len(set(data)) != len(data):
            raise ValueError("Vocab tokens must be unique")
        self.itos: list[str] = list(SPECIALS) + data
        # data tokens only: the specials' ids are attributes, so a data "<pad>" maps to its own id
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(data, start=len(SPECIALS))}
        if endings:
            self.has_endings = True

    @classmethod
    def build(
        cls, sequences: Iterable[Iterable[str]], *, min_freq: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Count tokens; keep those seen ``min_freq`` times, most frequent first (ties by first sight)."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(seq)
        kept = [t for t, c in counts.most_common() if c >= min_freq]
        if max_size is not None:
            kept = kept[:max_size]
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Iterable[str], *, bos: bool = False, eos: bool = False,
               strict: bool = False) -> list[int]:
        ids = [self.bos_id] if bos else []
        for t in tokens:
            i = self.stoi.get(t)
            if i is None:
                if strict:
                    raise ValueError(f"token {t!r} is not in the vocabulary ({len(self)} tokens)")
                i = self.unknown_id(t)
            ids.append(i)
        if eos:
            ids.append(self.eos_id)
        return ids

    def unknown_id(self, token: str) -> int:
        """The id an out-of-vocabulary ``token`` encodes to: its ending token's (:func:`ending_token`)
        where this vocabulary holds it, else ``<unk>``'s."""
        if self.has_endings and token:
            return self.stoi.get(ending_token(token), self.unk_id)
        return self.unk_id

    def decode(self, ids: Iterable[int], *, strip_specials: bool = True) -> list[str]:
        """Ids -> tokens; stops at ``<eos>`` and drops specials when ``strip_specials``."""
        out = []
        for i in ids:
            i = int(i)
            if strip_specials:
                if i == self.eos_id:
                    break
                if i in (self.pad_id, self.bos_id):
                    continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return out

    @property
    def tokens(self) -> list[str]:
        return list(self.itos)

    def to_dict(self) -> dict[str, Any]:
        """``{"tokens": [...], "endings": bool}``: the tokens by id and whether the ending rule is on."""
        return {"tokens": self.itos, "endings": bool(self.has_endings)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocab:
        """The inverse of :meth:`to_dict`. A dict without ``"endings"`` was written before the rule
        was saved, when it followed from the tokens: it holds ``<unk:X>`` tokens -> the rule is on."""
        tokens = list(data["tokens"])
        endings = data.get("endings")
        if endings is None:
            endings = any(t.startswith(ENDING_PREFIX) for t in tokens[len(SPECIALS):])
        return cls(tokens, endings=bool(endings))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"cannot read vocabulary {path}: {e}") from e

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.itos == self.itos and other.has_endings == self.has_endings

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"
