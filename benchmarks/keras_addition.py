"""Time the Keras 3 addition example (keras-io examples/nlp/addition_rnn.py) on this machine.

Issue 6 compares rnnkit's addition recipe with this example: "94.4% whole-sum exact match after
37 epochs, 591 s CPU", measured once on another machine. This script rebuilds the example's setup
so that the CPU time can be compared on the same machine as rnnkit's bench:

- 50,000 distinct questions "a+b" with operands of 1-3 digits, the question reversed, padded to 7
  characters, the answer padded to 4; one-hot over "0123456789+ "; 90% train, 10% validation;
- LSTM(128) encoder, RepeatVector(4), LSTM(128) decoder over the 4 answer steps, a softmax layer
  per step; Adam, categorical cross-entropy, batch 32.

It reports, per epoch, the CPU seconds of the process (all threads) and the validation whole-sum
exact match (every answer character right) and per-character accuracy.

Needs keras (``pip install keras``; not an rnnkit dependency). Run::

    KERAS_BACKEND=torch python benchmarks/keras_addition.py --epochs 37 --threads 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

DIGITS = 3
CHARS = "0123456789+ "
QUESTION_LEN = DIGITS + 1 + DIGITS
ANSWER_LEN = DIGITS + 1


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct questions (a+b and b+a count once) as one-hot arrays (n, 7, 12) and (n, 4, 12)."""
    rng = np.random.default_rng(seed)
    seen: set[tuple[int, int]] = set()
    questions, answers = [], []
    while len(questions) < n:
        a, b = (int("".join(rng.choice(list("0123456789"), size=rng.integers(1, DIGITS + 1)))) for _ in range(2))
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        q = f"{a}+{b}".ljust(QUESTION_LEN)[::-1]  # the example reverses the padded question
        questions.append(q)
        answers.append(str(a + b).ljust(ANSWER_LEN))
    index = {c: i for i, c in enumerate(CHARS)}

    def one_hot(texts: list[str], length: int) -> np.ndarray:
        out = np.zeros((len(texts), length, len(CHARS)), dtype=np.float32)
        for i, text in enumerate(texts):
            for t, c in enumerate(text):
                out[i, t, index[c]] = 1.0
        return out

    return one_hot(questions, QUESTION_LEN), one_hot(answers, ANSWER_LEN)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=37)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (rnnkit's bench: 1 per job)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the per-epoch rows and the setup here")
    args = ap.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import torch

    torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    x, y = make_data(50_000, args.seed)
    split = len(x) - len(x) // 10
    x_train, x_val, y_train, y_val = x[:split], x[split:], y[:split], y[split:]
    model = keras.Sequential([
        keras.Input((QUESTION_LEN, len(CHARS))),
        keras.layers.LSTM(128),
        keras.layers.RepeatVector(ANSWER_LEN),
        keras.layers.LSTM(128, return_sequences=True),
        keras.layers.Dense(len(CHARS), activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    rows = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        pred = model.predict(x_val, batch_size=256, verbose=0).argmax(-1)
        right = pred == y_val.argmax(-1)
        row = {"epoch": epoch, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
               "exact_match": float(right.all(1).mean()), "char_accuracy": float(right.mean())}
        rows.append(row)
        print(json.dumps(row), flush=True)
        cpu0 += time.process_time() - cpu0 - cpu  # the evaluation's time is left out of the training time
        wall0 += time.perf_counter() - wall0 - wall
    setup = {"keras": keras.__version__, "torch": torch.__version__, "threads": args.threads, "seed": args.seed,
             "cpu": platform.processor() or platform.machine(),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"setup": setup, "rows": rows}, f, indent=1)
    print(json.dumps(setup))


if __name__ == "__main__":
    main()
