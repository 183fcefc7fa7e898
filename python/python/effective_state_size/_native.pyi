"""Type stubs of the compiled module ``effective_state_size._native``.

Shapes use ``B`` for batch axes (any number of leading axes where noted), ``C``
or ``H`` for channels or heads, ``L`` for the sequence length, ``d`` for the head
dimension, ``N`` for the state size and ``n`` for the number of evaluated
indices.
"""

from typing import Any, Callable, Iterable, Iterator, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str
DEFAULT_MEMORY_BUDGET: int

#: An array of float32 or float64 values: a NumPy array (any memory order or
#: strides), a CPU PyTorch tensor, or anything ``numpy.asarray`` accepts.
Array = ArrayLike
#: ``"all"``, ``"middle"``, ``"stride:K"`` or a sequence of indices ``1 ≤ i ≤ L-1``.
IndicesArg = Union[None, str, Sequence[int], NDArray[np.integer[Any]]]
MethodArg = Literal["auto", "dense", "structured", "lowrank"]
MeasureArg = Union[Literal["entropy", "tolerance", "numerical_rank", "rank"], "Tolerance"]
#: ``progress(done, total)``: blocks ``(channel, index)`` done and requested;
#: return ``False`` to cancel.
ProgressFn = Callable[[int, int], Optional[bool]]

class EssError(ValueError):
    """An error reported by effective-state-size (invalid input, memory budget,
    cancellation); ``str(err)`` is the library's message."""

    kind: str
    """The error variant, e.g. ``"NotCausal"``, ``"NonFinite"``, ``"ShapeMismatch"``,
    ``"InvalidParameter"``, ``"InvalidTolerance"``, ``"MemoryBudget"``,
    ``"Cancelled"``; ``"Internal"`` is a bug."""

class Tolerance:
    """A tolerance-ESS threshold; ``Tolerance()`` is ``rel=1e-3``."""

    def __init__(self, *, rel: Optional[float] = None, abs: Optional[float] = None, rank: bool = False) -> None: ...
    @property
    def mode(self) -> Literal["relative", "absolute", "numerical_rank"]: ...
    @property
    def value(self) -> Optional[float]: ...
    def __eq__(self, other: object) -> bool: ...

class Operator:
    """A causal linear operator, or a batch of them, in float32 or float64."""

    @property
    def family(self) -> str: ...
    @property
    def seq_len(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def block(self) -> Tuple[int, int]: ...
    @property
    def batch_shape(self) -> Tuple[int, ...]: ...
    @property
    def dtype(self) -> Literal["float32", "float64"]: ...
    @property
    def tss(self) -> Optional[int]: ...
    @property
    def realization(self) -> Optional[Literal["time-invariant", "time-varying"]]: ...
    @property
    def order(self) -> Optional[int]: ...
    def dense(self, *, memory_budget: Optional[int] = None, threads: Optional[int] = None) -> NDArray[np.floating[Any]]:
        """``T`` of every channel: ``batch_shape + (C, p·L, m·L)``."""

class Profile:
    """One measure's ESS profile; arrays have the batch axes first."""

    @property
    def values(self) -> NDArray[np.float64]:
        """``batch_shape + (channels, n)``."""
    @property
    def indices(self) -> NDArray[np.int64]:
        """``(n,)``, ascending."""
    @property
    def measure(self) -> Literal["entropy", "tolerance"]: ...
    @property
    def tolerance(self) -> Optional[Tolerance]: ...
    @property
    def method(self) -> Literal["dense", "structured", "lowrank"]: ...
    @property
    def lower(self) -> Optional[NDArray[np.float64]]:
        """Guaranteed lower ends (``method="lowrank"``), shape of ``values``; else ``None``."""
    @property
    def upper(self) -> Optional[NDArray[np.float64]]:
        """Guaranteed upper ends (``method="lowrank"``), shape of ``values``; else ``None``."""
    @property
    def ambiguous(self) -> Optional[NDArray[np.bool_]]:
        """``lower != upper`` (``method="lowrank"``); else ``None``."""
    @property
    def seq_len(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def tss(self) -> Optional[int]: ...
    @property
    def batch_shape(self) -> Tuple[int, ...]: ...
    @property
    def block(self) -> Tuple[int, int]: ...
    @property
    def dtype(self) -> Literal["float32", "float64"]: ...
    @property
    def mean(self) -> Union[float, NDArray[np.float64]]:
        """A float; an array of ``batch_shape`` for a batch."""
    @property
    def max(self) -> Union[float, NDArray[np.float64]]: ...
    @property
    def channel_mean(self) -> NDArray[np.float64]:
        """``batch_shape + (channels,)``."""
    @property
    def channel_max(self) -> NDArray[np.float64]: ...
    @property
    def average(self) -> NDArray[np.float64]:
        """Mean over channels, ``batch_shape + (n,)``."""
    @property
    def total(self) -> NDArray[np.float64]:
        """Sum over channels, ``batch_shape + (n,)``."""
    def utilization(self, tss: Optional[float] = None) -> NDArray[np.float64]: ...
    def mean_utilization(self, tss: Optional[float] = None) -> Union[float, NDArray[np.float64]]: ...
    def max_utilization(self, tss: Optional[float] = None) -> Union[float, NDArray[np.float64]]: ...
    def normalized(self) -> NDArray[np.float64]:
        """``values / min(p·(L−i), m·i)``, ``B + (C, n)``, in ``[0, 1]``."""
    @property
    def normalized_mean(self) -> Union[float, NDArray[np.float64]]: ...
    def marker_modulation(self, positions: Sequence[int], window: int = 1) -> MarkerModulation:
        """Δ at each marker position (``1 ≤ t ≤ L-2``), baseline and z; a batch is pooled."""
    def to_dict(self, file: Optional[str] = None) -> dict[str, Any]:
        """The JSON report of ``ess profile --format json``; a batch as the CLI
        reports a 4-D tensor (mean in ``<name>_ess``, std in ``<name>_ess_std``)."""

class Profiles(Sequence[Profile]):
    """Several measures of one operator, indexable by position or name."""

    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, key: int) -> Profile: ...
    @overload
    def __getitem__(self, key: str) -> Profile: ...
    @overload
    def __getitem__(self, key: slice) -> Sequence[Profile]: ...
    def __iter__(self) -> Iterator[Profile]: ...
    @property
    def names(self) -> list[str]: ...
    def to_dict(self, file: Optional[str] = None) -> dict[str, Any]: ...

class Plan:
    @property
    def method(self) -> Literal["dense", "structured", "lowrank"]: ...
    @property
    def indices(self) -> NDArray[np.int64]: ...
    @property
    def bytes(self) -> int: ...
    @property
    def budget(self) -> int: ...
    @property
    def reason(self) -> str: ...

class Verification:
    channels: int
    apply_error: float
    realization_error: Optional[float]
    threshold: float

class BatchProfile:
    @property
    def inputs(self) -> int: ...
    @property
    def indices(self) -> NDArray[np.int64]: ...
    @property
    def measure(self) -> Literal["entropy", "tolerance"]: ...
    @property
    def tolerance(self) -> Optional[Tolerance]: ...
    @property
    def mean(self) -> NDArray[np.float64]:
        """``(channels, n)``."""
    @property
    def std(self) -> NDArray[np.float64]: ...
    @property
    def min(self) -> NDArray[np.float64]: ...
    @property
    def max(self) -> NDArray[np.float64]: ...
    def marker_modulation(self, positions: Sequence[int], window: int = 1) -> MarkerModulation: ...
    def to_dict(self) -> dict[str, Any]: ...

class MarkerModulation:
    """Delimiter (marker) modulation of one measure."""

    @property
    def measure(self) -> Literal["entropy", "tolerance"]: ...
    @property
    def positions(self) -> list[int]: ...
    @property
    def window(self) -> int: ...
    @property
    def items(self) -> int: ...
    @property
    def deltas(self) -> NDArray[np.float64]:
        """``(C, len(positions))``."""
    @property
    def mean_delta(self) -> float: ...
    @property
    def baseline_mean(self) -> Optional[float]: ...
    @property
    def baseline_std(self) -> Optional[float]: ...
    @property
    def z(self) -> Optional[float]: ...
    def to_dict(self) -> dict[str, Any]:
        """The ``"markers"`` object of ``ess profile --mark ... --format json``."""

class ToleranceSweep:
    """Tolerance-ESS at several thresholds (``tolerance_sweep``)."""

    @property
    def tolerances(self) -> list[Tolerance]: ...
    @property
    def profiles(self) -> list[Profile]: ...
    @property
    def mean(self) -> NDArray[np.float64]:
        """``(K,)``: one per threshold."""
    @property
    def max(self) -> NDArray[np.float64]: ...
    @property
    def channel_mean(self) -> NDArray[np.float64]:
        """``(K, C)``."""
    def __len__(self) -> int: ...
    def to_dict(self) -> dict[str, Any]:
        """``{"sweep": [{"mode", "value", "mean", "max", "channel_mean"}]}``."""

class Gradient:
    """A smooth ESS measure and its gradient with respect to ``T`` (``gradient``)."""

    @property
    def values(self) -> NDArray[np.float64]:
        """``B + (C, n)``, or ``(n,)`` for an ``(L, L)`` array."""
    @property
    def indices(self) -> NDArray[np.int64]: ...
    @property
    def total(self) -> Union[float, NDArray[np.float64]]: ...
    @property
    def gradient(self) -> NDArray[np.floating[Any]]:
        """``∂ total / ∂T``, shaped like ``T``."""

class Reduction:
    """A reduced operator and its certificate (``reduce``)."""

    @property
    def order(self) -> int: ...
    @property
    def method(self) -> Literal["dense", "structured", "kernel"]: ...
    @property
    def algorithm(self) -> Literal["balanced truncation", "hankel blocks", "convolution kernel"]: ...
    @property
    def orders(self) -> NDArray[np.int64]: ...
    @property
    def error_bound(self) -> NDArray[np.float64]: ...
    @property
    def cut_sum(self) -> NDArray[np.float64]: ...
    @property
    def classical_bound(self) -> NDArray[np.float64]: ...
    @property
    def lower_bound(self) -> NDArray[np.float64]: ...
    @property
    def error(self) -> NDArray[np.float64]:
        """NaN where not measured."""
    @property
    def A(self) -> NDArray[np.floating[Any]]:
        """``(C, L, R, R)``."""
    @property
    def B(self) -> NDArray[np.floating[Any]]:
        """``(C, L, R, m)``."""
    @property
    def C(self) -> NDArray[np.floating[Any]]:
        """``(C, L, p, R)``."""
    @property
    def D(self) -> NDArray[np.floating[Any]]:
        """``(C, L, p, m)``."""
    @property
    def operator(self) -> Operator: ...
    def to_dict(self) -> dict[str, Any]: ...

Operand = Union[Operator, Array]

def entropy(
    x: Operand,
    *,
    indices: IndicesArg = None,
    method: MethodArg = "auto",
    interval_width: Optional[float] = None,
    max_rank: Optional[int] = None,
    memory_budget: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
    block: Optional[Tuple[int, int]] = None,
    causal_part: bool = False,
    tss: Optional[int] = None,
) -> Profile:
    """Entropy-ESS of every channel at every Hankel index. ``x``: an ``Operator``
    or dense causal matrices ``(L, L)``, ``(C, L, L)``, ``(B, C, L, L)``."""

def tolerance(
    x: Operand,
    *,
    rel: Optional[float] = None,
    abs: Optional[float] = None,
    rank: bool = False,
    indices: IndicesArg = None,
    method: MethodArg = "auto",
    interval_width: Optional[float] = None,
    max_rank: Optional[int] = None,
    memory_budget: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
    block: Optional[Tuple[int, int]] = None,
    causal_part: bool = False,
    tss: Optional[int] = None,
) -> Profile:
    """Tolerance-ESS ``#{k : σ_k(H_i) > threshold}`` (default ``rel=1e-3``)."""

def profiles(
    x: Operand,
    measures: Union[None, MeasureArg, Sequence[MeasureArg]] = None,
    *,
    indices: IndicesArg = None,
    method: MethodArg = "auto",
    interval_width: Optional[float] = None,
    max_rank: Optional[int] = None,
    memory_budget: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
    block: Optional[Tuple[int, int]] = None,
    causal_part: bool = False,
    tss: Optional[int] = None,
) -> Profiles:
    """Several measures from one sweep (default ``["tolerance", "entropy"]``)."""

def plan(
    x: Operand,
    *,
    indices: IndicesArg = None,
    method: MethodArg = "auto",
    memory_budget: Optional[int] = None,
    block: Optional[Tuple[int, int]] = None,
    causal_part: bool = False,
) -> Plan: ...
def verify(
    x: Operand, *, threads: Optional[int] = None, block: Optional[Tuple[int, int]] = None, causal_part: bool = False
) -> Verification: ...
def singular_values(
    x: Operand,
    i: int,
    *,
    channel: int = 0,
    batch: int = 0,
    method: MethodArg = "auto",
    memory_budget: Optional[int] = None,
    threads: Optional[int] = None,
    block: Optional[Tuple[int, int]] = None,
    causal_part: bool = False,
) -> NDArray[np.floating[Any]]: ...
def over_inputs(
    featurizer: Callable[[Any], Operand],
    inputs: Iterable[Any],
    measure: Optional[MeasureArg] = None,
    *,
    indices: IndicesArg = None,
    method: MethodArg = "auto",
    interval_width: Optional[float] = None,
    max_rank: Optional[int] = None,
    memory_budget: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
) -> BatchProfile: ...

def tolerance_sweep(
    x: Operand,
    rel: Union[None, float, Sequence[float]] = None,
    abs: Union[None, float, Sequence[float]] = None,
    *,
    rank: bool = False,
    indices: IndicesArg = None,
    method: MethodArg = "auto",
    interval_width: Optional[float] = None,
    max_rank: Optional[int] = None,
    memory_budget: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
    block: Optional[Tuple[int, int]] = None,
    causal_part: bool = False,
    tss: Optional[int] = None,
) -> ToleranceSweep:
    """Tolerance-ESS at many thresholds from one sweep of singular values."""

def gradient(
    x: Operand,
    measure: Literal["entropy", "tolerance"] = "entropy",
    *,
    rel: Optional[float] = None,
    abs: Optional[float] = None,
    temperature: float = 0.1,
    indices: IndicesArg = None,
    threads: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
    block: Optional[Tuple[int, int]] = None,
    causal_part: bool = False,
) -> Gradient:
    """``∂ Σ_i ESS_i / ∂T`` of entropy-ESS or the soft tolerance surrogate."""

def reduce(
    x: Operand,
    order: Optional[int] = None,
    *,
    rel: Optional[float] = None,
    abs: Optional[float] = None,
    rank: bool = False,
    method: MethodArg = "auto",
    algorithm: Optional[Literal["balanced_truncation", "hankel_blocks", "convolution_kernel"]] = None,
    measured_error: bool = True,
    memory_budget: Optional[int] = None,
    threads: Optional[int] = None,
    block: Optional[Tuple[int, int]] = None,
    causal_part: bool = False,
) -> Reduction:
    """Distil an operator into a small recurrence with a certified error."""

# Operators. Shapes: see each docstring and docs/python.md.
def dense(t: Array, *, block: Optional[Tuple[int, int]] = None, causal_part: bool = False) -> Operator:
    """``(L, L)``, ``(C, L, L)`` or ``(B..., C, L, L)``; ``(…, C, p·L, m·L)`` with ``block``."""

def softmax_attention(
    q: Array,
    k: Array,
    *,
    scale: Optional[float] = None,
    window: Optional[int] = None,
    alibi: Optional[Array] = None,
    bias: Optional[Array] = None,
    head_first: bool = False,
) -> Operator:
    """``q``, ``k``: ``(B..., L, H, d)``, ``(L, H, d)`` or ``(L, d)``; ``k`` may have
    ``H_kv`` heads dividing ``H``; ``head_first=True``: ``(B..., H, L, d)``.
    ``alibi``: ``(H,)``. ``bias``: ``(L, L)``, ``(H, L, L)`` or ``(B..., H, L, L)``."""

def linear_attention(
    q: Array,
    k: Array,
    *,
    feature_map: Literal["identity", "elu+1", "elu_plus_one", "relu"] = "identity",
    normalize: bool = False,
    head_first: bool = False,
) -> Operator:
    """``q``, ``k``: ``(B..., L, H, d)`` (``head_first``: ``(B..., H, L, d)``)."""

def decayed_linear_attention(q: Array, k: Array, gamma: Union[float, Array], *, head_first: bool = False) -> Operator:
    """``q``, ``k``: ``(B..., L, H, d)``; ``gamma``: ``(H,)`` or a float, in ``[0, 1]``."""

def gated_linear_attention(q: Array, k: Array, alpha: Array, *, head_first: bool = False) -> Operator:
    """``q``, ``k``, ``alpha``: ``(B..., L, H, d)``; gates in ``[0, 1]``."""

def delta_net(q: Array, k: Array, beta: Array, *, alpha: Optional[Array] = None, head_first: bool = False) -> Operator:
    """``q``, ``k``: ``(B..., L, H, d)``; ``beta``, ``alpha``: ``(B..., L, H)``."""

def mamba(a: Array, delta: Array, b: Array, c: Array) -> Operator:
    """``A`` ``(D, N)`` ≤ 0; ``delta`` ``(B..., L, D)`` after softplus; ``B``, ``C``
    ``(B..., L, N)`` (sequence-major, as ``x_proj`` and ``dt_proj`` produce them)."""

def mamba2(a: Array, dt: Array, b: Array, c: Array) -> Operator:
    """mamba_chunk_scan_combined layout: ``A`` ``(H,)`` ≤ 0; ``dt`` ``(B..., L, H)``;
    ``B``, ``C`` ``(B..., L, G, N)`` or ``(B..., L, N)``."""

def ssd(a: Array, b: Array, c: Array, *, head_first: bool = False) -> Operator:
    """``a`` ``(B..., L, H)`` in ``[0, 1]``; ``B``, ``C`` ``(B..., L, H, N)``
    (``head_first``: ``(B..., H, L)``, ``(B..., H, L, N)``)."""

def lti_state_space(a: Array, b: Array, c: Array, length: int) -> Operator:
    """Diagonal: ``A``, ``B``, ``C`` ``(C, N)`` or ``(N,)``. Dense: ``A`` ``(C, N, N)``,
    ``B`` ``(C, N, m)``, ``C`` ``(C, p, N)``."""

def time_varying_state_space(a: Array, b: Array, c: Array) -> Operator:
    """``A`` ``(C, L, N, N)``, ``B`` ``(C, L, N, m)``, ``C`` ``(C, L, p, N)``."""

def fir_convolution(h: Array, length: int) -> Operator:
    """``h``: ``(C, k)`` or ``(k,)``, ``h[..., 0]`` on the current input."""

def long_convolution(h: Array) -> Operator:
    """``h``: ``(C, L)`` or ``(L,)``."""

def gated_convolution(h: Array, z: Array, v: Array) -> Operator:
    """``h``: ``(C, k)`` or ``(k,)``; ``z``, ``v``: ``(C, L)`` or ``(L,)``."""
