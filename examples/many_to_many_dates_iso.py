"""many-to-many: a sequence -> a sequence of another length, with an attentional Seq2Seq.

Dates written by people ("Friday, 15 February 2019", "15/02/19") -> ISO 8601 ("2019-02-15"),
character by character. Run: python examples/many_to_many_dates_iso.py
"""

import torch

import rnnkit
import rnnkit.datasets
from rnnkit.data.batch import Batch
from rnnkit.models import Seq2Seq
from rnnkit.report.predictions import generated_ids

dataset = rnnkit.datasets.load("dates_iso", n_train=3000, n_test=300)  # a few CPU minutes
src, tgt = dataset.info.input_vocab, dataset.info.output_vocab
print(dataset)

model = Seq2Seq.from_dataset(dataset, cell="gru", hidden_size=64)
history = rnnkit.Trainer(epochs=8, batch_size=64, lr=3e-3, seed=0).fit(model, dataset)
print("test:", {k: round(v, 3) for k, v in history.test.items()})

for text in ["march 3, 2001", "Tuesday, 9 July 1985", "12/25/99"]:
    ids = src.encode(list(text))
    batch = Batch(x=torch.tensor([ids]), lengths=torch.tensor([len(ids)]))
    out = generated_ids(model.generate(batch, method="beam", beam_size=4))[0]
    print(f"{text:<24} -> {''.join(tgt.decode(out))}")
