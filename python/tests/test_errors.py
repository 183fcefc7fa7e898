"""Bad inputs are EssError (a ValueError) with the library's message and kind,
never a crash or a PanicException."""

import numpy as np
import pytest

import effective_state_size as ess
import oracles

RNG = np.random.default_rng(99)
T = oracles.random_causal(RNG, (2, 8, 8))


def raises(kind, fn, *args, match=None, **kwargs):
    with pytest.raises(ess.EssError, match=match) as err:
        fn(*args, **kwargs)
    assert isinstance(err.value, ValueError)
    assert err.value.kind == kind, (err.value.kind, str(err.value))
    return str(err.value)


def test_error_class():
    assert issubclass(ess.EssError, ValueError)
    assert ess.EssError.__module__ == "effective_state_size"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entries(bad):
    t = T.copy()
    t[1, 5, 2] = bad
    msg = raises("NonFinite", ess.entropy, t)
    assert "channel 1" in msg and "(5, 2)" in msg
    q = RNG.standard_normal((2, 6, 4))  # (L, H, d)
    k = q.copy()
    k[1, 3, 0] = bad
    msg = raises("NonFinite", ess.softmax_attention, q, k)
    assert msg.startswith("k:") and "(1, 3, 0)" in msg  # in the caller's coordinates
    msg = raises("NonFinite", ess.mamba, -np.ones((3, 2)), np.ones((2, 6, 3)), k[..., :2], np.ones((2, 6, 2)))
    assert msg.startswith("B:") and "(1, 3, 0)" in msg


def test_non_finite_in_a_batch_names_the_element():
    t = oracles.random_causal(RNG, (3, 2, 6, 6))
    t[2, 1, 4, 0] = np.nan
    msg = raises("NonFinite", ess.entropy, t)
    assert msg.startswith("batch element (2,)")
    t = np.tril(RNG.standard_normal((3, 2, 6, 6)))
    t[1, 0, 0, 3] = 1.0
    msg = raises("NotCausal", ess.entropy, t)
    assert msg.startswith("batch element (1,)") and "channel 0" in msg


def test_non_causal():
    t = T.copy()
    t[0, 2, 6] = 0.5
    msg = raises("NotCausal", ess.tolerance, t)
    assert "row 2, column 6" in msg and "causal_part" in msg
    blocks = np.zeros((1, 6, 6))
    blocks[0, 0, 1] = 1.0  # inside the first 2×2 block: causal with block=(2, 2)
    ess.entropy(blocks, block=(2, 2))
    raises("NotCausal", ess.entropy, blocks)


@pytest.mark.parametrize(
    "shape", [(8,), (3, 8), (2, 8, 7)], ids=["1-d", "not square", "not square, channels"]
)
def test_wrong_shapes(shape):
    x = np.zeros(shape)
    kind = "ShapeMismatch"
    raises(kind, ess.entropy, x)


def test_wrong_block_shape():
    raises("ShapeMismatch", ess.entropy, np.zeros((1, 6, 6)), block=(4, 1))
    raises("InvalidParameter", ess.entropy, np.zeros((1, 6, 6)), block=(0, 1))


def test_empty_and_too_short():
    raises("SequenceTooShort", ess.entropy, np.ones((1, 1)))
    raises("Empty", ess.entropy, np.zeros((0, 4, 4)))
    raises("Empty", ess.entropy, np.zeros((0, 2, 4, 4)))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16, np.complex128, np.bool_, object])
def test_wrong_dtype(dtype):
    x = np.tril(np.ones((2, 5, 5))).astype(dtype)
    msg = raises("InvalidParameter", ess.entropy, x)
    assert "float32 or float64" in msg


def test_wrong_dtype_in_families():
    q = RNG.standard_normal((2, 6, 4))
    raises("InvalidParameter", ess.softmax_attention, q, q.astype(np.int64), match="dtype of k")
    raises("InvalidParameter", ess.entropy, "not an array")
    raises("InvalidParameter", ess.entropy, [[1.0, 0.0], [1.0]])  # ragged


def test_wrong_family_shapes():
    q = RNG.standard_normal((2, 6, 4))
    raises("ShapeMismatch", ess.softmax_attention, q, q[:, :5])
    raises("ShapeMismatch", ess.softmax_attention, RNG.standard_normal((3, 6, 4)), q)  # 2 kv heads for 3
    raises("ShapeMismatch", ess.softmax_attention, q, q, alibi=np.ones(3))
    raises("ShapeMismatch", ess.softmax_attention, q, q, bias=np.ones((6, 5)))
    raises("InvalidParameter", ess.softmax_attention, q, q, alibi=np.ones(2), bias=np.zeros((6, 6)))
    raises("ShapeMismatch", ess.gated_linear_attention, q, q, np.ones((2, 6, 3)))
    raises("ShapeMismatch", ess.delta_net, q, q, np.ones((2, 5)))
    A = -np.ones((3, 2))
    raises("ShapeMismatch", ess.mamba, A, np.ones((6, 4)), np.ones((6, 2)), np.ones((6, 2)))
    raises("ShapeMismatch", ess.mamba, A, np.ones((6, 3)), np.ones((6, 2)), np.ones((2, 6)))
    raises("ShapeMismatch", ess.ssd, np.ones((6, 2)), np.ones((6, 2, 3)), np.ones((6, 1, 3)))
    raises("ShapeMismatch", ess.mamba2, -np.ones(2), np.ones((6, 3)), np.ones((6, 4)), np.ones((6, 4)))
    raises("InvalidParameter", ess.mamba2, -np.ones(3), np.ones((6, 3)), np.ones((6, 2, 4)), np.ones((6, 2, 4)))
    raises("ShapeMismatch", ess.lti_state_space, np.ones((2, 3)), np.ones((2, 2)), np.ones((2, 3)), 8)
    raises("ShapeMismatch", ess.time_varying_state_space, np.ones((1, 4, 2, 3)), np.ones((1, 4, 2, 1)), np.ones((1, 4, 1, 2)))
    raises("ShapeMismatch", ess.gated_convolution, np.ones((2, 3)), np.ones((2, 8)), np.ones((1, 8)))
    raises("ShapeMismatch", ess.fir_convolution, np.ones((1, 2, 3)), 8)


def test_out_of_range_parameters():
    q = RNG.standard_normal((2, 6, 4))
    raises("InvalidParameter", ess.gated_linear_attention, q, q, np.full((2, 6, 4), 1.5))
    raises("InvalidParameter", ess.decayed_linear_attention, q, q, 2.0)
    raises("InvalidParameter", ess.delta_net, q, q, np.full((2, 6), 3.0))
    raises("InvalidParameter", ess.mamba, np.ones((3, 2)), np.ones((6, 3)), np.ones((6, 2)), np.ones((6, 2)))
    raises("InvalidParameter", ess.mamba2, np.ones(2), np.ones((6, 2)), np.ones((6, 4)), np.ones((6, 4)))
    raises("InvalidParameter", ess.mamba2, -np.ones(2), -np.ones((6, 2)), np.ones((6, 4)), np.ones((6, 4)))
    raises("InvalidParameter", ess.softmax_attention, q, q, window=0)
    raises("InvalidParameter", ess.softmax_attention, q, q, scale=float("nan"))
    raises("InvalidParameter", ess.fir_convolution, np.ones((1, 9)), 8)
    raises("InvalidParameter", ess.linear_attention, q, q, feature_map="softmax")
    raises("InvalidParameter", ess.linear_attention, -np.abs(q), np.abs(q), feature_map="relu", normalize=True)


def test_bad_options():
    raises("InvalidTolerance", ess.tolerance, T, rel=2.0)
    raises("InvalidTolerance", ess.tolerance, T, abs=-1.0)
    raises("InvalidTolerance", ess.tolerance, T, rel=float("nan"))
    raises("InvalidParameter", ess.tolerance, T, rel=1e-3, rank=True)
    raises("InvalidTolerance", ess.Tolerance, rel=0.0)
    raises("IndexOutOfRange", ess.entropy, T, indices=[0])
    raises("IndexOutOfRange", ess.entropy, T, indices=[8])
    raises("InvalidParameter", ess.entropy, T, indices=[-1])
    raises("InvalidParameter", ess.entropy, T, indices=3)
    raises("InvalidParameter", ess.entropy, T, indices="stride:x")
    raises("InvalidParameter", ess.entropy, T, indices="stride:9")
    raises("InvalidParameter", ess.entropy, T, indices=[])
    raises("InvalidParameter", ess.entropy, T, indices="every")
    raises("InvalidParameter", ess.entropy, T, method="fast")
    raises("NoRealization", ess.entropy, T, method="structured")
    raises("InvalidParameter", ess.profiles, T, [])
    raises("InvalidParameter", ess.profiles, T, ["entropy", "mean"])
    raises("InvalidParameter", ess.entropy, T, threads=0)
    raises("InvalidParameter", ess.entropy, ess.dense(T), block=(1, 1))
    raises("IndexOutOfRange", ess.singular_values, T, 8)
    raises("ChannelOutOfRange", ess.singular_values, T, 3, channel=2)
    raises("InvalidParameter", ess.singular_values, T, 3, batch=1)


def test_memory_budget_is_refused_before_computing():
    msg = raises("MemoryBudget", ess.entropy, T, memory_budget=100)
    assert "100 bytes" in msg
    raises("MemoryBudget", ess.plan, T, memory_budget=100)
    big = ess.fir_convolution(np.ones((1, 3)), 10**9)  # L = 1e9: only the structured path fits
    p = ess.plan(big, indices="middle")
    assert p.method == "structured" and p.bytes < 1024
    raises("MemoryBudget", ess.plan, big, method="dense", indices="middle")


def test_a_panic_never_reaches_python():
    # A deliberate panic (a test hook): an EssError, not a PanicException, and
    # the module keeps working, on the calling thread and in a worker alike.
    from effective_state_size import _native

    for in_worker in (False, True):
        with pytest.raises(ess.EssError, match="internal error.*deliberate panic") as err:
            _native._panic(in_worker)
        assert err.value.kind == "Internal"
        assert ess.entropy(T).values.shape == (2, 7)
