"""The measurements of ``rnnkit bench speed --long --stream`` (``bench/long_stream.py`` runs them and
writes the report): minGRU against torch's GRU over long sequences and the scan kernels alone
(:func:`long_rows`), one LSTM step at batch 1 on the CPU (:func:`step_rows`) and on CUDA
(:func:`cuda_step_rows`), and greedy generation (:func:`generation_rows`).

Each returns rows ``{what, config, contender, value, unit, speedup}``, the contenders timed in turns
(:func:`interleaved`). Torch is imported inside the functions: the CLI builds its parsers without it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import statistics
from collections.abc import Callable
from typing import Any

from rnnkit.bench.timing import timed_rounds

Row = dict[str, Any]  # what, config, contender -> value (unit), and the ratio to the first contender


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, *, sync: Callable[[], None] = lambda: None,
                inner: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, the contenders taking turns in every round
    (``bench.timing.timed_rounds``, one warm-up call each)."""
    times = timed_rounds(fns, repeats, sync=sync, inner=inner)
    return {k: statistics.median(v) for k, v in times.items()}


def _rows(what: str, config: str, medians: dict[str, float], unit: str, scale: float) -> list[Row]:
    first = next(iter(medians.values()))
    return [{"what": what, "config": config, "contender": name, "value": round(t * scale, 3), "unit": unit,
             "speedup": round(first / t, 2)} for name, t in medians.items()]


def _forward_backward(module: Any, x: Any) -> Callable[[], None]:
    return lambda: module(x)[0].sum().backward()


def long_rows(device: str, repeats: int, quick: bool) -> list[Row]:
    """minGRU vs GRU forward+backward at long T, and the scan kernels alone."""
    import torch

    from rnnkit import Recurrent
    from rnnkit.ops.scan import linear_scan_log

    gpu = device == "cuda"
    B, H = (16, 512) if gpu else (4, 64)
    lengths = (256,) if quick else ((4096, 16384) if gpu else (1024, 4096))
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    rows: list[Row] = []
    for T in lengths:
        torch.manual_seed(0)
        x = torch.randn(B, T, H, device=device)
        mingru = Recurrent("mingru", H, H).to(device)
        gru = torch.nn.GRU(H, H, batch_first=True).to(device)

        med = interleaved({"nn.GRU": _forward_backward(gru, x),
                           f"rnnkit minGRU ({mingru.backend})": _forward_backward(mingru, x)}, repeats, sync=sync)
        rows += _rows("minGRU vs GRU, forward+backward", f"B={B}, T={T}, H={H}, fp32", med, "ms", 1e3)
    T = 256 if quick else 4096
    C = 512 if gpu else 64
    a = torch.rand(B, T, C, device=device).requires_grad_()
    b = torch.rand(B, T, C, device=device).requires_grad_()
    fns: dict[str, Callable[[], None]] = {
        "ops/scan.py (log space, float64)": lambda: linear_scan_log(a.log(), b.log()).sum().backward()}
    notes: dict[str, str] = {}
    if gpu:
        from rnnkit.ops.triton_scan import scan_config, triton_linear_scan
        cfg = scan_config(C, T)
        seg, nseg = cfg.segments(T)
        tiling = f"{cfg.chunk}x{cfg.bh} tiles, {cfg.num_warps} warps, {cfg.num_stages} stage(s)" + (
            f", {nseg} segments of {seg} steps" if nseg > 1 else "")
        fns[f"ops/triton_scan.py ({tiling})"] = lambda: triton_linear_scan(a, b)[0].sum().backward()
        acc, notes = accelerated_scan_contenders(a, b)
        fns.update(acc)
    else:
        notes["ops/triton_scan.py"] = "needs a CUDA device"
    if importlib.util.find_spec("accelerated_scan") is None:
        notes["accelerated-scan"] = "not installed (pip install accelerated-scan)"
    med = interleaved(fns, repeats, sync=sync, inner=20 if gpu else 1)
    what = "linear scan alone, forward+backward"
    rows += _rows(what, f"B={B}, C={C}, T={T}, fp32", med, "ms", 1e3)
    rows += [{"what": what, "config": "", "contender": name, "value": None, "unit": "ms", "speedup": None,
              "note": note} for name, note in notes.items()]
    return rows


def accelerated_scan_contenders(a: Any, b: Any) -> tuple[dict[str, Callable[[], None]], dict[str, str]]:
    """accelerated-scan's two scans, when installed, on (B, C, T) copies of ``a`` and ``b`` (its layout;
    the copies are made here, outside the timing): ``scalar`` (Triton, ``tl.associative_scan`` in
    chunks) and ``warp`` (CUDA C++, compiled on first import). A contender that fails to import or
    run becomes a note with the reason."""
    import torch

    fns: dict[str, Callable[[], None]] = {}
    notes: dict[str, str] = {}
    if importlib.util.find_spec("accelerated_scan") is None:
        return fns, notes
    version = importlib.import_module("accelerated_scan").__version__
    at = a.detach().transpose(1, 2).contiguous().requires_grad_()
    bt = b.detach().transpose(1, 2).contiguous().requires_grad_()
    for module in ("scalar", "warp"):
        name = f"accelerated-scan {version} {module}"
        try:
            scan = importlib.import_module(f"accelerated_scan.{module}").scan
            fn = functools.partial(lambda s: s(at, bt).sum().backward(), scan)
            fn()
            torch.cuda.synchronize()
        except Exception as e:  # a failed compile or a kernel this GPU refuses: say so, time the rest
            notes[name] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
            continue
        fns[name] = fn
    return fns, notes


def step_rows(repeats: int, quick: bool) -> list[Row]:
    """One LSTM step at batch 1, H=256 on the CPU: every way to run it."""
    import torch

    from rnnkit import Recurrent
    from rnnkit.ops import cpu_stream
    from rnnkit.ops.fast_step import StepRunner

    H = 64 if quick else 256
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(H, H)
    layer = Recurrent.from_torch(torch.nn.LSTM(H, H)).eval()
    runner = StepRunner(layer)
    x, h, c = torch.randn(1, H), torch.zeros(1, H), torch.zeros(1, H)
    state = (h.unsqueeze(0), c.unsqueeze(0))
    w = [p.detach() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    fns = {
        "nn.LSTMCell": lambda: cell(x, (h, c)),
        "torch.lstm_cell": lambda: torch.lstm_cell(x, (h, c), *w),
        "Recurrent.step": lambda: layer.step(x, state),
        "ops/fast_step.py StepRunner": lambda: runner(x, state),
    }
    if cpu_stream.load_library() is not None:  # the C++ step StepRunner calls, without its checks
        step = cpu_stream.StepLSTM(layer.cell_list)
        fns["ops/cpu_stream.py StepLSTM"] = lambda: step(x, *state)
        full, half = layer.stream(), layer.stream(precision="bfloat16")  # state held, stepped in place
        fns["Recurrent.stream (C++, state in place)"] = lambda: full(x)
        avx = "AVX512-BF16" if cpu_stream.has_avx512_bf16() else "no AVX512-BF16: float32 instructions"
        fns[f"Recurrent.stream, precision=bfloat16 ({avx})"] = lambda: half(x)
        y = torch.empty(1, H)
        fns["Recurrent.stream, precision=bfloat16, out=y (no allocation)"] = lambda: half(x, out=y)
        quarter = layer.stream(precision="int8")
        vnni = "AVX512-VNNI" if cpu_stream.has_avx512_vnni() else "no AVX512-VNNI: plain vector code"
        fns[f"Recurrent.stream, precision=int8 ({vnni})"] = lambda: quarter(x)
        fns["Recurrent.stream, precision=int8, out=y (no allocation)"] = lambda: quarter(x, out=y)
    with torch.no_grad():
        med = interleaved(fns, repeats, inner=200)
    return _rows("one LSTM step, CPU", f"B=1, I=H={H}, fp32, {torch.get_num_threads()} threads", med, "µs", 1e6)


def cuda_step_rows(repeats: int, quick: bool) -> list[Row]:
    """One LSTM step at batch 1 on CUDA: eager ``Recurrent.step`` against a stream replayed from a
    captured CUDA graph (the issue's H=512 configuration)."""
    import torch

    from rnnkit import Recurrent

    H = 64 if quick else 512
    torch.manual_seed(0)
    layer = Recurrent("lstm", H, H).cuda().eval()
    x = torch.randn(1, H, device="cuda")
    state = (torch.zeros(1, 1, H, device="cuda"), torch.zeros(1, 1, H, device="cuda"))
    stream = layer.stream()
    y = torch.empty(1, H, device="cuda")
    fns = {"Recurrent.step (eager)": lambda: layer.step(x, state),
           f"Recurrent.stream ({stream.backend})": lambda: stream(x, out=y)}
    with torch.no_grad():
        med = interleaved(fns, repeats, inner=200, sync=torch.cuda.synchronize)
    return _rows("one LSTM step, CUDA", f"B=1, I=H={H}, fp32", med, "µs", 1e6)


def generation_rows(device: str, repeats: int, quick: bool) -> list[Row]:
    """Greedy generation: a loop over ``nn.LSTMCell`` against rnnkit (CPU), eager against graph (CUDA)."""
    import torch

    from rnnkit.decoding import greedy
    from rnnkit.models import LanguageModel
    from rnnkit.models.one_to_many import DecoderState

    gpu = device == "cuda"
    V, E = 96, 64
    H, L, N = (512, 1, 256) if gpu else ((64, 2, 100) if quick else (256, 2, 1000))
    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=V, embed_dim=E, hidden_size=H, num_layers=L).to(device).eval()
    cells = [torch.nn.LSTMCell(E if l == 0 else H, H).to(device) for l in range(L)]
    with torch.no_grad():
        for l, cell in enumerate(cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(lm.rnn.cells[l], name))
    zeros = torch.zeros(L, 1, H, device=device)

    def baseline() -> None:
        tok = torch.ones(1, dtype=torch.long, device=device)
        hs = [(zeros[0], zeros[0]) for _ in range(L)]
        for _ in range(N):
            y = lm.embed.embed(tok)
            for l, cell in enumerate(cells):
                hs[l] = cell(y, hs[l])
                y = hs[l][0]
            tok = lm.head(y).log_softmax(-1).argmax(-1)

    def rnnkit_greedy() -> None:
        greedy(lm, DecoderState((zeros, zeros)), bos=1, eos=V, max_length=N)  # eos=V: never drawn

    fns: dict[str, Callable[[], Any]] = {"loop over nn.LSTMCell": baseline, "rnnkit greedy()": rnnkit_greedy}
    if gpu:  # greedy() replays from a CUDA graph by itself there (the model opts in): the eager loop too
        from rnnkit.decoding.greedy import decode_one_path

        fns["rnnkit eager decode loop (no graph)"] = functools.partial(
            decode_one_path, lm, DecoderState((zeros, zeros)), lambda lp: lp.argmax(-1), bos=1, eos=V, max_length=N)
    if not gpu:
        from rnnkit.ops import cpu_stream

        if cpu_stream.load_library() is not None:
            for precision in ("bfloat16", "int8"):
                fns[f"rnnkit greedy(precision='{precision}')"] = functools.partial(
                    greedy, lm, DecoderState((zeros, zeros)), bos=1, eos=V, max_length=N, precision=precision)
    if gpu:
        from rnnkit.decoding.graphs import graph_decode

        lm.__dict__["graph_step"] = True  # the opt-in of decoding/graphs.py (M2's class may set it)

        def graphed(k: int) -> None:  # capture included: every call captures its own graph
            if graph_decode(lm, DecoderState((zeros, zeros)), lambda lp: lp.argmax(-1), bos=1, eos=V,
                            max_length=N, tokens_per_graph=k) is None:
                raise RuntimeError("CUDA graph capture failed: the eager loop would run, and its time is not "
                                   "the graph's")

        fns["rnnkit greedy, CUDA graph"] = functools.partial(graphed, 1)
        fns["graph_decode, 16 tokens per graph"] = functools.partial(graphed, 16)
        from rnnkit.ops.triton_decode import TILES

        kernels = L if TILES["fused_head"] else L + 1
        fns[f"greedy(fused=True): {kernels} Triton kernel{'s' * (kernels > 1)} per token, {TILES['per_graph']} "
            f"per graph, kept"] = functools.partial(
            greedy, lm, DecoderState((zeros, zeros)), bos=1, eos=V, max_length=N, fused=True)
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    with torch.no_grad():
        med = interleaved(fns, repeats, sync=sync)
    where = "CUDA" if gpu else "CPU"
    threads = "" if gpu else f", {torch.get_num_threads()} threads"
    return _rows(f"greedy generation, {where}", f"B=1, {L}-layer LSTM H={H}, V={V}, {N} tokens{threads}", med,
                 "µs/token", 1e6 / N)
