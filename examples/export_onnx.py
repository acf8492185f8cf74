"""Deploy without rnnkit or torch: export a trained Seq2Seq to ONNX and decode in onnxruntime.

Trains the dates -> ISO model for a few CPU minutes, exports it with `rnnkit export RUN --format
onnx` (two files: `init` encodes a batch of sources, `step` takes one decoding step), then turns
dates into ISO 8601 with onnxruntime and numpy alone, reading the vocabularies, bos and eos from
the files' metadata, and scores the held-out dates that way. Needs the export extra: pip install 'rnnkit[export]'.
Run: python examples/export_onnx.py
"""

import json

import numpy as np
import onnxruntime

import rnnkit
import rnnkit.datasets
from rnnkit.cli.main import main
from rnnkit.models import Seq2Seq

dataset = rnnkit.datasets.load("dates_iso", n_train=6000, n_test=300)
model = Seq2Seq.from_dataset(dataset, cell="gru", hidden_size=64)
rnnkit.Trainer(epochs=20, batch_size=64, lr=3e-3, seed=0, run_dir="runs/dates_onnx", overwrite=True).fit(model, dataset)
main(["export", "runs/dates_onnx", "--format", "onnx"])  # checks greedy decoding against the model

# From here on, onnxruntime and numpy only.
init = onnxruntime.InferenceSession("runs/dates_onnx/export/model.init.onnx")
step = onnxruntime.InferenceSession("runs/dates_onnx/export/model.step.onnx")
meta = init.get_modelmeta().custom_metadata_map
source, target = json.loads(meta["input_vocab"]), json.loads(meta["output_vocab"])
bos, eos, longest = int(meta["bos_id"]), int(meta["eos_id"]), int(meta["max_length"])
ids = {token: i for i, token in enumerate(source)}


def to_iso(texts: list[str]) -> list[str]:
    """Greedy decoding: feed bos, then each step's most likely output token, until eos."""
    x = np.zeros((len(texts), max(map(len, texts))), dtype=np.int64)  # right-padded character ids
    for b, text in enumerate(texts):
        x[b, :len(text)] = [ids.get(ch, 1) for ch in text]  # 1 = <unk>
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    state = dict(zip([o.name for o in init.get_outputs()], init.run(None, {"x": x, "lengths": lengths})))
    tokens = np.full(len(texts), bos, dtype=np.int64)
    out: list[list[str]] = [[] for _ in texts]
    done = np.zeros(len(texts), dtype=bool)
    for _ in range(longest):
        log_probs, *new = step.run(None, {i.name: tokens if i.name == "tokens" else state[i.name]
                                          for i in step.get_inputs()})
        state.update((o.name.removeprefix("next_"), v) for o, v in zip(step.get_outputs()[1:], new))
        log_probs[:, [0, bos]] = -np.inf  # <pad> (id 0) and bos are never outputs, as Seq2Seq.generate has it
        tokens = log_probs.argmax(-1).astype(np.int64)
        for b in np.flatnonzero(~done):
            done[b] = tokens[b] == eos
            if not done[b]:
                out[b].append(target[tokens[b]])
        if done.all():
            break
    return ["".join(o) for o in out]


# the held-out dates, written back to text, through the exported files alone
texts = ["".join(source[i] for i in e.x.tolist()) for e in dataset.test.examples]
truth = ["".join(target[i] for i in e.y.tolist() if i != eos) for e in dataset.test.examples]
answers = to_iso(texts)
print(f"exact match in onnxruntime on {len(texts)} test dates: {np.mean([a == t for a, t in zip(answers, truth)]):.3f}")
for text, iso in zip(texts[:5], answers):
    print(f"{text:<28} -> {iso}")
