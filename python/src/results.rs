//! Result classes: values as NumPy arrays, the library's aggregates, and
//! `to_dict()` in the JSON schema of `ess profile --format json`.

use crate::convert::fmt_shape;
use crate::{param, Result};
use effective_state_size::ess::{
    self as core_ess, BatchProfile as CoreBatch, MarkerModulation as CoreMarkers, Measure, Plan as CorePlan,
    Profile as CoreProfile, Tolerance as CoreTolerance, Verification as CoreVerification,
};
use effective_state_size::BlockShape;
use ess_cli::analysis::Report;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyIterator, PyList, PySlice, PyString, PyTuple};

/// A tolerance-ESS threshold: ``Tolerance(rel=1e-3)`` (count ``σ_k > rel·σ_1``),
/// ``Tolerance(abs=x)`` (``σ_k > x``) or ``Tolerance(rank=True)`` (the numerical
/// rank, ``σ_k > σ_1·max(rows, cols)·ε``). ``Tolerance()`` is ``rel=1e-3``.
#[pyclass(module = "effective_state_size", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct Tolerance {
    pub(crate) inner: CoreTolerance,
}

#[pymethods]
impl Tolerance {
    #[new]
    #[pyo3(signature = (*, rel=None, abs=None, rank=false))]
    fn new(rel: Option<f64>, abs: Option<f64>, rank: bool) -> Result<Self> {
        crate::guard(|| Ok(Tolerance { inner: crate::convert::tolerance(rel, abs, rank)? }))
    }
    /// ``"relative"``, ``"absolute"`` or ``"numerical_rank"``.
    #[getter]
    fn mode(&self) -> &'static str {
        self.inner.mode_name()
    }
    /// The threshold parameter, ``None`` for the numerical rank.
    #[getter]
    fn value(&self) -> Option<f64> {
        self.inner.value()
    }
    pub(crate) fn __repr__(&self) -> String {
        match self.inner {
            CoreTolerance::Relative(x) => format!("Tolerance(rel={x:?})"),
            CoreTolerance::Absolute(x) => format!("Tolerance(abs={x:?})"),
            _ => "Tolerance(rank=True)".into(),
        }
    }
}

/// A NumPy array of shape `shape` from row-major values.
pub(crate) fn array<'py, T: numpy::Element>(
    py: Python<'py>,
    shape: &[usize],
    flat: Vec<T>,
) -> Result<Bound<'py, PyAny>> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), flat).map_err(|e| param("result shape", e.to_string()))?;
    Ok(a.into_pyarray(py).into_any())
}

/// Indices as an int64 array.
pub(crate) fn index_array<'py>(py: Python<'py>, indices: &[usize]) -> Bound<'py, PyAny> {
    PyArray1::from_vec(py, indices.iter().map(|&i| i as i64).collect()).into_any()
}

/// Parses the JSON text of a report into Python objects with `json.loads`.
fn loads<'py>(py: Python<'py>, text: &str) -> Result<Bound<'py, PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (text,))?)
}

/// The report dictionary of several measures of the same operator, through the
/// CLI's own serialisation. A batch is reported as `ess profile` reports a 4-D
/// tensor: the mean over its elements in `<name>_ess`, the population standard
/// deviation in `<name>_ess_std`, and `"batch"`.
fn report<'py>(py: Python<'py>, measures: &[&Profile], file: Option<&str>) -> Result<Bound<'py, PyAny>> {
    let first = measures[0];
    let file_name = file.unwrap_or("");
    let report = if first.batch_shape.is_empty() {
        let profiles: Vec<CoreProfile> = measures.iter().map(|p| p.items[0].clone()).collect();
        Report::from_profiles(file_name, first.dtype, first.block, profiles[0].tss(), &profiles)
    } else {
        let batches =
            measures.iter().map(|p| CoreBatch::from_profiles(p.items.clone())).collect::<Result<Vec<_>, _>>()?;
        let means: Vec<CoreProfile> = batches.iter().map(CoreBatch::mean_profile).collect();
        let mut r = Report::from_profiles(file_name, first.dtype, first.block, means[0].tss(), &means);
        for (m, b) in r.measures.iter_mut().zip(&batches) {
            m.std = Some(b.std.clone());
        }
        r.batch = Some(first.items.len());
        r
    };
    let d = loads(py, &ess_cli::output::json(&report))?;
    if file.is_none() {
        d.set_item("file", py.None())?;
    }
    Ok(d)
}

/// One measure's ESS profile: ``values[..., c, j]`` is the ESS of channel ``c``
/// at Hankel index ``indices[j]`` (``H_i = T[i:, :i]``), with the library's
/// aggregates. Arrays have the operator's batch axes first.
#[pyclass(module = "effective_state_size", frozen)]
pub(crate) struct Profile {
    /// One library profile per batch element.
    pub(crate) items: Vec<CoreProfile>,
    pub(crate) batch_shape: Vec<usize>,
    pub(crate) block: BlockShape,
    /// `"f32"` or `"f64"`, as the CLI's JSON spells it.
    pub(crate) dtype: &'static str,
}

impl Profile {
    fn first(&self) -> &CoreProfile {
        &self.items[0]
    }

    /// Lower (`k = 0`) or upper (`k = 1`) interval ends, stacked like `values`.
    fn ends<'py>(&self, py: Python<'py>, k: usize) -> Result<Option<Bound<'py, PyAny>>> {
        if self.items.iter().any(|p| p.bounds().is_none()) {
            return Ok(None);
        }
        let tail = [self.first().channels(), self.first().indices().len()];
        let v = self.stack(py, &tail, |p| p.bounds().map_or_else(Vec::new, |b| b.iter().flatten().map(|x| x[k]).collect()))?;
        Ok(Some(v))
    }

    /// `batch + tail`, stacking `f` of every batch element.
    fn stack<'py>(
        &self,
        py: Python<'py>,
        tail: &[usize],
        f: impl Fn(&CoreProfile) -> Vec<f64>,
    ) -> Result<Bound<'py, PyAny>> {
        let shape: Vec<usize> = self.batch_shape.iter().chain(tail).copied().collect();
        array(py, &shape, self.items.iter().flat_map(f).collect())
    }

    /// A float, or an array of the batch shape.
    fn per_element<'py>(&self, py: Python<'py>, f: impl Fn(&CoreProfile) -> Result<f64>) -> Result<Bound<'py, PyAny>> {
        let values = self.items.iter().map(f).collect::<Result<Vec<f64>>>()?;
        if self.batch_shape.is_empty() {
            Ok(PyFloat::new(py, values[0]).into_any())
        } else {
            array(py, &self.batch_shape, values)
        }
    }

    /// The TSS to divide by: the argument, else the profile's.
    fn tss_or(&self, tss: Option<f64>) -> Result<f64> {
        tss.or(self.first().tss().map(|t| t as f64)).ok_or_else(|| {
            param(
                "tss",
                "this operator has no fixed theoretical state size: pass tss= (e.g. the model's state or cache size)",
            )
        })
    }
}

#[pymethods]
impl Profile {
    /// ESS values, shape ``batch_shape + (channels, len(indices))``, float64.
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let tail = [self.first().channels(), self.first().indices().len()];
        self.stack(py, &tail, |p| p.values().iter().flatten().copied().collect())
    }
    /// The evaluated Hankel indices ``i`` (ascending, ``1 ≤ i ≤ L-1``), int64.
    #[getter]
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        index_array(py, self.first().indices())
    }
    /// ``"entropy"`` or ``"tolerance"``.
    #[getter]
    fn measure(&self) -> &'static str {
        self.first().measure().name()
    }
    /// The threshold of a tolerance-ESS profile, else ``None``.
    #[getter]
    fn tolerance(&self) -> Option<Tolerance> {
        match self.first().measure() {
            Measure::Tolerance(t) => Some(Tolerance { inner: t }),
            _ => None,
        }
    }
    /// ``"dense"``, ``"structured"`` or ``"lowrank"``: the path that computed the values.
    #[getter]
    fn method(&self) -> &'static str {
        self.first().computed_by().name()
    }
    /// Guaranteed lower ends of the values (``method="lowrank"``), same shape as
    /// ``values``; ``None`` on the exact paths.
    #[getter]
    fn lower<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyAny>>> {
        self.ends(py, 0)
    }
    /// Guaranteed upper ends of the values (``method="lowrank"``); ``None`` on the
    /// exact paths.
    #[getter]
    fn upper<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyAny>>> {
        self.ends(py, 1)
    }
    /// ``method="lowrank"``, tolerance-ESS: whether a singular value may lie on
    /// either side of the threshold (``lower != upper``), as a bool array of the
    /// values' shape; ``None`` on the exact paths.
    #[getter]
    fn ambiguous<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyAny>>> {
        let (Some(lo), Some(hi)) = (self.ends(py, 0)?, self.ends(py, 1)?) else { return Ok(None) };
        Ok(Some(lo.call_method1("__ne__", (hi,))?))
    }
    /// Sequence length ``L``.
    #[getter]
    fn seq_len(&self) -> usize {
        self.first().seq_len()
    }
    /// Channels per batch element.
    #[getter]
    fn channels(&self) -> usize {
        self.first().channels()
    }
    /// The theoretical state size (the operator's, or the ``tss=`` given), or ``None``.
    #[getter]
    fn tss(&self) -> Option<usize> {
        self.first().tss()
    }
    /// The leading batch axes, ``()`` for one operator.
    #[getter]
    fn batch_shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.batch_shape)
    }
    /// ``(p, m)``.
    #[getter]
    fn block(&self) -> (usize, usize) {
        (self.block.outputs, self.block.inputs)
    }
    /// ``"float32"`` or ``"float64"``: the precision of the computation.
    #[getter]
    fn dtype(&self) -> &'static str {
        if self.dtype == "f32" {
            "float32"
        } else {
            "float64"
        }
    }
    /// Mean over channels and indices: a float (an array of ``batch_shape`` for a batch).
    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.per_element(py, |p| Ok(p.mean()))
    }
    /// Maximum over channels and indices: a float (an array of ``batch_shape`` for a batch).
    #[getter]
    fn max<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.per_element(py, |p| Ok(p.max()))
    }
    /// Per-channel mean over indices, ``batch_shape + (channels,)``.
    #[getter]
    fn channel_mean<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.stack(py, &[self.first().channels()], CoreProfile::channel_means)
    }
    /// Per-channel maximum over indices, ``batch_shape + (channels,)``.
    #[getter]
    fn channel_max<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.stack(py, &[self.first().channels()], CoreProfile::channel_maxes)
    }
    /// *Average ESS* per index (mean over channels), ``batch_shape + (len(indices),)``.
    #[getter]
    fn average<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.stack(py, &[self.first().indices().len()], CoreProfile::average)
    }
    /// *Total ESS* per index (sum over channels; for tolerance-ESS the ESS of
    /// all channels as one operator), ``batch_shape + (len(indices),)``.
    #[getter]
    fn total<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.stack(py, &[self.first().indices().len()], CoreProfile::total)
    }
    /// ``values / tss`` (the operator's TSS unless ``tss`` is given): near 1 is
    /// state saturation.
    #[pyo3(signature = (tss=None))]
    fn utilization<'py>(&self, py: Python<'py>, tss: Option<f64>) -> Result<Bound<'py, PyAny>> {
        let t = self.tss_or(tss)?;
        let mut flat = Vec::new();
        for p in &self.items {
            flat.extend(p.utilization(t)?.into_iter().flatten());
        }
        let tail = [self.first().channels(), self.first().indices().len()];
        let shape: Vec<usize> = self.batch_shape.iter().chain(&tail).copied().collect();
        array(py, &shape, flat)
    }
    /// ``mean / tss``: a float (an array of ``batch_shape`` for a batch).
    #[pyo3(signature = (tss=None))]
    fn mean_utilization<'py>(&self, py: Python<'py>, tss: Option<f64>) -> Result<Bound<'py, PyAny>> {
        let t = self.tss_or(tss)?;
        self.per_element(py, |p| Ok(p.mean_utilization(t)?))
    }
    /// ``max / tss``: a float (an array of ``batch_shape`` for a batch).
    #[pyo3(signature = (tss=None))]
    fn max_utilization<'py>(&self, py: Python<'py>, tss: Option<f64>) -> Result<Bound<'py, PyAny>> {
        let t = self.tss_or(tss)?;
        self.per_element(py, |p| Ok(p.max_utilization(t)?))
    }
    /// Boundary-normalised ESS ``values / min(p·(L−i), m·i)`` (the largest rank
    /// ``H_i`` can have), ``batch_shape + (channels, len(indices))``, in ``[0, 1]``.
    fn normalized<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let tail = [self.first().channels(), self.first().indices().len()];
        self.stack(py, &tail, |p| p.normalized().into_iter().flatten().collect())
    }
    /// Mean of ``normalized()`` over channels and indices: a float (an array of
    /// ``batch_shape`` for a batch); ``summary.<name>_ess.normalized_mean`` of
    /// ``to_dict()``.
    #[getter]
    fn normalized_mean<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.per_element(py, |p| Ok(p.normalized_mean()))
    }
    /// Marker (delimiter) modulation at token positions ``positions`` (each in
    /// ``1..L-2``) with window ``window``: ``Δ_t = mean(ESS[t+1..t+w]) −
    /// mean(ESS[t−w+1..t])`` per channel, the baseline (mean and population std
    /// of ``Δ`` at every other position, pooled over channels) and ``z``: a
    /// ``MarkerModulation``. Needs every index (``indices="all"``). A batch is
    /// pooled: each element's ``Δ`` on its own profile, ``deltas`` the mean over
    /// the batch, the summary and baseline over every element.
    #[pyo3(signature = (positions, window=1))]
    fn marker_modulation(&self, positions: &Bound<'_, PyAny>, window: usize) -> Result<MarkerModulation> {
        crate::guard(|| {
            let positions = marker_positions(positions)?;
            let inner = core_ess::marker_modulation(&self.items, &positions, window)?;
            let mean = if self.items.len() == 1 {
                self.items[0].clone()
            } else {
                CoreBatch::from_profiles(self.items.clone())?.mean_profile()
            };
            MarkerModulation::new(inner, mean)
        })
    }
    /// The JSON report of ``ess profile --format json`` for this one measure, as
    /// Python objects (``file`` is ``None`` unless given). A batch is reported as
    /// the CLI reports a 4-D tensor: the mean over the batch in ``<name>_ess``,
    /// the population standard deviation in ``<name>_ess_std``, and ``"batch"``.
    #[pyo3(signature = (file=None))]
    fn to_dict<'py>(slf: &Bound<'py, Self>, file: Option<&str>) -> Result<Bound<'py, PyAny>> {
        crate::guard(|| report(slf.py(), &[slf.get()], file))
    }
    fn __repr__(&self) -> String {
        let p = self.first();
        let tol = match p.measure() {
            Measure::Tolerance(t) => format!(", tolerance={}", Tolerance { inner: t }.__repr__()),
            _ => String::new(),
        };
        let batch = if self.batch_shape.is_empty() {
            String::new()
        } else {
            format!(", batch_shape={}", fmt_shape(&self.batch_shape))
        };
        let stats = if self.batch_shape.is_empty() {
            format!(", mean={:.4}, max={:.4}", p.mean(), p.max())
        } else {
            String::new()
        };
        format!(
            "Profile(measure='{}'{tol}, method='{}'{batch}, channels={}, seq_len={}, indices={}{stats})",
            p.measure().name(),
            p.computed_by().name(),
            p.channels(),
            p.seq_len(),
            p.indices().len()
        )
    }
}

/// Several measures of one operator from one sweep of singular values: a
/// sequence of ``Profile`` (indexable by position or by name, ``"tolerance"``,
/// ``"entropy"``, ``"tolerance_2"``, … as in the CLI's JSON).
#[pyclass(module = "effective_state_size", frozen, sequence)]
pub(crate) struct Profiles {
    pub(crate) items: Vec<Py<Profile>>,
    pub(crate) names: Vec<String>,
}

#[pymethods]
impl Profiles {
    fn __len__(&self) -> usize {
        self.items.len()
    }
    fn __getitem__<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(name) = key.cast::<PyString>() {
            let name = name.to_cow()?;
            return match self.names.iter().position(|n| *n == name) {
                Some(k) => Ok(self.items[k].bind(py).clone().into_any()),
                None => Err(pyo3::exceptions::PyKeyError::new_err(format!(
                    "no measure named {name:?}; the measures are {:?}",
                    self.names
                ))),
            };
        }
        if key.cast::<PySlice>().is_ok() {
            return PyList::new(py, &self.items)?.as_any().get_item(key);
        }
        let k: isize = key.extract()?;
        let n = self.items.len() as isize;
        let j = if k < 0 { k + n } else { k };
        if !(0..n).contains(&j) {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!("index {k} out of range for {n} profiles")));
        }
        Ok(self.items[j as usize].bind(py).clone().into_any())
    }
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        PyList::new(py, &self.items)?.try_iter()
    }
    /// The measures' names: ``tolerance``, ``entropy``, then ``tolerance_2``, … for
    /// repeated kinds.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }
    /// The JSON report of ``ess profile --format json`` (every measure), as Python
    /// objects; a batch as the CLI reports a 4-D tensor (see ``Profile.to_dict``).
    #[pyo3(signature = (file=None))]
    fn to_dict<'py>(&self, py: Python<'py>, file: Option<&str>) -> Result<Bound<'py, PyAny>> {
        crate::guard(|| {
            let items: Vec<&Profile> = self.items.iter().map(|p| p.get()).collect();
            report(py, &items, file)
        })
    }
    fn __repr__(&self) -> String {
        let parts: Vec<String> = self.items.iter().map(|p| p.get().__repr__()).collect();
        format!("Profiles([{}])", parts.join(", "))
    }
}

/// What a computation would do, before doing it (``plan()``).
#[pyclass(module = "effective_state_size", frozen)]
pub(crate) struct Plan {
    pub(crate) inner: CorePlan,
}

#[pymethods]
impl Plan {
    /// ``"dense"`` or ``"structured"``.
    #[getter]
    fn method(&self) -> &'static str {
        self.inner.method.name()
    }
    /// The Hankel indices that would be evaluated, int64.
    #[getter]
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        index_array(py, &self.inner.indices)
    }
    /// The least working memory in bytes (one channel's ``T`` and its largest
    /// block, or one channel's realization and factors).
    #[getter]
    fn bytes(&self) -> u64 {
        self.inner.bytes
    }
    /// The memory budget in force, in bytes.
    #[getter]
    fn budget(&self) -> u64 {
        self.inner.budget
    }
    /// Why this method, in words.
    #[getter]
    fn reason(&self) -> &str {
        &self.inner.reason
    }
    fn __repr__(&self) -> String {
        format!(
            "Plan(method='{}', indices={}, bytes={}, budget={}, reason={:?})",
            self.inner.method.name(),
            self.inner.indices.len(),
            self.inner.bytes,
            self.inner.budget,
            self.inner.reason
        )
    }
}

/// How well an operator's kernels agree (``verify()``): deviations relative to
/// the largest entry of ``T``, the worst over channels and batch elements.
#[pyclass(module = "effective_state_size", frozen, get_all)]
pub(crate) struct Verification {
    /// Channels checked (over every batch element).
    pub(crate) channels: usize,
    /// ``max |apply(u) - T u| / (max|T|·max|u|·m·L)`` for a fixed random ``u``.
    pub(crate) apply_error: f64,
    /// ``max |T_realization - T| / max|T|``, or ``None`` without a realization.
    pub(crate) realization_error: Option<f64>,
    /// ``sqrt(eps)`` of the dtype: both errors are below it.
    pub(crate) threshold: f64,
}

impl Verification {
    pub(crate) fn combine(items: &[CoreVerification]) -> Self {
        let max_opt = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        Verification {
            channels: items.iter().map(|v| v.channels).sum(),
            apply_error: items.iter().map(|v| v.apply_error).fold(0.0, f64::max),
            realization_error: items.iter().map(|v| v.realization_error).fold(None, max_opt),
            threshold: items.first().map_or(0.0, |v| v.threshold),
        }
    }
}

#[pymethods]
impl Verification {
    fn __repr__(&self) -> String {
        format!(
            "Verification(channels={}, apply_error={:e}, realization_error={}, threshold={:e})",
            self.channels,
            self.apply_error,
            self.realization_error.map_or("None".into(), |e| format!("{e:e}")),
            self.threshold
        )
    }
}

/// Statistics of one measure over a batch of inputs (``over_inputs()``):
/// ``mean``, ``std`` (population), ``min``, ``max``, each ``(channels,
/// len(indices))``.
#[pyclass(module = "effective_state_size", frozen)]
pub(crate) struct BatchProfile {
    pub(crate) inner: CoreBatch,
}

impl BatchProfile {
    fn matrix<'py>(&self, py: Python<'py>, m: &[Vec<f64>]) -> Result<Bound<'py, PyAny>> {
        let shape = [m.len(), self.inner.indices.len()];
        array(py, &shape, m.iter().flatten().copied().collect())
    }
}

#[pymethods]
impl BatchProfile {
    /// Number of inputs.
    #[getter]
    fn inputs(&self) -> usize {
        self.inner.inputs
    }
    /// The evaluated Hankel indices, int64.
    #[getter]
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        index_array(py, &self.inner.indices)
    }
    /// ``"entropy"`` or ``"tolerance"``.
    #[getter]
    fn measure(&self) -> &'static str {
        self.inner.measure.name()
    }
    /// The threshold of tolerance-ESS, else ``None``.
    #[getter]
    fn tolerance(&self) -> Option<Tolerance> {
        match self.inner.measure {
            Measure::Tolerance(t) => Some(Tolerance { inner: t }),
            _ => None,
        }
    }
    /// Mean over inputs, ``(channels, len(indices))``.
    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.matrix(py, &self.inner.mean)
    }
    /// Population standard deviation over inputs.
    #[getter]
    fn std<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.matrix(py, &self.inner.std)
    }
    /// Minimum over inputs.
    #[getter]
    fn min<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.matrix(py, &self.inner.min)
    }
    /// Maximum over inputs.
    #[getter]
    fn max<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.matrix(py, &self.inner.max)
    }
    /// Marker modulation pooled over the inputs (see ``Profile.marker_modulation``):
    /// each input's ``Δ`` on its own profile, ``deltas`` the mean over inputs,
    /// baseline and ``z`` over every input. Needs every index.
    #[pyo3(signature = (positions, window=1))]
    fn marker_modulation(&self, positions: &Bound<'_, PyAny>, window: usize) -> Result<MarkerModulation> {
        crate::guard(|| {
            let positions = marker_positions(positions)?;
            let inner = self.inner.marker_modulation(&positions, window)?;
            MarkerModulation::new(inner, self.inner.mean_profile())
        })
    }
    /// ``{"inputs", "measure", "tolerance", "indices", "mean", "std", "min", "max"}``
    /// with lists.
    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("inputs", self.inner.inputs)?;
        d.set_item("measure", self.inner.measure.name())?;
        match self.tolerance() {
            Some(t) => {
                let td = PyDict::new(py);
                td.set_item("mode", t.inner.mode_name())?;
                td.set_item("value", t.inner.value())?;
                d.set_item("tolerance", td)?;
            }
            None => d.set_item("tolerance", py.None())?,
        }
        d.set_item("indices", &self.inner.indices)?;
        d.set_item("mean", &self.inner.mean)?;
        d.set_item("std", &self.inner.std)?;
        d.set_item("min", &self.inner.min)?;
        d.set_item("max", &self.inner.max)?;
        Ok(d)
    }
    fn __repr__(&self) -> String {
        format!(
            "BatchProfile(measure='{}', inputs={}, channels={}, indices={})",
            self.inner.measure.name(),
            self.inner.inputs,
            self.inner.mean.len(),
            self.inner.indices.len()
        )
    }
}

/// `positions=`: a sequence of non-negative ints.
fn marker_positions(obj: &Bound<'_, PyAny>) -> Result<Vec<usize>> {
    if obj.is_instance_of::<PyString>() || obj.extract::<i64>().is_ok() {
        return Err(param("marker positions", format!("{obj} is not a list: pass a list of positions, e.g. [{obj}]")));
    }
    let list: Vec<i64> =
        obj.extract().map_err(|_| param("marker positions", format!("{obj} is not a list of integer positions")))?;
    list.into_iter()
        .map(|t| usize::try_from(t).map_err(|_| param("marker positions", format!("position {t} is negative"))))
        .collect()
}

/// Delimiter (marker) modulation of one measure (``Profile.marker_modulation``,
/// ``BatchProfile.marker_modulation``). ``to_dict()`` is the ``"markers"`` object
/// of ``ess profile --mark ... --format json`` for this measure.
#[pyclass(module = "effective_state_size", frozen)]
pub(crate) struct MarkerModulation {
    inner: CoreMarkers,
    /// The `"markers"` object of the CLI's report, as JSON text.
    json: String,
}

impl MarkerModulation {
    /// `mean`: the (mean) profile the report is made of, for the CLI's JSON.
    fn new(inner: CoreMarkers, mean: CoreProfile) -> Result<Self> {
        let mut report = Report::from_profiles("", "f64", mean.block_shape(), mean.tss(), std::slice::from_ref(&mean));
        report.markers = Some(ess_cli::analysis::Markers { positions: inner.positions.clone(), window: inner.window });
        report.measures[0].markers = Some(inner.clone());
        let full: serde_json::Value =
            serde_json::from_str(&ess_cli::output::json(&report)).map_err(|e| param("marker report", e.to_string()))?;
        Ok(Self { inner, json: full["markers"].to_string() })
    }
}

#[pymethods]
impl MarkerModulation {
    /// ``"entropy"`` or ``"tolerance"``: the measure the deltas are differences of.
    #[getter]
    fn measure(&self) -> &'static str {
        self.inner.measure.name()
    }
    /// The marker positions, in the order given.
    #[getter]
    fn positions(&self) -> Vec<usize> {
        self.inner.positions.clone()
    }
    /// The window ``w``.
    #[getter]
    fn window(&self) -> usize {
        self.inner.window
    }
    /// Number of profiles pooled (1, or the batch size).
    #[getter]
    fn items(&self) -> usize {
        self.inner.items
    }
    /// ``deltas[c, k]``: ``Δ`` of channel ``c`` at ``positions[k]`` (the mean over a
    /// batch), ``(channels, len(positions))``.
    #[getter]
    fn deltas<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let shape = [self.inner.deltas.len(), self.inner.positions.len()];
        array(py, &shape, self.inner.deltas.iter().flatten().copied().collect())
    }
    /// Mean of ``Δ`` over every (item, channel, marker).
    #[getter]
    fn mean_delta(&self) -> f64 {
        self.inner.mean_delta
    }
    /// Mean of ``Δ`` at every non-marker position (``None`` when every position is a marker).
    #[getter]
    fn baseline_mean(&self) -> Option<f64> {
        self.inner.baseline_mean
    }
    /// Population standard deviation of the baseline.
    #[getter]
    fn baseline_std(&self) -> Option<f64> {
        self.inner.baseline_std
    }
    /// ``(mean_delta − baseline_mean) / baseline_std``; ``None`` when the std is 0 or
    /// there is no baseline.
    #[getter]
    fn z(&self) -> Option<f64> {
        self.inner.z
    }
    /// ``{"positions", "window", "channels": [{"channel", "<measure>_delta"}],
    /// "<measure>": {"mean_delta", "baseline_mean", "baseline_std", "z"}}``, the
    /// CLI's ``"markers"`` object.
    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        loads(py, &self.json)
    }
    fn __repr__(&self) -> String {
        let opt = |x: Option<f64>| x.map_or("None".to_string(), |v| format!("{v:.4}"));
        format!(
            "MarkerModulation(measure='{}', positions={:?}, window={}, items={}, mean_delta={:.4}, baseline_mean={}, z={})",
            self.inner.measure.name(),
            self.inner.positions,
            self.inner.window,
            self.inner.items,
            self.inner.mean_delta,
            opt(self.inner.baseline_mean),
            opt(self.inner.z)
        )
    }
}
