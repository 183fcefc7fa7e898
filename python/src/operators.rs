//! The `Operator` class and one constructor per family, taking the layouts of
//! PyTorch code (documented on each function and in `docs/python.md`).
//!
//! An `Operator` holds one library operator per batch element (a leading batch
//! axis is allowed wherever the family's tensors have one in PyTorch), all of
//! the same sizes, in float32 or float64 (float64 if any array is float64).

use crate::convert::{
    check_batch, expect_shape, fmt_shape, labelled, matrix, row_major, shape_error, split_leading, Arr, Dtype, Float,
};
use crate::run::{run, Exec};
use crate::{guard, param, Error, Result};
use effective_state_size::nalgebra::DMatrix;
use effective_state_size::{
    AttentionBias, BlockShape, DecayedLinearAttention, DeltaNet, DenseOperator, Dims, FeatureMap, FirConvolution,
    GatedConvolution, GatedLinearAttention, LinearAttention, LinearOperator, LongConvolution, LtiStateSpace,
    MambaChannels, OperatorExt, RealizationInfo, Scalar, SoftmaxAttention, Ssd, TimeVaryingStateSpace,
};
use numpy::ndarray::{ArrayD, ArrayViewD, Axis, CowArray, Dimension, IxDyn};
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// A library operator of scalar `T` that can move between threads.
pub(crate) trait Op<T: Scalar>: LinearOperator<Scalar = T> + Send + Sync {}
impl<T: Scalar, O: LinearOperator<Scalar = T> + Send + Sync> Op<T> for O {}

/// A boxed operator.
pub(crate) type BoxOp<T> = Box<dyn Op<T>>;

/// The operators of every batch element, in their scalar type.
pub(crate) enum Ops {
    F32(Vec<BoxOp<f32>>),
    F64(Vec<BoxOp<f64>>),
}

/// Runs `$body` with `$v` bound to the operators as `&Vec<BoxOp<f32>>` or
/// `&Vec<BoxOp<f64>>`.
macro_rules! dispatch {
    ($ops:expr, $v:ident => $body:expr) => {
        match $ops {
            $crate::operators::Ops::F32($v) => $body,
            $crate::operators::Ops::F64($v) => $body,
        }
    };
}
pub(crate) use dispatch;

/// Runs `$body` with the type alias `$t` set to `f32` or `f64`.
macro_rules! by_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            Dtype::F32 => {
                type $t = f32;
                $body
            }
            Dtype::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}

/// What every batch element shares, read from the first.
struct Info {
    family: &'static str,
    seq_len: usize,
    channels: usize,
    block: BlockShape,
    tss: Option<usize>,
    realization: RealizationInfo,
}

/// A causal linear operator (or a batch of them, one per leading index) in
/// float32 or float64: a dense tensor or a family built from its parameters.
///
/// Pass it to ``entropy``, ``tolerance``, ``profiles``, ``plan``, ``verify``,
/// ``singular_values``; or return it from a featurizer given to ``over_inputs``.
#[pyclass(module = "effective_state_size", frozen)]
pub(crate) struct Operator {
    pub(crate) ops: Ops,
    pub(crate) batch_shape: Vec<usize>,
}

impl Operator {
    pub(crate) fn new<T: Float>(ops: Vec<BoxOp<T>>, batch_shape: Vec<usize>) -> Self {
        debug_assert_eq!(ops.len(), batch_shape.iter().product::<usize>());
        Operator { ops: T::wrap(ops), batch_shape }
    }

    fn info(&self) -> Info {
        dispatch!(&self.ops, v => {
            let op = &v[0];
            Info {
                family: op.family(),
                seq_len: op.seq_len(),
                channels: op.channels(),
                block: op.block_shape(),
                tss: op.theoretical_state_size(),
                realization: op.realization_info(),
            }
        })
    }

    /// float32 or float64.
    pub(crate) fn scalar_dtype(&self) -> Dtype {
        match self.ops {
            Ops::F32(_) => Dtype::F32,
            Ops::F64(_) => Dtype::F64,
        }
    }

    /// Number of batch elements.
    pub(crate) fn len(&self) -> usize {
        dispatch!(&self.ops, v => v.len())
    }
}

#[pymethods]
impl Operator {
    /// The family, e.g. ``"softmax attention"``, ``"Mamba (S6)"``, ``"dense"``.
    #[getter]
    fn family(&self) -> &'static str {
        self.info().family
    }
    /// Sequence length ``L``.
    #[getter]
    fn seq_len(&self) -> usize {
        self.info().seq_len
    }
    /// Channels (heads) per batch element.
    #[getter]
    fn channels(&self) -> usize {
        self.info().channels
    }
    /// ``(p, m)``: outputs and inputs per step.
    #[getter]
    fn block(&self) -> (usize, usize) {
        let b = self.info().block;
        (b.outputs, b.inputs)
    }
    /// The leading batch axes, ``()`` for a single operator.
    #[getter]
    fn batch_shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.batch_shape)
    }
    /// ``"float32"`` or ``"float64"``: the precision of every computation on it.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.scalar_dtype().numpy_name()
    }
    /// The theoretical state size, or ``None`` (softmax attention, long
    /// convolutions, dense tensors).
    #[getter]
    fn tss(&self) -> Option<usize> {
        self.info().tss
    }
    /// ``"time-invariant"``, ``"time-varying"`` or ``None``: the state realization
    /// the structured path uses.
    #[getter]
    fn realization(&self) -> Option<&'static str> {
        match self.info().realization {
            RealizationInfo::TimeInvariant { .. } => Some("time-invariant"),
            RealizationInfo::TimeVarying { .. } => Some("time-varying"),
            _ => None,
        }
    }
    /// The order ``N`` of the state realization, or ``None``.
    #[getter]
    fn order(&self) -> Option<usize> {
        self.info().realization.order()
    }

    /// The dense causal matrices ``T``, shape ``batch_shape + (C, p·L, m·L)``, in
    /// the operator's dtype (``y = T @ u`` per channel). Costs ``(p·L)·(m·L)``
    /// values per channel; refused above the memory budget per channel.
    #[pyo3(signature = (*, memory_budget=None, threads=None))]
    fn dense<'py>(
        &self,
        py: Python<'py>,
        memory_budget: Option<u64>,
        threads: Option<usize>,
    ) -> Result<Bound<'py, PyAny>> {
        guard(|| {
            let budget = memory_budget.unwrap_or(effective_state_size::planner::DEFAULT_MEMORY_BUDGET);
            let Info { channels, seq_len, block, .. } = self.info();
            let (rows, cols) = (block.outputs * seq_len, block.inputs * seq_len);
            let mut shape = self.batch_shape.clone();
            shape.extend([channels, rows, cols]);
            let exec = Exec { threads, progress: None };
            dispatch!(&self.ops, v => {
                let flat = run(py, &exec, |_| {
                    let mut flat = Vec::with_capacity(v.len() * channels * rows * cols);
                    for op in v.iter() {
                        for c in 0..channels {
                            let t = op.dense_within(c, budget)?;
                            for r in 0..rows {
                                flat.extend(t.row(r).iter().copied());
                            }
                        }
                    }
                    Ok(flat)
                })?;
                let array = ArrayD::from_shape_vec(IxDyn(&shape), flat).map_err(|e| param("dense", e.to_string()))?;
                Ok(array.into_pyarray(py).into_any())
            })
        })
    }

    fn __repr__(&self) -> String {
        let i = self.info();
        format!(
            "Operator(family='{}', batch_shape={}, channels={}, seq_len={}, block=({}, {}), tss={}, realization={}, dtype='{}')",
            i.family,
            fmt_shape(&self.batch_shape),
            i.channels,
            i.seq_len,
            i.block.outputs,
            i.block.inputs,
            i.tss.map_or("None".into(), |t| t.to_string()),
            self.realization().map_or("None".into(), |r| format!("'{r}'")),
            self.scalar_dtype().numpy_name(),
        )
    }
}

/// `"batch element (1, 0)"`, when there is a batch.
fn batch_context(batch: &[usize], flat: usize) -> impl Fn(Error) -> Error + '_ {
    move |e| {
        if batch.is_empty() {
            return e;
        }
        let mut idx = vec![0; batch.len()];
        let mut rem = flat;
        for (k, &d) in batch.iter().enumerate().rev() {
            idx[k] = rem % d;
            rem /= d;
        }
        e.context(|| format!("batch element {}", fmt_shape(&idx)))
    }
}

/// Splits `a` into the views of its batch elements: `a` has `batch.len()`
/// leading axes, then `core` axes; an implicit axis is inserted at `insert`
/// first (for `(L, d)` queries, which are one head).
fn items<'a, T>(a: ArrayViewD<'a, T>, batch: &[usize], insert: Option<usize>) -> Vec<ArrayViewD<'a, T>> {
    let a = match insert {
        Some(ax) => a.insert_axis(Axis(ax)),
        None => a,
    };
    split_leading(a, batch.len())
}

/// Builds a dense operator from a `(…, C, p·L, m·L)` tensor.
fn dense_ops<T: Float>(x: &Arr<'_>, block: BlockShape, causal_part: bool) -> Result<Operator> {
    let shape = x.shape();
    if shape.len() < 2 {
        return Err(shape_error(
            x.name(),
            "(L, L), (C, L, L) or (..., C, L, L); with block=(p, m): (C, p·L, m·L)",
            shape,
        ));
    }
    let (batch, insert) = if shape.len() == 2 { (vec![], Some(0)) } else { (shape[..shape.len() - 3].to_vec(), None) };
    check_batch(x.name(), &batch)?;
    let view = x.view::<T>();
    let mut ops: Vec<BoxOp<T>> = Vec::new();
    for (b, item) in items(view.view(), &batch, insert).into_iter().enumerate() {
        let mats: Vec<DMatrix<T>> =
            item.axis_iter(Axis(0)).map(|m| matrix(m.into_dimensionality().expect("2-D"))).collect();
        let op =
            if causal_part { DenseOperator::from_causal_part(mats, block) } else { DenseOperator::new(mats, block) };
        ops.push(Box::new(op.map_err(Error::from).map_err(batch_context(&batch, b))?));
    }
    Ok(Operator::new(ops, batch))
}

/// A dense tensor (or a batch of them) as an operator: what the array entry
/// points build from an array argument.
pub(crate) fn dense_operator(x: &Arr<'_>, block: BlockShape, causal_part: bool) -> Result<Operator> {
    by_dtype!(x.dtype(), T => dense_ops::<T>(x, block, causal_part))
}

/// A dense causal operator from its matrices.
///
/// ``T``: ``(L, L)`` (one channel), ``(C, L, L)`` (channels, e.g. the heads of
/// one attention map) or ``(B, C, L, L)`` (a batch; any number of leading batch
/// axes); with ``block=(p, m)`` each matrix is ``(p·L, m·L)``. ``y = T @ u``: row
/// ``t`` is output step ``t``, column ``s`` input step ``s``, so ``T`` must be
/// (block) lower-triangular; ``causal_part=True`` zeroes the upper part instead
/// (e.g. garbage above a causal mask). float32 or float64, any memory order.
#[pyfunction]
#[pyo3(signature = (t, *, block=None, causal_part=false))]
pub(crate) fn dense(t: &Bound<'_, PyAny>, block: Option<(usize, usize)>, causal_part: bool) -> Result<Operator> {
    guard(|| dense_operator(&Arr::new(t, "T")?, crate::convert::block(block)?, causal_part))
}

/// Per-head tensors of the attention-like families, sequence-major
/// `(…, L, H, d)` as `nn.Linear` outputs and flash-linear-attention kernels
/// have them, or head-first `(…, H, L, d)` (`head_first=True`, the layout of
/// `scaled_dot_product_attention`); `(L, d)` is one head either way. `k` may
/// have `H_kv` heads dividing `H` (grouped-query attention).
struct Heads {
    batch: Vec<usize>,
    heads: usize,
    kv_heads: usize,
    len: usize,
    d: usize,
    /// `(L, d)` queries: one head, no head axis.
    implicit: bool,
    /// `(…, L, H, …)` rather than `(…, H, L, …)`.
    seq_major: bool,
}

/// What a tensor of an attention-like family holds per step and head.
#[derive(Clone, Copy)]
enum PerHead {
    /// A vector: `(…, L, H, w)` (queries, keys, gates).
    Vector,
    /// A scalar: `(…, L, H)` (β, per-step gates, decays).
    Scalar,
}

impl Heads {
    fn of(q: &Arr<'_>, k: &Arr<'_>, head_first: bool) -> Result<Self> {
        let s = q.shape();
        let n = s.len();
        if n < 2 {
            let layout =
                if head_first { "(L, d), (H, L, d) or (B, H, L, d)" } else { "(L, d), (L, H, d) or (B, L, H, d)" };
            return Err(shape_error(q.name(), layout, s));
        }
        let implicit = n == 2;
        let seq_major = !head_first && !implicit;
        let batch = if implicit { vec![] } else { s[..n - 3].to_vec() };
        let (len, heads) = match (implicit, seq_major) {
            (true, _) => (s[0], 1),
            (false, true) => (s[n - 3], s[n - 2]),
            (false, false) => (s[n - 2], s[n - 3]),
        };
        let d = s[n - 1];
        check_batch(q.name(), &batch)?;
        if heads == 0 {
            return Err(effective_state_size::EssError::Empty {
                what: q.name().to_string(),
                hint: format!("shape {} has no head; give at least one", fmt_shape(s)),
            }
            .into());
        }
        let h = Heads { batch, heads, kv_heads: 1, len, d, implicit, seq_major };
        let ks = k.shape();
        let kv_heads = match (implicit, seq_major) {
            (true, _) => 1,
            (false, true) => ks.get(n - 2).copied().unwrap_or(0),
            (false, false) => ks.get(n - 3).copied().unwrap_or(0),
        };
        let ok = ks.len() == n
            && kv_heads > 0
            && heads % kv_heads == 0
            && ks == h.shape_with(kv_heads, PerHead::Vector, d).as_slice();
        if !ok {
            let expected = if implicit {
                labelled(&[], &[("L", len), ("d", d)])
            } else {
                let lead = if h.batch.is_empty() { String::new() } else { format!("batch={}, ", fmt_shape(&h.batch)) };
                let axes = if seq_major { format!("L={len}, H_kv") } else { format!("H_kv, L={len}") };
                format!("({lead}{axes}, d={d}) with H_kv dividing H={heads} (grouped-query attention)")
            };
            return Err(shape_error(k.name(), expected, ks));
        }
        Ok(Heads { kv_heads, ..h })
    }

    /// The shape of a tensor with `heads` heads holding `kind` of width `w`.
    fn shape_with(&self, heads: usize, kind: PerHead, w: usize) -> Vec<usize> {
        let mut s = self.batch.clone();
        match (self.implicit, self.seq_major) {
            (true, _) => s.push(self.len),
            (false, true) => s.extend([self.len, heads]),
            (false, false) => s.extend([heads, self.len]),
        }
        if let PerHead::Vector = kind {
            s.push(w);
        }
        s
    }

    fn dims(&self) -> Dims {
        Dims { channels: self.heads, len: self.len, width: self.d }
    }

    /// The batch-element views of a tensor, each head-first `(H, L[, w])` (the
    /// library's layout; a view, no copy).
    fn items<'a, T>(&self, a: ArrayViewD<'a, T>, kind: PerHead) -> Vec<ArrayViewD<'a, T>> {
        let mut a = a;
        if self.implicit {
            a = a.insert_axis(Axis(0));
        } else if self.seq_major {
            let n = a.ndim();
            match kind {
                PerHead::Vector => a.swap_axes(n - 3, n - 2),
                PerHead::Scalar => a.swap_axes(n - 2, n - 1),
            }
        }
        split_leading(a, self.batch.len())
    }

    /// Checks a companion tensor with `H` heads (`w` is ignored for scalars).
    fn expect(&self, a: &Arr<'_>, kind: PerHead, w: usize) -> Result<()> {
        let want = self.shape_with(self.heads, kind, w);
        if a.shape() != want.as_slice() {
            let mut axes: Vec<(&str, usize)> = Vec::new();
            match (self.implicit, self.seq_major) {
                (true, _) => axes.push(("L", self.len)),
                (false, true) => axes.extend([("L", self.len), ("H", self.heads)]),
                (false, false) => axes.extend([("H", self.heads), ("L", self.len)]),
            }
            if let PerHead::Vector = kind {
                axes.push(("d", w));
            }
            return Err(shape_error(a.name(), labelled(&self.batch, &axes), a.shape()));
        }
        Ok(())
    }

    /// Row-major head-first keys `(H, L, d)` of one batch element: grouped
    /// heads repeated (head `h` reads key head `h / (H / H_kv)`, as
    /// `repeat_interleave` does).
    fn keys<T: Copy>(&self, k: &ArrayViewD<'_, T>) -> Vec<T> {
        let data = row_major(k);
        if self.kv_heads == self.heads {
            return data.into_owned();
        }
        let per = self.len * self.d;
        let rep = self.heads / self.kv_heads;
        (0..self.heads).flat_map(|h| data[(h / rep) * per..(h / rep + 1) * per].iter().copied()).collect()
    }
}

/// Reads an optional array argument.
fn opt_arr<'py>(obj: Option<&Bound<'py, PyAny>>, name: &str) -> Result<Option<Arr<'py>>> {
    obj.filter(|o| !o.is_none()).map(|o| Arr::new(o, name)).transpose()
}

/// The dtype of an operator built from these arrays.
fn promote(arrays: &[Option<&Arr<'_>>]) -> Dtype {
    let present: Vec<&Arr<'_>> = arrays.iter().flatten().copied().collect();
    Dtype::promote(&present)
}

/// Causal softmax attention, ``T = softmax(scale·q kᵀ + bias, masked)`` per head.
///
/// ``q``, ``k``: ``(B, L, H, d)``, ``(L, H, d)`` or ``(L, d)`` (one head), as the
/// projections produce them (``q_proj(x).unflatten(-1, (H, d))``);
/// ``head_first=True``: ``(B, H, L, d)``, the layout of
/// ``scaled_dot_product_attention``. ``k`` may have fewer heads than ``q``
/// (grouped-query attention: ``H_kv`` dividing ``H``).
/// ``scale`` defaults to ``1/sqrt(d)``. ``window=w`` lets step ``t`` see steps
/// ``t-w+1..t`` (TSS ``w-1``). ``alibi``: one slope per head, ``(H,)``, adding
/// ``-slope·(t-s)``. ``bias``: an additive bias ``(L, L)``, ``(H, L, L)`` or
/// ``(B, H, L, L)`` (a head axis of 1 is broadcast); only its causal part is read,
/// ``-inf`` masks an entry. Give ``alibi`` or ``bias``, not both.
#[pyfunction]
#[pyo3(signature = (q, k, *, scale=None, window=None, alibi=None, bias=None, head_first=false))]
pub(crate) fn softmax_attention(
    q: &Bound<'_, PyAny>,
    k: &Bound<'_, PyAny>,
    scale: Option<f64>,
    window: Option<usize>,
    alibi: Option<&Bound<'_, PyAny>>,
    bias: Option<&Bound<'_, PyAny>>,
    head_first: bool,
) -> Result<Operator> {
    guard(|| {
        let (q, k) = (Arr::new(q, "q")?, Arr::new(k, "k")?);
        let alibi = opt_arr(alibi, "alibi")?;
        let bias = opt_arr(bias, "bias")?;
        if alibi.is_some() && bias.is_some() {
            return Err(param("bias", "give alibi= or bias=, not both (fold the ALiBi term into the bias)"));
        }
        let dtype = promote(&[Some(&q), Some(&k), alibi.as_ref(), bias.as_ref()]);
        by_dtype!(dtype, T => softmax_t::<T>(&q, &k, scale, window, alibi.as_ref(), bias.as_ref(), head_first))
    })
}

fn softmax_t<T: Float>(
    q: &Arr<'_>,
    k: &Arr<'_>,
    scale: Option<f64>,
    window: Option<usize>,
    alibi: Option<&Arr<'_>>,
    bias: Option<&Arr<'_>>,
    head_first: bool,
) -> Result<Operator> {
    let h = Heads::of(q, k, head_first)?;
    let (heads, len) = (h.heads, h.len);
    let slopes: Option<Vec<T>> = match alibi {
        Some(a) => {
            expect_shape(a, &[], &[("heads", heads)])?;
            Some(row_major(&a.view::<T>().view()).into_owned())
        }
        None => None,
    };
    // The bias: (…, H_b, L, L) with H_b ∈ {1, H} and no batch axes or the batch's.
    let bias_view = bias.map(|b| b.view::<T>());
    let bias_items: Option<(Vec<ArrayViewD<'_, T>>, usize)> = match (bias, &bias_view) {
        (Some(b), Some(v)) => {
            let s = b.shape();
            let n = s.len();
            let hb = if n >= 3 { s[n - 3] } else { 1 };
            let lead = n.saturating_sub(3);
            let ok = n >= 2
                && s[n - 2..] == [len, len]
                && (hb == 1 || hb == heads)
                && (lead == 0 || s[..lead] == h.batch[..]);
            if !ok {
                return Err(shape_error(
                    b.name(),
                    format!(
                        "(L, L), (H, L, L) or {} (a head axis of 1 is broadcast)",
                        labelled(&h.batch, &[("H", heads), ("L", len), ("L", len)])
                    ),
                    s,
                ));
            }
            let insert = (n == 2).then_some(0);
            let its = items(v.view(), &s[..lead], insert);
            Some((its, hb))
        }
        _ => None,
    };
    let (qv, kv) = (q.view::<T>(), k.view::<T>());
    finite(&[(q, &qv), (k, &kv)])?;
    let mut ops: Vec<BoxOp<T>> = Vec::new();
    for (b, (qb, kb)) in
        h.items(qv.view(), PerHead::Vector).into_iter().zip(h.items(kv.view(), PerHead::Vector)).enumerate()
    {
        let ctx = batch_context(&h.batch, b);
        let build = || -> Result<SoftmaxAttention<T>> {
            let mut op = SoftmaxAttention::new(&row_major(&qb), &h.keys(&kb), h.dims())?;
            if let Some(s) = scale {
                op = op.with_scale(T::cast(s))?;
            }
            if let Some(w) = window {
                op = op.with_window(w)?;
            }
            if let Some(s) = &slopes {
                op = op.with_bias(AttentionBias::Alibi(s.clone()))?;
            }
            if let Some((its, hb)) = &bias_items {
                let item = if its.len() == 1 { &its[0] } else { &its[b] };
                let data = row_major(item);
                let m = if *hb == heads { data.into_owned() } else { data.repeat(heads) };
                op = op.with_bias(AttentionBias::Matrix(m))?;
            }
            Ok(op)
        };
        ops.push(Box::new(build().map_err(&ctx)?));
    }
    Ok(Operator::new(ops, h.batch))
}

/// Linear attention ``T[t,s] = φ(q_t)·φ(k_s)`` (``s ≤ t``), optionally
/// row-normalised by ``φ(q_t)·Σ_{r≤t} φ(k_r)``. TSS: the feature dimension.
///
/// ``q``, ``k``: ``(B, L, H, d)``, ``(L, H, d)`` or ``(L, d)`` (``k`` may have fewer
/// heads; ``head_first=True``: ``(B, H, L, d)``). ``feature_map``:
/// ``"identity"``, ``"elu+1"`` or ``"relu"`` (apply any other map to ``q`` and
/// ``k`` yourself and pass ``"identity"``).
#[pyfunction]
#[pyo3(signature = (q, k, *, feature_map="identity", normalize=false, head_first=false))]
pub(crate) fn linear_attention(
    q: &Bound<'_, PyAny>,
    k: &Bound<'_, PyAny>,
    feature_map: &str,
    normalize: bool,
    head_first: bool,
) -> Result<Operator> {
    guard(|| {
        let (q, k) = (Arr::new(q, "q")?, Arr::new(k, "k")?);
        by_dtype!(promote(&[Some(&q), Some(&k)]), T => {
            let map = match feature_map {
                "identity" => FeatureMap::<T>::Identity,
                "elu+1" | "elu_plus_one" => FeatureMap::EluPlusOne,
                "relu" => FeatureMap::Relu,
                other => return Err(param("feature_map", format!("{other:?}: use \"identity\", \"elu+1\" or \"relu\""))),
            };
            let h = Heads::of(&q, &k, head_first)?;
            let (qv, kv) = (q.view::<T>(), k.view::<T>());
            finite(&[(&q, &qv), (&k, &kv)])?;
            let mut ops: Vec<BoxOp<T>> = Vec::new();
            for (b, (qb, kb)) in h.items(qv.view(), PerHead::Vector).into_iter().zip(h.items(kv.view(), PerHead::Vector)).enumerate() {
                let build = || -> Result<LinearAttention<T>> {
                    let op = LinearAttention::new(&row_major(&qb), &h.keys(&kb), h.dims())?.with_feature_map(map.clone())?;
                    Ok(if normalize { op.normalized()? } else { op })
                };
                ops.push(Box::new(build().map_err(batch_context(&h.batch, b))?));
            }
            Ok(Operator::new(ops, h.batch))
        })
    })
}

/// Decayed linear attention (RetNet): ``T[t,s] = γ^(t-s) q_t·k_s``. TSS: ``d``.
///
/// ``q``, ``k``: ``(B, L, H, d)``, ``(L, H, d)`` or ``(L, d)``
/// (``head_first=True``: ``(B, H, L, d)``); ``gamma``: one decay in ``[0, 1]``
/// per head, ``(H,)``, or one float for every head.
#[pyfunction]
#[pyo3(signature = (q, k, gamma, *, head_first=false))]
pub(crate) fn decayed_linear_attention(
    q: &Bound<'_, PyAny>,
    k: &Bound<'_, PyAny>,
    gamma: &Bound<'_, PyAny>,
    head_first: bool,
) -> Result<Operator> {
    guard(|| {
        let (q, k) = (Arr::new(q, "q")?, Arr::new(k, "k")?);
        let scalar: Option<f64> = gamma.extract().ok();
        let gamma = if scalar.is_some() { None } else { Some(Arr::new(gamma, "gamma")?) };
        by_dtype!(promote(&[Some(&q), Some(&k), gamma.as_ref()]), T => {
            let h = Heads::of(&q, &k, head_first)?;
            let g: Vec<T> = match (&gamma, scalar) {
                (Some(g), _) => {
                    expect_shape(g, &[], &[("heads", h.heads)])?;
                    row_major(&g.view::<T>().view()).into_owned()
                }
                (None, Some(x)) => vec![T::cast(x); h.heads],
                (None, None) => unreachable!("gamma is a float or an array"),
            };
            let (qv, kv) = (q.view::<T>(), k.view::<T>());
            finite(&[(&q, &qv), (&k, &kv)])?;
            let mut ops: Vec<BoxOp<T>> = Vec::new();
            for (b, (qb, kb)) in h.items(qv.view(), PerHead::Vector).into_iter().zip(h.items(kv.view(), PerHead::Vector)).enumerate() {
                let op = DecayedLinearAttention::new(&row_major(&qb), &h.keys(&kb), &g, h.dims())
                    .map_err(Error::from)
                    .map_err(batch_context(&h.batch, b))?;
                ops.push(Box::new(op));
            }
            Ok(Operator::new(ops, h.batch))
        })
    })
}

/// Gated linear attention (GLA): ``T[t,s] = q_tᵀ diag(α_t ⊙ … ⊙ α_{s+1}) k_s``.
/// TSS: ``d``.
///
/// ``q``, ``k``, ``alpha``: ``(B, L, H, d)``, ``(L, H, d)`` or ``(L, d)``, the
/// layout of flash-linear-attention (``head_first=True``: ``(B, H, L, d)``);
/// gates ``alpha`` in ``[0, 1]`` (for log-gates ``g``, pass ``exp(g)``).
#[pyfunction]
#[pyo3(signature = (q, k, alpha, *, head_first=false))]
pub(crate) fn gated_linear_attention(
    q: &Bound<'_, PyAny>,
    k: &Bound<'_, PyAny>,
    alpha: &Bound<'_, PyAny>,
    head_first: bool,
) -> Result<Operator> {
    guard(|| {
        let (q, k, alpha) = (Arr::new(q, "q")?, Arr::new(k, "k")?, Arr::new(alpha, "alpha")?);
        by_dtype!(promote(&[Some(&q), Some(&k), Some(&alpha)]), T => {
            let h = Heads::of(&q, &k, head_first)?;
            h.expect(&alpha, PerHead::Vector, h.d)?;
            let (qv, kv, av) = (q.view::<T>(), k.view::<T>(), alpha.view::<T>());
            finite(&[(&q, &qv), (&k, &kv), (&alpha, &av)])?;
            let mut ops: Vec<BoxOp<T>> = Vec::new();
            let all = h.items(qv.view(), PerHead::Vector).into_iter().zip(h.items(kv.view(), PerHead::Vector)).zip(h.items(av.view(), PerHead::Vector));
            for (b, ((qb, kb), ab)) in all.enumerate() {
                let op = GatedLinearAttention::new(&row_major(&qb), &h.keys(&kb), &row_major(&ab), h.dims())
                    .map_err(Error::from)
                    .map_err(batch_context(&h.batch, b))?;
                ops.push(Box::new(op));
            }
            Ok(Operator::new(ops, h.batch))
        })
    })
}

/// DeltaNet, or gated DeltaNet with ``alpha``: state update
/// ``S_t = α_t (S_{t-1} - β_t k_t k_tᵀ S_{t-1}) + β_t k_t u_t``, ``y_t = q_t·S_t``.
/// TSS: ``d``.
///
/// ``q``, ``k``: ``(B, L, H, d)``, ``(L, H, d)`` or ``(L, d)`` (keys usually
/// L2-normalised); ``beta``: ``(B, L, H)`` (``(L, H)``, ``(L,)``) in ``[0, 2]``;
/// ``alpha`` (gated DeltaNet): the same shape, in ``[0, 1]``.
/// ``head_first=True``: ``(B, H, L, d)`` and ``(B, H, L)``.
#[pyfunction]
#[pyo3(signature = (q, k, beta, *, alpha=None, head_first=false))]
pub(crate) fn delta_net(
    q: &Bound<'_, PyAny>,
    k: &Bound<'_, PyAny>,
    beta: &Bound<'_, PyAny>,
    alpha: Option<&Bound<'_, PyAny>>,
    head_first: bool,
) -> Result<Operator> {
    guard(|| {
        let (q, k, beta) = (Arr::new(q, "q")?, Arr::new(k, "k")?, Arr::new(beta, "beta")?);
        let alpha = opt_arr(alpha, "alpha")?;
        by_dtype!(promote(&[Some(&q), Some(&k), Some(&beta), alpha.as_ref()]), T => {
            let h = Heads::of(&q, &k, head_first)?;
            h.expect(&beta, PerHead::Scalar, 0)?;
            if let Some(a) = &alpha {
                h.expect(a, PerHead::Scalar, 0)?;
            }
            let (qv, kv, bv) = (q.view::<T>(), k.view::<T>(), beta.view::<T>());
            let av = alpha.as_ref().map(|a| a.view::<T>());
            finite(&[(&q, &qv), (&k, &kv), (&beta, &bv)])?;
            if let (Some(a), Some(v)) = (&alpha, &av) {
                check_finite(a, &v.view())?;
            }
            let alphas: Vec<Option<ArrayViewD<'_, T>>> = match &av {
                Some(v) => h.items(v.view(), PerHead::Scalar).into_iter().map(Some).collect(),
                None => vec![None; h.batch.iter().product()],
            };
            let mut ops: Vec<BoxOp<T>> = Vec::new();
            let all = h.items(qv.view(), PerHead::Vector).into_iter().zip(h.items(kv.view(), PerHead::Vector)).zip(h.items(bv.view(), PerHead::Scalar)).zip(alphas);
            for (b, (((qb, kb), bb), ab)) in all.enumerate() {
                let (qd, kd, bd) = (row_major(&qb), h.keys(&kb), row_major(&bb));
                let op = match ab {
                    Some(ab) => DeltaNet::gated(&qd, &kd, &bd, &row_major(&ab), h.dims()),
                    None => DeltaNet::new(&qd, &kd, &bd, h.dims()),
                };
                ops.push(Box::new(op.map_err(Error::from).map_err(batch_context(&h.batch, b))?));
            }
            Ok(Operator::new(ops, h.batch))
        })
    })
}

/// Errors at the first non-finite value of any of `arrays`, at its position in
/// the caller's array (before any change of layout or batch split).
fn finite<T: Scalar>(arrays: &[(&Arr<'_>, &CowArray<'_, T, IxDyn>)]) -> Result<()> {
    for (a, v) in arrays {
        check_finite(a, &v.view())?;
    }
    Ok(())
}

/// Errors at the first non-finite value of `a` (before it is combined with
/// other values, so that the message names the argument).
fn check_finite<T: Scalar>(a: &Arr<'_>, v: &ArrayViewD<'_, T>) -> Result<()> {
    if let Some((idx, x)) = v.indexed_iter().find(|(_, x)| !x.is_finite_value()) {
        return Err(effective_state_size::EssError::NonFinite {
            what: a.name().to_string(),
            position: fmt_shape(idx.slice()),
            value: x.to_f64(),
        }
        .into());
    }
    Ok(())
}

/// Mamba (S6) selective SSM channels:
/// ``h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t``, ``y_t = C_t·h_t`` per channel.
/// TSS: ``N``.
///
/// Sequence-major, as the layer's projections produce them (and as
/// ``ess profile --family mamba`` reads them): ``A``: ``(D, N)``, continuous,
/// ``≤ 0`` (``-exp(A_log)``); ``delta``: ``(B, L, D)`` or ``(L, D)``, after
/// softplus (and the ``dt_proj`` bias); ``B``, ``C``: ``(B, L, N)`` or ``(L, N)``,
/// shared by the ``D`` channels. From ``selective_scan_fn``'s ``(B, D, L)`` and
/// ``(B, N, L)``, pass ``delta.transpose(1, 2)`` and so on.
#[pyfunction]
#[pyo3(signature = (a, delta, b, c))]
pub(crate) fn mamba(
    a: &Bound<'_, PyAny>,
    delta: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    c: &Bound<'_, PyAny>,
) -> Result<Operator> {
    guard(|| {
        let (a, delta, b, c) = (Arr::new(a, "A")?, Arr::new(delta, "delta")?, Arr::new(b, "B")?, Arr::new(c, "C")?);
        by_dtype!(promote(&[Some(&a), Some(&delta), Some(&b), Some(&c)]), T => {
            if a.ndim() != 2 {
                return Err(shape_error(a.name(), "(D, N)", a.shape()));
            }
            let (d, n) = (a.shape()[0], a.shape()[1]);
            let s = delta.shape();
            if s.len() < 2 || s[s.len() - 1] != d {
                return Err(shape_error(delta.name(), format!("(L, D={d}) or (B, L, D={d})"), s));
            }
            let batch = s[..s.len() - 2].to_vec();
            check_batch(delta.name(), &batch)?;
            let len = s[s.len() - 2];
            expect_shape(&b, &batch, &[("L", len), ("N", n)])?;
            expect_shape(&c, &batch, &[("L", len), ("N", n)])?;
            let av = a.view::<T>();
            let a_data = row_major(&av.view());
            let (dv, bv, cv) = (delta.view::<T>(), b.view::<T>(), c.view::<T>());
            finite(&[(&delta, &dv), (&b, &bv), (&c, &cv)])?;
            let dims = Dims { channels: d, len, width: n };
            let mut ops: Vec<BoxOp<T>> = Vec::new();
            let all = items(dv.view(), &batch, None).into_iter().zip(items(bv.view(), &batch, None)).zip(items(cv.view(), &batch, None));
            for (k, ((db, bb), cb)) in all.enumerate() {
                // Δ as the library's (D, L): the transpose of (L, D).
                let delta_dl: Vec<T> = db.t().iter().copied().collect();
                let op = MambaChannels::new(&a_data, &delta_dl, &row_major(&bb), &row_major(&cb), dims)
                    .map_err(Error::from)
                    .map_err(batch_context(&batch, k))?;
                ops.push(Box::new(op));
            }
            Ok(Operator::new(ops, batch))
        })
    })
}

/// Mamba-2 (SSD) heads, in the layout of ``mamba_ssm``'s
/// ``mamba_chunk_scan_combined(x, dt, A, B, C)``:
/// ``h_t = exp(dt_t A_h) h_{t-1} + dt_t B_t u_t``, ``y_t = C_t·h_t`` per head.
/// TSS: ``N``.
///
/// ``A``: ``(H,)``, ``≤ 0`` (``-exp(A_log)``); ``dt``: ``(B, L, H)`` or ``(L, H)``,
/// after softplus (and ``dt_bias``); ``B``, ``C``: ``(B, L, G, N)`` or
/// ``(B, L, N)`` (one group), or without the batch axis. Head ``h`` reads group
/// ``h // (H / G)``.
#[pyfunction]
#[pyo3(signature = (a, dt, b, c))]
pub(crate) fn mamba2(
    a: &Bound<'_, PyAny>,
    dt: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    c: &Bound<'_, PyAny>,
) -> Result<Operator> {
    guard(|| {
        let (a, dt, b, c) = (Arr::new(a, "A")?, Arr::new(dt, "dt")?, Arr::new(b, "B")?, Arr::new(c, "C")?);
        by_dtype!(promote(&[Some(&a), Some(&dt), Some(&b), Some(&c)]), T => mamba2_t::<T>(&a, &dt, &b, &c))
    })
}

fn mamba2_t<T: Float>(a: &Arr<'_>, dt: &Arr<'_>, b: &Arr<'_>, c: &Arr<'_>) -> Result<Operator> {
    if a.ndim() != 1 {
        return Err(shape_error(a.name(), "(H,)", a.shape()));
    }
    let heads = a.shape()[0];
    let s = dt.shape();
    if s.len() < 2 || s[s.len() - 1] != heads {
        return Err(shape_error(dt.name(), format!("(L, H={heads}) or (B, L, H={heads})"), s));
    }
    let batch = s[..s.len() - 2].to_vec();
    check_batch(dt.name(), &batch)?;
    let len = s[s.len() - 2];
    // B and C: batch + (L, G, N), or batch + (L, N) for one group.
    let bs = b.shape();
    let grouped = bs.len() == batch.len() + 3;
    let (groups, n) = match (grouped, bs.len() == batch.len() + 2) {
        (true, _) => (bs[bs.len() - 2], bs[bs.len() - 1]),
        (false, true) => (1, bs[bs.len() - 1]),
        _ => {
            let lead = if batch.is_empty() { String::new() } else { format!("batch={}, ", fmt_shape(&batch)) };
            return Err(shape_error(b.name(), format!("({lead}L={len}, G, N) or ({lead}L={len}, N)"), bs));
        }
    };
    let axes: Vec<(&str, usize)> =
        if grouped { vec![("L", len), ("G", groups), ("N", n)] } else { vec![("L", len), ("N", n)] };
    expect_shape(b, &batch, &axes)?;
    expect_shape(c, &batch, &axes)?;
    if groups == 0 || heads % groups != 0 {
        return Err(param("groups", format!("G = {groups} must divide the number of heads H = {heads}")));
    }
    let (av, dtv, bv, cv) = (a.view::<T>(), dt.view::<T>(), b.view::<T>(), c.view::<T>());
    check_finite(a, &av.view())?;
    check_finite(dt, &dtv.view())?;
    let a_h: Vec<T> = av.iter().copied().collect();
    if let Some((h, x)) = a_h.iter().enumerate().find(|(_, x)| **x > T::zero()) {
        return Err(param("A", format!("A[{h}] = {x} > 0: Mamba-2's A = -exp(A_log) is negative (a growing mode)")));
    }
    let per_group = heads / groups;
    let dims = Dims { channels: heads, len, width: n };
    let mut ops: Vec<BoxOp<T>> = Vec::new();
    let insert = (!grouped).then_some(batch.len() + 1);
    let all = items(dtv.view(), &batch, None)
        .into_iter()
        .zip(items(bv.view().insert_axis_opt(insert), &batch, None))
        .zip(items(cv.view().insert_axis_opt(insert), &batch, None));
    for (k, ((dtb, bb), cb)) in all.enumerate() {
        let build = || -> Result<Ssd<T>> {
            let dtb = dtb.into_dimensionality::<numpy::ndarray::Ix2>().expect("(L, H)");
            let bb = bb.into_dimensionality::<numpy::ndarray::Ix3>().expect("(L, G, N)");
            let cb = cb.into_dimensionality::<numpy::ndarray::Ix3>().expect("(L, G, N)");
            if let Some(((t, h), x)) = dtb.indexed_iter().find(|(_, x)| **x < T::zero()) {
                return Err(param("dt", format!("dt[t={t}, h={h}] = {x} < 0: steps are ≥ 0 (after softplus)")));
            }
            let mut decay = Vec::with_capacity(heads * len);
            let mut bd = Vec::with_capacity(heads * len * n);
            let mut cd = Vec::with_capacity(heads * len * n);
            for h in 0..heads {
                let g = h / per_group;
                for t in 0..len {
                    let step = dtb[[t, h]];
                    decay.push((step * a_h[h]).exp());
                    bd.extend((0..n).map(|j| step * bb[[t, g, j]]));
                    cd.extend((0..n).map(|j| cb[[t, g, j]]));
                }
            }
            Ok(Ssd::new(&decay, &bd, &cd, dims)?)
        };
        ops.push(Box::new(build().map_err(batch_context(&batch, k))?));
    }
    Ok(Operator::new(ops, batch))
}

/// `insert_axis` when `Some`.
trait InsertAxisOpt: Sized {
    fn insert_axis_opt(self, axis: Option<usize>) -> Self;
}

impl<T> InsertAxisOpt for ArrayViewD<'_, T> {
    fn insert_axis_opt(self, axis: Option<usize>) -> Self {
        match axis {
            Some(ax) => self.insert_axis(Axis(ax)),
            None => self,
        }
    }
}

/// SSD heads from their decays: ``T[t,s] = (a_t ⋯ a_{s+1}) C_t·B_s`` per head.
/// TSS: ``N``.
///
/// Sequence-major: ``a``: decays in ``[0, 1]`` (e.g. ``exp(dt·A)``), ``(B, L, H)``
/// or ``(L, H)``; ``B``, ``C``: ``(B, L, H, N)`` or ``(L, H, N)``, with the input
/// gain (e.g. ``dt·B``) in ``B``. ``head_first=True``: ``(B, H, L)`` and
/// ``(B, H, L, N)``. See ``mamba2`` for Mamba-2's own parameters.
#[pyfunction]
#[pyo3(signature = (a, b, c, *, head_first=false))]
pub(crate) fn ssd(
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    c: &Bound<'_, PyAny>,
    head_first: bool,
) -> Result<Operator> {
    guard(|| {
        let (a, b, c) = (Arr::new(a, "a")?, Arr::new(b, "B")?, Arr::new(c, "C")?);
        by_dtype!(promote(&[Some(&a), Some(&b), Some(&c)]), T => {
            // B and C are laid out like queries and keys, a like a per-step gate.
            let h = Heads::of(&b, &c, head_first)?;
            if h.kv_heads != h.heads {
                return Err(shape_error(c.name(), format!("the shape of B, {}", fmt_shape(b.shape())), c.shape()));
            }
            h.expect(&a, PerHead::Scalar, 0)?;
            let (av, bv, cv) = (a.view::<T>(), b.view::<T>(), c.view::<T>());
            finite(&[(&a, &av), (&b, &bv), (&c, &cv)])?;
            let mut ops: Vec<BoxOp<T>> = Vec::new();
            let all = h
                .items(av.view(), PerHead::Scalar)
                .into_iter()
                .zip(h.items(bv.view(), PerHead::Vector))
                .zip(h.items(cv.view(), PerHead::Vector));
            for (k, ((ab, bb), cb)) in all.enumerate() {
                let op = Ssd::new(&row_major(&ab), &row_major(&bb), &row_major(&cb), h.dims())
                    .map_err(Error::from)
                    .map_err(batch_context(&h.batch, k))?;
                ops.push(Box::new(op));
            }
            Ok(Operator::new(ops, h.batch))
        })
    })
}

/// Linear time-invariant state spaces ``x_t = A x_{t-1} + B u_t``,
/// ``y_t = C x_t``, one per channel, on sequences of ``length`` steps. TSS:
/// ``N``.
///
/// Diagonal ``A`` (S4D, LRU, discretised): ``A``, ``B``, ``C`` all ``(C, N)``
/// (``(N,)`` for one channel). Dense ``A``: ``A`` ``(C, N, N)``, ``B``
/// ``(C, N, m)``, ``C`` ``(C, p, N)`` (MIMO when ``p`` or ``m`` > 1). Already
/// discrete: ``A`` is the transition matrix, not the continuous one.
#[pyfunction]
#[pyo3(signature = (a, b, c, length))]
pub(crate) fn lti_state_space(
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    c: &Bound<'_, PyAny>,
    length: usize,
) -> Result<Operator> {
    guard(|| {
        let (a, b, c) = (Arr::new(a, "A")?, Arr::new(b, "B")?, Arr::new(c, "C")?);
        by_dtype!(promote(&[Some(&a), Some(&b), Some(&c)]), T => {
            let (av, bv, cv) = (a.view::<T>(), b.view::<T>(), c.view::<T>());
            let op = match a.ndim() {
                1 | 2 => {
                    let (channels, n) = if a.ndim() == 1 { (1, a.shape()[0]) } else { (a.shape()[0], a.shape()[1]) };
                    let axes: &[(&str, usize)] = if a.ndim() == 1 { &[("N", n)] } else { &[("C", channels), ("N", n)] };
                    expect_shape(&b, &[], axes)?;
                    expect_shape(&c, &[], axes)?;
                    let dims = Dims { channels, len: length, width: n };
                    LtiStateSpace::diagonal(&row_major(&av.view()), &row_major(&bv.view()), &row_major(&cv.view()), dims)?
                }
                3 => {
                    let s = a.shape();
                    let (channels, n) = (s[0], s[1]);
                    if s[2] != n {
                        return Err(shape_error(a.name(), "(C, N, N)", s));
                    }
                    let m = b.shape().last().copied().unwrap_or(0);
                    let p = if c.ndim() == 3 { c.shape()[1] } else { 0 };
                    expect_shape(&b, &[], &[("C", channels), ("N", n), ("m", m)])?;
                    expect_shape(&c, &[], &[("C", channels), ("p", p), ("N", n)])?;
                    let mats = |v: &ArrayViewD<'_, T>| -> Vec<DMatrix<T>> {
                        v.axis_iter(Axis(0)).map(|x| matrix(x.into_dimensionality().expect("2-D"))).collect()
                    };
                    let systems = mats(&av.view())
                        .into_iter()
                        .zip(mats(&bv.view()))
                        .zip(mats(&cv.view()))
                        .map(|((a, b), c)| (a, b, c))
                        .collect();
                    LtiStateSpace::from_matrices(systems, length)?
                }
                _ => return Err(shape_error(a.name(), "(C, N) (diagonal), (N,) (one diagonal channel) or (C, N, N)", a.shape())),
            };
            Ok(Operator::new(vec![Box::new(op) as BoxOp<T>], vec![]))
        })
    })
}

/// Time-varying state spaces ``x_t = A_t x_{t-1} + B_t u_t``, ``y_t = C_t x_t``.
/// TSS: ``N``.
///
/// ``A``: ``(C, L, N, N)``; ``B``: ``(C, L, N, m)``; ``C``: ``(C, L, p, N)``.
#[pyfunction]
#[pyo3(signature = (a, b, c))]
pub(crate) fn time_varying_state_space(
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    c: &Bound<'_, PyAny>,
) -> Result<Operator> {
    guard(|| {
        let (a, b, c) = (Arr::new(a, "A")?, Arr::new(b, "B")?, Arr::new(c, "C")?);
        by_dtype!(promote(&[Some(&a), Some(&b), Some(&c)]), T => {
            let s = a.shape();
            if s.len() != 4 || s[2] != s[3] {
                return Err(shape_error(a.name(), "(C, L, N, N)", s));
            }
            let (channels, len, n) = (s[0], s[1], s[2]);
            let m = if b.ndim() == 4 { b.shape()[3] } else { 0 };
            let p = if c.ndim() == 4 { c.shape()[2] } else { 0 };
            expect_shape(&b, &[], &[("C", channels), ("L", len), ("N", n), ("m", m)])?;
            expect_shape(&c, &[], &[("C", channels), ("L", len), ("p", p), ("N", n)])?;
            let (av, bv, cv) = (a.view::<T>(), b.view::<T>(), c.view::<T>());
            let op = TimeVaryingStateSpace::new(
                &row_major(&av.view()),
                &row_major(&bv.view()),
                &row_major(&cv.view()),
                Dims { channels, len, width: n },
                BlockShape { outputs: p, inputs: m },
            )?;
            Ok(Operator::new(vec![Box::new(op) as BoxOp<T>], vec![]))
        })
    })
}

/// Per-channel rows of a `(C, k)` (or `(k,)`) array, row-major.
fn rows<T: Float>(x: &Arr<'_>, what: &str) -> Result<(Vec<T>, usize, usize)> {
    let (channels, width) = match x.shape() {
        [k] => (1, *k),
        [c, k] => (*c, *k),
        s => return Err(shape_error(x.name(), format!("(C, {what}) or ({what},)"), s)),
    };
    Ok((row_major(&x.view::<T>().view()).into_owned(), channels, width))
}

/// Short causal convolutions ``y_t = Σ_j h_j u_{t-j}``, one kernel per channel.
/// TSS: ``k - 1``.
///
/// ``h``: ``(C, k)`` or ``(k,)``, ``h[:, 0]`` multiplying the current input. A
/// causal depthwise ``torch.nn.Conv1d`` (``padding=k-1``, output truncated to
/// ``L``, as in Mamba) with weight ``w`` ``(C, 1, k)`` has ``h = w[:, 0].flip(-1)``.
#[pyfunction]
#[pyo3(signature = (h, length))]
pub(crate) fn fir_convolution(h: &Bound<'_, PyAny>, length: usize) -> Result<Operator> {
    guard(|| {
        let h = Arr::new(h, "h")?;
        by_dtype!(h.dtype(), T => {
            let (data, _, k) = rows::<T>(&h, "k")?;
            let kernels: Vec<&[T]> = data.chunks(k.max(1)).collect();
            let op = FirConvolution::new(&kernels, length)?;
            Ok(Operator::new(vec![Box::new(op) as BoxOp<T>], vec![]))
        })
    })
}

/// Long causal convolutions (S4, Hyena): ``T[t,s] = h_{t-s}`` with a kernel as
/// long as the sequence. No fixed TSS.
///
/// ``h``: ``(C, L)`` or ``(L,)``; ``L`` is the sequence length.
#[pyfunction]
#[pyo3(signature = (h,))]
pub(crate) fn long_convolution(h: &Bound<'_, PyAny>) -> Result<Operator> {
    guard(|| {
        let h = Arr::new(h, "h")?;
        by_dtype!(h.dtype(), T => {
            let (data, _, len) = rows::<T>(&h, "L")?;
            let kernels: Vec<&[T]> = data.chunks(len.max(1)).collect();
            let op = LongConvolution::new(&kernels)?;
            Ok(Operator::new(vec![Box::new(op) as BoxOp<T>], vec![]))
        })
    })
}

/// Gated convolutions (H3, Hyena) ``y = z ⊙ (h * (v ⊙ u))``:
/// ``T[t,s] = z_t h_{t-s} v_s``. TSS: ``k - 1`` (none when ``k = L``).
///
/// ``h``: ``(C, k)`` or ``(k,)``; ``z``, ``v``: ``(C, L)`` or ``(L,)``, the gates.
#[pyfunction]
#[pyo3(signature = (h, z, v))]
pub(crate) fn gated_convolution(h: &Bound<'_, PyAny>, z: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>) -> Result<Operator> {
    guard(|| {
        let (h, z, v) = (Arr::new(h, "h")?, Arr::new(z, "z")?, Arr::new(v, "v")?);
        by_dtype!(promote(&[Some(&h), Some(&z), Some(&v)]), T => {
            let (hd, channels, k) = rows::<T>(&h, "k")?;
            let (zd, zc, len) = rows::<T>(&z, "L")?;
            let axes: &[(&str, usize)] = if h.ndim() == 1 { &[("L", len)] } else { &[("C", channels), ("L", len)] };
            expect_shape(&z, &[], axes)?;
            expect_shape(&v, &[], axes)?;
            let (vd, _, _) = rows::<T>(&v, "L")?;
            debug_assert_eq!(zc, channels);
            let chunk = |d: &[T], w: usize| -> Vec<Vec<T>> { d.chunks(w.max(1)).map(<[T]>::to_vec).collect() };
            let op = GatedConvolution::new(&chunk(&hd, k), &chunk(&zd, len), &chunk(&vd, len))?;
            Ok(Operator::new(vec![Box::new(op) as BoxOp<T>], vec![]))
        })
    })
}
