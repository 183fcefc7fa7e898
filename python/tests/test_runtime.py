"""How computations run: the GIL is released, the thread count is honoured,
Ctrl-C and the progress callback stop them; and the remaining entry points
(plan, verify, singular_values, over_inputs)."""

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import effective_state_size as ess
import oracles

RNG = np.random.default_rng(2024)


def test_gil_is_released_during_a_large_computation():
    t = oracles.random_causal(RNG, (3, 256, 256))
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        time.sleep(0.05)
        before = counter[0]
        start = time.perf_counter()
        ess.entropy(t, threads=1)
        elapsed = time.perf_counter() - start
        during = counter[0] - before
    finally:
        stop.set()
        worker.join()
    # Holding the GIL would freeze the spinning thread for the whole call.
    assert elapsed > 0.05, "the computation should be large enough to measure"
    assert during > 10_000, f"the Python thread advanced {during} times in {elapsed:.2f} s"


def test_thread_count_is_honoured():
    t = oracles.random_causal(RNG, (2, 200, 200))
    wall, cpu = time.perf_counter(), time.process_time()
    one = ess.entropy(t, threads=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # One worker thread (the calling thread sleeps): CPU time ≈ wall time.
    assert cpu < 1.5 * wall + 0.05, f"cpu {cpu:.2f} s for {wall:.2f} s of wall time with threads=1"
    for n in (2, 3):
        np.testing.assert_array_equal(ess.entropy(t, threads=n).values, one.values)
    np.testing.assert_array_equal(ess.entropy(t).values, one.values)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT by os.kill is POSIX")
def test_ctrl_c_stops_a_computation():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are handled on the main thread")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler here")
    t = oracles.random_causal(RNG, (8, 512, 512))  # about 20 s of work
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ess.entropy(t)
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"stopped after {elapsed:.1f} s"
    # Nothing is left in a bad state.
    assert ess.entropy(t[0, :16, :16]).values.shape == (1, 15)


def test_progress_callback():
    t = oracles.random_causal(RNG, (2, 3, 40, 40))
    seen = []
    ess.entropy(t, progress=lambda done, total: seen.append((done, total)))
    assert seen, "the callback is called"
    total = 2 * 3 * 39
    assert seen[-1] == (total, total)
    assert all(tot == total for _, tot in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_progress_callback_cancels():
    t = oracles.random_causal(RNG, (4, 300, 300))
    with pytest.raises(ess.EssError) as err:
        ess.entropy(t, progress=lambda done, total: False)
    assert err.value.kind == "Cancelled"
    assert "cancelled" in str(err.value)

    class Stop(Exception):
        pass

    def boom(done, total):
        raise Stop("from the callback")

    with pytest.raises(Stop):
        ess.entropy(t, progress=boom)


def test_plan():
    t = oracles.random_causal(RNG, (2, 10, 10))
    p = ess.plan(t, indices="stride:3")
    assert p.method == "dense" and list(p.indices) == [3, 6, 9]
    # One T, and per chain of nested factors its largest block (i = 6: 4 × 6) and
    # three square factors of the largest order r = min(rows, cols) = 4 (the
    # QR's, the visible copy and the held first of a pair), plus r.
    assert p.bytes == 10 * 10 * 8 + (4 * 6 + 3 * 4 * 4 + 4) * 8
    assert p.budget == ess.DEFAULT_MEMORY_BUDGET and "realization" in p.reason
    op = ess.lti_state_space(np.full((1, 2), 0.5), np.ones((1, 2)), np.ones((1, 2)), 10**6)
    p = ess.plan(op, indices="middle", memory_budget=1 << 20)
    assert (p.method, list(p.indices), p.budget) == ("structured", [500_000], 1 << 20)
    assert "Plan(" in repr(p)


def test_verify():
    q = RNG.standard_normal((2, 10, 3, 4))  # (B, L, H, d)
    v = ess.verify(ess.linear_attention(q, q))
    assert v.channels == 6 and v.apply_error < 1e-12 and v.realization_error < 1e-12
    assert v.threshold == pytest.approx(np.sqrt(np.finfo(np.float64).eps))
    v = ess.verify(oracles.random_causal(RNG, (2, 8, 8)))
    assert v.channels == 2 and v.realization_error is None
    f32 = ess.verify(ess.softmax_attention(q.astype(np.float32), q.astype(np.float32)))
    assert f32.threshold == pytest.approx(np.sqrt(np.finfo(np.float32).eps))


def test_singular_values():
    t = oracles.random_causal(RNG, (2, 2, 9, 9))
    for b in range(2):
        for c in range(2):
            got = ess.singular_values(t, 4, channel=c, batch=b)
            np.testing.assert_allclose(got, np.linalg.svd(t[b, c, 4:, :4], compute_uv=False), rtol=1e-12)
    # The structured path gives the N values that can be nonzero.
    h = RNG.standard_normal((1, 4))
    op = ess.fir_convolution(h, 20)
    dense = ess.singular_values(op, 10, method="dense")
    fast = ess.singular_values(op, 10, method="structured")
    assert len(fast) == 3
    np.testing.assert_allclose(fast, dense[:3], rtol=1e-10)
    assert np.all(dense[3:] < 1e-12 * dense[0])


def test_over_inputs():
    L, d = 12, 4
    wq, wk = RNG.standard_normal((d, d)), RNG.standard_normal((d, d))
    inputs = [RNG.standard_normal((L, d)) for _ in range(4)]

    def layer(x):
        return ess.softmax_attention(x @ wq, x @ wk)  # one head, (L, d)

    b = ess.over_inputs(layer, inputs)
    per_input = np.stack([ess.entropy(layer(x)).values for x in inputs])
    assert b.inputs == 4 and b.measure == "entropy" and b.tolerance is None
    assert list(b.indices) == list(range(1, L))
    np.testing.assert_allclose(b.mean, per_input.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(b.std, per_input.std(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(b.min, per_input.min(axis=0))
    np.testing.assert_array_equal(b.max, per_input.max(axis=0))
    d_ = b.to_dict()
    assert d_["inputs"] == 4 and d_["mean"] == b.mean.tolist()
    # A featurizer may return dense arrays, and any measure.
    tol = ess.over_inputs(lambda x: oracles.softmax_attention((x @ wq)[None], (x @ wk)[None]), inputs, ess.Tolerance(rank=True))
    assert tol.measure == "tolerance" and tol.to_dict()["tolerance"] == {"mode": "numerical_rank", "value": None}
    assert tol.mean.shape == (1, L - 1)


def test_over_inputs_errors():
    x = [RNG.standard_normal((6, 2)) for _ in range(2)]
    with pytest.raises(ess.EssError) as err:
        ess.over_inputs(lambda u: np.tril(np.ones((3, 3))), [])
    assert err.value.kind == "Empty"

    class Boom(Exception):
        pass

    def failing(u):
        raise Boom("featurizer")

    with pytest.raises(Boom):
        ess.over_inputs(failing, x)
    sizes = iter([6, 7])
    with pytest.raises(ess.EssError, match="input 1"):
        ess.over_inputs(lambda u: np.tril(np.ones((n := next(sizes), n))), x)
    dtypes = iter([np.float32, np.float64])
    with pytest.raises(ess.EssError, match="one dtype"):
        ess.over_inputs(lambda u: np.tril(np.ones((6, 6))).astype(next(dtypes)), x)
    with pytest.raises(ess.EssError, match="batch shape"):
        ess.over_inputs(lambda u: np.tril(np.ones((2, 1, 6, 6))), x)
    with pytest.raises(ess.EssError, match="input 0"):
        ess.over_inputs(lambda u: "nonsense", x)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    q = torch.randn(2, 3, 10, 4, requires_grad=True)
    k = torch.randn(2, 3, 10, 4)
    op = ess.softmax_attention(q, k, head_first=True)
    assert op.dtype == "float32" and op.batch_shape == (2,) and op.channels == 3
    ref = ess.softmax_attention(q.detach().numpy(), k.numpy(), head_first=True)
    np.testing.assert_array_equal(ess.entropy(op).values, ess.entropy(ref).values)
    probs = torch.softmax(q @ k.transpose(-1, -2) + torch.triu(torch.full((10, 10), float("-inf")), 1), -1)
    np.testing.assert_allclose(ess.entropy(probs).values, ess.entropy(op).values, rtol=1e-3, atol=1e-3)
    with pytest.raises(ess.EssError, match="float"):
        ess.entropy(probs.to(torch.bfloat16))
