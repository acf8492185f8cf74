"""ONNX export of the models that decode step by step, as two programs (as OpenNMT and CTranslate2 split
an encoder-decoder): ``init``, run once per input, and ``step``, run once per generated token by a
decoding loop outside the programs.

    Seq2Seq              init: (x, lengths) -> h[, c], feed, memory, keys, mask
                         step: (tokens, h, feed, memory, keys, mask[, c]) -> log_probs, next_h, next_feed[, next_c]
    ConditionedGenerator init: (cond) -> h[, c][, context]
                         step: (tokens, h[, context][, c]) -> log_probs, next_h[, next_c]
    LanguageModel        init: (x, lengths), the prompt -> log_probs, h[, c]
                         step: (tokens, h[, c]) -> log_probs, next_h[, next_c]

``h``/``c`` are the decoder's recurrent state ``(L, B, H)`` (``c`` for LSTM), ``feed`` a seq2seq
decoder's last attentional vector, ``memory``/``keys``/``mask`` the encoded source, ``context`` a
condition fed at every step; ``log_probs`` ``(B, V)``. Each ``next_X`` returns as ``X`` to the next
step; the other state inputs stay as ``init`` gave them. Greedy decoding starts from ``init``'s
``log_probs`` where it gives them (a prompt's next token), else from one step on ``bos``, and feeds
each arg-max back until ``eos`` or the longest output (:func:`onnx_greedy`, in numpy); beam search
reorders the state's rows between steps (:func:`onnx_beam`). Both programs take any batch size and
input length. A ban of tokens (decoding/ban.py) is no part of the programs: it belongs to the loop,
which sets the banned ids' log-probs to ``-inf`` before each choice. These loops ban what a model's
``generate`` bans by default, ``<pad>`` and ``bos`` (never outputs), or the ids given as ``banned``
(``ban_unk=True`` is ``banned=[0, 1, 2]``).
The loops are in ``rnnkit.cli.export_decoding_loops`` (and importable from here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.cli.export_decoding_loops import _advance as _advance
from rnnkit.cli.export_decoding_loops import _banned as _banned
from rnnkit.cli.export_decoding_loops import _start, onnx_greedy
from rnnkit.cli.export_decoding_loops import onnx_beam as onnx_beam


@dataclass
class Parts:
    """A step-decoded model as ``init`` and ``step`` modules of plain tensors, and their names."""

    init: nn.Module
    step: nn.Module
    init_inputs: list[str]
    init_outputs: list[str]
    step_inputs: list[str]  # "tokens", then state names in the step module's order
    carried: list[str]  # the state that ``step`` returns as next_*, after log_probs
    dims: dict[str, dict[int, str]]  # each tensor's dynamic dimensions by name ("batch", "steps")
    packed: bool = False  # ``step`` takes (tokens, [state tensors]) rather than each state tensor

    def inputs(self, batch: Any) -> dict[str, torch.Tensor]:
        """``init``'s inputs taken from a Batch, by name."""
        return {"cond": batch.cond} if self.init_inputs == ["cond"] else {"x": batch.x, "lengths": batch.lengths}


def _state_names(rnn: Any) -> list[str]:
    return ["h", "c"] if rnn.cell_list[0].state_size == 2 else ["h"]


def seq2seq_parts(model: Any) -> Parts:
    """A Seq2Seq: ``init`` encodes the source, ``step`` is its decoder's step."""
    from rnnkit.data.batch import Batch
    from rnnkit.models.many_to_many import Seq2SeqState

    names = _state_names(model.decoder.rnn)
    lstm = len(names) == 2

    class Init(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
            s = self.model.init_state(Batch(x=x, lengths=lengths))
            return (*(s.rnn if lstm else (s.rnn,)), s.feed, s.memory, s.keys, s.mask)

    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.decoder = model.decoder

        def forward(self, tokens: torch.Tensor, h: torch.Tensor, feed: torch.Tensor, memory: torch.Tensor,
                    keys: torch.Tensor, mask: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            state = Seq2SeqState(rnn=(h, c) if c is not None else h, feed=feed, memory=memory, keys=keys, mask=mask)
            log_probs, new = self.decoder.step(tokens, state)
            return (log_probs, new.rnn[0] if lstm else new.rnn, new.feed, *((new.rnn[1],) if lstm else ()))

    source = {0: "batch", 1: "src_steps"}
    return Parts(Init(), Step(), ["x", "lengths"], [*names, "feed", "memory", "keys", "mask"],
                 ["tokens", "h", "feed", "memory", "keys", "mask", *names[1:]], ["h", "feed", *names[1:]],
                 {"x": source, "lengths": {0: "batch"}, "tokens": {0: "batch"}, "feed": {0: "batch"},
                  "memory": source, "keys": source, "mask": source, **{n: {1: "batch"} for n in names}})


def generator_parts(model: Any) -> Parts:
    """A ConditionedGenerator (``init`` from ``cond``) or a LanguageModel (``init`` from a prompt)."""
    from rnnkit.models.one_to_many import DecoderState, LanguageModel

    names = _state_names(model.rnn)
    lm = isinstance(model, LanguageModel)
    context = not lm and model.config.conditioning != "init"
    L, H = model.rnn.num_layers, model.rnn.hidden_size

    def rnn_tuple(rnn: Any, B: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if rnn is None:  # conditioning "input": the recurrent state starts from zeros
            return tuple(like.new_zeros(L, B, H) for _ in names)
        return rnn if isinstance(rnn, tuple) else (rnn,)

    class Init(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            if lm:
                s = self.model.prompt_state(x, lengths)
                return (s.pending, *rnn_tuple(s.rnn, x.shape[0], s.pending))
            s = self.model.init_state(x)
            return (*rnn_tuple(s.rnn, x.shape[0], x), *((s.context,) if context else ()))

    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, tokens: torch.Tensor, h: torch.Tensor, context_or_c: torch.Tensor | None = None,
                    c: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            ctx = context_or_c if context else None
            c = c if context else context_or_c
            log_probs, new = self.model.step(tokens, DecoderState((h, c) if c is not None else h, ctx, None))
            return (log_probs, *(new.rnn if isinstance(new.rnn, tuple) else (new.rnn,)))

    state_dims = {n: {1: "batch"} for n in names}
    if lm:
        return Parts(Init(), Step(), ["x", "lengths"], ["log_probs", *names], ["tokens", *names], names,
                     {"x": {0: "batch", 1: "steps"}, "lengths": {0: "batch"}, "tokens": {0: "batch"}, **state_dims})
    extra = ["context"] if context else []
    return Parts(Init(), Step(), ["cond"], [*names, *extra], ["tokens", "h", *extra, *names[1:]], names,
                 {"cond": {0: "batch"}, "tokens": {0: "batch"}, "context": {0: "batch"}, **state_dims})


def ensemble_parts(model: Any) -> Parts:
    """An Ensemble of step-decoded models: ``init`` runs every member's (their state tensors named
    ``NAME_k``; a prompt's log-probs mixed), ``step`` every member's, and the next-token log-probs
    are ``log mean_k exp(log_probs_k)``, as ``EnsembleDecoder`` mixes them."""
    import math

    members = [parts_of(m) for m in model.members]
    K = len(members)
    first = members[0]
    own = [[n for n in p.init_outputs if n != "log_probs"] for p in members]
    steps_in = [p.step_inputs[1:] for p in members]

    def mix(log_probs: list[torch.Tensor]) -> torch.Tensor:
        return torch.logsumexp(torch.stack([lp.float() for lp in log_probs]), dim=0) - math.log(K)

    class Init(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = nn.ModuleList(p.init for p in members)

        def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            outs = [dict(zip(p.init_outputs, init(*((a,) if b is None else (a, b)))))
                    for p, init in zip(members, self.members)]
            pending = [o.pop("log_probs") for o in outs if "log_probs" in o]
            return (*((mix(pending),) if pending else ()), *(t for o in outs for t in o.values()))

    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = nn.ModuleList(p.step for p in members)

        def forward(self, tokens: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
            log_probs, carried, at = [], [], 0
            for names, step in zip(steps_in, self.members):
                out = step(tokens, *states[at:at + len(names)])
                at += len(names)
                log_probs.append(out[0])
                carried.extend(out[1:])
            return (mix(log_probs), *carried)

    pending = ["log_probs"] if "log_probs" in first.init_outputs else []
    named = {f"{n}_{k}": d for k, p in enumerate(members) for n, d in p.dims.items() if n not in p.init_inputs}
    return Parts(Init(), Step(), first.init_inputs,
                 pending + [f"{n}_{k}" for k, names in enumerate(own) for n in names],
                 ["tokens"] + [f"{n}_{k}" for k, names in enumerate(steps_in) for n in names],
                 [f"{n}_{k}" for k, p in enumerate(members) for n in p.carried],
                 {**{n: first.dims[n] for n in first.init_inputs}, "tokens": {0: "batch"}, **named}, packed=True)


def parts_of(model: Any) -> Parts:
    from rnnkit.models.ensemble import Ensemble
    from rnnkit.models.many_to_many import Seq2Seq

    if isinstance(model, Ensemble):
        return ensemble_parts(model)
    return seq2seq_parts(model) if isinstance(model, Seq2Seq) else generator_parts(model)


def inner_config(model: Any) -> Any:
    """The config that holds bos, eos and the longest output: an Ensemble's first member's."""
    from rnnkit.models.ensemble import first_member

    return first_member(model).config


def longest_output(model: Any) -> int:
    """The most tokens ``model`` generates (its config's ``max_length``; 50 where it has none)."""
    return int(getattr(inner_config(model), "max_length", 0) or 50)


def _dims(parts: Parts, names: list[str]) -> tuple[dict[int, Any], ...]:
    """torch.export's dynamic shapes for the inputs ``names``, in order (one Dim per dimension name)."""
    from torch.export import Dim

    made: dict[str, Any] = {}
    return tuple({axis: made.setdefault(dim, Dim(dim, min=1)) for axis, dim in parts.dims.get(name, {}).items()}
                 for name in names)


def export_parts(model: Any, inputs: dict[str, torch.Tensor], init_path: Path, step_path: Path,
                 metadata: dict[str, str]) -> tuple[Any, Any]:
    """Write ``init`` and ``step`` as ONNX files, traced on ``inputs`` (``init``'s, by name; a batch of
    two or more); returns onnxruntime sessions on them."""
    from rnnkit.cli.export_backends import export_backends
    from rnnkit.cli.export_onnx import export_onnx

    parts = parts_of(model)
    args = tuple(inputs[n] for n in parts.init_inputs)
    B = args[0].shape[0]
    with torch.no_grad(), export_backends(model, onnx=True):
        init = torch.export.export(parts.init, args, dynamic_shapes=_dims(parts, parts.init_inputs))
        state = dict(zip(parts.init_outputs, parts.init(*args)))
        state["tokens"] = torch.full((B,), inner_config(model).bos_id, dtype=torch.long)
        step_args: tuple = tuple(state[n] for n in parts.step_inputs)
        dynamic: tuple = _dims(parts, parts.step_inputs)
        if parts.packed:  # (tokens, [state ...]): a pytree, flattened in this order by the ONNX export
            step_args, dynamic = (step_args[0], list(step_args[1:])), (dynamic[0], list(dynamic[1:]))
        step = torch.export.export(parts.step, step_args, dynamic_shapes=dynamic)
    init_session = export_onnx(init, args, init_path, input_names=parts.init_inputs, output_names=parts.init_outputs,
                               metadata=metadata, dims=parts.dims)
    step_session = export_onnx(step, step_args, step_path, input_names=parts.step_inputs,
                               output_names=["log_probs", *(f"next_{n}" for n in parts.carried)], metadata=metadata,
                               dims=parts.dims)
    return init_session, step_session


def model_greedy(model: Any, batch: Any, max_length: int) -> list[list[int]]:
    """The model's own greedy outputs (what ``generate`` gives: no pad, no bos), without eos."""
    from rnnkit.decoding import greedy
    from rnnkit.decoding.ban import output_ban
    from rnnkit.models.ensemble import decoding_start

    c = inner_config(model)
    with torch.no_grad():
        decoder, state = decoding_start(model, batch)
        generated = greedy(decoder, state, bos=c.bos_id, eos=c.eos_id, max_length=max_length,
                           banned=output_ban(bos=c.bos_id, eos=c.eos_id))
    out = []
    for tokens, n in zip(generated.tokens[:, 0].tolist(), generated.lengths[:, 0].tolist()):
        seq = tokens[:n]
        out.append(seq[:-1] if seq and seq[-1] == c.eos_id else seq)
    return out


def model_first_log_probs(model: Any, batch: Any) -> torch.Tensor:
    """The model's first next-token log-probs: a prompt's own, else one step on bos."""
    from rnnkit.models.ensemble import decoding_start

    with torch.no_grad():
        decoder, state = decoding_start(model, batch)
        B = (batch.cond if batch.x is None else batch.x).shape[0]
        return decoder.step(torch.full((B,), inner_config(model).bos_id), state)[0]


def part_paths(path: Path) -> tuple[Path, Path]:
    """Where a decoding export's two programs go: ``PATH.init.onnx`` and ``PATH.step.onnx``."""
    return path.with_name(f"{path.stem}.init{path.suffix}"), path.with_name(f"{path.stem}.step{path.suffix}")


def run_decoding(model: Any, trace: Any, check: Any, path: Path, metadata: dict[str, str]) -> int:
    """``rnnkit export RUN --format onnx`` for a seq2seq or generation run: ``PATH.init.onnx`` and
    ``PATH.step.onnx``, traced on the batch ``trace`` and checked by greedy decoding in onnxruntime
    against the model on the batch ``check`` (the same tokens, and the first log-probs to 1e-4)."""
    import numpy as np

    from rnnkit.cli.export import attempt
    from rnnkit.cli.main import CLIError
    init_path, step_path = part_paths(path)
    parts, c, max_length = parts_of(model), inner_config(model), longest_output(model)
    metadata = {**metadata, "output": "log_probs", "bos_id": str(c.bos_id), "eos_id": str(c.eos_id),
                "max_length": str(max_length)}
    with attempt("onnx", model, [init_path, step_path]):
        init, step = export_parts(model, parts.inputs(trace), init_path, step_path, metadata)
        feeds = {n: t.numpy() for n, t in parts.inputs(check).items()}
        got = onnx_greedy(init, step, feeds, bos=c.bos_id, eos=c.eos_id, max_length=max_length)
        expected = model_greedy(model, check, max_length)
        first = model_first_log_probs(model, check).numpy()
        diff = float(np.abs(_start(init, step, feeds, c.bos_id)[0] - first).max())
    same = sum(a == b for a, b in zip(got, expected))
    if diff > 1e-4 or same < len(expected):
        init_path.unlink(missing_ok=True)
        step_path.unlink(missing_ok=True)
        raise CLIError(f"the exported programs differ from the model (first log-probs by {diff:.1e}; {same} of "
                       f"{len(expected)} greedy outputs equal); not kept")
    ins = ", ".join(parts.init_inputs)
    print(f"exported {type(model).__name__} (onnx) to {init_path} (({ins}) -> the decoder's state) and {step_path} "
          f"((tokens, state) -> log_probs, next state), any batch size and input length; greedy decoding in "
          f"onnxruntime gave the model's output on {len(expected)} of {len(expected)} examples (first log-probs "
          f"within {diff:.1e}); bos {c.bos_id}, eos {c.eos_id} and the vocabularies are in the files' metadata")
    return 0
