//! The analyses of issues #10 and #11 as entry points: tolerance sweeps,
//! gradients of ESS with respect to `T`, and reduction (distillation). Marker
//! modulation and boundary-normalised ESS are methods of the result classes
//! (`results.rs`).

use crate::api::{compute, operand, Common};
use crate::convert::{self, fmt_shape, Float};
use crate::operators::{dispatch, BoxOp, Operator};
use crate::results::{array, index_array, Profile, Tolerance};
use crate::run::{run, Exec};
use crate::{guard, param, Result};
use effective_state_size::ess::gradient::{operator_gradient, Smooth};
use effective_state_size::ess::ComputedBy;
use effective_state_size::ess::{
    BatchProfile as CoreBatch, Measure, Profile as CoreProfile, SweepPoint, ToleranceSweep as CoreSweep,
};
use effective_state_size::nalgebra::DMatrixView;
use effective_state_size::reduction::{reduce as core_reduce, Algorithm, ReduceOptions, Reduction as CoreReduction};
use effective_state_size::{EssError as CoreError, LinearOperator};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList};

/// Floats from a float or a sequence of floats (`None`: none).
fn floats(obj: Option<&Bound<'_, PyAny>>, name: &str) -> Result<Vec<f64>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(Vec::new()) };
    if let Ok(x) = obj.extract::<f64>() {
        return Ok(vec![x]);
    }
    obj.extract::<Vec<f64>>().map_err(|_| param(name, format!("{obj} is not a number or a list of numbers")))
}

/// Tolerance-ESS at several thresholds (``ess profile --sweep``).
///
/// ``profiles[k]`` is the ``Profile`` of ``tolerances[k]``; ``mean``, ``max``
/// and ``channel_mean`` summarise each threshold (of a batch: of the mean over
/// the batch, as the CLI reports a 4-D tensor). ``to_dict()`` is
/// ``{"sweep": [...]}``, the ``"sweep"`` list of the CLI's JSON.
#[pyclass(module = "effective_state_size", frozen)]
pub(crate) struct ToleranceSweep {
    profiles: Vec<Py<Profile>>,
    points: Vec<SweepPoint>,
}

#[pymethods]
impl ToleranceSweep {
    /// The thresholds, in order.
    #[getter]
    fn tolerances(&self) -> Vec<Tolerance> {
        self.points.iter().map(|p| Tolerance { inner: p.tolerance }).collect()
    }
    /// One ``Profile`` per threshold, in order.
    #[getter]
    fn profiles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.profiles)
    }
    /// Mean over channels and indices per threshold, ``(len(tolerances),)``.
    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        array(py, &[self.points.len()], self.points.iter().map(|p| p.mean).collect())
    }
    /// Maximum over channels and indices per threshold, ``(len(tolerances),)``.
    #[getter]
    fn max<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        array(py, &[self.points.len()], self.points.iter().map(|p| p.max).collect())
    }
    /// Per-channel mean over indices, ``(len(tolerances), channels)``.
    #[getter]
    fn channel_mean<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let c = self.points[0].channel_mean.len();
        array(py, &[self.points.len(), c], self.points.iter().flat_map(|p| p.channel_mean.clone()).collect())
    }
    fn __len__(&self) -> usize {
        self.points.len()
    }
    /// ``{"sweep": [{"mode", "value", "mean", "max", "channel_mean"}, ...]}``.
    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let list = PyList::empty(py);
        for p in &self.points {
            let d = PyDict::new(py);
            d.set_item("mode", p.tolerance.mode_name())?;
            d.set_item("value", p.tolerance.value())?;
            d.set_item("mean", p.mean)?;
            d.set_item("max", p.max)?;
            d.set_item("channel_mean", &p.channel_mean)?;
            list.append(d)?;
        }
        let out = PyDict::new(py);
        out.set_item("sweep", list)?;
        Ok(out)
    }
    fn __repr__(&self) -> String {
        let parts: Vec<String> = self
            .points
            .iter()
            .map(|p| format!("{}: mean={:.4}", Tolerance { inner: p.tolerance }.__repr__(), p.mean))
            .collect();
        format!("ToleranceSweep([{}])", parts.join(", "))
    }
}

/// Tolerance-ESS at many thresholds from one sweep of singular values (each
/// block decomposed once): a ``ToleranceSweep``.
///
/// ``rel``: a relative threshold or a list of them (``τ·σ_1``); ``abs``: absolute
/// ones; ``rank=True`` adds the numerical rank. The thresholds are taken in that
/// order (relative, absolute, rank); give at least one. Everything else as in
/// ``entropy``.
#[pyfunction]
#[pyo3(signature = (x, rel=None, abs=None, *, rank=false, indices=None, method="auto", interval_width=None, max_rank=None, memory_budget=None, threads=None, progress=None, block=None, causal_part=false, tss=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn tolerance_sweep(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    rel: Option<&Bound<'_, PyAny>>,
    abs: Option<&Bound<'_, PyAny>>,
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
) -> Result<ToleranceSweep> {
    guard(|| {
        let mut measures = Vec::new();
        for r in floats(rel, "rel")? {
            measures.push(Measure::Tolerance(convert::tolerance(Some(r), None, false)?));
        }
        for a in floats(abs, "abs")? {
            measures.push(Measure::Tolerance(convert::tolerance(None, Some(a), false)?));
        }
        if rank {
            measures.push(Measure::Tolerance(convert::tolerance(None, None, true)?));
        }
        if measures.is_empty() {
            return Err(CoreError::Empty {
                what: "tolerance sweep".into(),
                hint: "give at least one tolerance: rel=[...], abs=[...] or rank=True".into(),
            }
            .into());
        }
        let common = Common { indices, method, interval_width, max_rank, memory_budget, threads, progress };
        let ps = compute(x, &measures, common, block, causal_part, tss)?;
        // The summary of a batch is that of its mean profile, as the CLI's.
        let summarised: Vec<CoreProfile> = ps
            .iter()
            .map(|p| {
                if p.items.len() == 1 {
                    Ok(p.items[0].clone())
                } else {
                    Ok(CoreBatch::from_profiles(p.items.clone())?.mean_profile())
                }
            })
            .collect::<Result<_>>()?;
        let points = CoreSweep::from_profiles(summarised)?.points();
        let profiles = ps.into_iter().map(|p| Py::new(py, p)).collect::<PyResult<Vec<_>>>()?;
        Ok(ToleranceSweep { profiles, points })
    })
}

/// A smooth ESS measure and its gradient with respect to ``T`` (``gradient()``).
#[pyclass(module = "effective_state_size", frozen)]
pub(crate) struct Gradient {
    values: Py<PyAny>,
    indices: Py<PyAny>,
    total: Py<PyAny>,
    gradient: Py<PyAny>,
}

#[pymethods]
impl Gradient {
    /// The measure at each index, ``batch_shape + (channels, len(indices))``
    /// (``(len(indices),)`` for an ``(L, L)`` array), float64.
    #[getter]
    fn values(&self, py: Python<'_>) -> Py<PyAny> {
        self.values.clone_ref(py)
    }
    /// The evaluated indices, int64.
    #[getter]
    fn indices(&self, py: Python<'_>) -> Py<PyAny> {
        self.indices.clone_ref(py)
    }
    /// ``values.sum(-1)``: the quantity whose gradient ``gradient`` is (a float for
    /// an ``(L, L)`` array).
    #[getter]
    fn total(&self, py: Python<'_>) -> Py<PyAny> {
        self.total.clone_ref(py)
    }
    /// ``∂ total / ∂T``, shaped like ``T`` (``batch_shape + (channels, p·L,
    /// m·L)``, or ``(p·L, m·L)`` for a 2-D array), in ``T``'s dtype; zero on and
    /// above the block diagonal.
    #[getter]
    fn gradient(&self, py: Python<'_>) -> Py<PyAny> {
        self.gradient.clone_ref(py)
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        let shape = self.gradient.bind(py).getattr("shape").map(|s| s.to_string()).unwrap_or_default();
        format!("Gradient(shape={shape})")
    }
}

/// The smooth measure of `gradient()`.
fn smooth(measure: &str, rel: Option<f64>, abs: Option<f64>, temperature: f64) -> Result<Smooth> {
    let m = match measure {
        "entropy" => {
            if rel.is_some() || abs.is_some() {
                return Err(param("rel / abs", "entropy-ESS has no threshold: use measure=\"tolerance\""));
            }
            Smooth::Entropy
        }
        "tolerance" | "soft_tolerance" => {
            if rel.is_none() && abs.is_none() {
                // The library's default relative tolerance.
                Smooth::SoftTolerance { tolerance: convert::tolerance(Some(1e-3), None, false)?, temperature }
            } else {
                Smooth::SoftTolerance { tolerance: convert::tolerance(rel, abs, false)?, temperature }
            }
        }
        other => {
            return Err(param("measure", format!("{other:?}: use \"entropy\" or \"tolerance\" (the smooth surrogate)")))
        }
    };
    m.validate()?;
    Ok(m)
}

/// Gradient of ``Σ_i ESS_i`` (over ``indices``) with respect to ``T``, per
/// channel: a ``Gradient`` (``values``, ``total``, ``gradient`` shaped like ``T``).
///
/// ``measure="entropy"``: entropy-ESS, ``∂E/∂σ_k = −E(ln p_k + H)/S`` pushed
/// through ``u_k v_kᵀ``. ``measure="tolerance"``: the logistic surrogate of
/// tolerance-ESS, ``Σ_k sigmoid((ln σ_k − ln θ)/temperature)`` with ``θ`` from
/// ``rel=`` (default ``1e-3``) or ``abs=`` and ``temperature`` in ``(0, 1)``.
/// Forms each channel's dense ``T``; one Jacobi SVD per index (``O(L⁴)`` over all
/// indices: sample ``indices`` for long sequences). Use ``gradient`` as the
/// upstream gradient of ``T`` in a custom backward pass (``docs/python.md``).
/// The GIL is released; Ctrl-C and a ``progress`` callback returning ``False``
/// stop it between channels.
#[pyfunction]
#[pyo3(signature = (x, measure="entropy", *, rel=None, abs=None, temperature=0.1, indices=None, threads=None, progress=None, block=None, causal_part=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gradient(
    x: &Bound<'_, PyAny>,
    measure: &str,
    rel: Option<f64>,
    abs: Option<f64>,
    temperature: f64,
    indices: Option<&Bound<'_, PyAny>>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    block: Option<(usize, usize)>,
    causal_part: bool,
) -> Result<Gradient> {
    guard(|| {
        let py = x.py();
        let m = smooth(measure, rel, abs, temperature)?;
        let idx = convert::indices(indices)?;
        // A 2-D array gives 2-D results: no channel axis.
        let squeeze =
            x.cast::<Operator>().is_err() && py.import("numpy")?.call_method1("ndim", (x,))?.extract::<usize>()? == 2;
        let operand = operand(x, block, causal_part)?;
        let op = operand.get();
        let exec = Exec { threads, progress };
        dispatch!(&op.ops, v => {
            let first = &v[0];
            let (channels, len, b) = (first.channels(), first.seq_len(), first.block_shape());
            let total = v.len() * channels;
            let results = run(py, &exec, |ctl| {
                let mut out = Vec::with_capacity(total);
                for (k, o) in v.iter().enumerate() {
                    for c in 0..channels {
                        ctl.step(k * channels + c, total)?;
                        let g = operator_gradient(&**o, c, &idx, m)?;
                        out.push(g);
                    }
                }
                ctl.step(total, total)?;
                Ok(out)
            })?;
            let n = results[0].indices.len();
            let (rows, cols) = (b.outputs * len, b.inputs * len);
            let mut lead: Vec<usize> = op.batch_shape.clone();
            if !squeeze {
                lead.push(channels);
            }
            let values: Vec<f64> = results.iter().flat_map(|g| g.values.clone()).collect();
            let totals: Vec<f64> = results.iter().map(|g| g.total()).collect();
            let flat = results.iter().flat_map(|g| row_major(g.gradient.as_view())).collect();
            let shape = |tail: &[usize]| lead.iter().chain(tail).copied().collect::<Vec<usize>>();
            let total_obj = if lead.is_empty() { PyFloat::new(py, totals[0]).into_any() } else { array(py, &lead, totals)? };
            Ok(Gradient {
                values: array(py, &shape(&[n]), values)?.unbind(),
                indices: index_array(py, &results[0].indices).unbind(),
                total: total_obj.unbind(),
                gradient: array(py, &shape(&[rows, cols]), flat)?.unbind(),
            })
        })
    })
}

/// A matrix's entries in row-major order.
fn row_major<T: Copy + effective_state_size::nalgebra::Scalar>(m: DMatrixView<'_, T>) -> Vec<T> {
    m.transpose().as_slice().to_vec()
}

/// A reduced operator (``reduce()``): per channel the order and the certified,
/// lower and measured errors, the realization as ``A``, ``B``, ``C``, ``D`` in
/// the layout of ``ess reduce``'s safetensors file, and ``operator`` to profile
/// or apply the reduced model.
#[pyclass(module = "effective_state_size", frozen)]
pub(crate) struct Reduction {
    order: usize,
    path: &'static str,
    algorithm: &'static str,
    channels: Vec<ChannelSummary>,
    a: Py<PyAny>,
    b: Py<PyAny>,
    c: Py<PyAny>,
    d: Py<PyAny>,
    operator: Py<Operator>,
}

struct ChannelSummary {
    order: usize,
    error_bound: f64,
    cut_sum: f64,
    classical_bound: f64,
    lower_bound: f64,
    error: Option<f64>,
}

impl Reduction {
    fn column<'py>(&self, py: Python<'py>, f: impl Fn(&ChannelSummary) -> f64) -> Result<Bound<'py, PyAny>> {
        array(py, &[self.channels.len()], self.channels.iter().map(f).collect())
    }

    /// From the library's reduction.
    fn new<T: Float>(py: Python<'_>, red: CoreReduction<T>) -> Result<Self> {
        let (len, r, blk) = (red.seq_len(), red.state_size(), red.block_shape());
        let (p, m) = (blk.outputs, blk.inputs);
        let n = red.channels().len();
        let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ch in red.channels() {
            let real = &ch.realization;
            for t in 0..len {
                a.extend(row_major(real.a(t).to_dense().as_view()));
                b.extend(row_major(real.b(t)));
                c.extend(row_major(real.c(t)));
                match real.d(t) {
                    Some(dt) => d.extend(row_major(dt)),
                    None => d.extend(std::iter::repeat_n(T::zero(), p * m)),
                }
            }
        }
        let channels = red
            .channels()
            .iter()
            .map(|ch| ChannelSummary {
                order: ch.order,
                error_bound: ch.error_bound,
                cut_sum: ch.cut_sum,
                classical_bound: ch.classical_bound,
                lower_bound: ch.lower_bound,
                error: ch.error,
            })
            .collect();
        // As `ess reduce` reports it.
        let path = match (red.algorithm(), red.method()) {
            (Algorithm::ConvolutionKernel, _) => "kernel",
            (_, ComputedBy::Structured) => "structured",
            _ => "dense",
        };
        let algorithm = red.algorithm().name();
        let ops: Vec<BoxOp<T>> = vec![Box::new(red)];
        Ok(Reduction {
            order: r,
            path,
            algorithm,
            channels,
            a: array(py, &[n, len, r, r], a)?.unbind(),
            b: array(py, &[n, len, r, m], b)?.unbind(),
            c: array(py, &[n, len, p, r], c)?.unbind(),
            d: array(py, &[n, len, p, m], d)?.unbind(),
            operator: Py::new(py, Operator::new(ops, Vec::new()))?,
        })
    }
}

#[pymethods]
impl Reduction {
    /// The common state size ``R`` of the realization (the largest channel order).
    #[getter]
    fn order(&self) -> usize {
        self.order
    }
    /// ``"structured"`` (balanced truncation of the realization), ``"dense"``
    /// (realization from the Hankel blocks of ``T``) or ``"kernel"`` (a
    /// time-invariant model of a convolution kernel): ``"path"`` of ``to_dict()``.
    #[getter]
    fn method(&self) -> &'static str {
        self.path
    }
    /// The algorithm that ran: ``"balanced truncation"``, ``"hankel blocks"`` or
    /// ``"convolution kernel"``.
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.algorithm
    }
    /// Each channel's order (states kept at its busiest cut), int64 ``(channels,)``.
    #[getter]
    fn orders<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        index_array(py, &self.channels.iter().map(|c| c.order).collect::<Vec<_>>())
    }
    /// The certified bound on ``‖T − T_r‖₂`` per channel (``Σ_i σ_{k_i+1}(H_i)``
    /// plus a rounding allowance).
    #[getter]
    fn error_bound<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.column(py, |c| c.error_bound)
    }
    /// ``Σ_i σ_{k_i+1}(H_i)``, the bound in exact arithmetic, per channel.
    #[getter]
    fn cut_sum<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.column(py, |c| c.cut_sum)
    }
    /// Sandberg & Rantzer's form ``2·Σ_k max σ_k(H_i)`` (reported, not certified).
    #[getter]
    fn classical_bound<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.column(py, |c| c.classical_bound)
    }
    /// The Eckart–Young lower bound ``max_i σ_{r+1}(H_i)`` per channel.
    #[getter]
    fn lower_bound<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.column(py, |c| c.lower_bound)
    }
    /// The measured ``‖T − T_r‖₂`` per channel; NaN where it was not measured
    /// (``measured_error=False`` or ``T`` over the memory budget).
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.column(py, |c| c.error.unwrap_or(f64::NAN))
    }
    /// ``A_t``: ``(channels, L, R, R)`` (``x_{t+1} = A_t x_t + B_t u_t``).
    #[getter(A)]
    fn a(&self, py: Python<'_>) -> Py<PyAny> {
        self.a.clone_ref(py)
    }
    /// ``B_t``: ``(channels, L, R, m)``.
    #[getter(B)]
    fn b(&self, py: Python<'_>) -> Py<PyAny> {
        self.b.clone_ref(py)
    }
    /// ``C_t``: ``(channels, L, p, R)`` (``y_t = C_t x_t + D_t u_t``).
    #[getter(C)]
    fn c(&self, py: Python<'_>) -> Py<PyAny> {
        self.c.clone_ref(py)
    }
    /// ``D_t``: ``(channels, L, p, m)``.
    #[getter(D)]
    fn d(&self, py: Python<'_>) -> Py<PyAny> {
        self.d.clone_ref(py)
    }
    /// The reduced model as an ``Operator`` (family ``"reduced realization"``,
    /// ``tss`` = ``order``): pass it to ``entropy``, ``tolerance``, ``profiles``,
    /// ``verify``, ``reduce``; ``.dense()`` forms its ``T_r``.
    #[getter]
    fn operator(&self, py: Python<'_>) -> Py<Operator> {
        self.operator.clone_ref(py)
    }
    /// The JSON report of ``ess reduce --format json``: ``{"order", "path",
    /// "channels": [{"channel", "order", "error_bound", "error", "lower_bound",
    /// "classical_bound"}]}``.
    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let list = PyList::empty(py);
        for (k, c) in self.channels.iter().enumerate() {
            let d = PyDict::new(py);
            d.set_item("channel", k)?;
            d.set_item("order", c.order)?;
            d.set_item("error_bound", c.error_bound)?;
            d.set_item("error", c.error)?;
            d.set_item("lower_bound", c.lower_bound)?;
            d.set_item("classical_bound", c.classical_bound)?;
            list.append(d)?;
        }
        let out = PyDict::new(py);
        out.set_item("order", self.order)?;
        out.set_item("path", self.path)?;
        out.set_item("channels", list)?;
        Ok(out)
    }
    fn __repr__(&self) -> String {
        let orders: Vec<usize> = self.channels.iter().map(|c| c.order).collect();
        format!("Reduction(order={}, method='{}', orders={:?})", self.order, self.path, orders)
    }
}

/// Distils an operator into a small time-varying recurrence with a certified
/// error: a ``Reduction`` (the library's ``reduce``, ``ess reduce``).
///
/// Give ``order=r`` (at most ``r`` states at every cut) or a tolerance
/// ``rel=`` / ``abs=`` / ``rank=True`` (per channel, the largest tolerance-ESS
/// over the cuts). ``method``: ``"auto"``, ``"structured"`` (balanced truncation
/// of the operator's realization, ``O(L·N³)``) or ``"dense"`` (from the Hankel
/// blocks of ``T``, ``O(L⁴)``). ``measured_error``: also measure ``‖T − T_r‖₂``
/// when ``T`` fits ``memory_budget``. ``algorithm`` forces one (over ``method``):
/// ``"balanced_truncation"``, ``"hankel_blocks"`` or ``"convolution_kernel"``
/// (a time-invariant model of a convolution's kernel, chosen by ``"auto"`` for
/// long convolutions). One operator (no batch axes); ``x`` as in
/// ``entropy``. The GIL is released and Ctrl-C is honoured when the reduction
/// returns (it has no intermediate progress).
#[pyfunction]
#[pyo3(signature = (x, order=None, *, rel=None, abs=None, rank=false, method="auto", algorithm=None, measured_error=true, memory_budget=None, threads=None, block=None, causal_part=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn reduce(
    x: &Bound<'_, PyAny>,
    order: Option<usize>,
    rel: Option<f64>,
    abs: Option<f64>,
    rank: bool,
    method: &str,
    algorithm: Option<&str>,
    measured_error: bool,
    memory_budget: Option<u64>,
    threads: Option<usize>,
    block: Option<(usize, usize)>,
    causal_part: bool,
) -> Result<Reduction> {
    guard(|| {
        let py = x.py();
        let has_tol = rel.is_some() || abs.is_some() || rank;
        let mut opts = match (order, has_tol) {
            (Some(r), false) => ReduceOptions::order(r),
            (None, true) => ReduceOptions::tolerance(convert::tolerance(rel, abs, rank)?),
            (Some(_), true) => {
                return Err(param("order / tolerance", "give order= or a tolerance (rel=, abs=, rank=True), not both"))
            }
            (None, false) => {
                return Err(param("order / tolerance", "give order=r or a tolerance (rel=, abs=, rank=True)"))
            }
        };
        opts = opts.with_method(convert::method(method)?).with_measured_error(measured_error);
        if let Some(bytes) = memory_budget {
            opts = opts.with_memory_budget(bytes);
        }
        if let Some(a) = algorithm {
            opts = opts.with_algorithm(match a {
                "balanced_truncation" => Algorithm::BalancedTruncation,
                "hankel_blocks" => Algorithm::HankelBlocks,
                "convolution_kernel" => Algorithm::ConvolutionKernel,
                other => {
                    return Err(param(
                        "algorithm",
                        format!("{other:?}: use \"balanced_truncation\", \"hankel_blocks\" or \"convolution_kernel\""),
                    ))
                }
            });
        }
        let operand = operand(x, block, causal_part)?;
        let op = operand.get();
        if !op.batch_shape.is_empty() {
            return Err(param(
                "x",
                format!(
                    "a batch of shape {}: reduce one operator at a time (index the batch)",
                    fmt_shape(&op.batch_shape)
                ),
            ));
        }
        let exec = Exec { threads, progress: None };
        dispatch!(&op.ops, v => {
            let red = run(py, &exec, |_| core_reduce(&*v[0], &opts))?;
            Reduction::new(py, red)
        })
    })
}
