//! The entry points, mirroring `effective_state_size::ess`: `entropy`,
//! `tolerance`, `profiles`, `plan`, `verify`, `singular_values`, `over_inputs`.
//!
//! Each takes an `Operator` or an array (a dense operator, see `dense`), runs
//! through [`run`] (GIL released, thread count, Ctrl-C, progress) and returns a
//! result class. A new library entry point is one more function of this shape.

use crate::convert::{self, Arr, Dtype, Float};
use crate::operators::{dense_operator, dispatch, BoxOp, Op, Operator, Ops};
use crate::results::{BatchProfile, Plan, Profile, Profiles, Verification};
use crate::run::{run, Exec};
use crate::{guard, param, Result};
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Profile as CoreProfile};
use effective_state_size::nalgebra::DMatrix;
use effective_state_size::{BlockShape, EssError as CoreError, LinearOperator, Realization, RealizationInfo, Scalar};
use numpy::PyArray1;
use pyo3::prelude::*;
use std::borrow::Cow;

/// The operator an entry point works on: an `Operator` given by the caller, or
/// one built from an array.
pub(crate) enum Operand<'py> {
    Given(Bound<'py, Operator>),
    Built(Operator),
}

impl Operand<'_> {
    pub(crate) fn get(&self) -> &Operator {
        match self {
            Operand::Given(b) => b.get(),
            Operand::Built(o) => o,
        }
    }
}

/// Reads the first argument of an entry point: an `Operator` as it is, anything
/// else as a dense tensor (`block`, `causal_part` apply to arrays only).
pub(crate) fn operand<'py>(
    x: &Bound<'py, PyAny>,
    block: Option<(usize, usize)>,
    causal_part: bool,
) -> Result<Operand<'py>> {
    if let Ok(op) = x.cast::<Operator>() {
        if block.is_some() || causal_part {
            return Err(param(
                "block / causal_part",
                "these describe an array; an Operator already has its block shape and is causal",
            ));
        }
        return Ok(Operand::Given(op.clone()));
    }
    Ok(Operand::Built(dense_operator(&Arr::new(x, "T")?, convert::block(block)?, causal_part)?))
}

/// The keyword arguments every computing entry point shares.
pub(crate) struct Common<'a, 'py> {
    pub indices: Option<&'a Bound<'py, PyAny>>,
    pub method: &'a str,
    /// `Method::LowRank` only: the target relative width of entropy intervals.
    pub interval_width: Option<f64>,
    /// `Method::LowRank` only: the rank cap per block.
    pub max_rank: Option<usize>,
    pub memory_budget: Option<u64>,
    pub threads: Option<usize>,
    pub progress: Option<Py<PyAny>>,
}

impl Common<'_, '_> {
    /// The library's options: indices, method, budget and, for
    /// ``method="lowrank"``, its interval width and rank cap (refused with the
    /// exact methods, which would ignore them).
    pub(crate) fn options(&self) -> Result<EssOptions> {
        let mut opts = options(self.indices, self.method, self.memory_budget)?;
        let lowrank = opts.method() == Method::LowRank;
        if let Some(w) = self.interval_width {
            if !lowrank {
                return Err(param("interval_width", "only method=\"lowrank\" uses it (the other methods are exact)"));
            }
            opts = opts.with_interval_width(w);
        }
        if let Some(k) = self.max_rank {
            if !lowrank {
                return Err(param("max_rank", "only method=\"lowrank\" uses it (the other methods are exact)"));
            }
            opts = opts.with_max_rank(Some(k));
        }
        Ok(opts)
    }
    /// How to run: threads and progress callback.
    pub(crate) fn exec(self) -> Exec {
        Exec { threads: self.threads, progress: self.progress }
    }
}

/// `EssOptions` from the common keyword arguments.
fn options(indices: Option<&Bound<'_, PyAny>>, method: &str, memory_budget: Option<u64>) -> Result<EssOptions> {
    let mut opts = EssOptions::default().with_indices(convert::indices(indices)?).with_method(convert::method(method)?);
    if let Some(b) = memory_budget {
        opts = opts.with_memory_budget(b);
    }
    Ok(opts)
}

/// `"f32"` or `"f64"`, as the CLI's JSON spells it.
pub(crate) fn cli_dtype(d: Dtype) -> &'static str {
    match d {
        Dtype::F32 => "f32",
        Dtype::F64 => "f64",
    }
}

/// The block shape of an operator.
pub(crate) fn block_of(op: &Operator) -> BlockShape {
    dispatch!(&op.ops, v => v[0].block_shape())
}

/// Computes `measures` of every batch element of `x` in one sweep each; one
/// `Profile` per measure.
pub(crate) fn compute(
    x: &Bound<'_, PyAny>,
    measures: &[Measure],
    common: Common<'_, '_>,
    block: Option<(usize, usize)>,
    causal_part: bool,
    tss: Option<usize>,
) -> Result<Vec<Profile>> {
    let py = x.py();
    for m in measures {
        m.validate()?;
    }
    let operand = operand(x, block, causal_part)?;
    let op = operand.get();
    let base = common.options()?;
    let exec = common.exec();
    let per_element: Vec<Vec<CoreProfile>> = dispatch!(&op.ops, v => run(py, &exec, |ctl| {
        let opts = ctl.options(base, v.len());
        v.iter().map(|o| ess::profiles(&**o, measures, &opts)).collect::<Result<Vec<_>, CoreError>>()
    })?);
    // A `tss=` argument replaces the operator's TSS in every profile.
    let with_tss = |p: &CoreProfile| -> Result<CoreProfile> {
        match tss {
            None => Ok(p.clone()),
            Some(t) => Ok(CoreProfile::from_values(
                p.seq_len(),
                p.indices().to_vec(),
                p.measure(),
                p.computed_by(),
                Some(t),
                p.values().to_vec(),
            )?
            .with_block_shape(p.block_shape())?),
        }
    };
    (0..measures.len())
        .map(|k| {
            let items = per_element.iter().map(|ps| with_tss(&ps[k])).collect::<Result<Vec<_>>>()?;
            Ok(Profile {
                items,
                batch_shape: op.batch_shape.clone(),
                block: block_of(op),
                dtype: cli_dtype(op.scalar_dtype()),
            })
        })
        .collect()
}

/// Entropy-ESS ``exp(-Σ p_k ln p_k)``, ``p_k = σ_k/Σσ``, of every channel at every
/// Hankel index: a ``Profile``.
///
/// ``x``: an ``Operator`` (from ``softmax_attention``, ``mamba``, …) or an array of
/// dense causal matrices, ``(L, L)``, ``(C, L, L)`` or ``(B, C, L, L)``
/// (``(…, C, p·L, m·L)`` with ``block=(p, m)``), float32 or float64, any memory
/// order. ``causal_part=True`` zeroes the upper (non-causal) part of an array
/// instead of refusing it. ``tss`` sets the theoretical state size used by
/// utilization (default: the operator's).
///
/// ``indices``: ``"all"`` (default), ``"middle"``, ``"stride:K"`` or a list of
/// ``i`` in ``1..L-1``. ``method``: ``"auto"`` (structured when the operator has
/// a small enough realization, else dense), ``"dense"`` or ``"structured"``.
/// ``memory_budget``: bytes (default 8 GiB); a call that cannot fit is refused
/// before anything is allocated. ``threads``: worker threads (default: every
/// CPU, or ``RAYON_NUM_THREADS``). ``progress``: ``callable(done, total)`` called
/// on this thread; returning ``False`` cancels (``EssError`` of kind
/// ``"Cancelled"``). The GIL is released while computing; Ctrl-C stops it.
#[pyfunction]
#[pyo3(signature = (x, *, indices=None, method="auto", interval_width=None, max_rank=None, memory_budget=None, threads=None, progress=None, block=None, causal_part=false, tss=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn entropy(
    x: &Bound<'_, PyAny>,
    indices: Option<&Bound<'_, PyAny>>,
    method: &str,
    interval_width: Option<f64>,
    max_rank: Option<usize>,
    memory_budget: Option<u64>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    block: Option<(usize, usize)>,
    causal_part: bool,
    tss: Option<usize>,
) -> Result<Profile> {
    guard(|| {
        let measures = [Measure::Entropy];
        let common = Common { indices, method, interval_width, max_rank, memory_budget, threads, progress };
        let mut p = compute(x, &measures, common, block, causal_part, tss)?;
        Ok(p.remove(0))
    })
}

/// Tolerance-ESS ``#{k : σ_k(H_i) > threshold}`` of every channel at every Hankel
/// index: a ``Profile``.
///
/// The threshold: ``rel=τ`` (``τ·σ_1``, default ``1e-3``), ``abs=τ`` or
/// ``rank=True`` (``σ_1·max(rows, cols)·ε``, NumPy's ``matrix_rank``); give at
/// most one. Everything else as in ``entropy``.
#[pyfunction]
#[pyo3(signature = (x, *, rel=None, abs=None, rank=false, indices=None, method="auto", interval_width=None, max_rank=None, memory_budget=None, threads=None, progress=None, block=None, causal_part=false, tss=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn tolerance(
    x: &Bound<'_, PyAny>,
    rel: Option<f64>,
    abs: Option<f64>,
    rank: bool,
    indices: Option<&Bound<'_, PyAny>>,
    method: &str,
    interval_width: Option<f64>,
    max_rank: Option<usize>,
    memory_budget: Option<u64>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    block: Option<(usize, usize)>,
    causal_part: bool,
    tss: Option<usize>,
) -> Result<Profile> {
    guard(|| {
        let measures = [Measure::Tolerance(convert::tolerance(rel, abs, rank)?)];
        let common = Common { indices, method, interval_width, max_rank, memory_budget, threads, progress };
        let mut p = compute(x, &measures, common, block, causal_part, tss)?;
        Ok(p.remove(0))
    })
}

/// Several measures from one sweep of singular values: ``Profiles``, one
/// ``Profile`` per measure, whose ``to_dict()`` is the JSON report of
/// ``ess profile --format json``.
///
/// ``measures``: a list of ``"tolerance"`` (relative ``1e-3``), ``"entropy"``,
/// ``"numerical_rank"`` or ``Tolerance(...)``; default ``["tolerance",
/// "entropy"]``, the CLI's pair. Everything else as in ``entropy``.
#[pyfunction]
#[pyo3(signature = (x, measures=None, *, indices=None, method="auto", interval_width=None, max_rank=None, memory_budget=None, threads=None, progress=None, block=None, causal_part=false, tss=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn profiles(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    measures: Option<&Bound<'_, PyAny>>,
    indices: Option<&Bound<'_, PyAny>>,
    method: &str,
    interval_width: Option<f64>,
    max_rank: Option<usize>,
    memory_budget: Option<u64>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    block: Option<(usize, usize)>,
    causal_part: bool,
    tss: Option<usize>,
) -> Result<Profiles> {
    guard(|| {
        let measures = convert::measures(measures)?;
        let common = Common { indices, method, interval_width, max_rank, memory_budget, threads, progress };
        let ps = compute(x, &measures, common, block, causal_part, tss)?;
        let names = ess_cli::analysis::measure_names(&measures);
        let items = ps.into_iter().map(|p| Py::new(py, p)).collect::<PyResult<Vec<_>>>()?;
        Ok(Profiles { items, names })
    })
}

/// What a computation would do, without doing it: the method, the indices, the
/// memory it needs and the budget, and why (a ``Plan``). Costs nothing; refuses
/// what ``entropy`` would refuse (budget, indices).
#[pyfunction]
#[pyo3(signature = (x, *, indices=None, method="auto", memory_budget=None, block=None, causal_part=false))]
pub(crate) fn plan(
    x: &Bound<'_, PyAny>,
    indices: Option<&Bound<'_, PyAny>>,
    method: &str,
    memory_budget: Option<u64>,
    block: Option<(usize, usize)>,
    causal_part: bool,
) -> Result<Plan> {
    guard(|| {
        let operand = operand(x, block, causal_part)?;
        let opts = options(indices, method, memory_budget)?;
        let inner = dispatch!(&operand.get().ops, v => ess::plan(&*v[0], &opts)?);
        Ok(Plan { inner })
    })
}

/// Checks that an operator's kernels agree on its own data (its ``T`` is
/// causal and finite, its own ``apply`` equals ``T @ u``, its realization
/// reproduces ``T``): a ``Verification``, or an ``EssError`` naming the
/// disagreement. Forms ``T`` (``O(L²)`` memory per channel).
#[pyfunction]
#[pyo3(signature = (x, *, threads=None, block=None, causal_part=false))]
pub(crate) fn verify(
    x: &Bound<'_, PyAny>,
    threads: Option<usize>,
    block: Option<(usize, usize)>,
    causal_part: bool,
) -> Result<Verification> {
    guard(|| {
        let operand = operand(x, block, causal_part)?;
        let exec = Exec { threads, progress: None };
        let items = dispatch!(&operand.get().ops, v => run(x.py(), &exec, |_| {
            v.iter().map(|o| ess::verify(&**o)).collect::<Result<Vec<_>, CoreError>>()
        })?);
        Ok(Verification::combine(&items))
    })
}

/// The singular values ``σ_1 ≥ σ_2 ≥ …`` of the Hankel block ``H_i`` of one
/// channel (of batch element ``batch``, counted row-major over the batch axes),
/// in the operator's dtype. The dense path gives all ``min(rows, cols)``
/// values; the structured path the at most ``N`` that can be nonzero.
#[pyfunction]
#[pyo3(signature = (x, i, *, channel=0, batch=0, method="auto", memory_budget=None, threads=None, block=None, causal_part=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn singular_values<'py>(
    x: &Bound<'py, PyAny>,
    i: usize,
    channel: usize,
    batch: usize,
    method: &str,
    memory_budget: Option<u64>,
    threads: Option<usize>,
    block: Option<(usize, usize)>,
    causal_part: bool,
) -> Result<Bound<'py, PyAny>> {
    guard(|| {
        let py = x.py();
        let operand = operand(x, block, causal_part)?;
        let op = operand.get();
        if batch >= op.len() {
            return Err(param(
                "batch",
                format!("{batch} is out of range: the operator has {} batch element(s)", op.len()),
            ));
        }
        let mut opts = EssOptions::default().with_indices(Indices::List(vec![i])).with_method(convert::method(method)?);
        if let Some(b) = memory_budget {
            opts = opts.with_memory_budget(b);
        }
        let exec = Exec { threads, progress: None };
        dispatch!(&op.ops, v => {
            let o = &v[batch];
            let (_, mut sv) = run(py, &exec, |ctl| ess::singular_value_profile(&**o, channel, &ctl.options(opts, 1)))?;
            Ok(PyArray1::from_vec(py, sv.pop().unwrap_or_default()).into_any())
        })
    })
}

/// A borrowed operator as an operator (the featurizer of `over_inputs` hands
/// out operators built beforehand).
struct ByRef<'a, T: Scalar>(&'a dyn Op<T>);

impl<T: Scalar> LinearOperator for ByRef<'_, T> {
    type Scalar = T;
    fn seq_len(&self) -> usize {
        self.0.seq_len()
    }
    fn channels(&self) -> usize {
        self.0.channels()
    }
    fn block_shape(&self) -> BlockShape {
        self.0.block_shape()
    }
    fn family(&self) -> &'static str {
        self.0.family()
    }
    fn theoretical_state_size(&self) -> Option<usize> {
        self.0.theoretical_state_size()
    }
    fn realization_info(&self) -> RealizationInfo {
        self.0.realization_info()
    }
    fn dense_kernel(&self, channel: usize) -> Result<Cow<'_, DMatrix<T>>, CoreError> {
        self.0.dense_kernel(channel)
    }
    fn realization_kernel(&self, channel: usize) -> Result<Realization<T>, CoreError> {
        self.0.realization_kernel(channel)
    }
    fn apply_kernel(&self, channel: usize, u: &[T], y: &mut [T]) -> Result<(), CoreError> {
        self.0.apply_kernel(channel, u, y)
    }
}

/// The operators of one dtype, if `ops` has it.
fn typed<T: Float>(ops: &Ops) -> Option<&[BoxOp<T>]> {
    let any: &dyn std::any::Any = match ops {
        Ops::F32(v) => v,
        Ops::F64(v) => v,
    };
    any.downcast_ref::<Vec<BoxOp<T>>>().map(Vec::as_slice)
}

/// Statistics (mean, population std, min, max per channel and index) of one
/// measure over a batch of inputs, each turned into an operator by
/// ``featurizer(input)``: a ``BatchProfile`` (the library's ``over_inputs``).
///
/// ``featurizer`` returns an ``Operator`` (not batched) or a dense array
/// ``(L, L)``/``(C, L, L)``; every input must give the same sizes and dtype.
/// It runs on this thread, input after input; the measurements then run with
/// the GIL released. ``measure``: ``"entropy"`` (default), ``"tolerance"``,
/// ``"numerical_rank"`` or a ``Tolerance``. For inputs stacked along a batch axis,
/// the batch axis of an ``Operator`` does the same in one call.
#[pyfunction]
#[pyo3(signature = (featurizer, inputs, measure=None, *, indices=None, method="auto", interval_width=None, max_rank=None, memory_budget=None, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn over_inputs(
    featurizer: &Bound<'_, PyAny>,
    inputs: &Bound<'_, PyAny>,
    measure: Option<&Bound<'_, PyAny>>,
    indices: Option<&Bound<'_, PyAny>>,
    method: &str,
    interval_width: Option<f64>,
    max_rank: Option<usize>,
    memory_budget: Option<u64>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> Result<BatchProfile> {
    guard(|| {
        let py = featurizer.py();
        let measure = match measure {
            None => Measure::Entropy,
            Some(m) => match convert::measures(Some(m))?.as_slice() {
                [m] => *m,
                _ => return Err(param("measure", "give one measure")),
            },
        };
        let mut operands = Vec::new();
        for (k, input) in inputs.try_iter()?.enumerate() {
            let out = featurizer.call1((input?,))?;
            let o = operand(&out, None, false)
                .map_err(|e| e.context(|| format!("the featurizer's result for input {k}")))?;
            if !o.get().batch_shape.is_empty() {
                return Err(param(
                    "featurizer",
                    format!(
                        "it returned an operator with batch shape {} for input {k}: return one operator per input",
                        convert::fmt_shape(&o.get().batch_shape)
                    ),
                ));
            }
            operands.push(o);
        }
        let Some(first) = operands.first() else {
            return Err(CoreError::Empty { what: "input batch".into(), hint: "give at least one input".into() }.into());
        };
        let dtype = first.get().scalar_dtype();
        if let Some(k) = operands.iter().position(|o| o.get().scalar_dtype() != dtype) {
            return Err(param(
                "featurizer",
                format!(
                    "input {k} gave a {} operator, input 0 a {} one: return one dtype for every input",
                    operands[k].get().scalar_dtype().numpy_name(),
                    dtype.numpy_name()
                ),
            ));
        }
        if operands.len() > 1 << 24 {
            return Err(param("inputs", "more than 2^24 inputs: split the batch"));
        }
        let common = Common { indices, method, interval_width, max_rank, memory_budget, threads, progress };
        let base = common.options()?;
        let exec = common.exec();
        macro_rules! batch {
            ($t:ty) => {{
                let refs: Vec<&dyn Op<$t>> =
                    operands.iter().map(|o| &*typed::<$t>(&o.get().ops).expect("one dtype")[0]).collect();
                run(py, &exec, |ctl| {
                    // The library's over_inputs, with the input's position as its
                    // "sequence": the operators were built above, from Python.
                    let featurizer = |u: &[$t]| Ok::<_, CoreError>(ByRef(refs[u[0].to_f64() as usize]));
                    let positions: Vec<[$t; 1]> = (0..refs.len()).map(|k| [<$t>::cast(k as f64)]).collect();
                    ess::over_inputs(&featurizer, &positions, measure, &ctl.options(base, refs.len()))
                })?
            }};
        }
        let inner = match dtype {
            Dtype::F32 => batch!(f32),
            Dtype::F64 => batch!(f64),
        };
        Ok(BatchProfile { inner })
    })
}

/// A deliberate panic, on the calling thread or in a computation, for the tests
/// of the panic boundary (not part of the API).
#[pyfunction]
#[pyo3(signature = (in_worker))]
pub(crate) fn _panic(py: Python<'_>, in_worker: bool) -> Result<()> {
    guard(|| {
        if in_worker {
            run(py, &Exec { threads: Some(1), progress: None }, |_| -> Result<(), CoreError> {
                panic!("a deliberate panic in a worker")
            })
        } else {
            panic!("a deliberate panic on the calling thread")
        }
    })
}
