"""``rnnkit bench speed``: forward + backward time of one recurrent layer, rnnkit against torch.nn.

Cases (issue 2): at T=100, I=H=256 and B=64 and 1 — rnnkit ``auto`` LSTM vs ``nn.LSTM`` (goal:
within 5%), rnnkit layer-norm LSTM vs ``nn.LSTM`` (goal: at most 1.3x); at T=2048 — rnnkit minGRU
(parallel scan) vs rnnkit GRU; and a padded batch of variable lengths (B=32, T=400, I=H=128)
through a bidirectional LSTM — rnnkit with ``lengths`` vs ``nn.LSTM`` on a
``pack_padded_sequence``, what a user writes by hand. A second table times additive attention's
scores, forward + backward: rnnkit's compiled pass (``ops/cpu_attention.py``) against the same
scores written with torch ops. A third times a training step (forward + backward) in float32
against the same step under CPU autocast in bfloat16 (``Trainer(precision="bf16")``): rnnkit
layers, and cmudict_g2p's Seq2Seq on token ids of its sizes. Medians of ``--repeats`` interleaved
rounds (one run of each side per round, the order swapped every round) after warm-up, with the
spread of the per-round ratios; float32 (but the third table's bfloat16 side), on the CPU.
The tables go to the ``bench:speed`` section of ``docs/BENCHMARKS.md``; ``--json`` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from rnnkit.bench.timing import timed_rounds

HELP = "time forward+backward of rnnkit layers against torch.nn (writes docs/BENCHMARKS.md)"
SEED = 0


@dataclass(frozen=True)
class Case:
    """One comparison: a baseline and an rnnkit layer on the same input."""

    name: str
    batch: int
    steps: int
    size: int  # input_size = hidden_size
    baseline: str  # "nn.LSTM", or a Recurrent cell name prefixed "rnnkit "
    cell: str
    options: tuple[tuple[str, Any], ...] = ()
    varlen: bool = False  # lengths drawn from [T/4, T]: the baseline packs them (pack_padded_sequence)


@dataclass(frozen=True)
class Row:
    case: str
    batch: int
    steps: int
    size: int
    baseline: str
    baseline_ms: float
    rnnkit: str
    backend: str
    rnnkit_ms: float
    ratio: float  # rnnkit_ms / baseline_ms
    ratio_low: float | None = None  # the lowest and highest ratio of one interleaved round
    ratio_high: float | None = None


def cases(quick: bool = False) -> list[Case]:
    """The issue-2 cases; ``quick`` shrinks them to check that the bench runs (not a measurement)."""
    T, H, T_long = (20, 64, 256) if quick else (100, 256, 2048)
    out = []
    for B in (64, 1):
        out.append(Case("LSTM auto vs nn.LSTM", B, T, H, "nn.LSTM", "lstm"))
        out.append(Case("layer-norm LSTM vs nn.LSTM", B, T, H, "nn.LSTM", "lstm", (("layer_norm", True),)))
    for B in (64, 1):
        out.append(Case("minGRU (scan) vs rnnkit GRU", B, T_long, H, "rnnkit gru", "mingru"))
    T_var, H_var = (40, 32) if quick else (400, 128)
    out.append(Case("bi-LSTM, variable lengths vs packed nn.LSTM", 32, T_var, H_var, "nn.LSTM", "lstm",
                    (("bidirectional", True),), varlen=True))
    return out


def attention_sizes(quick: bool = False) -> list[tuple[int, int, int, int]]:
    """(B, L, S, A) of the attention rows: cmudict_g2p's training batches, and longer sequences."""
    return [(4, 3, 5, 8)] if quick else [(128, 15, 15, 192), (32, 50, 50, 256)]


def run_attention(B: int, L: int, S: int, A: int, repeats: int, warmup: int) -> dict[str, Any]:
    """Forward + backward of additive scores ``(B, L, S)``: torch ops against the compiled pass."""
    import torch

    from rnnkit.ops import cpu_attention

    torch.manual_seed(SEED)
    q, k = torch.randn(B, L, A, requires_grad=True), torch.randn(B, S, A, requires_grad=True)
    v = torch.randn(A, requires_grad=True)

    def timed(fn: Callable[..., Any]) -> Callable[[], None]:
        def run() -> None:
            q.grad = k.grad = v.grad = None
            fn(q, k, v).sum().backward()
        return run

    reason = cpu_attention.compiled_reason(q, k, v)
    t = paired_ms(timed(cpu_attention.torch_scores), timed(cpu_attention.additive_scores), repeats, warmup)
    return {"B": B, "L": L, "S": S, "A": A, "rnnkit": "compiled" if reason is None else f"torch ops ({reason})",
            **t.fields("torch_ms", "rnnkit_ms")}


def precision_cases(quick: bool = False) -> list[tuple[str, int, int, int, dict[str, Any]]]:
    """(what, B, T, size, options) of the precision rows: Recurrent layers (``size``: I = H) and
    ``"seq2seq"``, cmudict_g2p's model (``size``: the hidden size; T: source and target length)."""
    if quick:
        return [("lstm", 4, 6, 8, {}), ("seq2seq", 4, 5, 8, {})]
    return [("lstm", 64, 100, 256, {}), ("lstm", 64, 100, 256, {"layer_norm": True}), ("gru", 64, 100, 256, {}),
            ("mingru", 64, 100, 256, {}), ("seq2seq", 128, 10, 192, {})]


def _seq2seq_step(B: int, T: int, H: int) -> tuple[Any, Any]:
    """cmudict_g2p's Seq2Seq (bi-LSTM, additive attention, dropout 0.2) and a batch of random ids."""
    import torch

    from rnnkit.data.batch import Batch
    from rnnkit.models import Seq2Seq

    model = Seq2Seq(src_vocab_size=32, tgt_vocab_size=48, embed_dim=64, hidden_size=H, bidirectional=True,
                    attention="additive", input_feeding=False, dropout=0.2)
    draw = torch.Generator().manual_seed(SEED)
    x = torch.randint(4, 32, (B, T), generator=draw)
    y = torch.randint(4, 48, (B, T), generator=draw)
    y[:, -1] = 2  # eos
    batch = Batch(x=x, lengths=torch.full((B,), T), y=y, y_lengths=torch.full((B,), T))
    return model.train(), batch


def run_precision(what: str, B: int, T: int, size: int, options: dict[str, Any], repeats: int,
                  warmup: int) -> dict[str, Any]:
    """Forward + backward of one training batch in float32 against the same under bfloat16 autocast."""
    import torch

    from rnnkit import Recurrent

    torch.manual_seed(SEED)
    if what == "seq2seq":
        model, batch = _seq2seq_step(B, T, size)

        def loss() -> Any:
            return model(batch).loss
        label, backend = "Seq2Seq, cmudict_g2p's sizes", model.encoder.backend
    else:
        model = Recurrent(what, size, size, **options)
        x = torch.randn(B, T, size)

        def loss() -> Any:
            return model(x)[0].float().sum()
        label, backend = _label(what, options.items()), model.backend

    def step(bf16: bool) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = loss()
            out.backward()
        return run

    t = paired_ms(step(False), step(True), repeats, warmup)
    return {"model": label, "backend": backend, "B": B, "T": T, "size": size, **t.fields("fp32_ms", "bf16_ms")}


@dataclass(frozen=True)
class Paired:
    """Median milliseconds of a baseline and a contender timed in alternation, and the spread of
    their per-round ratio (contender over baseline)."""

    base_ms: float
    ours_ms: float
    ratio_low: float
    ratio_high: float

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.base_ms

    def fields(self, base: str, ours: str) -> dict[str, float]:
        """The two medians under the names ``base`` and ``ours``, the ratio and its spread, rounded
        as the tables keep them."""
        return {base: round(self.base_ms, 3), ours: round(self.ours_ms, 3), "ratio": round(self.ratio, 3),
                "ratio_low": round(self.ratio_low, 3), "ratio_high": round(self.ratio_high, 3)}


def paired_ms(base: Callable[[], None], ours: Callable[[], None], repeats: int, warmup: int) -> Paired:
    """Time ``base`` and ``ours`` in ``repeats`` rounds after ``warmup`` runs of each, one run of each
    per round, the order swapped every round (``bench.timing.timed_rounds``)."""
    times = timed_rounds({"base": base, "ours": ours}, repeats, warmup=warmup)
    ratios = [o / b for b, o in zip(times["base"], times["ours"])]
    return Paired(statistics.median(times["base"]) * 1e3, statistics.median(times["ours"]) * 1e3, min(ratios),
                  max(ratios))


def _forward_backward(module: Any, x: Any, lengths: Any = None) -> Callable[[], None]:
    def run() -> None:
        module.zero_grad(set_to_none=True)
        (module(x)[0] if lengths is None else module(x, lengths)[0]).sum().backward()
    return run


def _packed_forward_backward(module: Any, x: Any, lengths: Any) -> Callable[[], None]:
    """What a user writes by hand for padded batches: pack, run nn.LSTM, unpack."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    def run() -> None:
        module.zero_grad(set_to_none=True)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        pad_packed_sequence(module(packed)[0], batch_first=True)[0].sum().backward()
    return run


def run_case(case: Case, repeats: int, warmup: int) -> Row:
    """Time one case; both sides get the same seed and input."""
    import torch

    from rnnkit import Recurrent

    torch.manual_seed(SEED)
    x = torch.randn(case.batch, case.steps, case.size)
    options = dict(case.options)
    if case.baseline == "nn.LSTM":
        baseline: Any = torch.nn.LSTM(case.size, case.size, batch_first=True,
                                      bidirectional=bool(options.get("bidirectional", False)))
    else:
        baseline = Recurrent(case.baseline.removeprefix("rnnkit "), case.size, case.size)
    ours = Recurrent(case.cell, case.size, case.size, **options)
    if case.varlen:
        draw = torch.Generator().manual_seed(SEED)
        lengths = torch.randint(case.steps // 4, case.steps + 1, (case.batch,), generator=draw)
        t = paired_ms(_packed_forward_backward(baseline, x, lengths), _forward_backward(ours, x, lengths), repeats,
                      warmup)
    else:
        t = paired_ms(_forward_backward(baseline, x), _forward_backward(ours, x), repeats, warmup)
    if isinstance(baseline, Recurrent):
        label_base = f"{case.baseline} ({baseline.backend})"
    else:
        label_base = case.baseline
    return Row(case=case.name, batch=case.batch, steps=case.steps, size=case.size, baseline=label_base,
               rnnkit=_label(case.cell, case.options), backend=ours.backend, **t.fields("baseline_ms", "rnnkit_ms"))


def _label(cell: str, options: Iterable[tuple[str, Any]]) -> str:
    """``rnnkit lstm layer_norm``: the cell and its options that are switched on."""
    return "rnnkit " + cell + "".join(f" {k}" for k, v in options if v is True)


def run_speed(repeats: int = 5, quick: bool = False) -> dict[str, Any]:
    """Run every case; returns ``{"machine": ..., "settings": ..., "rows": [...]}``."""
    from rnnkit.bench import machine_info
    from rnnkit.ops import cpu_kernels

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    warmup = 1 if quick else 2
    rows = [run_case(c, repeats, warmup) for c in cases(quick)]
    attention = [run_attention(*size, repeats, warmup) for size in attention_sizes(quick)]
    precision = [run_precision(*case, repeats, warmup) for case in precision_cases(quick)]
    settings = {"repeats": repeats, "warmup": warmup, "quick": quick, "seed": SEED, "dtype": "float32",
                "device": "cpu", "bf16_instructions": cpu_kernels.bf16_instructions()}
    return {"machine": machine_info(), "settings": settings, "rows": [asdict(r) for r in rows],
            "attention": attention, "precision": precision}


def to_markdown(report: dict[str, Any]) -> str:
    """The report as the ``bench:speed`` section of docs/BENCHMARKS.md."""
    from rnnkit.bench import machine_line

    m, s = report["machine"], report["settings"]
    lines = ["## Speed: one recurrent layer, forward + backward (CPU)", ""]
    if s["quick"]:
        lines += ["**`--quick` run: shrunken sizes to check the bench works; not a measurement.**", ""]
    lines += [machine_line(m),
              f"Median of {s['repeats']} runs after {s['warmup']} warm-up runs, {s['dtype']}, seed {s['seed']}; "
              "baseline and rnnkit run in alternation, one of each per round, and the brackets after a ratio "
              "give the lowest and highest ratio of a round. "
              "Command: `rnnkit bench speed" + (" --quick" if s["quick"] else "") + "`.",
              "Goals (issue 2): `auto` within 5% of `nn.LSTM`; layer-norm LSTM at most 1.3x `nn.LSTM`. "
              "Variable lengths: the baseline packs them for `nn.LSTM` (on the CPU its backward grows with "
              "T^2); rnnkit runs torch's op on runs of equal batch.", "",
              "| case | B | T | I=H | baseline | ms | rnnkit | backend | ms | ratio |",
              "|---|---:|---:|---:|---|---:|---|---|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['case']} | {r['batch']} | {r['steps']} | {r['size']} | {r['baseline']} | "
                     f"{r['baseline_ms']:.1f} | {r['rnnkit']} | {r['backend']} | {r['rnnkit_ms']:.1f} | "
                     f"{_ratio(r)} |")
    if report.get("attention"):
        lines += ["", "Additive attention scores `v . tanh(q + k)`, forward + backward: torch ops (the `(B, L, S, A)` "
                  "sum and its tanh) against rnnkit's compiled pass (`ops/cpu_attention.py`).", "",
                  "| B | L | S | A | torch ops ms | rnnkit | ms | ratio |", "|---:|---:|---:|---:|---:|---|---:|---:|"]
        for a in report["attention"]:
            lines.append(f"| {a['B']} | {a['L']} | {a['S']} | {a['A']} | {a['torch_ms']:.2f} | {a['rnnkit']} | "
                         f"{a['rnnkit_ms']:.2f} | {_ratio(a)} |")
    if report.get("precision"):
        native = {True: "has", False: "lacks", None: "may lack"}[s.get("bf16_instructions")]
        lines += ["", "A training step (forward + backward) in float32 against the same step under CPU autocast in "
                  "bfloat16 (`Trainer(precision=\"bf16\")`; weights and gradients stay float32). This CPU "
                  f"{native} bfloat16 instructions (AVX512-BF16 or AMX); without them bfloat16 is slower than "
                  "float32, and `precision=\"auto\"` keeps float32. A ratio below 1 is bfloat16's gain.", "",
                  "| model | backend | B | T | size | fp32 ms | bf16 ms | ratio |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in report["precision"]:
            lines.append(f"| {r['model']} | {r['backend']} | {r['B']} | {r['T']} | {r['size']} | {r['fp32_ms']:.1f} | "
                         f"{r['bf16_ms']:.1f} | {_ratio(r)} |")
    return "\n".join(lines)


def _ratio(row: dict[str, Any]) -> str:
    """``2.41x``, with ``(2.30-2.55x)`` after it when the row has its rounds' spread."""
    text = f"{row['ratio']:.2f}x"
    if row.get("ratio_low") is not None and row.get("ratio_high") is not None:
        text += f" ({row['ratio_low']:.2f}-{row['ratio_high']:.2f}x)"
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=_positive_int, default=5,
                        help="timed runs per measurement (median; default 5)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the bench runs")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--output", default=None,
                        help="markdown file to update (default docs/BENCHMARKS.md, none with --quick; '' to skip)")
    parser.add_argument("--gpu", action="store_true",
                        help="the fused Triton kernels against cuDNN on a CUDA GPU instead (rnnkit.bench.gpu)")
    from rnnkit.bench import long_stream
    long_stream.add_flags(parser)  # --long, --stream: rnnkit.bench.long_stream's rows instead


def run(args: argparse.Namespace) -> int:
    from rnnkit.bench import write_section

    if args.output is None:  # a --quick run checks that the bench works: it measures nothing worth keeping
        args.output = "" if args.quick else "docs/BENCHMARKS.md"
    if getattr(args, "gpu", False):
        from rnnkit.bench import gpu
        return gpu.run(args)
    from rnnkit.bench import long_stream
    if long_stream.run_flags(args) is not None:
        return 0
    report = run_speed(args.repeats, args.quick)
    text = to_markdown(report)
    if args.output:
        write_section(args.output, "speed", text)
    print(json.dumps(report, indent=2) if args.json else text)
    return 0
