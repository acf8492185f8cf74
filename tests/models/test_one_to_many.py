"""ConditionedGenerator and LanguageModel: they learn, step-by-step equals teacher forcing, and
generation carries the recurrent state forward."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.batch import Batch, Example, collate
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.decoding import greedy
from rnnkit.models import ConditionedGenerator, LanguageModel
from rnnkit.models.one_to_many import DecoderState

EOS = 3
CAPTIONS = [[4, 5, 6, EOS], [7, 8, EOS], [9, 4, 9, 4, 5, EOS], [6, 6, 7, EOS]]  # one per condition



def fit(model: torch.nn.Module, batch: Batch, *, lr: float, steps: int) -> None:
    """Adam on one batch for ``steps`` steps (these tests check that a model can learn its batch)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model(batch).loss
        assert loss is not None
        opt.zero_grad()
        loss.backward()
        opt.step()


def caption_batch() -> Batch:
    return collate([Example(x=None, cond=torch.eye(4)[i], y=torch.tensor(c)) for i, c in enumerate(CAPTIONS)])


@pytest.mark.parametrize("conditioning", ["init", "input"])
def test_generator_learns_a_caption_per_condition(conditioning: str) -> None:
    torch.manual_seed(0)
    model = ConditionedGenerator(vocab_size=10, cond_shape=(4,), cell="gru", conditioning=conditioning,
                                 cond_size=16, embed_dim=8, hidden_size=32)
    batch = caption_batch()
    fit(model, batch, lr=0.03, steps=80)
    assert batch.cond is not None
    out = model.generate(batch.cond, max_length=10)
    assert out.sequences() == [[c] for c in CAPTIONS]
    beams = model.generate(batch.cond, method="beam", max_length=10, beam_size=3)
    assert beams.sequences() == [[c] for c in CAPTIONS]


def test_image_condition_through_the_cnn() -> None:
    torch.manual_seed(1)
    model = ConditionedGenerator(vocab_size=10, cond_shape=(1, 8, 8), cell="lstm", conditioning="both",
                                 cond_size=8, embed_dim=4, hidden_size=8, conv_channels=(4,))
    batch = collate([Example(x=None, cond=torch.randn(1, 8, 8), y=torch.tensor(c)) for c in CAPTIONS])
    out = model(batch)
    assert out.logits is not None and out.logits.shape == (4, 6, 10)
    assert out.loss is not None
    out.loss.backward()
    assert batch.cond is not None
    assert model.generate(batch.cond, method="sample", max_length=5).tokens.shape[:2] == (4, 1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_step_by_step_equals_teacher_forcing(cell: str) -> None:
    torch.manual_seed(2)
    model = ConditionedGenerator(vocab_size=10, cond_shape=(4,), cell=cell, conditioning="both",
                                 embed_dim=4, hidden_size=6, num_layers=2).eval()
    batch = caption_batch()
    assert batch.cond is not None and batch.y is not None and batch.y_lengths is not None
    logits = model(batch).logits
    assert logits is not None
    state = model.init_state(batch.cond)
    tokens = torch.full((4,), model.config.bos_id)
    for t, y_t in enumerate(batch.y.unbind(1)):
        log_probs, state = model.step(tokens, state)
        valid = batch.y_lengths > t
        torch.testing.assert_close(log_probs[valid], logits[valid, t].log_softmax(-1), atol=1e-5, rtol=1e-5)
        tokens = y_t


def test_padding_does_not_change_a_captions_logits() -> None:
    torch.manual_seed(3)
    model = ConditionedGenerator(vocab_size=10, cond_shape=(4,), cell="gru", hidden_size=6).eval()
    batch = caption_batch()
    assert batch.cond is not None and batch.y is not None and batch.y_lengths is not None
    logits = model(batch).logits
    assert logits is not None
    for i, c in enumerate(CAPTIONS):
        alone = model(Batch(x=None, cond=batch.cond[i : i + 1], y=torch.tensor([c]))).logits
        torch.testing.assert_close(alone[0], logits[i, : len(c)], atol=1e-5, rtol=1e-5)  # type: ignore[index]


def test_language_model_learns_a_repeating_pattern() -> None:
    torch.manual_seed(4)
    pattern = [4, 5, 6, 7, 5]
    seqs = [torch.tensor((pattern * 6)[s : s + n]) for s, n in [(0, 20), (1, 15), (2, 24), (3, 11)]]
    batch = collate([Example(x=s) for s in seqs])
    model = LanguageModel(vocab_size=8, cell="lstm", embed_dim=8, hidden_size=24)
    before = model.perplexity(batch)
    fit(model, batch, lr=0.03, steps=80)
    after = model.perplexity(batch)
    assert after < 1.3 < before, (before, after)
    out = model.generate([4, 5, 6], max_length=7)
    assert out.sequences()[0][0] == [7, 5, 4, 5, 6, 7, 5]


def test_language_model_generation_carries_the_prompt_state() -> None:
    """Greedy continuation equals re-running the whole growing sequence and taking the argmax."""
    torch.manual_seed(5)
    model = LanguageModel(vocab_size=12, cell="gru", embed_dim=6, hidden_size=8, num_layers=2).eval()
    prompts = [[4, 9, 5], [7, 11]]
    padded = torch.tensor([[4, 9, 5], [7, 11, 0]])
    out = model.generate(padded, max_length=6, prompt_lengths=torch.tensor([3, 2]))
    for prompt, continuation in zip(prompts, out.tokens[:, 0].tolist()):
        seq = list(prompt)
        for _ in range(6):
            logits = model(Batch(x=torch.tensor([seq]), y=torch.zeros(1, len(seq), dtype=torch.long))).logits
            seq.append(int(logits[0, -1].argmax()))  # type: ignore[index]
        assert continuation == seq[len(prompt) :]
    # the generator is a decoder for rnnkit.decoding as it stands
    state = model.prompt_state(torch.tensor([[4, 9, 5]]))
    assert isinstance(state, DecoderState)
    assert greedy(model, state, bos=2, eos=3, max_length=6).tokens[0, 0].tolist() == out.tokens[0, 0].tolist()


def test_language_model_shift_and_padding() -> None:
    torch.manual_seed(6)
    model = LanguageModel(vocab_size=10, cell="gru", embed_dim=4, hidden_size=5).eval()
    seqs = [torch.tensor([4, 5, 6, 7, 8]), torch.tensor([9, 4])]
    shifted = collate([Example(x=s) for s in seqs])
    explicit = collate([Example(x=s[:-1], y=s[1:]) for s in seqs])
    torch.testing.assert_close(model(shifted).loss, model(explicit).loss)
    # the mean over all 5 target tokens equals the token-weighted mean of each sequence alone
    alone = [model(collate([Example(x=s)])).loss for s in seqs]
    torch.testing.assert_close(model(shifted).loss, (alone[0] * 4 + alone[1] * 1) / 5)  # type: ignore[operator]


def test_bad_input_gets_a_clear_error() -> None:
    gen = ConditionedGenerator(vocab_size=10, cond_shape=(4,), hidden_size=4)
    with pytest.raises(ValueError, match=r"cond of shape \(B, 4\)"):
        gen.generate(torch.randn(2, 5))
    with pytest.raises(ValueError, match="needs batch.cond and batch.y"):
        gen(Batch(x=None, cond=torch.randn(2, 4)))
    with pytest.raises(ValueError, match=r"target token id out of range \[0, 10\)"):
        gen(Batch(x=None, cond=torch.randn(1, 4), y=torch.tensor([[4, 12]])))
    with pytest.raises(ValueError, match="method must be one of"):
        gen.generate(torch.randn(1, 4), method="viterbi")
    lm = LanguageModel(vocab_size=10, hidden_size=4, embed_dim=4)
    with pytest.raises(ValueError, match="token ids"):
        lm(Batch(x=torch.randn(2, 3, 1)))
    with pytest.raises(ValueError, match="tie_weights needs"):
        LanguageModel(vocab_size=10, embed_dim=4, hidden_size=8, tie_weights=True)


def test_from_dataset_reads_vocabulary_and_condition_shape() -> None:
    vocab = Vocab.build([list("abcdef")])
    examples = [Example(x=None, cond=torch.randn(3), y=torch.tensor(vocab.encode(list("abc"), eos=True)))]
    info = DatasetInfo(name="cap", shape="one-to-many", task="generation", input_kind="vector",
                       output_vocab=vocab, cond_shape=(3,))
    ds = SequenceDataset(info, ExampleList(examples), ExampleList([]), ExampleList([]))
    gen = ConditionedGenerator.from_dataset(ds, cell="gru", hidden_size=8)
    assert gen.config.vocab_size == len(vocab) and gen.config.cond_shape == (3,)
    assert gen.config.max_length == 30  # the default: targets of 4 tokens
    tune = [Example(x=None, cond=torch.randn(3), y=torch.tensor(vocab.encode(list("abcdef") * 10, eos=True)))]
    long = SequenceDataset(info, ExampleList(tune), ExampleList([]), ExampleList([]))
    assert ConditionedGenerator.from_dataset(long, hidden_size=8).config.max_length == 122  # twice 61
    assert ConditionedGenerator.from_config(gen.config_dict()).config == gen.config
    with pytest.raises(ValueError, match="'cap' is one-to-many .* use ConditionedGenerator"):
        LanguageModel.from_dataset(ds)  # captions follow images: a language model would have no x to read
    text = DatasetInfo(name="text", shape="one-to-many", task="generation", input_kind="tokens", input_vocab=vocab,
                       output_vocab=vocab)
    lm = LanguageModel.from_dataset(SequenceDataset(text, ExampleList([Example(x=torch.tensor([2, 5, 6, 3]))]),
                                                    ExampleList([]), ExampleList([])),
                                    cell="gru", hidden_size=8, embed_dim=8, tie_weights=True)
    assert lm.config.vocab_size == len(vocab)
    assert lm.head.weight is lm.embed.embed.weight  # type: ignore[union-attr]


def test_image_captions_keep_the_order_of_what_is_drawn() -> None:
    """Regression: digit_captions stalled at ~0.3 exact match because the CNN averaged over
    positions, so "A then B" and "B then A" looked the same; ``cond_pool="flatten"`` (the default)
    keeps where each feature is."""
    torch.manual_seed(0)
    a, b = torch.zeros(4, 4), torch.zeros(4, 4)
    a[:, 1], b[1, :] = 1.0, 1.0  # a vertical and a horizontal bar
    words = {0: 4, 1: 5}
    images, captions = [], []
    for left, right in ((0, 1), (1, 0), (0, 0), (1, 1)):
        images.append(torch.cat([(a, b)[left], (a, b)[right]], dim=1).unsqueeze(0))  # (1, 4, 8)
        captions.append([words[left], words[right], EOS])
    model = ConditionedGenerator(vocab_size=8, cond_shape=(1, 4, 8), cell="gru", cond_size=16, embed_dim=8,
                                 hidden_size=16, conv_channels=(8,))
    assert model.config.cond_pool == "flatten"
    batch = collate([Example(x=None, cond=im, y=torch.tensor(c)) for im, c in zip(images, captions)])
    fit(model, batch, lr=0.02, steps=60)
    assert batch.cond is not None
    assert model.eval().generate(batch.cond, max_length=5).sequences() == [[c] for c in captions]


def test_the_cnn_keeps_positions_only_for_its_image_size() -> None:
    from rnnkit.layers.conv_encoder import ConvEncoder

    torch.manual_seed(0)
    keep, mean = ConvEncoder(1, 6, channels=(4,), image_size=(4, 8)).eval(), ConvEncoder(1, 6, channels=(4,)).eval()
    x = torch.zeros(1, 1, 4, 8)
    x[0, 0, 1:3, 1:3] = 1.0
    moved = torch.roll(x, 4, dims=-1)  # the same blob, further right
    assert not torch.allclose(keep(x), keep(moved), atol=1e-4)
    torch.testing.assert_close(mean(x), mean(moved))  # average pooling cannot tell them apart
    with pytest.raises(ValueError, match="keeps positions"):
        keep(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="cond_pool"):
        ConditionedGenerator(vocab_size=8, cond_shape=(1, 4, 8), cond_pool="max")


def test_image_augmentation_is_off_by_default_and_in_eval_mode(tmp_path) -> None:
    """``cond_shift`` / ``cond_scale`` change the images only while training, each image by one of
    the whole-pixel shifts (zeros filling in) times one intensity factor; they (and ``cond_dropout``)
    are saved with the model."""
    from rnnkit.layers.conv_encoder import ConvEncoder
    from rnnkit.models.io import load_model

    torch.manual_seed(0)
    images = torch.rand(16, 1, 8, 32) + 0.5  # no zeros: a shift shows up at the edges
    plain = ConditionedGenerator(vocab_size=8, cond_shape=(1, 8, 32), cell="gru", cond_size=8, hidden_size=8)
    assert plain.config.cond_shift == 0 and plain.config.cond_scale == 0.0
    assert torch.equal(plain.cond_encoder.augment(images), images)  # type: ignore[operator]

    model = ConditionedGenerator(vocab_size=8, cond_shape=(1, 8, 32), cell="gru", cond_size=8, hidden_size=8,
                                 cond_shift=1, cond_scale=0.2, cond_dropout=0.1)
    encoder = model.cond_encoder
    assert isinstance(encoder, ConvEncoder) and (encoder.shift, encoder.scale, encoder.dropout.p) == (1, 0.2, 0.1)
    seen: list[torch.Tensor] = []
    hook = encoder.blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model.eval()
    model.init_state(images)
    assert torch.equal(seen[-1], images)  # eval mode: the images as given
    model.train()
    model.init_state(images)
    hook.remove()
    augmented = seen[-1]
    assert augmented.shape == images.shape and not torch.equal(augmented, images)
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    for b in range(len(images)):
        matches = []
        for dy in range(3):
            for dx in range(3):
                crop = padded[b, :, dy:dy + 8, dx:dx + 32]
                factor = augmented[b].sum() / crop.sum()
                if torch.allclose(augmented[b], crop * factor, atol=1e-5):
                    matches.append(float(factor))
        assert len(matches) == 1 and 0.8 - 1e-5 <= matches[0] <= 1.2 + 1e-5
    shifted = ConvEncoder(1, 4, shift=1).augment(images)
    assert any(not torch.equal(shifted[b], images[b]) for b in range(len(images)))

    model.save(tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, ConditionedGenerator) and loaded.config == model.config
    assert (loaded.cond_encoder.shift, loaded.cond_encoder.scale) == (1, 0.2)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="apply to image conditions"):
        ConditionedGenerator(vocab_size=8, cond_shape=(5,), cond_shift=1)
    with pytest.raises(ValueError, match="shift"):
        ConvEncoder(1, 4, shift=-1)


def test_generation_reads_the_condition_in_evaluation_mode() -> None:
    """A training-mode generator still decodes what eval mode decodes: the condition's augmentation
    and dropout stay off for the whole of ``generate``, and the mode is restored."""
    torch.manual_seed(0)
    images = torch.rand(4, 1, 8, 32) + 0.5
    model = ConditionedGenerator(vocab_size=8, cond_shape=(1, 8, 32), cell="gru", cond_size=8, hidden_size=8,
                                 cond_shift=1, cond_scale=0.2, cond_dropout=0.5, max_length=6)
    model.eval()
    reference = model.generate(images)
    model.train()
    for _ in range(3):
        out = model.generate(images)
        assert torch.equal(out.tokens, reference.tokens) and torch.allclose(out.scores, reference.scores)
    assert model.training


@pytest.mark.parametrize("lengths", [[3, 2], (3, 2), __import__("numpy").array([3, 2])])
def test_prompt_lengths_may_be_a_list_or_an_array_as_recurrent_takes_them(lengths) -> None:
    """``Recurrent.forward`` takes a list of ints for lengths; ``generate``'s ``prompt_lengths`` did not
    (``TypeError: unsupported operand type(s) for -: 'list' and 'int'``)."""
    torch.manual_seed(0)
    model = LanguageModel(vocab_size=12, cell="gru", embed_dim=6, hidden_size=8).eval()
    prompt = torch.tensor([[4, 9, 5], [7, 11, 0]])
    want = model.generate(prompt, prompt_lengths=torch.tensor([3, 2]), max_length=3)
    got = model.generate(prompt, prompt_lengths=lengths, max_length=3)
    assert torch.equal(got.tokens, want.tokens) and torch.equal(got.lengths, want.lengths)
    torch.testing.assert_close(got.scores, want.scores)


def test_prompt_lengths_that_are_no_integer_lengths_are_refused_clearly() -> None:
    model = LanguageModel(vocab_size=12, cell="gru", embed_dim=6, hidden_size=8).eval()
    prompt = torch.tensor([[4, 9, 5], [7, 11, 0]])
    with pytest.raises(ValueError, match=r"prompt_lengths must be whole numbers of tokens, one per prompt, "
                                         r"got \[3.0, 2.5\]"):
        model.generate(prompt, prompt_lengths=[3.0, 2.5], max_length=3)
    with pytest.raises(ValueError, match=r"prompt_lengths must be a tensor, list or array .* got a str"):
        model.generate(prompt, prompt_lengths="32", max_length=3)
    with pytest.raises(ValueError, match=r"lengths must be a \(batch,\) = \(2,\) tensor"):
        model.generate(prompt, prompt_lengths=[3], max_length=3)
    with pytest.raises(ValueError, match=r"lengths must be between 1 and T=3"):
        model.generate(prompt, prompt_lengths=[4, 2], max_length=3)
