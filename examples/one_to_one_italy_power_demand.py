"""one-to-one: one input vector -> one class, with a FeedForward network (the shape's baseline).

Italy Power Demand (UCR): 24 hourly readings of one day -> winter or summer. Each day is one
fixed-length vector of 24 values. Run: python examples/one_to_one_italy_power_demand.py
"""

import rnnkit
from rnnkit.cli.runspec import RunSpec, load_data
from rnnkit.models import FeedForward

# `vectors=True` flattens each fixed-length series into one vector (rnnkit train --vectors).
dataset = load_data(RunSpec(data="italy_power_demand", model="feedforward", vectors=True))
print(dataset, "input:", tuple(dataset.train[0].x.shape))

model = FeedForward.from_dataset(dataset, hidden_sizes=(64, 64), dropout=0.1)
history = rnnkit.Trainer(epochs=80, batch_size=16, lr=3e-3, seed=0, progress=False).fit(model, dataset)
print(f"test accuracy {history.test['accuracy']:.3f} (best valid epoch {history.best_epoch})")
for p in dataset.info.published:
    print(f"  published: {p.model:<14} {p.value:.3f}")
