"""GPU-only checks of issue 8 (run by benchmarks/gpu_long_stream.sh; needs a CUDA device).

Each check prints its figures and asserts, in a process of its own; a failed check is reported and
the next one runs. ``python benchmarks/gpu_long_checks.py NAME`` runs one.
"""

import subprocess
import sys

import numpy as np
import torch

from rnnkit import Recurrent
from rnnkit.decoding import greedy
from rnnkit.decoding.graphs import StaticDecode, graph_decode
from rnnkit.models import LanguageModel
from rnnkit.models.one_to_many import DecoderState
from rnnkit.ops.triton_scan import triton_gated_scan, triton_linear_scan

dev = "cuda"


def _float64_loop(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h_t = a_t h_{t-1} + b_t and its gradients for the loss sum(h * g), step by step in float64:
    g_t = a_{t+1} g_{t+1} + g's t-th row, dL/da_t = g_t h_{t-1}, dL/db_t = g_t."""
    T = a.shape[1]
    h = np.empty_like(a)
    prev = np.zeros_like(a[:, 0])
    for t in range(T):
        prev = a[:, t] * prev + b[:, t]
        h[:, t] = prev
    gt = np.zeros_like(prev)
    da, db = np.empty_like(a), np.empty_like(a)
    for t in range(T - 1, -1, -1):
        gt = gt * (a[:, t + 1] if t + 1 < T else 0.0) + g[:, t]
        db[:, t] = gt
        da[:, t] = gt * (h[:, t - 1] if t > 0 else 0.0)
    return h, da, db


def scan_100k_steps() -> None:
    """Saturated gates over 100k steps, against a float64 loop (the first GPU runs used the float64
    log-space scan as the reference: log(a) and 1/b blow up where the gates saturate)."""
    torch.manual_seed(0)
    T = 100_000
    k = torch.randn(2, T, 64, device=dev) * 20
    a, b = torch.sigmoid(-k), torch.sigmoid(k) * (torch.rand(2, T, 64, device=dev) + 0.5)
    a.requires_grad_()
    b.requires_grad_()
    h, last = triton_linear_scan(a, b)
    g = torch.randn_like(h)
    ga, gb = torch.autograd.grad((h * g).sum(), (a, b))
    rh, rga, rgb = _float64_loop(*(t.detach().double().cpu().numpy() for t in (a, b, g)))

    def rel(x: torch.Tensor, ref: np.ndarray) -> float:
        return float(np.abs(x.detach().double().cpu().numpy() - ref).max() / np.abs(ref).max())

    errs = rel(h, rh), rel(ga, rga), rel(gb, rgb)
    saturated = (a.detach() < 1e-30).float().mean().item(), (a.detach() == 1).float().mean().item()
    print(f"100k steps fp32 vs a float64 loop: max error / max value: h {errs[0]:.1e}, dL/da {errs[1]:.1e}, "
          f"dL/db {errs[2]:.1e} (a < 1e-30 at {saturated[0]:.1%} of steps, a == 1 at {saturated[1]:.1%})")
    assert max(errs) < 1e-5 and torch.isfinite(h).all() and torch.equal(last, h[:, -1])


def bf16_scan() -> None:
    xp = torch.randn(4, 3000, 3 * 128, device=dev)
    o32, _ = triton_gated_scan(xp, "minlstm")
    o16, _ = triton_gated_scan(xp.bfloat16(), "minlstm")
    err = (o16.float() - o32).abs().max().item()
    print(f"bf16 vs fp32 (minLSTM, T=3000): max abs err {err:.2e}")
    assert err < 5e-2


def auto_picks_triton_scan() -> None:
    for cell in ("mingru", "minlstm"):
        layer = Recurrent(cell, 32, 64, num_layers=2, bidirectional=True).to(dev)
        assert layer.backend == "triton-scan", layer.explain()
        x = torch.randn(5, 300, 32, device=dev)
        lengths = torch.tensor([300, 17, 1, 299, 150])
        out, hT = layer(x, lengths)
        layer.backend = "scan"
        ref_out, ref_h = layer(x, lengths)
        print(f"{cell} auto=triton-scan vs scan (bidirectional, lengths): {(out - ref_out).abs().max().item():.2e}")
        assert torch.allclose(out, ref_out, atol=1e-5) and torch.allclose(hT, ref_h, atol=1e-5)
    print(Recurrent("mingru", 8, 8).to(dev).explain())


def _lm() -> tuple[LanguageModel, torch.Tensor]:
    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=50, embed_dim=32, hidden_size=512, num_layers=1).to(dev).eval()
    lm.__dict__["graph_step"] = True
    return lm, torch.zeros(1, 1, 512, device=dev)


def graph_greedy_equals_eager() -> None:
    lm, zeros = _lm()
    with torch.no_grad():
        eager = greedy(lm, DecoderState((zeros, zeros)), bos=1, eos=50, max_length=256)
        graphed = graph_decode(lm, DecoderState((zeros, zeros)), lambda lp: lp.argmax(-1), bos=1, eos=50,
                               max_length=256)
    assert graphed is not None, "capture failed"
    assert torch.equal(eager.tokens, graphed.tokens) and torch.allclose(eager.scores, graphed.scores, atol=1e-4)
    print("graph-replayed greedy == eager greedy (256 tokens)")
    eos = int(eager.tokens[0, 0, 100])  # a token the model does emit: sequences end early
    for max_length in (256, 250):
        with torch.no_grad():
            want = greedy(lm, DecoderState((zeros, zeros)), bos=1, eos=eos, max_length=max_length)
            for k in (1, 16):
                got = graph_decode(lm, DecoderState((zeros, zeros)), lambda lp: lp.argmax(-1), bos=1, eos=eos,
                                   max_length=max_length, tokens_per_graph=k)
                assert got is not None, "capture failed"
                assert torch.equal(want.tokens, got.tokens) and torch.equal(want.lengths, got.lengths), (k, eos)
                assert torch.allclose(want.scores, got.scores, atol=1e-4)
        print(f"eos={eos}, max_length={max_length}: graph_decode with 1 and 16 tokens per graph == eager "
              f"(length {int(want.lengths.max())})")


def _bench_lm(layers: int = 1, seed: int = 0) -> LanguageModel:
    """The model of the greedy bench row (rnnkit.bench.long_stream): V=96, E=64, H=512."""
    torch.manual_seed(seed)
    return LanguageModel(vocab_size=96, embed_dim=64, hidden_size=512, num_layers=layers).to(dev).eval()


def _greedy_gap(lm: LanguageModel, state: DecoderState, out) -> tuple[float, float]:
    """Teacher-force ``out``'s tokens through ``lm.step``: the largest gap between a step's best
    log-prob and the chosen token's (0 for an exact greedy path; a near-tie broken the other way
    gives a gap of float rounding), and the largest score error. Independent of tie-breaking."""
    B = out.tokens.shape[0]
    tokens = torch.full((B,), 1, dtype=torch.long, device=dev)
    score = torch.zeros(B, device=dev)
    gap = 0.0
    for t in range(out.tokens.shape[2]):
        lp, state = lm.step(tokens, state)
        chosen = out.tokens[:, 0, t]
        live = t < out.lengths[:, 0]
        picked = lp.gather(1, chosen.clamp(min=0).unsqueeze(1)).squeeze(1)
        gap = max(gap, float(torch.where(live, lp.max(-1).values - picked, torch.zeros_like(picked)).max()))
        score += torch.where(live, picked, torch.zeros_like(picked))
        tokens = torch.where(live, chosen, torch.full_like(chosen, 1))
    return gap, float((score - out.scores[:, 0]).abs().max())


def _fused_ok(lm: LanguageModel, state: DecoderState, eos: int, max_length: int, calls: int = 5) -> str:
    """'' where ``calls`` fused decodes agree with each other and are greedy paths, else what is wrong."""
    from rnnkit.decoding.fused_greedy import fused_greedy

    outs = [fused_greedy(lm, state, bos=1, eos=eos, max_length=max_length) for _ in range(calls)]
    if any(o is None for o in outs):
        return "no fused plan"
    if not all(torch.equal(o.tokens, outs[0].tokens) and torch.equal(o.lengths, outs[0].lengths) for o in outs):
        return "calls disagree (a race?)"
    gap, score_err = _greedy_gap(lm, state, outs[0])
    if gap > 1e-4 or score_err > 1e-3:
        return f"not a greedy path: log-prob gap {gap:.1e}, score error {score_err:.1e}"
    return ""


def fused_greedy_equals_eager() -> None:
    """greedy(fused=True), the head fused into the top layer's kernel and apart: against the eager loop
    (the same tokens, or a greedy path where a near-tie broke the other way), 1 and 2 layers, batch 1
    and 4, early ends; repeated calls replay a kept graph and must agree; an in-place weight update
    is captured again."""
    import rnnkit.ops.triton_decode as td
    from rnnkit.decoding.fused_greedy import fused_greedy
    from rnnkit.decoding.greedy import decode_one_path

    argmax = lambda lp: lp.argmax(-1)  # noqa: E731
    chosen = dict(td.TILES)
    failed = []
    for fused_head in (1, 0):
        td.TILES = {**chosen, "fused_head": fused_head}
        for layers, B in ((1, 1), (2, 4)):
            lm = _bench_lm(layers, seed=layers)
            g = torch.Generator(device=dev).manual_seed(0)
            state = DecoderState(tuple(torch.randn(layers, B, 512, device=dev, generator=g) * 0.5 for _ in range(2)))
            with torch.no_grad():
                free = decode_one_path(lm, state, argmax, bos=1, eos=96, max_length=256)
                for eos, max_length in ((96, 256), (int(free.tokens[0, 0, 100]), 250)):
                    want = decode_one_path(lm, state, argmax, bos=1, eos=eos, max_length=max_length)
                    got = fused_greedy(lm, state, bos=1, eos=eos, max_length=max_length)
                    same = torch.equal(want.tokens, got.tokens) and torch.equal(want.lengths, got.lengths)
                    problem = _fused_ok(lm, state, eos, max_length, calls=10)
                    print(f"fused_head={fused_head} layers={layers} B={B} eos={eos} max_length={max_length}: "
                          f"equal to eager: {same}; score error {(want.scores - got.scores).abs().max().item():.1e}; "
                          f"10 calls: {problem or 'agree, greedy paths'}")
                    if problem:
                        failed.append((fused_head, layers, B, eos))
                lm.head.bias.add_(0.5)  # in place: the kept graph must be captured again
                want = decode_one_path(lm, state, argmax, bos=1, eos=96, max_length=64)
                got = fused_greedy(lm, state, bos=1, eos=96, max_length=64)
                print(f"  after an in-place update: equal to eager: {torch.equal(want.tokens, got.tokens)}")
    td.TILES = chosen
    assert not failed, failed


def fused_greedy_tiles(best_file: str = "") -> None:
    """greedy(fused=True) on the bench row's model (B=1, 1 layer, H=512, V=96, 256 tokens) over tiles,
    the head fused and apart, and tokens per graph: each checked (5 calls agree, a greedy path), then
    timed per call (the first call captures; then the median of 20 calls, which replay the kept
    graph). Writes the fastest that passed, as RNNKIT_DECODE_TILES, to ``best_file``."""
    import time

    import rnnkit.ops.triton_decode as td

    lm = _bench_lm()
    zeros = torch.zeros(1, 1, 512, device=dev)
    state = DecoderState((zeros, zeros))
    choices = [(4, 512, 128, 128, 1, 16), (2, 512, 128, 128, 1, 16), (8, 512, 128, 128, 1, 16),
               (4, 256, 128, 128, 1, 16), (8, 128, 128, 128, 1, 16), (16, 128, 128, 128, 1, 16),
               (4, 512, 128, 128, 1, 64), (8, 256, 128, 128, 1, 64), (4, 512, 128, 512, 0, 16),
               (8, 128, 128, 128, 0, 16), (2, 512, 128, 512, 0, 64)]
    results = {}
    for choice in choices:
        td.TILES = dict(zip(td.FIELDS, choice))
        try:
            with torch.no_grad():
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                greedy(lm, state, bos=1, eos=96, max_length=256, fused=True)
                torch.cuda.synchronize()
                first = time.perf_counter() - t0
                problem = _fused_ok(lm, state, 96, 256)
                times = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    greedy(lm, state, bos=1, eos=96, max_length=256, fused=True)
                    torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
        except Exception as e:  # e.g. out of registers or shared memory
            print(f"{choice}: failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}", flush=True)
            continue
        per_token = float(np.median(times)) / 256 * 1e6
        print(f"tiles {','.join(map(str, choice))} ({', '.join(td.FIELDS)}): {per_token:.2f} us/token "
              f"(median of 20 calls, kept graph); first call {first * 1e3:.1f} ms; "
              f"{problem or 'checked'}", flush=True)
        if not problem:
            results[choice] = per_token
    if results:
        best = min(results, key=results.get)
        print(f"fastest checked: {','.join(map(str, best))}: {results[best]:.2f} us/token")
        if best_file:
            with open(best_file, "w") as f:
                f.write(",".join(map(str, best)))


def graph_replay_alone() -> None:
    """One token's graph replayed alone (what graph_decode pays per token besides capture and warm-up),
    and 16 tokens per graph (how much of a token is the host launching the replay)."""
    lm, zeros = _lm()
    for k in (1, 16):
        run = StaticDecode(lm, DecoderState((zeros, zeros)), lambda lp: lp.argmax(-1), bos=1, eos=50,
                           max_length=4096)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(2):
                run.body(adopt=True)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad():
            for _ in range(k):
                run.body()
        for _ in range(4):
            graph.replay()
        torch.cuda.synchronize()
        n = 2048 // k
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            graph.replay()
        end.record()
        torch.cuda.synchronize()
        print(f"greedy, 1-layer LSTM H=512: {start.elapsed_time(end) * 1e3 / (n * k):.2f} us/token replayed "
              f"with {k} token(s) per graph (capture and warm-up not counted)")


def stream_graph_equals_step() -> None:
    for cell in ("lstm", "gru"):  # Recurrent.stream on CUDA: one captured step, replayed
        layer = Recurrent(cell, 64, 512, num_layers=2).to(dev).eval()
        stream = layer.stream(batch_size=1)
        assert stream.backend == "graph", stream
        xs = torch.randn(50, 1, 64, device=dev)
        state, worst = None, 0.0
        with torch.no_grad():
            for x in xs:
                y = stream(x)
                ref, state = layer.step(x, state)
                worst = max(worst, (y - ref).abs().max().item())
        assert stream.backend == "graph" and worst < 1e-5, (stream, worst)
        print(f"{cell} stream replayed from a CUDA graph == step over 50 steps (max err {worst:.1e})")


CHECKS = {f.__name__: f for f in (scan_100k_steps, bf16_scan, auto_picks_triton_scan, graph_greedy_equals_eager,
                                  fused_greedy_equals_eager, graph_replay_alone, stream_graph_equals_step)}
BY_NAME = {**CHECKS, "fused_greedy_tiles": fused_greedy_tiles}  # the sweep runs as a step of its own

if __name__ == "__main__":
    if len(sys.argv) > 1:  # one check, in a process of its own: a failed capture cannot spoil the next
        BY_NAME[sys.argv[1]](*sys.argv[2:])
        sys.exit(0)
    failed = []
    for name in CHECKS:
        if subprocess.run([sys.executable, __file__, name]).returncode:
            failed.append(name)
            print(f"FAILED {name}", flush=True)
    print(f"checks failed: {', '.join(failed)}" if failed else "all checks passed")
    sys.exit(1 if failed else 0)
