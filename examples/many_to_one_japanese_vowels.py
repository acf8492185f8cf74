"""many-to-one: classify who is speaking from a sequence of 12 LPC cepstrum coefficients.

Japanese Vowels (UCR/UEA archive): 9 speakers, utterances of 7-29 frames. ``from_dataset`` builds
what it suggests for a multivariate series (``SequenceClassifier.suggested_options(dataset)``): a
bidirectional GRU, mean-pooled over the frames, beside a convolutional branch with squeeze-and-
excitation (the MLSTM-FCN layout), then a linear head. Run: python examples/many_to_one_japanese_vowels.py
"""

import rnnkit
import rnnkit.datasets
from rnnkit.models import SequenceClassifier

dataset = rnnkit.datasets.load("japanese_vowels")
print(dataset)

model = SequenceClassifier.from_dataset(dataset, cell="gru", hidden_size=64, embed_dim=None)
trainer = rnnkit.Trainer(epochs=30, batch_size=16, lr=5e-3, early_stopping=8, seed=0,
                         run_dir="runs/examples/japanese_vowels", overwrite=True)
history = trainer.fit(model, dataset)
print(f"best epoch {history.best_epoch}; test accuracy {history.test['accuracy']:.3f}")
for p in dataset.info.published:
    print(f"  published: {p.model:<12} {p.value:.3f}  ({p.source})")

# The run folder holds everything: rebuild the model from it and predict one utterance.
restored = rnnkit.load("runs/examples/japanese_vowels")
batch = dataset.collate(dataset.test.examples[:5])
print("predicted speakers:", [dataset.info.classes[i] for i in restored.predict(batch).tolist()])
print("true speakers:     ", [dataset.info.classes[int(e.y)] for e in dataset.test.examples[:5]])
print("report: runs/examples/japanese_vowels/report.html")  # drawn by the Trainer at the end of fit
