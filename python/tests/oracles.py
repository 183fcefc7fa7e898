"""NumPy oracles, written independently of the crate: each family's causal matrix
T from its parameters, and ESS from NumPy's SVD of the Hankel blocks
H_i = T[i*p:, :i*m]."""

import numpy as np

# ---------------------------------------------------------------- measures


def entropy_of(s):
    """exp(-sum p log p) with p = s / sum(s); 0 for a zero block."""
    s = np.abs(np.asarray(s, dtype=np.float64))
    if s.size == 0 or s.max() == 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def threshold(mode, value, s, shape, eps):
    if mode == "relative":
        return value * s[0]
    if mode == "absolute":
        return value
    return s[0] * max(shape) * eps  # numerical rank


def hankel_svd(t, i, block=(1, 1)):
    p, m = block
    h = t[i * p :, : i * m]
    return np.linalg.svd(h.astype(np.float64), compute_uv=False), h.shape


def oracle_entropy(t, indices, block=(1, 1)):
    """Entropy-ESS of one channel's T at `indices`."""
    return np.array([entropy_of(hankel_svd(t, i, block)[0]) for i in indices])


def assert_tolerance_matches(values, t, indices, mode, value, eps, block=(1, 1), rtol=1e-7):
    """Tolerance-ESS of one channel equals NumPy's count, except where a singular
    value lies within `rtol` (relative) of the threshold, where rounding may
    decide either way. Returns the number of indices compared."""
    compared = 0
    for v, i in zip(values, indices):
        s, shape = hankel_svd(t, i, block)
        thr = threshold(mode, value, s, shape, eps)
        if np.any(np.abs(s - thr) <= rtol * max(s[0], thr)):
            continue
        assert v == int((s > thr).sum()), f"i = {i}: {v} vs {(s > thr).sum()} (threshold {thr:.3e}, s = {s})"
        compared += 1
    return compared


def all_indices(t, block=(1, 1)):
    return list(range(1, t.shape[-2] // block[0]))


# ---------------------------------------------------------------- families


def causal_mask(L, window=None):
    t = np.arange(L)[:, None]
    s = np.arange(L)[None, :]
    mask = s <= t
    if window is not None:
        mask &= t - s < window
    return mask


def softmax_attention(q, k, scale=None, window=None, alibi=None, bias=None):
    """q, k: (H, L, d) (k may have fewer heads: repeat_interleave); -> (H, L, L)."""
    H, L, d = q.shape
    k = np.repeat(k, H // k.shape[0], axis=0)
    scale = 1 / np.sqrt(d) if scale is None else scale
    logits = scale * np.einsum("htd,hsd->hts", q, k)
    if alibi is not None:
        dist = np.arange(L)[:, None] - np.arange(L)[None, :]
        logits = logits - np.asarray(alibi)[:, None, None] * dist
    if bias is not None:
        logits = logits + bias
    mask = causal_mask(L, window)
    logits = np.where(mask, logits, -np.inf)
    w = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def feature(x, name):
    if name == "identity":
        return x
    if name == "elu+1":
        return np.where(x > 0, x + 1, np.exp(x))
    if name == "relu":
        return np.maximum(x, 0)
    raise ValueError(name)


def linear_attention(q, k, feature_map="identity", normalize=False):
    fq, fk = feature(q, feature_map), feature(k, feature_map)
    t = np.einsum("htd,hsd->hts", fq, fk) * causal_mask(q.shape[1])
    if normalize:
        den = np.einsum("htd,htd->ht", fq, np.cumsum(fk, axis=1))
        t = t / den[..., None]
    return t


def decayed_linear_attention(q, k, gamma):
    L = q.shape[1]
    dist = np.arange(L)[:, None] - np.arange(L)[None, :]
    decay = np.where(dist >= 0, np.asarray(gamma)[:, None, None] ** np.maximum(dist, 0), 0.0)
    return np.einsum("htd,hsd->hts", q, k) * decay


def gated_linear_attention(q, k, alpha):
    H, L, d = q.shape
    t = np.zeros((H, L, L))
    for h in range(H):
        for s in range(L):
            x = k[h, s].astype(np.float64).copy()
            for tt in range(s, L):
                if tt > s:
                    x *= alpha[h, tt]
                t[h, tt, s] = q[h, tt] @ x
    return t


def delta_net(q, k, beta, alpha=None):
    H, L, d = q.shape
    t = np.zeros((H, L, L))
    for h in range(H):
        for s in range(L):
            x = beta[h, s] * k[h, s].astype(np.float64)
            for tt in range(s, L):
                if tt > s:
                    a = 1.0 if alpha is None else alpha[h, tt]
                    kk = k[h, tt]
                    x = a * (x - beta[h, tt] * kk * (kk @ x))
                t[h, tt, s] = q[h, tt] @ x
    return t


def mamba(A, delta, B, C):
    """selective_scan_fn layout: A (D, N), delta (D, L), B, C (N, L) -> (D, L, L)."""
    D, N = A.shape
    L = delta.shape[1]
    t = np.zeros((D, L, L))
    for d in range(D):
        for s in range(L):
            x = delta[d, s] * B[:, s].astype(np.float64)
            for tt in range(s, L):
                if tt > s:
                    x = np.exp(delta[d, tt] * A[d]) * x
                t[d, tt, s] = C[:, tt] @ x
    return t


def mamba2(A, dt, B, C):
    """A (H,), dt (L, H), B, C (L, G, N) -> (H, L, L)."""
    L, H = dt.shape
    G = B.shape[1]
    t = np.zeros((H, L, L))
    for h in range(H):
        g = h // (H // G)
        for s in range(L):
            for tt in range(s, L):
                decay = np.exp(dt[s + 1 : tt + 1, h].sum() * A[h])
                t[h, tt, s] = decay * (C[tt, g] @ B[s, g]) * dt[s, h]
    return t


def ssd(a, B, C):
    """a (H, L), B, C (H, L, N) -> (H, L, L)."""
    H, L = a.shape
    t = np.zeros((H, L, L))
    for h in range(H):
        for s in range(L):
            for tt in range(s, L):
                t[h, tt, s] = np.prod(a[h, s + 1 : tt + 1]) * (C[h, tt] @ B[h, s])
    return t


def lti_diagonal(a, b, c, L):
    """a, b, c (C, N) -> (C, L, L)."""
    dist = np.arange(L)[:, None] - np.arange(L)[None, :]
    powers = np.where(dist[None, None] >= 0, a[:, :, None, None] ** np.maximum(dist, 0)[None, None], 0.0)
    return np.einsum("cn,cnts,cn->cts", c, powers, b)


def lti_dense(A, B, C, L):
    """A (C, N, N), B (C, N, m), C (C, p, N) -> (C, pL, mL)."""
    ch, N, _ = A.shape
    m, p = B.shape[2], C.shape[1]
    t = np.zeros((ch, p * L, m * L))
    for c in range(ch):
        markov = []
        x = B[c].astype(np.float64)
        for _ in range(L):
            markov.append(C[c] @ x)
            x = A[c] @ x
        for tt in range(L):
            for s in range(tt + 1):
                t[c, tt * p : (tt + 1) * p, s * m : (s + 1) * m] = markov[tt - s]
    return t


def time_varying(A, B, C):
    """A (C, L, N, N), B (C, L, N, m), C (C, L, p, N) -> (C, pL, mL)."""
    ch, L, N, _ = A.shape
    m, p = B.shape[3], C.shape[2]
    t = np.zeros((ch, p * L, m * L))
    for c in range(ch):
        for s in range(L):
            x = B[c, s].astype(np.float64)
            for tt in range(s, L):
                if tt > s:
                    x = A[c, tt] @ x
                t[c, tt * p : (tt + 1) * p, s * m : (s + 1) * m] = C[c, tt] @ x
    return t


def convolution(h, L, z=None, v=None):
    """h (C, k); gates z, v (C, L) -> (C, L, L) with T[t,s] = z_t h_{t-s} v_s."""
    ch, k = h.shape
    dist = np.arange(L)[:, None] - np.arange(L)[None, :]
    inside = (dist >= 0) & (dist < k)
    t = np.where(inside[None], h[:, np.clip(dist, 0, k - 1)], 0.0)
    if z is not None:
        t = z[:, :, None] * t * v[:, None, :]
    return t


# ---------------------------------------------------------------- data


def random_causal(rng, shape, dtype=np.float64):
    """Lower-triangular random matrices of shape (..., L, L)."""
    return np.tril(rng.standard_normal(shape)).astype(dtype)


def attention_maps(rng, heads, L, d=8, dtype=np.float64):
    q = rng.standard_normal((heads, L, d))
    k = rng.standard_normal((heads, L, d))
    return softmax_attention(q, k).astype(dtype)
