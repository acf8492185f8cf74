"""Sparse gradients for hashed n-gram tables: LazyAdam updates only the rows a step touched and
otherwise makes torch's updates, clipping counts sparse gradients right, the optimizer state
round-trips, and ``Trainer(sparse_tables=True)`` switches the tables to sparse for a fit (and back), resumably."""

from __future__ import annotations

import copy

import pytest
import torch
from tinyrun import InterruptAt
from torch import nn

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.models import SequenceClassifier
from rnnkit.train import Callback, Trainer
from rnnkit.train.optim import LazyAdam, build_optimizer, clip_grad_norm, sparse_tables


def _net(seed: int, *, sparse: bool) -> nn.ModuleDict:
    torch.manual_seed(seed)
    return nn.ModuleDict({"table": nn.Embedding(50, 4, sparse=sparse), "head": nn.Linear(4, 3)})


def _loss(net: nn.ModuleDict, ids: torch.Tensor) -> torch.Tensor:
    return net["head"](net["table"](ids).mean(1)).pow(2).mean()


BATCHES = [torch.tensor([[1, 2, 2], [3, 1, 4]]), torch.tensor([[5, 1, 2], [2, 2, 2]]), torch.tensor([[4, 4, 6]])]


def test_lazy_adam_moves_only_the_rows_looked_up_and_matches_torch() -> None:
    net, ref = _net(0, sparse=True), _net(0, sparse=True)
    opt = build_optimizer(net, name="adamw", lr=0.05, weight_decay=0.1)
    assert isinstance(opt, LazyAdam)
    ref_opts = [torch.optim.AdamW([ref["head"].weight], lr=0.05, weight_decay=0.1),
                torch.optim.AdamW([ref["head"].bias], lr=0.05, weight_decay=0.0),
                torch.optim.SparseAdam([ref["table"].weight], lr=0.05)]
    start = net["table"].weight.detach().clone()
    for ids in BATCHES * 2:
        _loss(net, ids).backward()
        assert net["table"].weight.grad is not None and net["table"].weight.grad.is_sparse
        opt.step()
        opt.zero_grad()
        _loss(ref, ids).backward()
        for o in ref_opts:
            o.step()
            o.zero_grad()
    for (name, a), b in zip(net.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
    touched = sorted({int(i) for ids in BATCHES for i in ids.flatten()})
    untouched = [i for i in range(50) if i not in touched]
    assert torch.equal(net["table"].weight[untouched], start[untouched])  # neither moved nor decayed
    assert not torch.allclose(net["table"].weight[touched], start[touched])


def test_clip_grad_norm_counts_a_sparse_gradient_like_its_dense_twin() -> None:
    sparse, dense = _net(1, sparse=True), _net(1, sparse=False)
    ids = torch.tensor([[1, 1, 1], [1, 2, 3]])  # repeated rows: the sparse gradient is uncoalesced
    for net in (sparse, dense):
        (_loss(net, ids) * 100).backward()
    norm = clip_grad_norm(sparse.parameters(), 0.5)
    ref = torch.nn.utils.clip_grad_norm_(dense.parameters(), 0.5)
    torch.testing.assert_close(norm, ref)
    assert norm > 0.5  # it did clip
    for a, b in zip(sparse.parameters(), dense.parameters()):
        assert a.grad is not None and b.grad is not None
        torch.testing.assert_close(a.grad.to_dense(), b.grad)


def test_lazy_adam_state_round_trips_and_goes_on_identically() -> None:
    net = _net(2, sparse=True)
    opt = build_optimizer(net, name="adam", lr=0.05, weight_decay=0.0)
    for ids in BATCHES:
        _loss(net, ids).backward()
        opt.step()
        opt.zero_grad()
    saved_weights = {k: v.clone() for k, v in net.state_dict().items()}
    saved = opt.state_dict()
    assert sorted(saved["state"]) == [0, 1, 2]
    assert [p for g in saved["param_groups"] for p in g["params"]] == [0, 1, 2]

    twin = _net(3, sparse=True)
    twin.load_state_dict(saved_weights)
    twin_opt = build_optimizer(twin, name="adam", lr=0.05, weight_decay=0.0)
    twin_opt.load_state_dict(copy.deepcopy(saved))  # as a checkpoint file would give it back
    twin_opt.param_groups[0]["lr"] = 0.01  # the groups stay shared with the parts after loading
    opt.param_groups[0]["lr"] = 0.01
    for ids in BATCHES:
        for n, o in ((net, opt), (twin, twin_opt)):
            _loss(n, ids).backward()
            o.step()
            o.zero_grad()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    with pytest.raises(ValueError, match="2 parameter groups, this optimizer 3"):
        twin_opt.load_state_dict({"state": {}, "param_groups": saved["param_groups"][:2]})


def test_sgd_refuses_a_table_with_sparse_gradients() -> None:
    with pytest.raises(ValueError, match="cannot update embedding tables with sparse=True"):
        build_optimizer(_net(0, sparse=True), name="sgd", lr=0.1, weight_decay=0.0)


def _bigram_task(n: int, seed: int = 0) -> SequenceDataset:
    """Token sequences over 1..8; the class says whether the bigram (3, 4) occurs."""
    g = torch.Generator().manual_seed(seed)
    examples = []
    for i in range(n):
        x = torch.randint(1, 9, (int(torch.randint(5, 12, (1,), generator=g)),), generator=g)
        if i % 2:
            at = int(torch.randint(0, len(x) - 1, (1,), generator=g))
            x[at], x[at + 1] = 3, 4
        label = any(int(a) == 3 and int(b) == 4 for a, b in zip(x[:-1], x[1:]))
        examples.append(Example(x=x, y=torch.tensor(int(label))))
    from rnnkit.data.vocab import Vocab

    info = DatasetInfo(name="bigrams", shape="many-to-one", task="classification", input_kind="tokens",
                       input_vocab=Vocab([str(i) for i in range(1, 9)]), classes=["no", "yes"], metric="accuracy")
    k = n * 3 // 4
    return SequenceDataset(info, ExampleList(examples[:k]), ExampleList(examples[k:]), ExampleList([]))


def _hashed_model(data: SequenceDataset, seed: int = 0) -> SequenceClassifier:
    torch.manual_seed(seed)
    return SequenceClassifier.from_dataset(data, cell="gru", embed_dim=8, hidden_size=8, pooling="max",
                                           dropout=0.1, bigram_buckets=64, bigram_dim=4, ngram_buckets=128,
                                           ngram_dim=8, ngram_max=2)


class SeesSparseGradients(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[bool, bool, bool]] = []

    def on_batch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
        model = state.model
        grad = model.ngrams.table.weight.grad
        self.seen.append((model.ngrams.table.sparse, model.bigrams.table.sparse, grad is not None and grad.is_sparse))


def test_the_trainer_trains_hashed_tables_sparse_then_hands_them_back_dense() -> None:
    data = _bigram_task(160)
    model = _hashed_model(data)
    seen = SeesSparseGradients()
    history = Trainer(epochs=25, batch_size=16, lr=0.02, progress=False, sparse_tables=True,
                      callbacks=[seen]).fit(model, data)
    assert seen.seen and all(s == (True, True, True) for s in seen.seen)
    assert not model.ngrams.table.sparse and not model.bigrams.table.sparse
    assert history.rows[-1]["valid_accuracy"] >= 0.9, history.rows[-1]  # chance is 0.5: it learned the bigram
    # after fit a user's own optimizer takes the (dense again) tables
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = data.collate(data.train.examples[:4])
    model(batch).loss.backward()  # type: ignore[union-attr]
    opt.step()

    dense_seen = SeesSparseGradients()  # off by default: dense Adam's update, as before
    Trainer(epochs=1, batch_size=16, progress=False, callbacks=[dense_seen]).fit(_hashed_model(data), data)
    assert dense_seen.seen and all(s == (False, False, False) for s in dense_seen.seen)
    with pytest.raises(ValueError, match="sparse_tables updates table rows with .lazy. Adam: it needs optimizer"):
        Trainer(optimizer="sgd", sparse_tables=True)


def test_an_ensemble_trains_every_members_tables_sparse_and_leaves_unseen_rows_alone() -> None:
    from rnnkit.models import Ensemble

    data = _bigram_task(96)
    torch.manual_seed(0)
    model = Ensemble.from_dataset(data, size=2, model="SequenceClassifier", cell="gru", embed_dim=8, hidden_size=8,
                                  pooling="max", bigram_buckets=4096, bigram_dim=4, ngram_buckets=4096, ngram_dim=8,
                                  ngram_max=2)
    tables = [t for m in model.members for t in (m.bigrams.table, m.ngrams.table)]
    before = [t.weight.detach().clone() for t in tables]
    looked_up: list[set[int]] = [set() for _ in tables]
    for rows, table in zip(looked_up, tables):  # every row index each table reads during the fit
        table.register_forward_pre_hook(lambda _m, args, rows=rows: rows.update(args[0].flatten().tolist()))

    class SeesMembers(Callback):
        def __init__(self) -> None:
            self.seen: list[bool] = []

        def on_batch_end(self, trainer, state) -> None:  # type: ignore[no-untyped-def]
            self.seen.append(all(t.weight.grad is not None and t.weight.grad.is_sparse for t in tables))

    seen = SeesMembers()
    Trainer(epochs=2, batch_size=16, lr=0.02, progress=False, sparse_tables=True, callbacks=[seen]).fit(model, data)
    assert seen.seen and all(seen.seen)
    for table, start, rows in zip(tables, before, looked_up):
        assert not table.sparse  # dense again after the fit
        moved = set((table.weight.detach() != start).any(dim=1).nonzero().flatten().tolist())
        # lazy Adam moves the rows a batch looked up and leaves every other row exactly as it was
        assert moved and moved <= rows and len(rows) < table.num_embeddings // 4, (len(moved), len(rows))
    assert not model.members[0].bigrams.table.weight.equal(model.members[1].bigrams.table.weight)


def test_sparse_tables_leaves_a_table_the_user_made_sparse_as_it_was() -> None:
    model = _hashed_model(_bigram_task(8))
    model.ngrams.table.sparse = True
    with sparse_tables(model) as switched:
        assert switched == [model.bigrams.table]
    assert model.ngrams.table.sparse and not model.bigrams.table.sparse
    with sparse_tables(model, enabled=False) as switched:
        assert switched == [] and not model.bigrams.table.sparse



def test_resume_with_sparse_tables_equals_the_uninterrupted_run(tmp_path) -> None:
    data = _bigram_task(96)
    settings = {"epochs": 2, "batch_size": 16, "lr": 0.02, "progress": False, "checkpoint_every": 2, "seed": 3,
                "sparse_tables": True, "report": False}
    full_model = _hashed_model(data)
    full = Trainer(run_dir=str(tmp_path / "full"), **settings).fit(full_model, data)
    cut = str(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir=cut, callbacks=[InterruptAt(7)], **settings).fit(_hashed_model(data), data)
    resumed_model = _hashed_model(data, seed=5)
    resumed = Trainer(run_dir=cut, resume=True, **settings).fit(resumed_model, data)
    for a, b in zip(full.rows, resumed.rows):
        for key in a:
            if key != "seconds":
                assert b[key] == pytest.approx(a[key], abs=1e-6), key
    for k, v in full_model.state_dict().items():
        torch.testing.assert_close(resumed_model.state_dict()[k], v, atol=1e-6, rtol=0)


def test_a_model_that_is_only_a_sparse_table_gets_lazy_adam_alone() -> None:
    torch.manual_seed(0)
    bag = nn.EmbeddingBag(100, 4, sparse=True)
    start = bag.weight.detach().clone()
    opt = build_optimizer(bag, name="adamw", lr=0.1, weight_decay=0.1)
    assert isinstance(opt, LazyAdam) and len(opt.param_groups) == 1
    bag(torch.tensor([[1, 2]])).sum().backward()
    opt.step()
    moved = (bag.weight != start).any(1).nonzero().flatten().tolist()
    assert moved == [1, 2]


def test_table_lr_scale_scales_only_the_sparse_tables_and_the_schedule_keeps_the_ratio() -> None:
    from rnnkit.train.optim import build_scheduler

    net = _net(4, sparse=True)
    opt = build_optimizer(net, name="adamw", lr=0.01, weight_decay=0.0, table_lr_scale=10.0)
    sched = build_scheduler(opt, schedule="cosine", warmup_steps=0, total_steps=4, higher_is_better=True)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.01, 0.1])
    for ids in BATCHES:
        _loss(net, ids).backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    dense_lr, _, table_lr = (g["lr"] for g in opt.param_groups)
    assert 0 < dense_lr < 0.01 and table_lr == pytest.approx(10 * dense_lr)
    with pytest.raises(ValueError, match="set sparse_tables: true too"):
        Trainer(table_lr_scale=10.0)
    with pytest.raises(ValueError, match="table_lr_scale must be > 0"):
        Trainer(table_lr_scale=-1.0, sparse_tables=True)
