"""Bucketing: batches of similar lengths, so that less of every batch is padding.

:class:`BucketSampler` is a batch sampler (pass it as ``DataLoader(batch_sampler=...)``). Each
epoch it shuffles all indices with a generator seeded by ``(seed, epoch)``, cuts them into pools of
``batch_size * pool_batches`` indices, sorts each pool by length, cuts the pool into batches and
shuffles the order of all batches. Every index appears exactly once per epoch; the last batch of a
pool may be smaller (``drop_last`` is always False: no example is ever left out).

:func:`padding_report` measures what this buys: the padded steps of these batches against the
same batch sizes drawn at random.

Example:
    >>> sampler = BucketSampler(dataset.train.lengths(), batch_size=32, seed=0)
    >>> loader = DataLoader(dataset.train, batch_sampler=sampler, collate_fn=dataset.collate)
    >>> print(padding_report(dataset.train.lengths(), sampler.batches(0)))  # (iterating would use epoch 0 up)
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from torch.utils.data import Sampler


class BucketSampler(Sampler[list[int]]):
    """Yields lists of indices whose lengths are close; reshuffled every epoch.

    Args:
        lengths: the length of every example (e.g. ``ExampleList.lengths()``).
        batch_size: examples per batch (the last batch of each pool may hold fewer).
        pool_batches: how many batches' worth of indices are sorted together; larger pools pad
            less but make batches less random. 1 gives plain random batching.
        shuffle: False sorts the whole data set by length once and keeps the batch order fixed.
        seed: epoch ``e`` uses a generator seeded by the pair ``(seed, e)`` (not ``seed + e``, with which
            seed 1's first epoch was seed 0's second); the same seed gives the same batches.

    The epoch advances by one each time the sampler is iterated; :meth:`set_epoch` sets it
    (as with ``DistributedSampler``), so a resumed run can reproduce its batches.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, pool_batches: int = 50,
                 shuffle: bool = True, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if pool_batches < 1:
            raise ValueError(f"pool_batches must be >= 1, got {pool_batches}")
        self.lengths = [int(n) for n in lengths]
        negative = [i for i, n in enumerate(self.lengths) if n < 0]
        if negative:
            raise ValueError(f"lengths must be >= 0; index {negative[0]} has {self.lengths[negative[0]]}")
        self.batch_size, self.pool_batches, self.shuffle, self.seed = batch_size, pool_batches, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffle of ``epoch`` on the next iteration."""
        self.epoch = epoch

    def batches(self, epoch: int) -> list[list[int]]:
        """The batches of one epoch (what iterating yields when the sampler is at ``epoch``)."""
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            order.sort(key=self.lengths.__getitem__)
            return [order[i: i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        rng = random.Random(f"rnnkit-bucket:{self.seed}:{epoch}")  # a string seed: hashed by SHA-512, stable
        rng.shuffle(order)
        pool = self.batch_size * self.pool_batches
        out: list[list[int]] = []
        for p in range(0, len(order), pool):
            chunk = sorted(order[p: p + pool], key=self.lengths.__getitem__)  # stable: ties stay random
            out.extend(chunk[i: i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        rng.shuffle(out)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches(self.epoch)
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        n, pool = len(self.lengths), self.batch_size * self.pool_batches
        if not self.shuffle:
            return -(-n // self.batch_size)
        full, rest = divmod(n, pool)
        return full * self.pool_batches + -(-rest // self.batch_size)


@dataclass(frozen=True)
class PaddingReport:
    """Steps computed with these batches versus random batches of the same sizes."""

    real_steps: int
    padded_steps: int  # B * T_max summed over these batches
    random_padded_steps: int  # the same for random batches (mean over a few seeded shuffles)

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.real_steps / self.padded_steps if self.padded_steps else 0.0

    @property
    def random_padding_fraction(self) -> float:
        return 1.0 - self.real_steps / self.random_padded_steps if self.random_padded_steps else 0.0

    @property
    def steps_saved(self) -> int:
        return self.random_padded_steps - self.padded_steps

    @property
    def saved_fraction(self) -> float:
        """Share of the random batching's computed steps that these batches avoid."""
        return self.steps_saved / self.random_padded_steps if self.random_padded_steps else 0.0

    def __str__(self) -> str:
        return (f"padding {self.padding_fraction:.1%} of {self.padded_steps} steps (random batches: "
                f"{self.random_padding_fraction:.1%} of {self.random_padded_steps}); "
                f"{self.steps_saved} steps saved ({self.saved_fraction:.1%})")


def _padded(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches if len(b))


def padding_report(lengths: Sequence[int], batches: Sequence[Sequence[int]], *, seed: int = 0,
                   trials: int = 5) -> PaddingReport:
    """Compare the padding of ``batches`` with random batches of the same sizes.

    ``lengths[i]`` is the length of example ``i``; ``batches`` lists index batches (e.g.
    ``list(sampler)``). The random baseline is the mean over ``trials`` seeded shuffles.
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    used = [i for b in batches for i in b]
    sizes = [len(b) for b in batches]
    rng = random.Random(seed)
    total = 0
    for _ in range(trials):
        perm = list(used)
        rng.shuffle(perm)
        cuts, start = [], 0
        for n in sizes:
            cuts.append(perm[start: start + n])
            start += n
        total += _padded(lengths, cuts)
    return PaddingReport(real_steps=sum(lengths[i] for i in used), padded_steps=_padded(lengths, batches),
                         random_padded_steps=round(total / trials))


__all__ = ["BucketSampler", "PaddingReport", "padding_report"]
