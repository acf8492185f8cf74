"""The decoding loops that run an exported step-decoded model: greedy decoding (:func:`onnx_greedy`)
and beam search (:func:`onnx_beam`) with the two onnxruntime sessions of
``rnnkit.cli.export_decoding`` (``init`` once per input, ``step`` once per token), in numpy: what a
user of the files writes, and what the export command checks them with.

    init = onnxruntime.InferenceSession("model.init.onnx")
    step = onnxruntime.InferenceSession("model.step.onnx")
    onnx_greedy(init, step, {"x": x, "lengths": lengths}, bos=1, eos=2, max_length=50)
"""

from __future__ import annotations

from typing import Any


def _advance(step: Any, tokens: Any, state: dict[str, Any]) -> Any:
    """One call of the step session: the next log-probs; ``state`` takes each ``next_X`` as ``X``."""
    results = step.run(None, {i.name: tokens if i.name == "tokens" else state[i.name] for i in step.get_inputs()})
    state.update((o.name.removeprefix("next_"), r) for o, r in zip(step.get_outputs()[1:], results[1:]))
    return results[0]


def _start(init: Any, step: Any, inputs: dict[str, Any], bos: int) -> tuple[Any, dict[str, Any]]:
    """The first next-token log-probs and the state after them: a prompt's own (``init``'s
    ``log_probs``), else one step on ``bos``."""
    import numpy as np

    state = dict(zip([o.name for o in init.get_outputs()], init.run(None, inputs)))
    log_probs = state.pop("log_probs", None)
    if log_probs is None:  # no prompt: the first step reads bos
        log_probs = _advance(step, np.full(next(iter(inputs.values())).shape[0], bos, dtype=np.int64), state)
    return log_probs, state


def _banned(log_probs: Any, banned: list[int]) -> Any:
    """``log_probs`` ``(B, V)`` (numpy) with the ``banned`` columns inside the vocabulary at ``-inf``."""
    ids = [i for i in banned if i < log_probs.shape[-1]]
    if not ids:
        return log_probs
    log_probs = log_probs.copy()
    log_probs[:, ids] = float("-inf")
    return log_probs


def onnx_greedy(init: Any, step: Any, inputs: dict[str, Any], *, bos: int, eos: int,
                max_length: int, banned: list[int] | None = None) -> list[list[int]]:
    """Greedy decoding with the two onnxruntime sessions: each output's tokens up to and without
    ``eos``. ``inputs``: ``init``'s inputs by name, as numpy arrays. ``banned``: ids never chosen
    (None: ``<pad>`` and ``bos``, as ``generate`` bans them)."""
    import numpy as np

    from rnnkit.decoding.ban import output_ban

    ban = output_ban(bos=bos, eos=eos) if banned is None else list(banned)
    log_probs, state = _start(init, step, inputs, bos)
    B = log_probs.shape[0]
    out: list[list[int]] = [[] for _ in range(B)]
    done = np.zeros(B, dtype=bool)
    for t in range(max_length):
        tokens = _banned(log_probs, ban).argmax(-1).astype(np.int64)
        for b in np.flatnonzero(~done):
            if tokens[b] == eos:
                done[b] = True
            else:
                out[b].append(int(tokens[b]))
        if done.all() or t == max_length - 1:
            break
        log_probs = _advance(step, tokens, state)
    return out


def onnx_beam(init: Any, step: Any, inputs: dict[str, Any], *, bos: int, eos: int, max_length: int,
              beam_size: int = 4, length_penalty: float = 0.0, banned: list[int] | None = None) -> list[list[int]]:
    """Beam search with the two onnxruntime sessions, in numpy, as ``rnnkit.decoding.beam_search``
    runs it (n_best 1): each step keeps the ``2 * beam_size`` best extensions, finishes the eos ones
    among the first ``beam_size`` and goes on with the ``beam_size`` best others; a score is the sum
    of log-probs over ``((5 + length) / 6) ** length_penalty`` (GNMT). Returns each input's best
    hypothesis without eos. The state's batch axis is 1 for ``h``/``c`` (``h_k``/``c_k`` in an
    ensemble's files) and 0 for the rest. ``banned``: as in :func:`onnx_greedy`."""
    import numpy as np

    from rnnkit.decoding.ban import output_ban

    ban = output_ban(bos=bos, eos=eos) if banned is None else list(banned)

    def axis(name: str) -> int:  # h, c and an ensemble member's h_0, c_1 ... carry the batch on dim 1
        return 1 if name.split("_")[0] in ("h", "c") else 0

    def norm(length: int) -> float:
        return float(((5.0 + length) / 6.0) ** length_penalty)

    state = dict(zip([o.name for o in init.get_outputs()], init.run(None, inputs)))
    B, K, M = next(iter(inputs.values())).shape[0], beam_size, max_length
    N = B * K
    pending = state.pop("log_probs", None)  # a prompt's next-token distribution: the first step's
    state = {n: np.repeat(v, K, axis=axis(n)) for n, v in state.items()}
    tokens = np.full(N, bos, dtype=np.int64)
    beam_scores = np.full((B, K), -np.inf)
    beam_scores[:, 0] = 0.0  # all beams start identical: expand only the first
    hyps = np.zeros((N, 0), dtype=np.int64)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]  # (score, tokens with eos)
    done = np.zeros(B, dtype=bool)
    t = 0
    for t in range(M):
        if t == 0 and pending is not None:
            log_probs = np.repeat(pending, K, axis=0)
        else:
            log_probs = _advance(step, tokens, state)
        log_probs = _banned(log_probs, ban)
        V = log_probs.shape[-1]
        cand = (beam_scores.reshape(N, 1) + log_probs).reshape(B, K * V)
        top = np.argsort(-cand, axis=1, kind="stable")[:, :min(2 * K, K * V)]  # (B, 2K)
        top_scores = np.take_along_axis(cand, top, axis=1)
        origin, token = top // V, top % V
        for b in np.flatnonzero(~done):
            for j in range(K):  # eos among the first K candidates finishes a hypothesis
                if token[b, j] == eos and np.isfinite(top_scores[b, j]):
                    seq = [*hyps[b * K + origin[b, j]].tolist(), eos]
                    finished[b] = sorted([*finished[b], (top_scores[b, j] / norm(t + 1), seq)],
                                         key=lambda f: -f[0])[:K]
        live = np.where(token == eos, -np.inf, top_scores)
        pos = np.argsort(-live, axis=1, kind="stable")[:, :K]
        live_scores = np.take_along_axis(live, pos, axis=1)
        flat = (np.arange(B)[:, None] * K + np.take_along_axis(origin, pos, axis=1)).reshape(N)
        live_token = np.take_along_axis(token, pos, axis=1).reshape(N)
        hyps = np.concatenate([hyps[flat], live_token[:, None]], axis=1)
        beam_scores, tokens = live_scores, live_token.astype(np.int64)
        counts = np.array([len(f) for f in finished])
        if K == 1:  # width 1 is greedy: done at its first eos (as beam_search)
            done |= counts >= 1
        if t + 1 < M:  # no live beam can beat the best finished score any more (beam_search's exact stop)
            best_norm = max(norm(t + 2), norm(M))
            best_done = np.array([f[0][0] if f else -np.inf for f in finished])
            done |= (counts >= 1) & (beam_scores[:, 0] / best_norm <= best_done)
        if done.all() or t + 1 == M:
            break
        state = {n: np.take(v, flat, axis=axis(n)) for n, v in state.items()}
    out = []
    for b in range(B):
        pool = list(finished[b])
        if not done[b]:  # still open: its live beams compete, cut at the current length
            pool += [(beam_scores[b, k] / norm(hyps.shape[1]), hyps[b * K + k].tolist()) for k in range(K)]
        best = max(pool, key=lambda f: f[0])[1]
        out.append(best[:-1] if best and best[-1] == eos else best)
    return out
