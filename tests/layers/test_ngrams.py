"""HashedBigrams: the right pairs at the right steps, padding as the boundary, and a tagger that
reads them sees one step ahead even when it runs left to right only."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.batch import Batch, Example, collate
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


def test_ngram_ids_give_each_distinct_gram_its_own_row_and_keep_orders_apart():
    from rnnkit.layers.ngrams import ngram_ids

    V, buckets = 6, 1 << 30
    grid = torch.cartesian_prod(*[torch.arange(1, V)] * 3)  # every trigram of 5 ids
    tri = ngram_ids(grid, 3, buckets)
    assert tri.shape == (len(grid), 1) and len(set(tri.flatten().tolist())) == len(grid)
    x = torch.tensor([[1, 2, 3, 4]])
    assert ngram_ids(x, 1, buckets).shape == (1, 4) and ngram_ids(x, 4, buckets).shape == (1, 1)
    assert ngram_ids(x, 5, buckets).shape == (1, 0)
    # a unigram and the bigram (1, 2) never share a row by construction of the salt
    uni, bi = ngram_ids(x, 1, buckets), ngram_ids(x, 2, buckets)
    assert not set(uni.flatten().tolist()) & set(bi.flatten().tolist())
    assert int(ngram_ids(x, 2, 7).max()) < 7
    with pytest.raises(ValueError, match=">= 1"):
        ngram_ids(x, 0, buckets)


def test_ngram_bag_is_the_mean_of_its_grams_rows_and_ignores_padding():
    from rnnkit.layers.ngrams import HashedNgramBag, ngram_ids

    torch.manual_seed(0)
    bag = HashedNgramBag(buckets=1000, dim=5, max_n=3)
    seq = [4, 7, 7, 2]
    rows = bag.table.weight
    grams = torch.cat([ngram_ids(torch.tensor([seq]), n, 1000)[0] for n in (1, 2, 3)])
    assert len(grams) == 4 + 3 + 2
    expected = rows[grams].mean(0)
    x = torch.tensor([seq + [0, 0], [5, 0, 0, 0, 0, 0], [0] * 6])
    out = bag(x, torch.tensor([4, 1, 0]))
    assert out.shape == (3, 5)
    torch.testing.assert_close(out[0], expected)
    torch.testing.assert_close(out[1], rows[ngram_ids(torch.tensor([[5]]), 1, 1000)[0, 0]])  # no 2- or 3-grams
    assert torch.equal(out[2], torch.zeros(5))  # an empty sequence has an empty bag
    assert torch.equal(bag(torch.zeros(2, 0, dtype=torch.long)), torch.zeros(2, 5))  # so has a batch of them
    # the padded row equals the same sequence alone, and the padding ids never count
    torch.testing.assert_close(bag(torch.tensor([seq]))[0], out[0])
    x2 = x.clone()
    x2[0, 4:] = 9
    torch.testing.assert_close(bag(x2, torch.tensor([4, 1, 0])), out)
    out.sum().backward()
    assert bag.table.weight.grad is not None and bag.table.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=">= 1"):
        HashedNgramBag(buckets=10, dim=5, max_n=0)


def test_a_classifier_reads_its_bag_of_ngrams_beside_the_pooled_state():
    from rnnkit.data.batch import Batch
    from rnnkit.models.many_to_one import SequenceClassifier

    torch.manual_seed(0)
    model = SequenceClassifier(num_outputs=3, vocab_size=10, embed_dim=8, hidden_size=6, ngram_buckets=64,
                               ngram_dim=4, ngram_max=2)
    assert model.head.in_features == 6 + 4
    x, lengths = torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2])
    model.eval()
    out = model(Batch(x=x, lengths=lengths))
    with torch.no_grad():
        model.ngrams.table.weight.add_(1.0)
    assert not torch.allclose(model(Batch(x=x, lengths=lengths)).logits, out.logits)
    with pytest.raises(ValueError, match="ngram_buckets reads token ids"):
        SequenceClassifier(num_outputs=2, num_features=3, ngram_buckets=16)


def test_a_tagger_with_bigrams_exports_for_every_number_of_steps() -> None:
    """bigram_ids cut x[:, :-1], a size T - 1 that torch.export takes to be other than 1: the People's
    Daily tagger's program refused two-character sentences (Guard failed: -1 + x.size()[1] != 1)."""
    from torch.export import Dim


    torch.manual_seed(0)
    model = SequenceTagger(num_tags=4, vocab_size=30, embed_dim=8, hidden_size=8, bigram_buckets=64,
                           bigram_dim=4).eval()

    class Emissions(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.model(Batch(x=x, lengths=lengths)).logits

    module = Emissions().eval()
    batch = Dim("batch", min=1)
    from rnnkit.cli.export import export_backends

    with torch.no_grad(), export_backends(model):  # the recurrent layer as a scan: T stays free
        x = torch.randint(1, 30, (2, 6))
        program = torch.export.export(module, (x, torch.tensor([6, 4])),
                                      dynamic_shapes={"x": {0: batch, 1: Dim("steps", min=1)}, "lengths": {0: batch}})
        for t in (1, 2, 3, 9):
            x, lengths = torch.randint(1, 30, (2, t)), torch.tensor([t, 1])
            torch.testing.assert_close(program.module()(x, lengths), module(x, lengths))
