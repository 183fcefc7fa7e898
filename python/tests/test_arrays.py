"""entropy, tolerance and profiles on dense arrays, against NumPy's SVD: shapes,
blocks, dtypes, memory layouts, indices, aggregates and to_dict()."""

import collections.abc

import numpy as np
import pytest

import effective_state_size as ess
import oracles

RNG = np.random.default_rng(1234)
EPS = {np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}
RTOL = {np.float32: 2e-4, np.float64: 1e-9}


def check_entropy(values, t, indices, dtype=np.float64, block=(1, 1)):
    expect = oracles.oracle_entropy(t, indices, block)
    np.testing.assert_allclose(values, expect, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_entropy_of_one_matrix(dtype):
    t = oracles.random_causal(RNG, (12, 12), dtype)
    p = ess.entropy(t)
    assert p.values.shape == (1, 11)
    assert p.values.dtype == np.float64
    assert p.indices.dtype == np.int64
    assert list(p.indices) == list(range(1, 12))
    assert p.dtype == np.dtype(dtype).name
    assert p.measure == "entropy" and p.tolerance is None and p.method == "dense"
    assert (p.seq_len, p.channels, p.batch_shape, p.block, p.tss) == (12, 1, (), (1, 1), None)
    check_entropy(p.values[0], t, p.indices, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channels_and_batches(dtype):
    t = oracles.random_causal(RNG, (2, 3, 10, 10), dtype)
    p = ess.entropy(t)
    assert p.values.shape == (2, 3, 9)
    assert p.batch_shape == (2,)
    for b in range(2):
        for c in range(3):
            check_entropy(p.values[b, c], t[b, c], p.indices, dtype)
    # Aggregates per batch element, as NumPy computes them.
    np.testing.assert_allclose(p.mean, p.values.mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(p.max, p.values.max(axis=(1, 2)))
    np.testing.assert_allclose(p.channel_mean, p.values.mean(axis=2), rtol=1e-12)
    np.testing.assert_allclose(p.channel_max, p.values.max(axis=2))
    np.testing.assert_allclose(p.average, p.values.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(p.total, p.values.sum(axis=1), rtol=1e-12)
    # Two batch axes.
    q = ess.entropy(t.reshape(1, 2, 3, 10, 10))
    assert q.values.shape == (1, 2, 3, 9) and q.batch_shape == (1, 2)
    np.testing.assert_array_equal(q.values[0], p.values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["relative", "absolute", "numerical_rank"])
def test_tolerance_modes(dtype, mode):
    t = oracles.random_causal(RNG, (3, 14, 14), dtype)
    kwargs = {"relative": {"rel": 1e-2}, "absolute": {"abs": 0.5}, "numerical_rank": {"rank": True}}[mode]
    p = ess.tolerance(t, **kwargs)
    assert p.measure == "tolerance" and p.tolerance.mode == mode
    compared = 0
    for c in range(3):
        value = list(kwargs.values())[0]
        compared += oracles.assert_tolerance_matches(p.values[c], t[c], p.indices, mode, value, EPS[dtype])
    assert compared >= 30
    assert np.all(p.values == np.round(p.values))


def test_tolerance_default_is_relative_1e_3():
    t = oracles.random_causal(RNG, (8, 8))
    assert ess.tolerance(t).tolerance == ess.Tolerance(rel=1e-3)
    np.testing.assert_array_equal(ess.tolerance(t).values, ess.tolerance(t, rel=1e-3).values)


def test_low_rank_blocks():
    # tril(u vᵀ): every Hankel block has rank one; FIR-like band: rank k-1.
    u, v = RNG.standard_normal(20), RNG.standard_normal(20)
    t = np.tril(np.outer(u, v))
    assert np.all(ess.tolerance(t, rank=True).values == 1)
    assert np.allclose(ess.entropy(t).values, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_memory_layouts_give_the_same_values(dtype):
    t = oracles.random_causal(RNG, (3, 16, 16), dtype)
    expect = ess.entropy(t).values
    big = np.zeros((3, 32, 48), dtype)
    big[:, ::2, ::3] = t
    layouts = {
        "fortran": np.asfortranarray(t),
        "transposed view": np.ascontiguousarray(t.transpose(0, 2, 1)).transpose(0, 2, 1),
        "strided view": big[:, ::2, ::3],
        "reversed channels": t[::-1][::-1],
        "channel-last": np.ascontiguousarray(np.moveaxis(t, 0, -1)).transpose(2, 0, 1),
        "list": t.tolist(),
    }
    for name, x in layouts.items():
        got = ess.entropy(x).values
        if name == "list":  # lists become float64
            np.testing.assert_allclose(got, ess.entropy(t.astype(np.float64)).values, err_msg=name)
        else:
            np.testing.assert_array_equal(got, expect, err_msg=name)
    assert not layouts["strided view"].flags.c_contiguous


def test_block_operators():
    p_, m_, L = 2, 3, 6
    t = RNG.standard_normal((2, p_ * L, m_ * L))
    rows = np.arange(p_ * L)[:, None] // p_
    cols = np.arange(m_ * L)[None, :] // m_
    t = np.where(cols <= rows, t, 0.0)
    prof = ess.profiles(t, ["entropy", ess.Tolerance(rank=True)], block=(p_, m_))
    ent, tol = prof
    assert ent.block == (p_, m_) and list(ent.indices) == list(range(1, L))
    for c in range(2):
        check_entropy(ent.values[c], t[c], ent.indices, block=(p_, m_))
        oracles.assert_tolerance_matches(tol.values[c], t[c], tol.indices, "numerical_rank", None, EPS[np.float64], (p_, m_))
    assert prof.to_dict()["block"] == [p_, m_]


def test_indices_options():
    t = oracles.random_causal(RNG, (2, 13, 13))
    full = ess.entropy(t)
    assert list(ess.entropy(t, indices="all").indices) == list(range(1, 13))
    assert list(ess.entropy(t, indices="middle").indices) == [6]
    stride = ess.entropy(t, indices="stride:4")
    assert list(stride.indices) == [4, 8, 12]
    # The nested factors of a sparse list are reached by other walks: equal to rounding.
    np.testing.assert_allclose(stride.values, full.values[:, [3, 7, 11]], rtol=1e-12)
    listed = ess.entropy(t, indices=[9, 2, 2])
    assert list(listed.indices) == [2, 9]
    np.testing.assert_allclose(listed.values, full.values[:, [1, 8]], rtol=1e-12)
    assert list(ess.entropy(t, indices=range(3, 6)).indices) == [3, 4, 5]
    assert list(ess.entropy(t, indices=np.array([5, 1])).indices) == [1, 5]


def test_profiles_are_one_sweep_of_several_measures():
    t = oracles.random_causal(RNG, (2, 10, 10))
    ps = ess.profiles(t)
    assert len(ps) == 2 and ps.names == ["tolerance", "entropy"]
    assert isinstance(ps, collections.abc.Sequence)
    assert ps[0].tolerance == ess.Tolerance(rel=1e-3)
    assert ps["entropy"].measure == "entropy" and ps[-1].measure == "entropy"
    assert [p.measure for p in ps] == ["tolerance", "entropy"]
    assert [p.measure for p in ps[0:1]] == ["tolerance"]
    np.testing.assert_array_equal(ps["entropy"].values, ess.entropy(t).values)
    np.testing.assert_array_equal(ps["tolerance"].values, ess.tolerance(t).values)
    ps = ess.profiles(t, ["numerical_rank", "tolerance", ess.Tolerance(abs=0.1), "entropy"])
    assert ps.names == ["tolerance", "tolerance_2", "tolerance_3", "entropy"]
    assert ess.profiles(t, "entropy").names == ["entropy"]
    with pytest.raises(KeyError):
        ps["nope"]
    with pytest.raises(IndexError):
        ps[4]


def test_to_dict_schema_and_values():
    t = oracles.attention_maps(RNG, 3, 9)
    ps = ess.profiles(t, tss=4)
    d = ps.to_dict(file="attn.npy")
    assert list(d) == ["file", "seq_len", "block", "dtype", "path", "tss", "tolerance", "channels", "summary"]
    assert (d["file"], d["seq_len"], d["block"], d["dtype"], d["path"], d["tss"]) == ("attn.npy", 9, [1, 1], "f64", "dense", 4)
    assert d["tolerance"] == {"mode": "relative", "value": 1e-3}
    assert len(d["channels"]) == 3
    ch = d["channels"][1]
    assert ch["channel"] == 1 and ch["index"] == list(range(1, 9))
    assert ch["tolerance_ess"] == [int(v) for v in ps["tolerance"].values[1]]
    assert all(isinstance(v, int) for v in ch["tolerance_ess"])
    assert ch["entropy_ess"] == list(ps["entropy"].values[1])
    s = d["summary"]
    assert (s["channels"], s["evaluated_indices"]) == (3, 8)
    e = s["entropy_ess"]
    assert e["mean"] == ps["entropy"].mean and e["max"] == ps["entropy"].max
    assert e["channel_mean"] == list(ps["entropy"].channel_mean)
    assert e["channel_max"] == list(ps["entropy"].channel_max)
    assert e["total_mean"] == pytest.approx(ps["entropy"].total.mean(), rel=1e-12)
    assert e["utilization"] == pytest.approx(ps["entropy"].mean / 4)
    # One measure; no file; a batch gives one dictionary per element.
    d1 = ess.entropy(t).to_dict()
    assert d1["file"] is None and d1["tolerance"] is None and d1["tss"] is None
    assert "tolerance_ess" not in d1["channels"][0] and d1["summary"]["entropy_ess"]["utilization"] is None
    # A batch: reported as the CLI reports a 4-D tensor (mean, std, "batch").
    stack = np.stack([t, t[::-1]])
    bp = ess.profiles(stack)
    batch = bp.to_dict()
    assert batch["batch"] == 2 and len(batch["channels"]) == 3
    ch = batch["channels"][2]
    np.testing.assert_allclose(ch["entropy_ess"], bp["entropy"].values[:, 2].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ch["entropy_ess_std"], bp["entropy"].values[:, 2].std(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ch["tolerance_ess"], bp["tolerance"].values[:, 2].mean(axis=0))
    assert ess.profiles(stack[None]).to_dict() == batch  # batch axes are flattened


def test_tss_and_utilization():
    t = oracles.random_causal(RNG, (2, 8, 8))
    p = ess.tolerance(t, rank=True, tss=4)
    assert p.tss == 4
    np.testing.assert_allclose(p.utilization(), p.values / 4)
    np.testing.assert_allclose(p.utilization(2.0), p.values / 2)
    assert p.mean_utilization() == pytest.approx(p.mean / 4)
    assert p.max_utilization(8) == pytest.approx(p.max / 8)
    with pytest.raises(ess.EssError, match="tss"):
        ess.entropy(t).utilization()
    with pytest.raises(ess.EssError):
        p.utilization(0.0)


def test_causal_part():
    t = RNG.standard_normal((2, 7, 7))
    with pytest.raises(ess.EssError) as err:
        ess.entropy(t)
    assert err.value.kind == "NotCausal"
    np.testing.assert_array_equal(ess.entropy(t, causal_part=True).values, ess.entropy(np.tril(t)).values)
    # The upper part is discarded, but must still be finite (as in the CLI).
    masked = np.where(np.tril(np.ones((7, 7))) > 0, t, -np.inf)
    with pytest.raises(ess.EssError) as err:
        ess.entropy(masked, causal_part=True)
    assert err.value.kind == "NonFinite" and "(0, 1)" in str(err.value)


def test_dense_operator_object():
    t = oracles.random_causal(RNG, (2, 3, 6, 6), np.float32)
    op = ess.dense(t)
    assert (op.family, op.seq_len, op.channels, op.batch_shape, op.block, op.dtype, op.tss, op.realization) == (
        "dense", 6, 3, (2,), (1, 1), "float32", None, None)
    np.testing.assert_array_equal(op.dense(), t)
    np.testing.assert_array_equal(ess.entropy(op).values, ess.entropy(t).values)
    assert "dense" in repr(op)


def test_misaligned_and_read_only_arrays():
    t = oracles.random_causal(RNG, (6, 6))
    raw = np.zeros(t.nbytes + 1, dtype=np.uint8)
    raw[1:] = np.frombuffer(t.tobytes(), dtype=np.uint8)
    misaligned = raw[1:].view(np.float64).reshape(6, 6)
    assert not misaligned.flags.aligned
    np.testing.assert_array_equal(ess.entropy(misaligned).values, ess.entropy(t).values)
    frozen = t.copy()
    frozen.setflags(write=False)
    np.testing.assert_array_equal(ess.entropy(frozen).values, ess.entropy(t).values)


def test_lowrank_method_reports_guaranteed_intervals():
    rng = np.random.default_rng(3)
    n, r = 48, 3
    low = rng.standard_normal((n, r)) @ rng.standard_normal((r, n)) + 1e-7 * rng.standard_normal((n, n))
    t = np.tril(low)
    exact = ess.profiles(t, method="dense")
    ps = ess.profiles(t, method="lowrank")
    assert ps[0].method == "lowrank" and exact[0].method == "dense"
    assert exact[0].lower is None and exact[0].ambiguous is None
    for p, e in zip(ps, exact):
        assert p.lower.shape == p.values.shape == p.upper.shape
        assert np.all(p.lower <= e.values + 1e-9) and np.all(e.values <= p.upper + 1e-9)
    amb = ps["tolerance"].ambiguous
    assert amb.dtype == np.bool_
    np.testing.assert_array_equal(ps["tolerance"].values[~amb], exact["tolerance"].values[~amb])
    d = ps.to_dict()
    assert d["path"] == "lowrank"
    ch = d["channels"][0]
    assert ch["tolerance_ambiguous"] == list(amb[0])
    np.testing.assert_array_equal(ch["entropy_ess_lower"], ps["entropy"].lower[0])
    np.testing.assert_array_equal(ch["entropy_ess_upper"], ps["entropy"].upper[0])
    with pytest.raises(ess.EssError, match="lowrank"):
        ess.profiles(t, method="fast")
    # max_rank and interval_width reach the library: a cap of 1 cannot resolve
    # rank-3 blocks, so more counts stay ambiguous, each interval still holding
    # the exact value; both are refused with the exact methods.
    capped = ess.tolerance(t, method="lowrank", max_rank=1)
    assert capped.ambiguous.sum() > amb.sum()
    assert np.all(capped.lower <= exact["tolerance"].values) and np.all(exact["tolerance"].values <= capped.upper)
    loose = ess.entropy(t, method="lowrank", interval_width=0.5)
    assert np.all(loose.lower <= exact["entropy"].values + 1e-9) and np.all(exact["entropy"].values <= loose.upper + 1e-9)
    with pytest.raises(ess.EssError, match="interval width"):
        ess.entropy(t, method="lowrank", interval_width=-1.0)
    for kw in ({"max_rank": 2}, {"interval_width": 0.1}):
        with pytest.raises(ess.EssError, match=next(iter(kw))):
            ess.profiles(t, **kw)
