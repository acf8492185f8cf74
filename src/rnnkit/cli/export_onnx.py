"""ONNX export of a one-pass model (``rnnkit export RUN --format onnx``), checked in onnxruntime.

Every ``Recurrent`` that torch's fused op can compute runs on the ``onnx`` backend
(``layers/onnx_backend.py``): one ``rnnkit::rnn`` operator per stack, translated here into ONNX's
own RNN / GRU / LSTM nodes, one per layer, with ``sequence_lens``. Other cells (minGRU, minLSTM, layer
norm) export through their parallel scan or the loop over time, as for ``torch.export``.

A differenced forecaster needs ``sum(difference) + 1`` steps of history; ONNX has no way to refuse
fewer (the program returns NaN), so the file's metadata_props hold ``min_steps`` and
:func:`run_session`, which rnnkit runs its ONNX programs with, refuses a shorter history.

Needs the ``export`` extra: ``pip install 'rnnkit[export]'`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# torch's gate order -> ONNX's, as indices into torch's gate blocks:
# LSTM i, f, g, o -> i, o, f, c; GRU r, z, n -> z, r, h (linear_before_reset=1 is torch's GRU)
_GATES = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn_tanh": [0], "rnn_relu": [0]}
OPSET = 18


def missing_packages() -> list[str]:
    """The packages of the ``export`` extra that are not installed."""
    import importlib.util

    return [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]


def translate_rnn(x: Any, lengths: Any, h0: Any, c0: Any, params: Any, mode: str, num_layers: int,
                  bidirectional: bool, has_bias: bool) -> tuple[Any, Any, Any]:
    """``rnnkit::rnn`` as ONNX nodes (traced by torch.onnx with onnxscript's opset): per layer, the
    weights reordered to ONNX's gate order and one RNN / GRU / LSTM node over the whole batch."""
    from onnxscript import opset18

    op: Any = opset18  # traced by torch.onnx: Python lists stand for constant tensors, which the stubs do not allow

    D = 2 if bidirectional else 1
    per = 4 if has_bias else 2  # tensors per layer and direction
    gates = _GATES[mode]
    H = int(params[1].shape[1])  # weight_hh is (G*H, H)

    def reorder(w: Any) -> Any:
        if len(gates) == 1:
            return w
        parts = op.Split(w, axis=0, num_outputs=len(gates))
        return op.Concat(*[parts[g] for g in gates], axis=0)

    seq = op.Cast(lengths, to=6)  # int32, as ONNX's sequence_lens
    inp = op.Transpose(x, perm=[1, 0, 2])  # (T, B, I)
    finals_h, finals_c = [], []
    for layer in range(num_layers):
        ws, rs, bs = [], [], []
        for d in range(D):
            k = (layer * D + d) * per
            ws.append(op.Unsqueeze(reorder(params[k]), [0]))
            rs.append(op.Unsqueeze(reorder(params[k + 1]), [0]))
            if has_bias:
                bs.append(op.Unsqueeze(op.Concat(reorder(params[k + 2]), reorder(params[k + 3]), axis=0), [0]))
        W = ws[0] if D == 1 else op.Concat(*ws, axis=0)  # (D, G*H, I)
        R = rs[0] if D == 1 else op.Concat(*rs, axis=0)  # (D, G*H, H)
        B = (bs[0] if D == 1 else op.Concat(*bs, axis=0)) if has_bias else None  # (D, 2*G*H)
        h = op.Slice(h0, [layer * D], [(layer + 1) * D], [0])  # (D, B, H)
        direction = "bidirectional" if bidirectional else "forward"
        if mode == "lstm":
            c = op.Slice(c0, [layer * D], [(layer + 1) * D], [0])
            y, y_h, y_c = op.LSTM(inp, W, R, B, seq, h, c, hidden_size=H, direction=direction)
            finals_c.append(y_c)
        elif mode == "gru":
            y, y_h = op.GRU(inp, W, R, B, seq, h, hidden_size=H, direction=direction, linear_before_reset=1)
        else:
            act = "Tanh" if mode == "rnn_tanh" else "Relu"
            y, y_h = op.RNN(inp, W, R, B, seq, h, hidden_size=H, direction=direction, activations=[act] * D)
        finals_h.append(y_h)
        inp = op.Reshape(op.Transpose(y, perm=[0, 2, 1, 3]), [0, 0, -1])  # (T, D, B, H) -> (T, B, D*H)
    out = op.Transpose(inp, perm=[1, 0, 2])  # (B, T, D*H)
    h_n = finals_h[0] if num_layers == 1 else op.Concat(*finals_h, axis=0)
    if mode != "lstm":
        return out, h_n, op.Identity(h_n)
    return out, h_n, finals_c[0] if num_layers == 1 else op.Concat(*finals_c, axis=0)


def export_onnx(program: Any, args: tuple, path: Path, *, input_names: list[str], output_names: list[str],
                metadata: dict[str, str], dims: dict[str, dict[int, str]]) -> Any:
    """Write ``program`` (a ``torch.export`` program, traced on ``args``) to ``path`` as one ONNX
    file and return an onnxruntime session on it. ``dims`` names the symbolic dimensions of inputs
    by axis (``{"x": {0: "batch", 1: "steps"}}``); ``metadata`` goes into metadata_props."""
    import onnx
    import onnxruntime
    import torch

    import rnnkit.layers.onnx_backend  # noqa: F401  (defines torch.ops.rnnkit.rnn)

    # verbose=False: no progress lines on stdout, which `--json` output and pipes read
    exported = torch.onnx.export(program, args, dynamo=True, opset_version=OPSET, input_names=input_names,
                                 output_names=output_names, verbose=False,
                                 custom_translation_table={torch.ops.rnnkit.rnn.default: translate_rnn})
    assert exported is not None  # dynamo=True always returns the program
    model = exported.model_proto  # named and annotated here, then written once
    names: dict[str, str] = {}
    for value in model.graph.input:
        for axis, d in enumerate(value.type.tensor_type.shape.dim):
            if d.dim_param and axis in dims.get(value.name, {}):
                names[d.dim_param] = dims[value.name][axis]
    for value in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        for d in value.type.tensor_type.shape.dim:
            d.dim_param = names.get(d.dim_param, d.dim_param)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_session(session: Any, feeds: dict[str, Any]) -> Any:
    """The first output of an onnxruntime ``session`` on ``feeds`` (input name -> numpy array), after
    the rule the file's metadata states: with ``min_steps`` (a differenced forecaster), ``x``
    ``(B, T, F)`` needs ``T >= min_steps`` and every ``lengths`` at least ``min_steps``, else a
    ValueError (the program itself would return NaN).

    Example:
        >>> session = onnxruntime.InferenceSession("runs/air/export/model.onnx")
        >>> run_session(session, {"x": history, "lengths": lengths}).shape  # (B, H)
    """
    import numpy as np

    rule = session.get_modelmeta().custom_metadata_map.get("min_steps")
    x, lengths = feeds.get("x"), feeds.get("lengths")
    if rule is not None and x is not None and np.ndim(x) == 3:
        shortest = int(rule)
        given = int(np.shape(x)[1])
        if lengths is not None and np.size(lengths):
            given = min(given, int(np.min(lengths)))
        if given < shortest:
            raise ValueError(f"a history of {given} steps is too short for this ONNX forecaster: it needs at least "
                             f"{shortest} steps (min_steps in its metadata, sum(difference) + 1); pass a longer "
                             f"history (every length at least {shortest})")
    return session.run(None, feeds)[0]
