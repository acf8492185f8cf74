"""``bench.timing.timed_rounds``: every contender once per round, the order rotating."""

from rnnkit.bench import timing


def test_rounds_rotate_the_order_and_average_the_inner_calls(monkeypatch):
    clock = iter(range(1000))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(clock)))
    calls: list[str] = []
    syncs: list[int] = []
    fns = {k: (lambda k=k: calls.append(k)) for k in "abc"}
    times = timing.timed_rounds(fns, 3, warmup=1, inner=2, sync=lambda: syncs.append(1))
    rounds = calls[3:]
    assert calls[:3] == ["a", "b", "c"]  # one warm-up call each
    assert rounds == ["a", "a", "b", "b", "c", "c", "b", "b", "c", "c", "a", "a", "c", "c", "a", "a", "b", "b"]
    assert times == {k: [0.5, 0.5, 0.5] for k in "abc"}  # one clock tick over two inner calls
    assert len(syncs) == 1 + 9  # after the warm-up, and before each clock read that ends a timing
