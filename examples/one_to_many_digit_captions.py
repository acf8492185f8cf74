"""one-to-many: an image -> a sequence of words ("seven one four"), with a ConditionedGenerator.

Digit captions: 1-4 real handwritten digits (scikit-learn's 8x8 scans) side by side; a small CNN
encodes the image into the GRU's first state, which then writes the caption word by word.
Run: python examples/one_to_many_digit_captions.py
"""

import rnnkit
import rnnkit.datasets
from rnnkit.models import ConditionedGenerator
from rnnkit.report.predictions import generated_ids

dataset = rnnkit.datasets.load("digit_captions", n_train=3000, n_test=500)
vocab = dataset.info.output_vocab
print(dataset)

model = ConditionedGenerator.from_dataset(dataset, cell="gru", hidden_size=128, embed_dim=32)
history = rnnkit.Trainer(epochs=6, batch_size=64, lr=3e-3, seed=0).fit(model, dataset)
print("test:", {k: round(v, 3) for k, v in history.test.items()})

examples = dataset.test.examples[:6]
batch = dataset.collate(examples)
captions = generated_ids(model.generate(batch.cond))  # greedy decoding; method="beam" also works
for e, ids in zip(examples, captions):
    print(f"{' '.join(vocab.decode(e.y.tolist())):<28} -> {' '.join(vocab.decode(ids))}")
