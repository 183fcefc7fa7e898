//! From Python values to the library's types: arrays (NumPy, PyTorch, anything
//! `numpy.asarray` accepts) as typed views, and the parsing of indices, methods,
//! measures and block shapes.

use crate::operators::{BoxOp, Ops};
use crate::results::Tolerance as PyTolerance;
use crate::{param, Error, Result};
use effective_state_size::ess::{Indices, Measure, Method, Tolerance};
use effective_state_size::nalgebra::DMatrix;
use effective_state_size::{BlockShape, EssError as CoreError, Scalar};
use numpy::ndarray::{ArrayView2, ArrayViewD, Axis, CowArray, IxDyn};
use numpy::{Element, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};
use std::borrow::Cow;

/// The floating-point type an operator is built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    F32,
    F64,
}

impl Dtype {
    /// `"float32"` or `"float64"`.
    pub(crate) fn numpy_name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }
    /// NumPy's promotion: float64 if any array is float64.
    pub(crate) fn promote(arrays: &[&Arr<'_>]) -> Dtype {
        if arrays.iter().any(|a| a.dtype() == Dtype::F64) {
            Dtype::F64
        } else {
            Dtype::F32
        }
    }
}

/// `f32` or `f64`, as read from NumPy.
pub(crate) trait Float: Scalar + Element {
    /// A view of float32 data in this type (borrowed when it is float32).
    fn read_f32(v: ArrayViewD<'_, f32>) -> CowArray<'_, Self, IxDyn>;
    /// A view of float64 data in this type (borrowed when it is float64).
    fn read_f64(v: ArrayViewD<'_, f64>) -> CowArray<'_, Self, IxDyn>;
    /// Operators of this type, type-erased.
    fn wrap(ops: Vec<BoxOp<Self>>) -> Ops;
}

impl Float for f32 {
    fn read_f32(v: ArrayViewD<'_, f32>) -> CowArray<'_, f32, IxDyn> {
        CowArray::from(v)
    }
    fn read_f64(v: ArrayViewD<'_, f64>) -> CowArray<'_, f32, IxDyn> {
        // Not reached by promotion (float64 data makes a float64 operator).
        CowArray::from(v.mapv(|x| x as f32))
    }
    fn wrap(ops: Vec<BoxOp<f32>>) -> Ops {
        Ops::F32(ops)
    }
}

impl Float for f64 {
    fn read_f32(v: ArrayViewD<'_, f32>) -> CowArray<'_, f64, IxDyn> {
        CowArray::from(v.mapv(f64::from))
    }
    fn read_f64(v: ArrayViewD<'_, f64>) -> CowArray<'_, f64, IxDyn> {
        CowArray::from(v)
    }
    fn wrap(ops: Vec<BoxOp<f64>>) -> Ops {
        Ops::F64(ops)
    }
}

enum Data<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

/// A float32 or float64 NumPy array, borrowed read-only, with the argument's name
/// for messages.
pub(crate) struct Arr<'py> {
    name: String,
    data: Data<'py>,
}

impl<'py> Arr<'py> {
    /// Reads `obj`: a float32/float64 NumPy array as it is (any order, any
    /// strides, no copy); a PyTorch tensor through `.detach().cpu().numpy()`
    /// (no copy for a CPU tensor); anything else through `numpy.asarray`.
    pub(crate) fn new(obj: &Bound<'py, PyAny>, name: &str) -> Result<Self> {
        if let Some(a) = Self::typed(obj, name)? {
            return Ok(a);
        }
        let module = obj.get_type().module().map(|m| m.to_string()).unwrap_or_default();
        let converted = if module == "torch" || module.starts_with("torch.") {
            obj.call_method0("detach")
                .and_then(|t| t.call_method0("cpu"))
                .and_then(|t| t.call_method0("numpy"))
                .map_err(|e| {
                    param(
                        name,
                        format!(
                            "the tensor cannot be read as a NumPy array ({e}); pass a float32 or float64 tensor, \
                             e.g. tensor.float() or tensor.double()"
                        ),
                    )
                })?
        } else {
            let numpy = obj.py().import("numpy")?;
            numpy.call_method1("asarray", (obj,)).map_err(|e| {
                param(name, format!("cannot be read as an array ({e}); pass a float32 or float64 NumPy array"))
            })?
        };
        match Self::typed(&converted, name)? {
            Some(a) => Ok(a),
            None => Err(param(name, "cannot be read as an array; pass a float32 or float64 NumPy array")),
        }
    }

    /// `Some` for a float array, an error for an array of another dtype, `None`
    /// for something that is not an array.
    fn typed(obj: &Bound<'py, PyAny>, name: &str) -> Result<Option<Self>> {
        if obj.cast::<PyUntypedArray>().is_ok() && !obj.getattr("flags")?.getattr("aligned")?.is_truthy()? {
            // A misaligned array (a view into a byte buffer at an odd offset):
            // read an aligned copy, never references into unaligned memory.
            let copy = obj.call_method0("copy")?;
            if !copy.getattr("flags")?.getattr("aligned")?.is_truthy()? {
                return Err(param(name, "the array is not aligned in memory; pass a copy of it (x.copy())"));
            }
            return Self::typed(&copy, name);
        }
        let borrow_error =
            |e: numpy::BorrowError| param(name, format!("the array cannot be read ({e}); pass a copy of it"));
        if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
            let data = Data::F64(a.try_readonly().map_err(borrow_error)?);
            return Ok(Some(Self { name: name.to_string(), data }));
        }
        if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
            let data = Data::F32(a.try_readonly().map_err(borrow_error)?);
            return Ok(Some(Self { name: name.to_string(), data }));
        }
        if let Ok(a) = obj.cast::<PyUntypedArray>() {
            let dtype = a.dtype().to_string();
            return Err(param(
                format!("dtype of {name}"),
                format!(
                    "{dtype} is not supported: pass float32 or float64 (e.g. x.astype(np.float64), or \
                     tensor.double() in PyTorch)"
                ),
            ));
        }
        Ok(None)
    }

    /// The argument's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The shape.
    pub(crate) fn shape(&self) -> &[usize] {
        match &self.data {
            Data::F32(a) => a.shape(),
            Data::F64(a) => a.shape(),
        }
    }

    /// Number of axes.
    pub(crate) fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// float32 or float64.
    pub(crate) fn dtype(&self) -> Dtype {
        match &self.data {
            Data::F32(_) => Dtype::F32,
            Data::F64(_) => Dtype::F64,
        }
    }

    /// The data as `T`: a view of the array itself when it has that dtype,
    /// whatever its strides; a converted copy otherwise.
    pub(crate) fn view<T: Float>(&self) -> CowArray<'_, T, IxDyn> {
        match &self.data {
            Data::F32(a) => T::read_f32(a.as_array()),
            Data::F64(a) => T::read_f64(a.as_array()),
        }
    }
}

/// `(4, 128, 16)`.
pub(crate) fn fmt_shape(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// A shape error: `what: expected shape <expected>, received <got>`.
pub(crate) fn shape_error(what: &str, expected: impl Into<String>, got: &[usize]) -> Error {
    CoreError::ShapeMismatch { what: what.to_string(), expected: expected.into(), received: fmt_shape(got) }.into()
}

/// `(batch=(2,), heads=4, L=128, d=16)` for messages.
pub(crate) fn labelled(batch: &[usize], axes: &[(&str, usize)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !batch.is_empty() {
        parts.push(format!("batch={}", fmt_shape(batch)));
    }
    parts.extend(axes.iter().map(|(n, d)| format!("{n}={d}")));
    format!("({})", parts.join(", "))
}

/// Checks that `a` has the shape `batch + axes`.
pub(crate) fn expect_shape(a: &Arr<'_>, batch: &[usize], axes: &[(&str, usize)]) -> Result<()> {
    let want: Vec<usize> = batch.iter().copied().chain(axes.iter().map(|(_, d)| *d)).collect();
    if a.shape() != want.as_slice() {
        return Err(shape_error(a.name(), labelled(batch, axes), a.shape()));
    }
    Ok(())
}

/// Errors unless every size of a batch shape is at least 1.
pub(crate) fn check_batch(name: &str, batch: &[usize]) -> Result<()> {
    if batch.contains(&0) {
        return Err(CoreError::Empty {
            what: format!("the batch of {name}"),
            hint: format!("batch shape {} holds no operator; every size must be at least 1", fmt_shape(batch)),
        }
        .into());
    }
    Ok(())
}

/// The sub-views at every index of the leading `lead` axes, in row-major order
/// of those indices (no copy).
pub(crate) fn split_leading<'a, T>(v: ArrayViewD<'a, T>, lead: usize) -> Vec<ArrayViewD<'a, T>> {
    let mut items = vec![v];
    for _ in 0..lead {
        items = items
            .into_iter()
            .flat_map(|x| {
                let n = x.len_of(Axis(0));
                (0..n).map(move |i| x.clone().index_axis_move(Axis(0), i))
            })
            .collect();
    }
    items
}

/// The values of `v` in row-major order: borrowed when `v` is C-contiguous,
/// copied otherwise (Fortran order, strided or transposed views).
pub(crate) fn row_major<'a, T: Copy>(v: &ArrayViewD<'a, T>) -> Cow<'a, [T]> {
    match v.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.iter().copied().collect()),
    }
}

/// The matrix of a 2-D view, read straight from its memory when it is C- or
/// Fortran-contiguous.
pub(crate) fn matrix<T: Scalar>(v: ArrayView2<'_, T>) -> DMatrix<T> {
    let (r, c) = v.dim();
    if let Some(s) = v.to_slice() {
        return DMatrix::from_row_slice(r, c, s);
    }
    if let Some(s) = v.t().to_slice() {
        return DMatrix::from_column_slice(r, c, s);
    }
    DMatrix::from_fn(r, c, |i, j| v[[i, j]])
}

/// `indices=`: `None`/`"all"`, `"middle"`, `"stride:K"`, or a sequence of ints.
pub(crate) fn indices(obj: Option<&Bound<'_, PyAny>>) -> Result<Indices> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(Indices::All) };
    let usage = "use \"all\", \"middle\", \"stride:K\" or a list of indices i with 1 ≤ i ≤ L-1";
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_cow()?;
        let s = s.trim();
        return match s {
            "all" => Ok(Indices::All),
            "middle" => Ok(Indices::Middle),
            _ => match s.strip_prefix("stride:").map(|k| k.trim().parse::<usize>()) {
                Some(Ok(k)) => Ok(Indices::Stride(k)),
                _ => Err(param("indices", format!("{s:?} is not understood: {usage}"))),
            },
        };
    }
    if obj.is_instance_of::<PyBool>() || obj.extract::<i64>().is_ok() {
        return Err(param(
            "indices",
            format!("a bare integer ({obj}) is ambiguous: pass [{obj}] for that one index, or \"stride:{obj}\""),
        ));
    }
    let list: Vec<i64> = obj.extract().map_err(|_| param("indices", format!("{obj} is not understood: {usage}")))?;
    let list = list
        .into_iter()
        .map(|i| usize::try_from(i).map_err(|_| param("indices", format!("index {i} is negative: {usage}"))))
        .collect::<Result<Vec<usize>>>()?;
    Ok(Indices::List(list))
}

/// `method=`: `"auto"`, `"dense"`, `"structured"` or `"lowrank"`.
pub(crate) fn method(s: &str) -> Result<Method> {
    match s {
        "auto" => Ok(Method::Auto),
        "dense" => Ok(Method::Dense),
        "structured" => Ok(Method::Structured),
        "lowrank" => Ok(Method::LowRank),
        other => Err(param("method", format!("{other:?}: use \"auto\", \"dense\", \"structured\" or \"lowrank\""))),
    }
}

/// `block=(p, m)`.
pub(crate) fn block(b: Option<(usize, usize)>) -> Result<BlockShape> {
    match b {
        None => Ok(BlockShape::SISO),
        Some((p, m)) if p > 0 && m > 0 => Ok(BlockShape { outputs: p, inputs: m }),
        Some((p, m)) => Err(param("block", format!("(p, m) = ({p}, {m}): both must be at least 1"))),
    }
}

/// One tolerance from `rel=`, `abs=`, `rank=` (at most one; relative 1e-3 when
/// none is given), validated.
pub(crate) fn tolerance(rel: Option<f64>, abs: Option<f64>, rank: bool) -> Result<Tolerance> {
    let t = match (rel, abs, rank) {
        (None, None, false) => Tolerance::Relative(1e-3),
        (Some(x), None, false) => Tolerance::Relative(x),
        (None, Some(x), false) => Tolerance::Absolute(x),
        (None, None, true) => Tolerance::NumericalRank,
        _ => return Err(param("tolerance", "give one of rel=, abs= or rank=True, not several")),
    };
    t.validate()?;
    Ok(t)
}

/// One measure: `"entropy"`, `"tolerance"` (relative 1e-3), `"numerical_rank"`,
/// or a `Tolerance`.
fn measure(obj: &Bound<'_, PyAny>) -> Result<Measure> {
    if let Ok(t) = obj.cast::<PyTolerance>() {
        return Ok(Measure::Tolerance(t.get().inner));
    }
    let usage =
        "use \"entropy\", \"tolerance\" (relative 1e-3), \"numerical_rank\" or a Tolerance(rel=|abs=|rank=True)";
    let s: String = obj.extract().map_err(|_| param("measures", format!("{obj} is not a measure: {usage}")))?;
    match s.as_str() {
        "entropy" => Ok(Measure::Entropy),
        "tolerance" => Ok(Measure::Tolerance(Tolerance::Relative(1e-3))),
        "numerical_rank" | "rank" => Ok(Measure::Tolerance(Tolerance::NumericalRank)),
        _ => Err(param("measures", format!("{s:?} is not a measure: {usage}"))),
    }
}

/// `measures=`: one measure or a sequence of them; by default the CLI's pair,
/// tolerance (relative 1e-3) then entropy.
pub(crate) fn measures(obj: Option<&Bound<'_, PyAny>>) -> Result<Vec<Measure>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(vec![Measure::Tolerance(Tolerance::Relative(1e-3)), Measure::Entropy]);
    };
    if obj.is_instance_of::<PyString>() || obj.cast::<PyTolerance>().is_ok() {
        return Ok(vec![measure(obj)?]);
    }
    let items = obj.try_iter().map_err(|_| param("measures", format!("{obj} is not a measure or a list of them")))?;
    let out = items.map(|m| measure(&m?)).collect::<Result<Vec<_>>>()?;
    if out.is_empty() {
        return Err(param("measures", "the list is empty: give at least one measure"));
    }
    for m in &out {
        m.validate()?;
    }
    Ok(out)
}
