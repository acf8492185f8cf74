"""HashedBigrams: the right pairs at the right steps, padding as the boundary, and a tagger that
reads them sees one step ahead even when it runs left to right only."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.batch import Example, collate
from rnnkit.layers.ngrams import HashedBigrams, bigram_ids
from rnnkit.models.synced import SequenceTagger


def test_each_step_reads_its_left_and_right_pair():
    V, buckets = 7, 1 << 20
    x = torch.tensor([[3, 4, 5, 0], [6, 6, 0, 0]])  # right padded
    left, right = bigram_ids(x, V, buckets)

    def h(a: int, b: int) -> int:
        return int(bigram_ids(torch.tensor([[a, b]]), V, buckets)[1][0, 0])  # the right pair of step 0

    assert left[0].tolist()[:3] == [h(0, 3), h(3, 4), h(4, 5)]
    assert right[0].tolist()[:3] == [h(3, 4), h(4, 5), h(5, 0)]  # the last valid step sees the boundary
    assert left[1, 1] == right[1, 0] == h(6, 6)
    assert int(left.min()) >= 0 and int(right.max()) < buckets
    # every distinct pair of a small vocabulary gets its own row in a large table
    pairs = {(a, b) for a in range(V) for b in range(V)}
    assert len({h(a, b) for a, b in pairs}) == len(pairs)
    layer = HashedBigrams(V, 64, 5)
    assert layer(x).shape == (2, 4, 10)
    with pytest.raises(ValueError, match=">= 1"):
        HashedBigrams(V, 0, 5)
    with pytest.raises(ValueError, match="vocab_size"):
        SequenceTagger(num_tags=2, num_features=3, bigram_buckets=16)


def test_a_left_to_right_tagger_sees_the_next_token_through_its_right_bigram():
    """Tag 1 where the next token equals this one: a unidirectional tagger cannot know that at step t
    without the right bigram; with it, it learns the rule."""
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)

    def batch(n: int):
        examples = []
        for _ in range(n):
            x = torch.randint(1, 5, (12,), generator=gen)
            y = torch.cat([(x[1:] == x[:-1]).long(), torch.zeros(1, dtype=torch.long)])
            examples.append(Example(x=x, y=y))
        return collate(examples)

    scores = {}
    for buckets in (0, 256):
        torch.manual_seed(0)
        model = SequenceTagger(num_tags=2, vocab_size=5, embed_dim=8, hidden_size=16, bidirectional=False,
                               bigram_buckets=buckets, bigram_dim=8)
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(150):
            loss = model(batch(32)).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        test = batch(200)
        scores[buckets] = (model.predict(test) == test.y)[test.mask()].float().mean().item()
    assert scores[256] > 0.97, scores
    assert scores[0] < 0.85, scores  # ~1/4 of steps are repeats; without the bigram it can only guess


def test_a_classifier_reads_bigrams_beside_its_embeddings():
    from rnnkit.data.batch import Batch
    from rnnkit.models.many_to_one import SequenceClassifier

    torch.manual_seed(0)
    model = SequenceClassifier(num_outputs=3, vocab_size=10, embed_dim=8, bigram_buckets=64, bigram_dim=4)
    assert model.rnn.input_size == 8 + 2 * 4
    x = torch.tensor([[1, 2, 3], [4, 5, 0]])
    out = model(Batch(x=x, lengths=torch.tensor([3, 2])))
    assert out.logits.shape == (2, 3)
    with torch.no_grad():  # the bigram rows reach the output
        model.bigrams.table.weight.add_(1.0)
    assert not torch.allclose(model(Batch(x=x, lengths=torch.tensor([3, 2]))).logits, out.logits)
    with pytest.raises(ValueError, match="vocab_size"):
        SequenceClassifier(num_outputs=2, num_features=3, bigram_buckets=8)
