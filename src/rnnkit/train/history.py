"""History: one row per epoch, the monitored value, and the best epoch.

Rows hold ``epoch`` (1-based), ``step`` (optimizer steps so far), ``train_loss``, ``valid_loss``,
``valid_<metric>`` for every metric of the task, ``lr`` (the rate the epoch's last optimizer step
took) and ``seconds``. ``history.csv`` in a run folder is :meth:`History.to_csv`.

Example:
    >>> history = Trainer(epochs=5).fit(model, dataset)
    >>> history.best_epoch, history.best, history.column("valid_loss")
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOWER_IS_BETTER = {"loss", "mae", "rmse", "mape", "smape", "mase", "token_error_rate", "per", "ter", "wer",
                   "perplexity", "ppl", "crps", "pinball", "sequence_error_rate", "token_error_rate_single"}


def lower_is_better(monitor: str) -> bool:
    """Whether a smaller value of ``monitor`` (e.g. ``"valid_rmse"``) is better, by its metric name,
    spelt as the evaluation reads it (``"Token-Error-Rate"``) or by one of its aliases
    (``"phoneme_error_rate"``: PER)."""
    from rnnkit.train.evaluation import metric_key

    name = monitor.split("_", 1)[1] if monitor.startswith(("valid_", "train_", "test_")) else monitor
    names = {name.lower(), metric_key(name)}
    return bool(names & LOWER_IS_BETTER) or any(n.endswith(("loss", "error_rate")) for n in names)


@dataclass
class History:
    """Per-epoch rows of a run, with the monitored value and its best epoch.

    ``best_epoch`` is 1-based (None when nothing was monitored); ``best`` is the monitored value
    there; ``test`` holds the test-split metrics computed after training (empty if none).
    """

    monitor: str
    higher_is_better: bool
    rows: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best: float | None = None
    test: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict[str, float]:
        return self.rows[i]

    def column(self, name: str) -> list[float]:
        """The values of one column over the epochs (NaN where an epoch lacks it)."""
        return [float(r.get(name, math.nan)) for r in self.rows]

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far (a NaN never does)."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.higher_is_better else value < self.best

    def ties_better(self, row: dict[str, float]) -> bool:
        """Whether ``row`` equals the best on the monitor but has a lower ``valid_loss`` than the best epoch:
        a metric that ties for epochs (an exact match of 0 while a model is still far off, an accuracy that
        a few hundred examples cannot split) then keeps the weights that fit valid better, not the first."""
        if self.best is None or self.monitor == "valid_loss" or "valid_loss" not in row:
            return False
        if float(row.get(self.monitor, math.nan)) != self.best:
            return False
        best = next((r for r in self.rows if int(r["epoch"]) == self.best_epoch), None)
        return best is not None and float(row["valid_loss"]) < float(best.get("valid_loss", math.inf))

    @property
    def columns(self) -> list[str]:
        names: list[str] = []
        for r in self.rows:
            names.extend(k for k in r if k not in names)
        return names

    def to_csv(self, path: str | Path) -> None:
        """Write the rows as CSV (one header line, one line per epoch)."""
        from rnnkit.train.checkpoint import atomic_write

        cols = self.columns

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=cols, restval="")
                w.writeheader()
                w.writerows(self.rows)

        atomic_write(Path(path), write)

    @staticmethod
    def read_csv(path: str | Path) -> list[dict[str, float]]:
        """Rows of a ``history.csv`` as floats (``epoch`` and ``step`` as ints)."""
        rows = []
        with open(path, newline="", encoding="utf-8") as f:
            for raw in csv.DictReader(f):
                row: dict[str, Any] = {}
                for k, v in raw.items():
                    if v in ("", None):
                        continue
                    row[k] = int(float(v)) if k in ("epoch", "step") else float(v)
                rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "higher_is_better": self.higher_is_better, "best_epoch": self.best_epoch,
                "best": self.best, "rows": self.rows, "test": self.test}
