"""Export of a ``Seq2Seq`` model as two programs, as OpenNMT and CTranslate2 split one: the encoder, run
once per source, and one decoder step, run once per generated token by a loop outside the program.

    encoder: (x, lengths) -> h[, c], feed, memory, keys, mask        the decoder's initial state
    decoder: (tokens, h, feed, memory, keys, mask[, c]) -> log_probs, next_h[, next_c], next_feed

``h``/``c`` are the decoder's recurrent state ``(L, B, H)`` (``c`` for LSTM only), ``feed`` the last
attentional vector ``(B, A)``, ``memory`` the encoder outputs ``(B, S, K)``, ``keys`` their
attention projection, ``mask`` ``(B, S)`` True on valid source steps; ``log_probs`` ``(B, V)``.
Greedy decoding feeds ``bos``, then each step's arg-max, until ``eos`` or ``max_length``
(:func:`onnx_greedy` is that loop over onnxruntime sessions, in numpy; beam search reorders the
state's batch entries between steps). Both programs take any batch size and source length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATE = ("feed", "memory", "keys", "mask")


def state_names(model: Any) -> list[str]:
    """The recurrent state's names: ``["h", "c"]`` for an LSTM decoder, else ``["h"]``."""
    return ["h", "c"] if model.config.cell in ("lstm", "minlstm") else ["h"]


def programs(model: Any) -> tuple[Any, Any]:
    """The encoder and the decoder step of ``model`` as modules of plain tensors."""
    import torch
    from torch import nn

    from rnnkit.data.batch import Batch
    from rnnkit.models.many_to_many import Seq2SeqState

    lstm = len(state_names(model)) == 2

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
            s = self.model.init_state(Batch(x=x, lengths=lengths))
            rnn = s.rnn if lstm else (s.rnn,)
            return (*rnn, s.feed, s.memory, s.keys, s.mask)

    class DecoderStep(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.decoder = model.decoder

        def forward(self, tokens: torch.Tensor, h: torch.Tensor, feed: torch.Tensor, memory: torch.Tensor,
                    keys: torch.Tensor, mask: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            state = Seq2SeqState(rnn=(h, c) if c is not None else h, feed=feed, memory=memory, keys=keys, mask=mask)
            log_probs, new = self.decoder.step(tokens, state)
            rnn = new.rnn if lstm else (new.rnn,)
            return (log_probs, *rnn, new.feed)

    return Encoder().eval(), DecoderStep().eval()


def export_programs(model: Any, x: Any, lengths: Any, *, onnx: bool) -> tuple[Any, Any, dict[str, Any]]:
    """``torch.export`` programs of the encoder and the decoder step (batch size and source length
    free), and the decoder's example inputs by name. Call under ``torch.no_grad()``."""
    import torch
    from torch.export import Dim

    from rnnkit.cli.export import export_backends

    encoder, step = programs(model)
    if x.shape[0] == 1:  # a traced size of 1 is taken as a constant: trace on two copies
        x, lengths = torch.cat([x, x]), torch.cat([lengths, lengths])
    batch, src = Dim("batch", min=1), Dim("src_steps", min=1)
    with export_backends(model, onnx=onnx):
        enc = torch.export.export(encoder, (x, lengths), dynamic_shapes={
            "x": {0: batch, 1: src}, "lengths": {0: batch}})
        outs = encoder(x, lengths)
    names = state_names(model)
    inputs = dict(zip([*names, *STATE], outs))
    inputs["tokens"] = torch.full((x.shape[0],), model.config.bos_id, dtype=torch.long)
    dynamic: dict[str, Any] = {"tokens": {0: batch}, "feed": {0: batch}, "memory": {0: batch, 1: src},
                               "keys": {0: batch, 1: src}, "mask": {0: batch, 1: src},
                               **{n: {1: batch} for n in names}}
    order = ["tokens", "h", *STATE, *names[1:]]
    dec = torch.export.export(step, tuple(inputs[n] for n in order), dynamic_shapes={n: dynamic[n] for n in order})
    return enc, dec, {n: inputs[n] for n in order}


def export_seq2seq_onnx(model: Any, x: Any, lengths: Any, encoder_path: Path, decoder_path: Path,
                        metadata: dict[str, str]) -> tuple[Any, Any]:
    """Write the encoder and the decoder step as ONNX files; returns onnxruntime sessions on them."""
    import torch

    from rnnkit.cli.export_onnx import export_onnx

    names = state_names(model)
    with torch.no_grad():
        enc, dec, inputs = export_programs(model, x, lengths, onnx=True)
    encoder = export_onnx(enc, (x, lengths), encoder_path, input_names=["x", "lengths"],
                          output_names=[*names, *STATE], metadata=metadata, dims={"x": ("batch", "src_steps")})
    decoder = export_onnx(dec, tuple(inputs.values()), decoder_path, input_names=list(inputs),
                          output_names=["log_probs", *(f"next_{n}" for n in (*names, "feed"))], metadata=metadata,
                          dims={"memory": ("batch", "src_steps")})
    return encoder, decoder


def onnx_greedy(encoder: Any, decoder: Any, x: Any, lengths: Any, *, bos: int, eos: int,
                max_length: int) -> list[list[int]]:
    """Greedy decoding with the two onnxruntime sessions: each source's tokens up to and without
    ``eos``. ``x``, ``lengths``: numpy arrays as for the model."""
    import numpy as np

    state = dict(zip([o.name for o in encoder.get_outputs()], encoder.run(None, {"x": x, "lengths": lengths})))
    wanted = [i.name for i in decoder.get_inputs()]
    B = x.shape[0]
    tokens = np.full(B, bos, dtype=np.int64)
    out: list[list[int]] = [[] for _ in range(B)]
    done = np.zeros(B, dtype=bool)
    for _ in range(max_length):
        feeds = {name: tokens if name == "tokens" else state[name] for name in wanted}
        results = decoder.run(None, feeds)
        state.update((o.name.removeprefix("next_"), r) for o, r in zip(decoder.get_outputs()[1:], results[1:]))
        tokens = results[0].argmax(-1).astype(np.int64)
        for b in np.flatnonzero(~done):
            if tokens[b] == eos:
                done[b] = True
            else:
                out[b].append(int(tokens[b]))
        if done.all():
            break
    return out


def run_seq2seq(model: Any, dataset: Any, split: Any, path: Path, metadata: dict[str, str]) -> int:
    """``rnnkit export RUN --format onnx`` for a seq2seq run: ``PATH.encoder.onnx`` and
    ``PATH.decoder.onnx``, checked by greedy decoding in onnxruntime against the model on up to 16
    test examples (the same tokens, and the first step's log-probs to 1e-4)."""
    import json

    import numpy as np
    import torch

    from rnnkit.cli.export import attempt, example_steps
    from rnnkit.cli.main import CLIError

    encoder_path = path.with_name(f"{path.stem}.encoder{path.suffix}")
    decoder_path = path.with_name(f"{path.stem}.decoder{path.suffix}")
    c = model.config
    info = dataset.info
    metadata = {**metadata, "output": "log_probs", "bos_id": str(c.bos_id), "eos_id": str(c.eos_id),
                "max_length": str(c.max_length)}
    for key, vocab in (("target_vocab", info.output_vocab), ("source_vocab", info.input_vocab)):
        if vocab is not None:
            metadata[key] = json.dumps(vocab.itos, ensure_ascii=False)
    trace = dataset.collate(sorted(split.examples, key=example_steps)[-2:])
    check = dataset.collate(split.examples[:16])
    with attempt("onnx", model, [encoder_path, decoder_path]):
        encoder, decoder = export_seq2seq_onnx(model, trace.x, trace.lengths, encoder_path, decoder_path, metadata)
        got = onnx_greedy(encoder, decoder, check.x.numpy(), check.lengths.numpy(), bos=c.bos_id, eos=c.eos_id,
                          max_length=c.max_length)
        with torch.no_grad():
            generated = model.generate(check, "greedy")
            log_probs, _ = model.decoder.step(torch.full((check.x.shape[0],), c.bos_id), model.init_state(check))
        state = dict(zip([o.name for o in encoder.get_outputs()],
                         encoder.run(None, {"x": check.x.numpy(), "lengths": check.lengths.numpy()})))
        feeds = {i.name: np.full(check.x.shape[0], c.bos_id, dtype=np.int64) if i.name == "tokens" else state[i.name]
                 for i in decoder.get_inputs()}
        diff = float(np.abs(decoder.run(None, feeds)[0] - log_probs.numpy()).max())
    expected = []
    for tokens, n in zip(generated.tokens[:, 0].tolist(), generated.lengths[:, 0].tolist()):
        seq = tokens[:n]
        expected.append(seq[:-1] if seq and seq[-1] == c.eos_id else seq)
    same = sum(a == b for a, b in zip(got, expected))
    if diff > 1e-4 or same < len(expected):
        encoder_path.unlink(missing_ok=True)
        decoder_path.unlink(missing_ok=True)
        raise CLIError(f"the exported encoder and decoder differ from the model (first step's log-probs by "
                       f"{diff:.1e}; {same} of {len(expected)} greedy outputs equal); not kept")
    print(f"exported {type(model).__name__} (onnx) to {encoder_path} ((x, lengths) -> the decoder's state) and "
          f"{decoder_path} ((tokens, state) -> log_probs, next state), any batch size and source length; greedy "
          f"decoding in onnxruntime gave the model's output on {len(expected)} of {len(expected)} test examples "
          f"(first step's log-probs within {diff:.1e}); bos {c.bos_id}, eos {c.eos_id} and both vocabularies are "
          "in the files' metadata")
    return 0
