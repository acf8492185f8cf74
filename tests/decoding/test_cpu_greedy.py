"""Greedy decoding in one C++ call (decoding/cpu_greedy.py) returns what the eager loop returns."""

import pytest
import torch

from rnnkit.decoding import greedy
from rnnkit.decoding.cpu_greedy import cpu_greedy
from rnnkit.decoding.greedy import decode_one_path
from rnnkit.models import ConditionedGenerator, LanguageModel
from rnnkit.models.one_to_many import DecoderState
from rnnkit.ops import cpu_stream

pytestmark = pytest.mark.skipif(cpu_stream.load_library() is None, reason="no C++ compiler here")


@pytest.fixture(autouse=True)
def every_thread(monkeypatch):
    """Even these small models share their blocks among torch's threads (the pool is exercised)."""
    monkeypatch.setattr(cpu_stream, "BYTES_PER_THREAD", 1)


def eager(model, state, *, bos, eos, max_length):
    return decode_one_path(model, state, lambda lp: lp.argmax(-1), bos=bos, eos=eos, max_length=max_length)


def assert_same(got, want, atol=1e-4):
    assert got is not None
    assert torch.equal(got.tokens, want.tokens)
    assert torch.equal(got.lengths, want.lengths)
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-5, atol=atol)


def lm_and_state(dtype=torch.float32, V=40, H=48, L=2, B=4, seed=0):
    torch.manual_seed(seed)
    lm = LanguageModel(vocab_size=V, embed_dim=16, hidden_size=H, num_layers=L).to(dtype).eval()
    state = DecoderState((torch.randn(L, B, H, dtype=dtype), torch.randn(L, B, H, dtype=dtype)))
    return lm, state


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("H, L", [(48, 2), (256, 1), (17, 3)])
def test_equals_the_eager_loop_with_rows_ending_at_different_steps(dtype, H, L):
    lm, state = lm_and_state(dtype, H=H, L=L)
    with torch.no_grad():
        free = eager(lm, state, bos=1, eos=39, max_length=30)
        # an eos that some rows produce early and others later or never: row 0's 4th token
        eos = int(free.tokens[0, 0, 3])
        want = eager(lm, state, bos=1, eos=eos, max_length=30)
        got = cpu_greedy(lm, state, bos=1, eos=eos, max_length=30)
    assert (want.lengths < 30).any()
    assert_same(got, want)


def test_greedy_takes_the_c_path_and_eager_decoding_still_agrees(monkeypatch):
    lm, state = lm_and_state()
    calls = []
    real = cpu_stream.GreedyLSTM.run

    def spy(self, *a, **kw):
        calls.append(1)
        return real(self, *a, **kw)

    monkeypatch.setattr(cpu_stream.GreedyLSTM, "run", spy)
    got = greedy(lm, state, bos=1, eos=2, max_length=12)
    assert calls
    assert_same(got, eager(lm, state, bos=1, eos=2, max_length=12))


@pytest.mark.parametrize("max_length", [1, 2, 25])
def test_a_prompts_pending_log_probs_give_the_first_token(max_length):
    lm, _ = lm_and_state()
    prompts = torch.randint(3, 40, (3, 5))
    with torch.no_grad():
        state = lm.prompt_state(prompts)
        free = eager(lm, state, bos=1, eos=39, max_length=max_length)
        for eos in {int(free.tokens[0, 0, 0]), int(free.tokens[1, 0, -1]), 39}:  # ends at once, later, never
            assert_same(cpu_greedy(lm, state, bos=1, eos=eos, max_length=max_length),
                        eager(lm, state, bos=1, eos=eos, max_length=max_length))
    out = lm.generate(prompts[0], max_length=10)
    assert out.tokens.shape[:2] == (1, 1)


def test_a_context_fed_at_every_step():
    torch.manual_seed(4)
    gen = ConditionedGenerator(vocab_size=30, cond_shape=(6,), conditioning="both", hidden_size=40,
                               num_layers=2).eval()
    cond = torch.randn(3, 6)
    with torch.no_grad():
        state = gen.init_state(cond)
        assert state.context is not None
        free = eager(gen, state, bos=1, eos=29, max_length=20)
        eos = int(free.tokens[1, 0, 2])
        assert_same(cpu_greedy(gen, state, bos=1, eos=eos, max_length=20),
                    eager(gen, state, bos=1, eos=eos, max_length=20))


@torch.no_grad()
def test_steps_aside_where_it_would_differ():
    lm, state = lm_and_state()
    assert lm.cpu_greedy_plan(state) is not None
    with torch.enable_grad():
        assert lm.cpu_greedy_plan(state) is None  # it records no autograd graph
    big = DecoderState(tuple(t.repeat(1, 3, 1) for t in state.rnn))  # 12 rows > MAX_BATCH
    assert lm.cpu_greedy_plan(big) is None
    dropped = LanguageModel(vocab_size=40, embed_dim=16, hidden_size=48, num_layers=2, dropout=0.3)
    assert dropped.train().cpu_greedy_plan(state) is None  # training-mode dropout draws masks
    assert dropped.eval().cpu_greedy_plan(state) is not None
    gru = LanguageModel(vocab_size=40, cell="gru", embed_dim=16, hidden_size=48)
    assert gru.cpu_greedy_plan(DecoderState(torch.zeros(1, 2, 48))) is None
    half = DecoderState(tuple(t.half() for t in state.rnn))
    assert lm.cpu_greedy_plan(half) is None


def test_weight_changes_are_seen():
    lm, state = lm_and_state()
    with torch.no_grad():
        before = cpu_greedy(lm, state, bos=1, eos=2, max_length=15)
        lm.head.bias[5] += 50.0  # token 5 now always wins
        after = cpu_greedy(lm, state, bos=1, eos=2, max_length=15)
    assert before is not None and after is not None
    assert (after.tokens == 5).all() and not (before.tokens == 5).all()


def test_parameters_replaced_by_assign_are_seen():
    lm, state = lm_and_state()
    other, _ = lm_and_state(seed=1)
    with torch.no_grad():
        cpu_greedy(lm, state, bos=1, eos=2, max_length=15)  # packs lm's weights
        lm.load_state_dict(other.state_dict(), assign=True)  # new Parameter objects
        got = cpu_greedy(lm, state, bos=1, eos=2, max_length=15)
        want = eager(other, state, bos=1, eos=2, max_length=15)
    assert_same(got, want)


def bf16(t):
    """A weight or an input as ``precision="bfloat16"`` multiplies it, in float64."""
    return t.detach().bfloat16().double()


def int8_input(v):
    """A step's input rows as ``precision="int8"`` multiplies them (codes times the row's scale)."""
    q, t = cpu_stream.quantize_activations(v.float())
    return q.double() * t.double()


def int8_weight(w):
    """A weight ``(rows, K)`` as ``precision="int8"`` stores it (per row, ``quantize_rows``)."""
    q, scale, _ = cpu_stream.quantize_rows(w.detach().t()[None])  # (1, K, rows)
    K = w.shape[1]
    return (q[0].transpose(1, 2).reshape(-1, w.shape[0])[:K].double() * scale[0].double()).t()


REDUCED = {"bfloat16": (bf16, bf16), "int8": (int8_weight, int8_input)}


def reduced_reference(lm, state, precision, *, bos, eos, max_length):
    """Greedy decoding with what ``precision`` promises, in float64: LSTM weights, head weights and their
    inputs (x and h each on its own) rounded or quantized; the token table (embedding through W_ih,
    biases) exact."""
    wq, xq = REDUCED[precision]
    cells, head = lm.rnn.cell_list, lm.head
    h = [t.double() for t in state.rnn[0]]
    c = [t.double() for t in state.rnn[1]]
    B = h[0].shape[0]
    tok = torch.full((B,), bos)
    done = torch.zeros(B, dtype=torch.bool)
    tokens, scores = [], torch.zeros(B, dtype=torch.float64)
    for _ in range(max_length):
        x = None
        for l, cell in enumerate(cells):
            b = (cell.bias_ih + cell.bias_hh).detach().double()
            if l == 0:
                g = lm.embed.embed(tok).detach().double() @ cell.weight_ih.detach().double().t() + b
            else:
                g = xq(x) @ wq(cell.weight_ih).t() + b
            g = g + xq(h[l]) @ wq(cell.weight_hh).t()
            i, f, gg, o = g.chunk(4, 1)
            c_new = torch.sigmoid(f) * c[l] + torch.sigmoid(i) * torch.tanh(gg)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            keep = done[:, None]
            h[l], c[l] = torch.where(keep, h[l], h_new), torch.where(keep, c[l], c_new)
            x = h[l]
        logits = xq(x) @ wq(head.weight).t() + head.bias.detach().double()
        lp = logits.log_softmax(-1)
        nxt = lp.argmax(-1)
        scores += torch.where(done, 0.0, lp.gather(1, nxt[:, None])[:, 0])
        tokens.append(torch.where(done, 0, nxt))
        done = done | (nxt == eos)
        tok = torch.where(done, eos, nxt)
        if done.all():
            break
    return torch.stack(tokens, 1), scores


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
@pytest.mark.parametrize("H, L", [(48, 2), (256, 1), (17, 3)])
def test_reduced_precision_greedy_decodes_with_rounded_weights(precision, H, L):
    lm, state = lm_and_state(H=H, L=L)
    with torch.no_grad():
        free = eager(lm, state, bos=1, eos=39, max_length=30)
        eos = int(free.tokens[0, 0, 3])  # rows end at different steps
        got = greedy(lm, state, bos=1, eos=eos, max_length=30, precision=precision)
        want_tokens, want_scores = reduced_reference(lm, state, precision, bos=1, eos=eos, max_length=30)
        full = greedy(lm, state, bos=1, eos=eos, max_length=30)
    assert torch.equal(got.tokens[:, 0], want_tokens)
    torch.testing.assert_close(got.scores[:, 0].double(), want_scores, rtol=1e-4, atol=1e-4)
    assert (got.scores - full.scores).abs().max() < 0.05  # near float32, not equal to it
    assert (got.scores != full.scores).any()


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_reduced_precision_greedy_with_a_context_stays_near_float32(precision):
    torch.manual_seed(4)
    gen = ConditionedGenerator(vocab_size=30, cond_shape=(6,), conditioning="both", hidden_size=40,
                               num_layers=2).eval()
    with torch.no_grad():
        state = gen.init_state(torch.randn(3, 6))
        low = greedy(gen, state, bos=1, eos=29, max_length=12, precision=precision)
        full = greedy(gen, state, bos=1, eos=29, max_length=12)
    agree = (low.tokens == full.tokens).float().mean().item()
    assert agree >= 0.9 and (low.scores - full.scores).abs().max() < 0.05  # a wrong context: 0.83, 0.41


def test_bfloat16_greedy_refuses_where_the_c_loop_cannot_run():
    lm, state = lm_and_state()
    with torch.no_grad():
        with pytest.raises(ValueError, match="precision must be one of"):
            greedy(lm, state, bos=1, eos=2, max_length=5, precision="half")
        with pytest.raises(ValueError, match="takes a float32 model"):
            greedy(lm.double(), DecoderState(tuple(t.double() for t in state.rnn)), bos=1, eos=2, max_length=5,
                   precision="bfloat16")
        lm.float()
        big = DecoderState(tuple(t.repeat(1, 3, 1) for t in state.rnn))  # batch 12 > MAX_BATCH
        with pytest.raises(ValueError, match="needs the C\\+\\+ greedy loop"):
            greedy(lm, big, bos=1, eos=2, max_length=5, precision="bfloat16")


def test_writes_through_data_are_seen():
    """``p.data`` writes leave the version counters alone; the packed decoder sees them (its
    sampled elements) and decodes with the new weights."""
    lm, state = lm_and_state(seed=3)
    with torch.no_grad():
        cpu_greedy(lm, state, bos=1, eos=39, max_length=20)  # packs the weights
        for p in lm.parameters():
            p.data.copy_(torch.randn_like(p) * 0.3)
        assert_same(cpu_greedy(lm, state, bos=1, eos=39, max_length=20), eager(lm, state, bos=1, eos=39, max_length=20))


def test_a_model_built_under_inference_mode_decodes():
    """Inference tensors have no version counter: reading it raised before the C++ decode began."""
    with torch.inference_mode():
        lm, state = lm_and_state(seed=4)
        assert_same(cpu_greedy(lm, state, bos=1, eos=39, max_length=15), eager(lm, state, bos=1, eos=39, max_length=15))
