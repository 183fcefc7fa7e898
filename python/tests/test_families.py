"""Every family built from its PyTorch-layout parameters, against T built in
NumPy from the same parameters (tests/oracles.py) and ESS from NumPy's SVD.

The oracles take head-first arrays (H, L, d); the package takes sequence-major
ones (L, H, d) by default, so the tests hand it `seq(x)`, a transposed view."""

import numpy as np
import pytest

import effective_state_size as ess
import oracles

RNG = np.random.default_rng(7)
L, H, D, N = 12, 3, 4, 3


def check_operator(op, t, rtol=1e-10, tss=None, structured=None):
    """op.dense() equals the oracle T ((C, L, L) or batch + (C, L, L)), and
    entropy/tolerance equal NumPy's on it, channel by channel."""
    np.testing.assert_allclose(op.dense(), t, rtol=rtol, atol=rtol)
    assert op.tss == tss
    ent = ess.entropy(op)
    tol = ess.tolerance(op, rank=True, method="dense")
    assert ent.values.shape == t.shape[:-2] + (t.shape[-2] // op.block[0] - 1,)
    flat_t = t.reshape((-1,) + t.shape[-2:])
    flat_e = ent.values.reshape(-1, ent.values.shape[-1])
    flat_r = tol.values.reshape(-1, tol.values.shape[-1])
    compared = 0
    for c in range(flat_t.shape[0]):
        expect = oracles.oracle_entropy(flat_t[c], ent.indices, op.block)
        np.testing.assert_allclose(flat_e[c], expect, rtol=1e-7, atol=1e-7)
        compared += oracles.assert_tolerance_matches(
            flat_r[c], flat_t[c], tol.indices, "numerical_rank", None, np.finfo(np.float64).eps, op.block
        )
    assert compared > 0
    if structured is not None:
        assert op.realization == structured and op.order == tss
        fast = ess.entropy(op, method="structured")
        assert fast.method == "structured"
        np.testing.assert_allclose(fast.values, ess.entropy(op, method="dense").values, rtol=1e-8, atol=1e-8)
    return ent


def seq(x):
    """(…, H, L, d) -> (…, L, H, d), a view."""
    return np.swapaxes(x, -3, -2)


def seq1(x):
    """(…, H, L) -> (…, L, H), a view."""
    return np.swapaxes(x, -2, -1)


def unit_rows(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_softmax_attention():
    q, k = RNG.standard_normal((2, H, L, 8)), RNG.standard_normal((2, H, L, 8))
    op = ess.softmax_attention(seq(q), seq(k))
    assert op.family == "softmax attention" and op.batch_shape == (2,) and op.channels == H
    t = np.stack([oracles.softmax_attention(q[b], k[b]) for b in range(2)])
    check_operator(op, t)
    # Matches the dense array of the same maps, and the head-first layout.
    np.testing.assert_allclose(ess.entropy(op).values, ess.entropy(t).values, rtol=1e-10)
    first = ess.softmax_attention(q, k, head_first=True)
    np.testing.assert_array_equal(first.dense(), op.dense())
    contiguous = ess.softmax_attention(np.ascontiguousarray(seq(q)), np.ascontiguousarray(seq(k)))
    np.testing.assert_array_equal(contiguous.dense(), op.dense())


def test_softmax_attention_options():
    q, k = RNG.standard_normal((H, L, 4)), RNG.standard_normal((H, L, 4))
    check_operator(ess.softmax_attention(seq(q), seq(k), scale=0.3), oracles.softmax_attention(q, k, scale=0.3))
    op = ess.softmax_attention(seq(q), seq(k), window=4)
    assert op.family == "sliding-window attention"
    check_operator(op, oracles.softmax_attention(q, k, window=4), tss=3)
    assert ess.tolerance(op, rank=True).max <= 3
    slopes = np.array([0.5, 0.25, 0.125])
    check_operator(ess.softmax_attention(seq(q), seq(k), alibi=slopes), oracles.softmax_attention(q, k, alibi=slopes))
    bias = RNG.standard_normal((H, L, L))
    bias = np.where(oracles.causal_mask(L), bias, -np.inf)  # a standard upper -inf mask is fine
    check_operator(ess.softmax_attention(seq(q), seq(k), bias=bias), oracles.softmax_attention(q, k, bias=bias))
    shared = RNG.standard_normal((L, L))
    check_operator(ess.softmax_attention(q, k, bias=shared, head_first=True), oracles.softmax_attention(q, k, bias=shared))
    # One head given as (L, d).
    check_operator(ess.softmax_attention(q[0], k[0]), oracles.softmax_attention(q[:1], k[:1]))


def test_grouped_query_attention():
    q, k = RNG.standard_normal((4, L, 4)), RNG.standard_normal((2, L, 4))
    t = oracles.softmax_attention(q, k)  # repeat_interleave
    check_operator(ess.softmax_attention(seq(q), seq(k)), t)
    check_operator(ess.softmax_attention(q, k, head_first=True), t)
    np.testing.assert_allclose(t[1], oracles.softmax_attention(q[1:2], k[0:1])[0])


@pytest.mark.parametrize("feature_map", ["identity", "elu+1", "relu"])
def test_linear_attention(feature_map):
    q, k = RNG.standard_normal((2, H, L, 3)), RNG.standard_normal((2, H, L, 3))
    op = ess.linear_attention(seq(q), seq(k), feature_map=feature_map)
    t = np.stack([oracles.linear_attention(q[b], k[b], feature_map) for b in range(2)])
    check_operator(op, t, tss=3, structured="time-varying")


def test_normalized_linear_attention():
    q, k = RNG.standard_normal((H, L, 3)), RNG.standard_normal((H, L, 3))
    op = ess.linear_attention(q, k, feature_map="elu+1", normalize=True, head_first=True)
    check_operator(op, oracles.linear_attention(q, k, "elu+1", normalize=True), tss=3, structured="time-varying")


def test_decayed_linear_attention():
    q, k = RNG.standard_normal((H, L, 3)), RNG.standard_normal((H, L, 3))
    gamma = np.array([0.9, 0.5, 0.99])
    op = ess.decayed_linear_attention(seq(q), seq(k), gamma)
    check_operator(op, oracles.decayed_linear_attention(q, k, gamma), tss=3, structured="time-varying")
    same = ess.decayed_linear_attention(q, k, 0.8, head_first=True)
    check_operator(same, oracles.decayed_linear_attention(q, k, [0.8] * H), tss=3)


def test_gated_linear_attention():
    q, k = RNG.standard_normal((2, H, L, 3)), RNG.standard_normal((2, H, L, 3))
    alpha = RNG.uniform(0.5, 1.0, (2, H, L, 3))
    op = ess.gated_linear_attention(seq(q), seq(k), seq(alpha))
    np.testing.assert_array_equal(ess.gated_linear_attention(q, k, alpha, head_first=True).dense(), op.dense())
    t = np.stack([oracles.gated_linear_attention(q[b], k[b], alpha[b]) for b in range(2)])
    check_operator(op, t, tss=3, structured="time-varying")


@pytest.mark.parametrize("gated", [False, True])
def test_delta_net(gated):
    q, k = RNG.standard_normal((H, L, 3)), unit_rows(RNG.standard_normal((H, L, 3)))
    beta = RNG.uniform(0.1, 1.0, (H, L))
    alpha = RNG.uniform(0.7, 1.0, (H, L)) if gated else None
    op = ess.delta_net(seq(q), seq(k), seq1(beta), alpha=None if alpha is None else seq1(alpha))
    first = ess.delta_net(q, k, beta, alpha=alpha, head_first=True)
    np.testing.assert_array_equal(first.dense(), op.dense())
    assert op.family == ("gated DeltaNet" if gated else "DeltaNet")
    check_operator(op, oracles.delta_net(q, k, beta, alpha), tss=3, structured="time-varying")


def test_mamba_sequence_major_layout():
    A = -np.exp(RNG.standard_normal((D, N)))
    delta = np.log1p(np.exp(RNG.standard_normal((2, L, D))))  # softplus of dt_proj's output
    B, C = RNG.standard_normal((2, L, N)), RNG.standard_normal((2, L, N))  # from x_proj's output
    op = ess.mamba(A, delta, B, C)
    assert op.family.startswith("Mamba") and op.channels == D and op.batch_shape == (2,)
    t = np.stack([oracles.mamba(A, delta[b].T, B[b].T, C[b].T) for b in range(2)])
    ent = check_operator(op, t, tss=N, structured="time-varying")
    assert ent.method == "structured"  # the planner's choice: N < L/2
    # selective_scan_fn's (B, D, L) and (B, N, L), handed over as transposed views.
    ssf = [np.ascontiguousarray(x.transpose(0, 2, 1)) for x in (delta, B, C)]
    view = ess.mamba(A, *(x.transpose(0, 2, 1) for x in ssf))
    np.testing.assert_array_equal(ess.entropy(view).values, ent.values)


@pytest.mark.parametrize("groups", [None, 1, 3])
def test_mamba2_chunk_scan_layout(groups):
    heads = 3
    A = -np.exp(RNG.standard_normal(heads))
    dt = np.log1p(np.exp(RNG.standard_normal((2, L, heads))))
    g = groups or 1
    B, C = RNG.standard_normal((2, L, g, N)), RNG.standard_normal((2, L, g, N))
    if groups is None:
        op = ess.mamba2(A, dt, B[:, :, 0], C[:, :, 0])
    else:
        op = ess.mamba2(A, dt, B, C)
    t = np.stack([oracles.mamba2(A, dt[b], B[b], C[b]) for b in range(2)])
    check_operator(op, t, tss=N, structured="time-varying")


def test_ssd_library_layout():
    a = RNG.uniform(0.3, 1.0, (H, L))
    B, C = RNG.standard_normal((H, L, N)), RNG.standard_normal((H, L, N))
    check_operator(ess.ssd(seq1(a), seq(B), seq(C)), oracles.ssd(a, B, C), tss=N, structured="time-varying")
    check_operator(ess.ssd(a, B, C, head_first=True), oracles.ssd(a, B, C), tss=N)
    check_operator(ess.ssd(a[0], B[0], C[0]), oracles.ssd(a[:1], B[:1], C[:1]), tss=N)  # one head


def test_lti_diagonal():
    a = RNG.uniform(-0.9, 0.9, (2, N))
    b, c = RNG.standard_normal((2, N)), RNG.standard_normal((2, N))
    op = ess.lti_state_space(a, b, c, L)
    check_operator(op, oracles.lti_diagonal(a, b, c, L), tss=N, structured="time-invariant")
    one = ess.lti_state_space(a[0], b[0], c[0], L)
    assert one.channels == 1
    np.testing.assert_allclose(one.dense()[0], oracles.lti_diagonal(a[:1], b[:1], c[:1], L)[0])


def test_lti_dense_mimo():
    A = RNG.standard_normal((2, N, N)) * 0.4
    B, C = RNG.standard_normal((2, N, 2)), RNG.standard_normal((2, 3, N))
    op = ess.lti_state_space(A, B, C, 8)
    assert op.block == (3, 2)
    check_operator(op, oracles.lti_dense(A, B, C, 8), rtol=1e-9, tss=N, structured="time-invariant")


def test_time_varying_state_space():
    A = RNG.standard_normal((2, 8, N, N)) * 0.5
    B, C = RNG.standard_normal((2, 8, N, 1)), RNG.standard_normal((2, 8, 2, N))
    op = ess.time_varying_state_space(A, B, C)
    assert op.block == (2, 1)
    check_operator(op, oracles.time_varying(A, B, C), rtol=1e-9, tss=N, structured="time-varying")


def test_convolutions():
    h = RNG.standard_normal((2, 4))
    op = ess.fir_convolution(h, L)
    check_operator(op, oracles.convolution(h, L), tss=3, structured="time-invariant")
    assert np.all(ess.tolerance(op, rank=True, indices=range(4, 9)).values == 3)
    check_operator(ess.fir_convolution(h[0], L), oracles.convolution(h[:1], L), tss=3)
    long = RNG.standard_normal((2, L))
    check_operator(ess.long_convolution(long), oracles.convolution(long, L))
    z, v = RNG.uniform(0.5, 1.5, (2, L)), RNG.uniform(0.5, 1.5, (2, L))
    op = ess.gated_convolution(h, z, v)
    check_operator(op, oracles.convolution(h, L, z, v), tss=3, structured="time-varying")


def test_conv1d_weight_convention():
    # A causal depthwise Conv1d (padding k-1, truncated): y_t = sum_j w[k-1-j] u_{t-j}.
    w = RNG.standard_normal((2, 1, 4))
    u = RNG.standard_normal((2, L))
    padded = np.concatenate([np.zeros((2, 3)), u], axis=1)
    y = np.stack([np.correlate(padded[c], w[c, 0], mode="valid") for c in range(2)])
    t = ess.fir_convolution(w[:, 0, ::-1], L).dense()
    np.testing.assert_allclose(np.einsum("cts,cs->ct", t, u), y, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_families_keep_the_dtype(dtype):
    q, k = RNG.standard_normal((L, H, 4)).astype(dtype), RNG.standard_normal((L, H, 4)).astype(dtype)
    op = ess.softmax_attention(q, k)
    assert op.dtype == np.dtype(dtype).name and op.dense().dtype == dtype
    assert ess.singular_values(op, 5).dtype == dtype
    # Mixed dtypes: NumPy's promotion (float64 wins).
    mixed = ess.softmax_attention(q.astype(np.float32), k.astype(np.float64))
    assert mixed.dtype == "float64"
    f32 = ess.entropy(ess.softmax_attention(q.astype(np.float32), k.astype(np.float32))).values
    f64 = ess.entropy(ess.softmax_attention(q.astype(np.float64), k.astype(np.float64))).values
    np.testing.assert_allclose(f32, f64, rtol=1e-3, atol=1e-3)
