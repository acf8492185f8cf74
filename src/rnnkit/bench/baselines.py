"""A strong classical baseline per task, scored on the same test split as the recipes (issue 6).

``run_baseline(name, dataset)`` returns ``{"name", "value", "seconds", "also": [...]}`` in the
units of the results table (fractions; percent for MAPE), or None where no classical method is
offered (the seq2seq sets: a copy or most-frequent answer scores ~0 exact match, which says
nothing). Baselines learn from train plus valid: they select nothing on valid. Everything runs
offline with scikit-learn, aeon and statsmodels.

=====================  ============================================================================
data set               baseline (primary first)
=====================  ============================================================================
UCR/UEA sets           MiniRocket + ridge; 1-NN DTW (aeon)              (``baselines_series.py``)
air_passengers         Holt-Winters ETS (multiplicative season); airline SARIMA on log; seasonal naive
taylor                 double seasonal Holt-Winters (Taylor 2003); ETS; autoregression; weekly naive
sentiment              TF-IDF of character 1-3-grams + logistic regression (C picked on valid)
peoples_daily_seg      forward maximum matching with the training words; most frequent tag per char
peoples_daily_pos      second-order HMM with Viterbi decoding (TnT); most frequent tag per word
moving_digits          per-frame logistic regression on the 256 pixels
digit_captions         per-cell logistic regression on the 8x8 digit cells, empty cells dropped
=====================  ============================================================================
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from rnnkit.bench.baselines_series import forecasting_baselines, panel_baselines, timed, ucr_baselines

UCR_SETS = ("japanese_vowels", "arrowhead", "gunpoint", "italy_power_demand", "basic_motions")


def _pool(dataset: Any) -> list[Any]:
    return list(dataset.train.examples) + list(dataset.valid.examples)


def sentiment_baseline(dataset: Any) -> list[dict[str, Any]]:
    """TF-IDF (char 1-3-grams) + logistic regression; C from {1, 4, 16} on valid, then refit on train+valid."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def text(e: Any) -> str:
        return str(e.meta.get("text")) if e.meta and "text" in e.meta else " ".join(map(str, e.x.tolist()))

    def score() -> float:
        tr, va, te = dataset.train.examples, dataset.valid.examples, dataset.test.examples
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
        X_tr, y_tr = vec.fit_transform([text(e) for e in tr]), [int(e.y) for e in tr]
        best_c = 1.0
        if va:
            X_va, y_va = vec.transform([text(e) for e in va]), np.asarray([int(e.y) for e in va])
            accs = {c: (LogisticRegression(C=c, max_iter=2000).fit(X_tr, y_tr).predict(X_va) == y_va).mean()
                    for c in (1.0, 4.0, 16.0)}
            best_c = max(accs, key=lambda c: accs[c])
        pool = tr + va
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
        clf = LogisticRegression(C=best_c, max_iter=2000).fit(vec.fit_transform([text(e) for e in pool]),
                                                                [int(e.y) for e in pool])
        pred = clf.predict(vec.transform([text(e) for e in te]))
        return float((pred == np.asarray([int(e.y) for e in te])).mean())

    return [timed("TF-IDF char 1-3-grams + logistic regression (scikit-learn)", score)]


def vector_baselines(dataset: Any) -> list[dict[str, Any]]:
    """An RBF support-vector machine and a logistic regression (scikit-learn defaults) on the flat
    feature vectors of a one-to-one classification set, fitted on train + valid."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    def arrays(examples: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        return (np.stack([e.x.reshape(-1).numpy() for e in examples]), np.asarray([int(e.y) for e in examples]))

    X, y = arrays(_pool(dataset))
    X_te, y_te = arrays(list(dataset.test.examples))

    def fit_score(model: Any) -> Callable[[], float]:
        return lambda: float((model.fit(X, y).predict(X_te) == y_te).mean())

    return [timed("RBF support-vector machine (scikit-learn)", fit_score(SVC())),
            timed("logistic regression (scikit-learn)", fit_score(LogisticRegression(max_iter=2000)))]


class KneserNey:
    """An interpolated Kneser-Ney n-gram model of token sequences (Chen and Goodman 1999, one discount
    ``D`` per order): counts at the highest order, continuation counts (distinct left contexts) below,
    uniform over ``vocab`` tokens at the bottom. Each sequence's context starts as ``bos`` repeated."""

    def __init__(self, order: int, vocab: int, *, bos: int, discount: float = 0.75) -> None:
        self.order, self.vocab, self.bos, self.d = order, vocab, bos, discount
        self.counts: list[dict[tuple[int, ...], Counter[int]]] = [{} for _ in range(order)]

    def fit(self, sequences: list[list[int]]) -> KneserNey:
        n = self.order
        grams: set[tuple[int, ...]] = set()
        for seq in sequences:
            padded = [self.bos] * (n - 1) + list(seq)
            for i in range(n - 1, len(padded)):
                gram = tuple(padded[i - n + 1: i + 1])
                self.counts[n - 1].setdefault(gram[:-1], Counter())[gram[-1]] += 1
                grams.add(gram)
        for k in range(n - 1, 0, -1):  # continuation counts: a k-gram counts the distinct tokens before it
            for gram in grams:  # the distinct (k+1)-grams
                self.counts[k - 1].setdefault(gram[1:-1], Counter())[gram[-1]] += 1
            grams = {g[1:] for g in grams}
        self._totals = [{h: (sum(c.values()), len(c)) for h, c in level.items()} for level in self.counts]
        return self

    def prob(self, context: tuple[int, ...], token: int) -> float:
        p = 1.0 / self.vocab
        for k in range(1, self.order + 1):  # from unigrams up, each level interpolated with the one below
            h = context[len(context) - k + 1:] if k > 1 else ()
            stats = self._totals[k - 1].get(h)
            if stats is None:
                break
            total, types = stats
            p = max(self.counts[k - 1][h][token] - self.d, 0.0) / total + self.d * types / total * p
        return p

    def perplexity(self, sequences: list[list[int]]) -> float:
        nll, n = 0.0, 0
        for seq in sequences:
            padded = [self.bos] * (self.order - 1) + list(seq)
            for i in range(self.order - 1, len(padded)):
                nll -= math.log(self.prob(tuple(padded[i - self.order + 1: i]), padded[i]))
                n += 1
        return math.exp(nll / max(n, 1))


def ngram_baselines(dataset: Any) -> list[dict[str, Any]]:
    """Kneser-Ney n-gram models of the target token sequences (``y``, eos included, as the generators'
    perplexity counts them): the order from {3, 5, 7, 9} by valid perplexity with the model fitted
    on train, then refitted on train + valid; it reads no conditioning input."""
    from rnnkit.data.vocab import Vocab

    vocab = len(dataset.info.output_vocab or []) or 1 + max(int(t) for e in _pool(dataset) for t in e.y.tolist())

    def seqs(examples: list[Any]) -> list[list[int]]:
        return [[int(t) for t in e.y.tolist()] for e in examples]

    train, valid, test = seqs(list(dataset.train.examples)), seqs(list(dataset.valid.examples)), seqs(
        list(dataset.test.examples))
    order = 5  # without a valid split

    def score() -> float:  # the choice of order is timed with the fit
        nonlocal order
        if valid:
            by_order = {n: KneserNey(n, vocab, bos=Vocab.bos_id).fit(train).perplexity(valid) for n in (3, 5, 7, 9)}
            order = min(by_order, key=lambda n: by_order[n])
        return KneserNey(order, vocab, bos=Vocab.bos_id).fit(train + valid).perplexity(test)

    row = timed("Kneser-Ney n-gram, order by valid perplexity", score)
    row["name"] = f"Kneser-Ney {order}-gram (order by valid perplexity)"
    return [row]


def _words(chars: list[int], tags: list[str]) -> list[tuple[int, ...]]:
    words, current = [], []
    for ch, tag in zip(chars, tags):
        current.append(ch)
        if tag in ("E", "S"):
            words.append(tuple(current))
            current = []
    if current:
        words.append(tuple(current))
    return words


def _bmes(words: list[tuple[int, ...]]) -> list[str]:
    return [t for w in words for t in (["S"] if len(w) == 1 else ["B"] + ["M"] * (len(w) - 2) + ["E"])]


def segmentation_baselines(dataset: Any) -> list[dict[str, Any]]:
    """Word F1 of forward maximum matching (dictionary = training words) and of the most frequent
    BMES tag of each character."""
    from rnnkit.train.metrics import span_f1

    classes = list(dataset.info.classes or [])
    pool, test = _pool(dataset), dataset.test.examples
    true = [[classes[i] for i in e.y.tolist()] for e in test]

    def max_matching() -> float:
        lexicon = {w for e in pool for w in _words(e.x.tolist(), [classes[i] for i in e.y.tolist()])}
        longest = min(max(map(len, lexicon)), 8)
        pred = []
        for e in test:
            chars, i, words = e.x.tolist(), 0, []
            while i < len(chars):
                n = next((n for n in range(min(longest, len(chars) - i), 1, -1)
                          if tuple(chars[i:i + n]) in lexicon), 1)
                words.append(tuple(chars[i:i + n]))
                i += n
            pred.append(_bmes(words))
        return span_f1(true, pred, scheme="BMES")

    def most_frequent_tag() -> float:
        counts: dict[int, Counter[int]] = {}
        for e in pool:
            for c, t in zip(e.x.tolist(), e.y.tolist()):
                counts.setdefault(c, Counter())[t] += 1
        fallback = classes.index("S")
        best = {c: n.most_common(1)[0][0] for c, n in counts.items()}
        pred = [[classes[best.get(c, fallback)] for c in e.x.tolist()] for e in test]
        return span_f1(true, pred, scheme="BMES")

    return [timed("forward maximum matching, training-word dictionary", max_matching),
            timed("most frequent tag per character", most_frequent_tag)]


def tagging_baselines(dataset: Any) -> list[dict[str, Any]]:
    """Token accuracy of a second-order hidden Markov model decoded by Viterbi (TnT, Brants 2000:
    tag trigrams smoothed by deleted interpolation) and of the most frequent tag of each word.

    Both see word ids, ``<unk>`` for the words the vocabulary dropped. The unknown word's tag
    distribution is the ``<unk>`` id's own counts in train+valid where the vocabulary has a
    ``min_freq`` above 1, else that of the words seen once there (hapax legomena). A token that
    stands for an unknown word's last character (``<unk:X>``, ``unknown="last_char"``) that train+valid
    never hold takes the tags of the words seen once there that end in X: TnT's suffix estimate,
    cut to the last character."""
    from rnnkit.data.vocab import Vocab, ending_token

    pool, test = _pool(dataset), dataset.test.examples
    num_tags = len(dataset.info.classes or [])
    unk = Vocab.unk_id
    words: dict[int, Counter[int]] = {}
    for e in pool:
        for w, t in zip(e.x.tolist(), e.y.tolist()):
            words.setdefault(w, Counter())[t] += 1
    hapax = {w: n for w, n in words.items() if sum(n.values()) == 1}
    if unk not in words:
        words[unk] = sum(hapax.values(), Counter())
    vocab = getattr(dataset.info, "input_vocab", None)
    if vocab is not None and vocab.has_endings:
        ends: dict[int, Counter[int]] = {}  # ending token id -> the tags of the words seen once with that ending
        for w, n in hapax.items():
            end = vocab.stoi.get(ending_token(vocab.itos[w])) if not vocab.itos[w].startswith("<") else None
            if end is not None and end not in words:
                ends.setdefault(end, Counter()).update(n)
        words.update(ends)
    tag_counts = Counter(t for e in pool for t in e.y.tolist())
    truth = np.concatenate([e.y.numpy() for e in test]) if test else np.zeros(0, dtype=np.int64)

    def most_frequent_tag() -> float:
        fallback = words[unk].most_common(1)[0][0] if words[unk] else tag_counts.most_common(1)[0][0]
        best = {w: n.most_common(1)[0][0] for w, n in words.items()}
        pred = [best.get(w, fallback) for e in test for w in e.x.tolist()]
        return float((np.asarray(pred) == truth).mean())

    def hmm() -> float:
        k, start = num_tags, num_tags  # tag ids 0..k-1; k marks the positions before the sentence
        uni = np.zeros(k)
        bi = np.zeros((k + 1, k))
        tri = np.zeros((k + 1, k + 1, k))
        for e in pool:
            tags = [start, start] + e.y.tolist()
            for a, b, c in zip(tags, tags[1:], tags[2:]):
                uni[c] += 1
                bi[b, c] += 1
                tri[a, b, c] += 1
        # deleted interpolation (Brants 2000): each trigram votes for the estimate that, without
        # it, predicts it best
        lambdas = np.zeros(3)
        for a, b, c in zip(*np.nonzero(tri)):
            n = tri[a, b, c]
            estimates = [(uni[c] - 1) / max(uni.sum() - 1, 1),
                         (bi[b, c] - 1) / max(bi[b].sum() - 1, 1),
                         (n - 1) / max(tri[a, b].sum() - 1, 1)]
            lambdas[int(np.argmax(estimates))] += n
        lambdas /= lambdas.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            p_uni = uni / uni.sum()
            p_bi = np.nan_to_num(bi / bi.sum(1, keepdims=True))
            p_tri = np.nan_to_num(tri / tri.sum(2, keepdims=True))
            log_trans = np.log(lambdas[0] * p_uni + lambdas[1] * p_bi[None] + lambdas[2] * p_tri)
        totals = np.maximum(uni, 1.0)  # each tag's count in train+valid

        def log_emit(w: int) -> np.ndarray:
            n = words.get(w) or words[unk]
            row = np.full(k, -np.inf)
            for t, c in n.items():
                row[t] = math.log(c / totals[t])
            return row

        pred: list[int] = []
        for e in test:
            ids = e.x.tolist()
            if not ids:
                continue
            delta = np.full((k + 1, k), -np.inf)  # (previous tag, this tag)
            delta[start] = log_trans[start, start] + log_emit(ids[0])
            back = []
            for w in ids[1:]:
                # cand[p, q, r]: p before q before r; q ranges over real tags only
                cand = delta[:, :, None] + log_trans[:, :k, :]
                arg = cand.argmax(0)  # (q, r)
                best = np.take_along_axis(cand, arg[None], 0)[0] + log_emit(w)[None]
                back.append(arg)
                delta = np.full((k + 1, k), -np.inf)
                delta[:k] = best
            q, r = np.unravel_index(int(np.argmax(delta)), delta.shape)
            path = [int(r)]
            for arg in reversed(back):
                path.append(int(q))
                q, r = arg[q, r], q
            pred.extend(reversed(path))
        return float((np.asarray(pred) == truth).mean())

    return [timed("second-order HMM, Viterbi (TnT, Brants 2000)", hmm),
            timed("most frequent tag per word", most_frequent_tag)]


def _every_word(dataset: Any) -> Any:
    """The data set loaded again with every word of train+valid in its vocabulary (``min_freq`` 1)
    and each unknown word read by its last character: the counting baselines do best when a word
    seen once still tells its tag, whatever vocabulary the recipe's network reads. Train+valid and
    test hold the same sentences whatever the options."""
    from rnnkit.datasets import load

    return load(dataset.info.name, min_freq=1, vocab_from="pool", unknown="last_char")


def frames_baseline(dataset: Any) -> list[dict[str, Any]]:
    """Per-frame accuracy of a logistic regression on each frame's pixels (no temporal context)."""
    from sklearn.linear_model import LogisticRegression

    def stack(examples: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([e.x.numpy() for e in examples]), np.concatenate([e.y.numpy() for e in examples]))

    def score() -> float:
        X, y = stack(_pool(dataset))
        X_te, y_te = stack(dataset.test.examples)
        clf = LogisticRegression(max_iter=300, C=1.0).fit(X, y)
        return float((clf.predict(X_te) == y_te).mean())

    return [timed("per-frame logistic regression on pixels (scikit-learn)", score)]


def captions_baseline(dataset: Any) -> list[dict[str, Any]]:
    """Caption exact match of a per-cell digit classifier: the image is cut into 8x8 cells, empty
    (all-zero) cells end the caption, each other cell is classified by a logistic regression."""
    from sklearn.linear_model import LogisticRegression

    def cells(e: Any) -> np.ndarray:
        img = e.cond.numpy()[0]  # (8, 8 * max_digits)
        return img.reshape(8, -1, 8).transpose(1, 0, 2).reshape(-1, 64)  # (max_digits, 64)

    def score() -> float:
        X, y = [], []
        for e in _pool(dataset):
            digits = list(e.meta["digits"])
            X.append(cells(e)[: len(digits)])
            y.extend(digits)
        clf = LogisticRegression(max_iter=1000).fit(np.concatenate(X), np.asarray(y))
        hits = 0
        for e in dataset.test.examples:
            c = cells(e)
            keep = c[np.abs(c).sum(1) > 0]
            pred = clf.predict(keep).tolist() if len(keep) else []
            hits += pred == list(e.meta["digits"])
        return hits / len(dataset.test.examples)

    return [timed("per-cell logistic regression on 8x8 digits (scikit-learn)", score)]


BASELINES: dict[str, Callable[[Any], list[dict[str, Any]]]] = {
    **{name: ucr_baselines for name in UCR_SETS},
    **{name: forecasting_baselines for name in ("air_passengers", "sunspots", "co2", "taylor")},
    "m1_yearly": panel_baselines,
    "sentiment": sentiment_baseline,
    "digits": vector_baselines,
    "folk_tunes": ngram_baselines,
    "peoples_daily_seg": segmentation_baselines,
    "peoples_daily_pos": lambda dataset: tagging_baselines(_every_word(dataset)),
    "moving_digits": frames_baseline,
    "digit_captions": captions_baseline,
}


def run_baseline(name: str, dataset: Any) -> dict[str, Any] | None:
    """The primary baseline of data set ``name`` with the others under ``"also"``; None if it has none."""
    fn = BASELINES.get(name)
    if fn is None or not len(dataset.test):
        return None
    results = fn(dataset)
    return {**results[0], "also": results[1:]}


__all__ = ["BASELINES", "UCR_SETS", "captions_baseline", "frames_baseline", "run_baseline",
           "KneserNey", "ngram_baselines", "segmentation_baselines", "sentiment_baseline", "tagging_baselines",
           "vector_baselines"]
