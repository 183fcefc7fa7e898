"""The analyses of issues #10 and #11: boundary-normalised ESS, marker
modulation, tolerance sweeps, gradients and reduction, each against a NumPy
oracle written here (SVD of H_i = T[i*p:, :i*m], hand-computed deltas and means,
finite differences, the recurrence of the reduced model run in NumPy)."""

import numpy as np
import pytest

import effective_state_size as ess
import oracles


def causal(rng, *shape, decay=0.3):
    """Random causal matrices (lower-triangular, decaying off the diagonal)."""
    L = shape[-1]
    t = rng.standard_normal(shape)
    r, c = np.indices((L, L))
    return np.where(r >= c, t * np.exp(-decay * (r - c)), 0.0)


def lti_matrix(a, b, c, L):
    """T of the diagonal recurrence x_t = a x_{t-1} + b u_t, y_t = c x_t (the
    library's convention: T[t, s] = Σ c a^(t-s) b, diagonal included)."""
    t = np.zeros((L, L))
    for r in range(L):
        for s in range(r + 1):
            t[r, s] = np.sum(c * a ** (r - s) * b)
    return t


def svals(t, i, block=(1, 1)):
    return oracles.hankel_svd(t, i, block)[0]


# ---------------------------------------------------------------- normalized


@pytest.mark.parametrize("block", [(1, 1), (2, 1)])
def test_normalized_is_ess_over_the_rank_bound(block):
    rng = np.random.default_rng(1)
    p, m = block
    L = 9
    t = causal(rng, 2, L, L)
    t = np.kron(t, np.ones((p, m)))  # (2, p*L, m*L), still block-causal
    prof = ess.tolerance(t, rank=True, block=block)
    idx = prof.indices
    bound = np.array([min(p * (L - i), m * i) for i in idx], dtype=float)
    for ch in range(2):
        expect = np.array([np.linalg.matrix_rank(t[ch][i * p :, : i * m]) for i in idx]) / bound
        np.testing.assert_allclose(prof.normalized()[ch], expect)
    assert prof.normalized_mean == pytest.approx(np.mean(prof.values / bound))
    assert prof.to_dict()["summary"]["tolerance_ess"]["normalized_mean"] == pytest.approx(prof.normalized_mean)


def test_normalized_of_a_batch():
    rng = np.random.default_rng(2)
    t = causal(rng, 3, 2, 8, 8)
    prof = ess.entropy(t)
    bound = np.minimum(8 - prof.indices, prof.indices)
    np.testing.assert_allclose(prof.normalized(), prof.values / bound)
    assert prof.normalized_mean.shape == (3,)
    np.testing.assert_allclose(prof.normalized_mean, (prof.values / bound).mean(axis=(-1, -2)))


# ---------------------------------------------------------------- markers


def oracle_delta(v, t, w, L):
    """Δ_t of a full profile v (v[i-1] = ESS_i)."""
    after = [v[i - 1] for i in range(t + 1, t + w + 1) if 1 <= i <= L - 1]
    before = [v[i - 1] for i in range(t - w + 1, t + 1) if 1 <= i <= L - 1]
    return np.mean(after) - np.mean(before)


def oracle_markers(profiles, positions, w, L):
    """profiles: list over items of (C, L-1) arrays."""
    marked, base = [], []
    deltas = np.zeros((profiles[0].shape[0], len(positions)))
    for v in profiles:
        for ch in range(v.shape[0]):
            for t in range(1, L - 1):
                d = oracle_delta(v[ch], t, w, L)
                (marked if t in positions else base).append(d)
            for k, t in enumerate(positions):
                deltas[ch, k] += oracle_delta(v[ch], t, w, L) / len(profiles)
    mean = np.mean(marked)
    bm, bs = np.mean(base), np.std(base)
    return deltas, mean, bm, bs, (mean - bm) / bs


@pytest.mark.parametrize("window", [1, 2, 3])
def test_marker_modulation_of_one_profile(window):
    rng = np.random.default_rng(3)
    L = 12
    t = causal(rng, 2, L, L)
    prof = ess.entropy(t)
    vals = np.array([oracles.oracle_entropy(t[ch], range(1, L)) for ch in range(2)])
    np.testing.assert_allclose(prof.values, vals, rtol=1e-10)
    positions = [5, 2, 9]
    mm = prof.marker_modulation(positions, window=window)
    deltas, mean, bm, bs, z = oracle_markers([vals], positions, window, L)
    assert (mm.measure, mm.positions, mm.window, mm.items) == ("entropy", positions, window, 1)
    np.testing.assert_allclose(mm.deltas, deltas, rtol=1e-9, atol=1e-12)
    assert mm.mean_delta == pytest.approx(mean, rel=1e-9, abs=1e-12)
    assert mm.baseline_mean == pytest.approx(bm, rel=1e-9, abs=1e-12)
    assert mm.baseline_std == pytest.approx(bs, rel=1e-9)
    assert mm.z == pytest.approx(z, rel=1e-8)
    d = mm.to_dict()
    assert d["positions"] == positions and d["window"] == window
    assert [c["channel"] for c in d["channels"]] == [0, 1]
    np.testing.assert_allclose([c["entropy_delta"] for c in d["channels"]], deltas, rtol=1e-9, atol=1e-12)
    assert d["entropy"]["mean_delta"] == pytest.approx(mean, rel=1e-9, abs=1e-12)
    assert d["entropy"]["z"] == pytest.approx(z, rel=1e-8)
    assert "MarkerModulation(" in repr(mm)


def test_marker_modulation_of_the_docs_example():
    # Rows after step 5 ignore every input up to step 5: ESS drops to 0 at i = 6.
    L = 10
    r, c = np.indices((L, L))
    t = np.where((c > r) | ((r > 5) & (c <= 5)), 0.0, 1.0 / (1.0 + np.abs(r - c)))
    mm = ess.tolerance(t, rel=1e-9).marker_modulation([5])
    assert mm.deltas.tolist() == [[-1.0]]
    assert mm.mean_delta == -1.0
    assert mm.baseline_mean == pytest.approx(1 / 7)


def test_marker_modulation_pooled_over_a_batch_and_over_inputs():
    rng = np.random.default_rng(4)
    L = 10
    t = causal(rng, 3, 2, L, L)
    positions = [4, 6]
    vals = [np.array([oracles.oracle_entropy(t[b, ch], range(1, L)) for ch in range(2)]) for b in range(3)]
    deltas, mean, bm, bs, z = oracle_markers(vals, positions, 2, L)
    for mm in (
        ess.entropy(t).marker_modulation(positions, 2),
        ess.over_inputs(lambda x: x, list(t)).marker_modulation(positions, window=2),
    ):
        assert mm.items == 3
        np.testing.assert_allclose(mm.deltas, deltas, rtol=1e-9, atol=1e-12)
        assert mm.mean_delta == pytest.approx(mean, rel=1e-9, abs=1e-12)
        assert mm.baseline_std == pytest.approx(bs, rel=1e-9)
        assert mm.z == pytest.approx(z, rel=1e-8)


def test_marker_modulation_errors():
    t = causal(np.random.default_rng(5), 10, 10)
    prof = ess.entropy(t)
    with pytest.raises(ess.EssError) as e:
        prof.marker_modulation([0])
    assert e.value.kind == "MarkerOutOfRange"
    with pytest.raises(ess.EssError) as e:
        prof.marker_modulation([9])
    assert e.value.kind == "MarkerOutOfRange"
    with pytest.raises(ess.EssError) as e:
        ess.entropy(t, indices="middle").marker_modulation([3])
    assert e.value.kind == "IndexNotEvaluated"
    for bad in ([], [3, 3], 3, [-1]):
        with pytest.raises(ess.EssError):
            prof.marker_modulation(bad)
    with pytest.raises(ess.EssError):
        prof.marker_modulation([3], window=0)


# ---------------------------------------------------------------- sweeps


def test_tolerance_sweep_counts_every_threshold():
    rng = np.random.default_rng(6)
    L = 14
    t = causal(rng, 2, L, L, decay=0.6)
    sweep = ess.tolerance_sweep(t, rel=[1e-1, 1e-4], abs=0.05, rank=True)
    assert len(sweep) == 4
    modes = [(x.mode, x.value) for x in sweep.tolerances]
    assert modes == [("relative", 1e-1), ("relative", 1e-4), ("absolute", 0.05), ("numerical_rank", None)]
    idx = list(range(1, L))
    compared = 0
    for prof, (mode, value) in zip(sweep.profiles, modes):
        for ch in range(2):
            compared += oracles.assert_tolerance_matches(
                prof.values[ch], t[ch], idx, mode, value, np.finfo(np.float64).eps
            )
    assert compared > 80
    np.testing.assert_allclose(sweep.mean, [p.values.mean() for p in sweep.profiles])
    np.testing.assert_allclose(sweep.max, [p.values.max() for p in sweep.profiles])
    np.testing.assert_allclose(sweep.channel_mean, [p.values.mean(axis=1) for p in sweep.profiles])
    # Within one mode, a larger threshold counts no more.
    assert np.all(sweep.profiles[0].values <= sweep.profiles[1].values)
    d = sweep.to_dict()["sweep"]
    assert [(x["mode"], x["value"]) for x in d] == modes
    assert d[1]["mean"] == pytest.approx(sweep.mean[1])
    assert "ToleranceSweep(" in repr(sweep)


def test_tolerance_sweep_of_a_batch_summarises_the_mean():
    rng = np.random.default_rng(7)
    t = causal(rng, 2, 3, 9, 9)
    sweep = ess.tolerance_sweep(t, rel=[1e-2, 1e-6])
    for k, p in enumerate(sweep.profiles):
        assert p.batch_shape == (2,)
        np.testing.assert_allclose(sweep.channel_mean[k], p.values.mean(axis=0).mean(axis=1))
        assert sweep.max[k] == pytest.approx(p.values.mean(axis=0).max())


def test_tolerance_sweep_errors():
    t = causal(np.random.default_rng(8), 6, 6)
    with pytest.raises(ess.EssError) as e:
        ess.tolerance_sweep(t)
    assert e.value.kind == "Empty"
    with pytest.raises(ess.EssError):
        ess.tolerance_sweep(t, rel=[1e-3, 2.0])
    with pytest.raises(ess.EssError):
        ess.tolerance_sweep(t, abs=["x"])


# ---------------------------------------------------------------- gradients


def entropy_total(t, idx):
    return sum(oracles.entropy_of(svals(t, i)) for i in idx)


def soft_total(t, idx, rel, temp):
    total = 0.0
    for i in idx:
        s = svals(t, i)
        s = s[s > s[0] * max(t[i:, :i].shape) * np.finfo(float).eps]
        total += np.sum(1.0 / (1.0 + np.exp(-(np.log(s) - np.log(rel * s[0])) / temp)))
    return total


def finite_difference(f, t, entries, h=1e-6):
    out = []
    for r, c in entries:
        tp, tm = t.copy(), t.copy()
        tp[r, c] += h
        tm[r, c] -= h
        out.append((f(tp) - f(tm)) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("measure", ["entropy", "tolerance"])
def test_gradient_equals_finite_differences(measure):
    rng = np.random.default_rng(9)
    L = 8
    t = causal(rng, L, L, decay=0.2)
    idx = [2, 4, 5]
    if measure == "entropy":
        g = ess.gradient(t, indices=idx)
        f = lambda x: entropy_total(x, idx)  # noqa: E731
    else:
        g = ess.gradient(t, "tolerance", rel=0.1, temperature=0.5, indices=idx)
        f = lambda x: soft_total(x, idx, 0.1, 0.5)  # noqa: E731
    assert g.gradient.shape == (L, L) and g.values.shape == (3,)
    np.testing.assert_array_equal(g.indices, idx)
    assert g.total == pytest.approx(f(t), rel=1e-10)
    if measure == "entropy":
        np.testing.assert_allclose(g.values, oracles.oracle_entropy(t, idx), rtol=1e-10)
    entries = [(r, c) for r in range(L) for c in range(L) if r > c]
    fd = finite_difference(f, t, entries)
    np.testing.assert_allclose([g.gradient[e] for e in entries], fd, rtol=1e-5, atol=1e-6)
    # Nothing on or above the diagonal: no Hankel block holds those entries.
    assert np.all(np.triu(g.gradient) == 0)
    assert "Gradient(" in repr(g)


def test_gradient_of_channels_batches_and_operators():
    rng = np.random.default_rng(10)
    t = causal(rng, 2, 3, 7, 7)
    g = ess.gradient(t, indices=[3])
    assert g.gradient.shape == (2, 3, 7, 7) and g.values.shape == (2, 3, 1) and g.total.shape == (2, 3)
    for b in range(2):
        for ch in range(3):
            one = ess.gradient(t[b, ch], indices=[3])
            np.testing.assert_allclose(g.gradient[b, ch], one.gradient, rtol=1e-12, atol=1e-15)
    g32 = ess.gradient(t.astype(np.float32), indices=[3])
    assert g32.gradient.dtype == np.float32
    # An Operator: its dense T.
    op = ess.fir_convolution(np.array([[1.0, -0.5, 0.25], [0.3, 0.2, 0.1]]), 9)
    go = ess.gradient(op)
    gd = ess.gradient(op.dense())
    np.testing.assert_allclose(go.gradient, gd.gradient, rtol=1e-12, atol=1e-14)
    assert go.gradient.shape == (2, 9, 9)


def test_gradient_errors_and_cancellation():
    t = causal(np.random.default_rng(11), 6, 6)
    with pytest.raises(ess.EssError):
        ess.gradient(t, "tolerance", rel=0.1, temperature=1.5)
    with pytest.raises(ess.EssError):
        ess.gradient(t, "entropy", rel=0.1)
    with pytest.raises(ess.EssError):
        ess.gradient(t, "rank")
    with pytest.raises(ess.EssError) as e:
        ess.gradient(t + t.T)
    assert e.value.kind == "NotCausal"
    big = causal(np.random.default_rng(12), 64, 48, 48)
    with pytest.raises(ess.EssError) as e:
        ess.gradient(big, progress=lambda done, total: False)
    assert e.value.kind == "Cancelled"


# ---------------------------------------------------------------- reduction


def run_recurrence(A, B, C, D, L):
    """T of x_{t+1} = A_t x_t + B_t u_t, y_t = C_t x_t + D_t u_t (one channel)."""
    p, m = D.shape[-2:]
    t = np.zeros((p * L, m * L))
    for s in range(L):
        t[s * p : (s + 1) * p, s * m : (s + 1) * m] = D[s]
        x = B[s]
        for r in range(s + 1, L):
            t[r * p : (r + 1) * p, s * m : (s + 1) * m] = C[r] @ x
            x = A[r] @ x
    return t


def test_reduce_to_an_order_is_certified():
    L = 24
    a = np.array([[0.9, 0.5, 0.2, -0.1], [0.8, 0.6, -0.3, 0.1]])
    b = np.ones((2, 4))
    c = np.array([[1.0, 0.5, 0.25, 0.1], [0.7, -0.4, 0.3, 0.2]])
    op = ess.lti_state_space(a, b, c, L)
    red = ess.reduce(op, order=2)
    assert red.order == 2 and red.method == "structured" and red.algorithm == "balanced truncation"
    assert red.orders.tolist() == [2, 2]
    assert red.A.shape == (2, L, 2, 2) and red.B.shape == (2, L, 2, 1)
    assert red.C.shape == (2, L, 1, 2) and red.D.shape == (2, L, 1, 1)
    for ch in range(2):
        t = lti_matrix(a[ch], b[ch], c[ch], L)
        np.testing.assert_allclose(op.dense()[ch], t, rtol=1e-12)
        tr = run_recurrence(red.A[ch], red.B[ch], red.C[ch], red.D[ch], L)
        # Eckart–Young: max_i σ_3(H_i).
        lower = max(svals(t, i)[2] if len(svals(t, i)) > 2 else 0.0 for i in range(1, L))
        assert red.lower_bound[ch] == pytest.approx(lower, rel=1e-8, abs=1e-14)
        err = np.linalg.norm(t - tr, 2)
        assert red.error[ch] == pytest.approx(err, rel=1e-8, abs=1e-14)
        assert lower <= err * (1 + 1e-9) + 1e-14 and err <= red.error_bound[ch]
        np.testing.assert_allclose(red.operator.dense()[ch], tr, atol=1e-12)
        assert red.cut_sum[ch] <= red.error_bound[ch]
    # The reduced model is an operator: profile it.
    prof = ess.tolerance(red.operator, rel=1e-4)
    assert prof.tss == 2 and prof.max <= 2
    tr0 = run_recurrence(red.A[0], red.B[0], red.C[0], red.D[0], L)
    compared = oracles.assert_tolerance_matches(
        prof.values[0], tr0, range(1, L), "relative", 1e-4, np.finfo(float).eps
    )
    assert compared > 10
    d = red.to_dict()
    assert d["order"] == 2 and d["path"] == "structured"
    assert d["channels"][1]["error"] == pytest.approx(red.error[1])
    assert set(d["channels"][0]) == {"channel", "order", "error_bound", "error", "lower_bound", "classical_bound"}
    assert "Reduction(" in repr(red)


def test_reduce_a_dense_array_by_tolerance():
    rng = np.random.default_rng(13)
    L = 12
    t = causal(rng, L, L, decay=0.8)
    red = ess.reduce(t, rel=1e-2, measured_error=False)
    orders = max(int((svals(t, i) > 1e-2 * svals(t, i)[0]).sum()) for i in range(1, L))
    assert red.method == "dense" and red.orders.tolist() == [orders]
    assert np.isnan(red.error[0]) and red.to_dict()["channels"][0]["error"] is None
    tr = run_recurrence(red.A[0], red.B[0], red.C[0], red.D[0], L)
    assert np.linalg.norm(t - tr, 2) <= red.error_bound[0]
    # Full order reproduces T.
    full = ess.reduce(t, order=L // 2)
    assert full.error[0] < 1e-10
    again = ess.reduce(red.operator, order=1)
    assert again.order == 1
    hb = ess.reduce(red.operator, order=1, algorithm="hankel_blocks")
    assert (hb.method, hb.algorithm) == ("dense", "hankel blocks")


def test_reduce_a_long_convolution_by_its_kernel():
    L = 40
    h = 0.8 ** np.arange(L) + 0.3 * (-0.5) ** np.arange(L)  # two modes
    red = ess.reduce(ess.long_convolution(h), order=2, algorithm="convolution_kernel")
    assert (red.method, red.algorithm, red.order) == ("kernel", "convolution kernel", 2)
    t = ess.long_convolution(h).dense()[0]
    tr = run_recurrence(red.A[0], red.B[0], red.C[0], red.D[0], L)
    assert np.linalg.norm(t - tr, 2) <= red.error_bound[0] + 1e-12
    assert red.error[0] == pytest.approx(np.linalg.norm(t - tr, 2), rel=1e-6, abs=1e-10)


def test_reduce_errors():
    t = causal(np.random.default_rng(14), 8, 8)
    for kwargs in ({}, {"order": 2, "rel": 1e-3}, {"order": 0}, {"order": 99}, {"rel": 2.0}, {"order": 1, "algorithm": "x"}):
        with pytest.raises(ess.EssError):
            ess.reduce(t, **kwargs)
    with pytest.raises(ess.EssError):
        ess.reduce(causal(np.random.default_rng(15), 2, 1, 8, 8), order=1)
    with pytest.raises(ess.EssError) as e:
        ess.reduce(t, order=1, method="structured")
    assert e.value.kind == "NoRealization"
