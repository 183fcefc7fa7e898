//! Python bindings of `effective-state-size`: the Python module
//! `effective_state_size._native`, re-exported by the pure-Python package
//! `effective_state_size` (`python/python/effective_state_size/`).
//!
//! Layout:
//! * [`convert`]: NumPy arrays (and PyTorch tensors) in, typed views out; the
//!   parsing of indices, methods, measures and tolerances.
//! * [`operators`]: the `Operator` class and one constructor per family.
//! * [`run`]: the one place where a computation runs: GIL released, on a local
//!   rayon pool, cancellable by Ctrl-C or the progress callback, panics caught.
//! * [`results`]: `Profile`, `Profiles`, `Plan`, `Verification`, `BatchProfile`,
//!   `Tolerance`.
//! * [`api`]: the entry points (`entropy`, `tolerance`, `profiles`, `plan`,
//!   `verify`, `singular_values`, `over_inputs`).
//!
//! Adding an entry point of the library (markers, sweeps, reduction) is one
//! `#[pyfunction]` in [`api`]: [`api::operand`] turns its first argument into
//! operators, [`run::run`] computes, a result class returns NumPy arrays; then
//! one line in [`_native`] below and its stub in `_native.pyi`.

mod analyses;
mod api;
mod convert;
mod operators;
mod results;
mod run;

use effective_state_size::EssError as CoreError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

pyo3::create_exception!(
    effective_state_size,
    EssError,
    PyValueError,
    "An error reported by effective-state-size: invalid input (shape, dtype, NaN or inf, a \
     non-causal matrix, a tolerance, an index), a refused memory budget, or a cancelled \
     computation. ``str(err)`` is the library's message; ``err.kind`` names the error variant \
     (for example ``\"NotCausal\"``, ``\"ShapeMismatch\"``, ``\"MemoryBudget\"``, ``\"Cancelled\"``; \
     ``\"Internal\"`` is a bug)."
);

/// An error of the bindings: the library's, or a Python exception raised on the
/// way (by a featurizer, a progress callback, Ctrl-C).
pub(crate) enum Error {
    /// The library's error, with an optional context prefixed to its message
    /// (e.g. which batch element), keeping its kind.
    Core(CoreError, Option<String>),
    Py(PyErr),
    /// A caught panic: a bug (kind `"Internal"`).
    Internal(String),
}

impl Error {
    /// Prefixes `context` to the message of a library error.
    pub(crate) fn context(self, context: impl FnOnce() -> String) -> Self {
        match self {
            Error::Core(e, None) => Error::Core(e, Some(context())),
            Error::Core(e, Some(c)) => Error::Core(e, Some(format!("{}, {c}", context()))),
            e => e,
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        Error::Core(e, None)
    }
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Self {
        Error::Py(e)
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Py(e) => e,
            Error::Core(e, context) => Python::attach(|py| ess_error(py, &e, context.as_deref())),
            Error::Internal(message) => Python::attach(|py| {
                let err = EssError::new_err(message);
                let _ = err.value(py).setattr("kind", "Internal");
                err
            }),
        }
    }
}

/// The variant name of an error (`NotCausal`, `ShapeMismatch`, …), from its
/// `Debug` form.
fn kind_of(e: &CoreError) -> String {
    format!("{e:?}").chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
}

/// `EssError(message)` with `.kind` set.
fn ess_error(py: Python<'_>, e: &CoreError, context: Option<&str>) -> PyErr {
    let message = match context {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    };
    let err = EssError::new_err(message);
    // Setting an attribute on a fresh exception instance cannot fail in practice;
    // if it does, the message is still there.
    let _ = err.value(py).setattr("kind", kind_of(e));
    err
}

/// Shorthand for an invalid argument of the bindings themselves.
pub(crate) fn param(name: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Core(CoreError::InvalidParameter { name: name.into(), reason: reason.into() }, None)
}

/// Runs the body of an entry point, turning a panic (a bug) into an `EssError`
/// instead of letting PyO3 raise a `PanicException`: the last line of defence,
/// since the library itself reports every input problem as an error.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(internal_error(&*payload)))
}

/// The error for a caught panic.
pub(crate) fn internal_error(payload: &(dyn std::any::Any + Send)) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::Internal(format!(
        "internal error ({what}): this is a bug in effective-state-size, please report it with the input that \
         caused it"
    ))
}

/// The compiled part of the `effective_state_size` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("EssError", py.get_type::<EssError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT_MEMORY_BUDGET", effective_state_size::planner::DEFAULT_MEMORY_BUDGET)?;
    m.add_class::<operators::Operator>()?;
    m.add_class::<results::Tolerance>()?;
    m.add_class::<results::Profile>()?;
    m.add_class::<results::Profiles>()?;
    m.add_class::<results::Plan>()?;
    m.add_class::<results::Verification>()?;
    m.add_class::<results::BatchProfile>()?;
    m.add_class::<results::MarkerModulation>()?;
    m.add_class::<analyses::ToleranceSweep>()?;
    m.add_class::<analyses::Gradient>()?;
    m.add_class::<analyses::Reduction>()?;
    // Entry points.
    m.add_function(wrap_pyfunction!(api::entropy, m)?)?;
    m.add_function(wrap_pyfunction!(api::tolerance, m)?)?;
    m.add_function(wrap_pyfunction!(api::profiles, m)?)?;
    m.add_function(wrap_pyfunction!(api::plan, m)?)?;
    m.add_function(wrap_pyfunction!(api::verify, m)?)?;
    m.add_function(wrap_pyfunction!(api::singular_values, m)?)?;
    m.add_function(wrap_pyfunction!(api::over_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(analyses::tolerance_sweep, m)?)?;
    m.add_function(wrap_pyfunction!(analyses::gradient, m)?)?;
    m.add_function(wrap_pyfunction!(analyses::reduce, m)?)?;
    m.add_function(wrap_pyfunction!(api::_panic, m)?)?;
    // Operators.
    m.add_function(wrap_pyfunction!(operators::dense, m)?)?;
    m.add_function(wrap_pyfunction!(operators::softmax_attention, m)?)?;
    m.add_function(wrap_pyfunction!(operators::linear_attention, m)?)?;
    m.add_function(wrap_pyfunction!(operators::decayed_linear_attention, m)?)?;
    m.add_function(wrap_pyfunction!(operators::gated_linear_attention, m)?)?;
    m.add_function(wrap_pyfunction!(operators::delta_net, m)?)?;
    m.add_function(wrap_pyfunction!(operators::mamba, m)?)?;
    m.add_function(wrap_pyfunction!(operators::mamba2, m)?)?;
    m.add_function(wrap_pyfunction!(operators::ssd, m)?)?;
    m.add_function(wrap_pyfunction!(operators::lti_state_space, m)?)?;
    m.add_function(wrap_pyfunction!(operators::time_varying_state_space, m)?)?;
    m.add_function(wrap_pyfunction!(operators::fir_convolution, m)?)?;
    m.add_function(wrap_pyfunction!(operators::long_convolution, m)?)?;
    m.add_function(wrap_pyfunction!(operators::gated_convolution, m)?)?;
    Ok(())
}
