"""synchronous many-to-many: one label per step, with a bidirectional SequenceTagger.

Moving digits: short videos (16x16 frames, flattened) of real handwritten digits drifting over a
canvas; now and then another digit takes the place of the first. Label every frame with the digit
it shows. The frames are square images, so from_dataset reads each through a small CNN before the
recurrent layer (as the moving_digits recipe does; pass frame_encoder="linear" for a plain
projection). Run: python examples/synced_moving_digits.py
"""

import rnnkit
import rnnkit.datasets
from rnnkit.models import SequenceTagger

dataset = rnnkit.datasets.load("moving_digits", n_train=700, n_test=200)
print(dataset)

model = SequenceTagger.from_dataset(dataset, cell="gru", hidden_size=64, bidirectional=True)
history = rnnkit.Trainer(epochs=5, batch_size=32, lr=3e-3, seed=0).fit(model, dataset)
print("test:", {k: round(v, 3) for k, v in history.test.items()})

example = dataset.test.examples[0]
batch = dataset.collate([example])
predicted = model.predict(batch)[0, : int(batch.lengths[0])].tolist()
print("true:     ", "".join(dataset.info.classes[int(t)] for t in example.y))
print("predicted:", "".join(dataset.info.classes[t] for t in predicted))
