//! Options of the explicit entry points: indices, method, memory budget, SVD
//! backend and a progress callback.

use super::Indices;
use crate::planner::DEFAULT_MEMORY_BUDGET;
use crate::spectrum::{BidiagonalSvd, SvdBackend};
use std::ops::ControlFlow;
use std::sync::Arc;

/// Which algorithm computes the singular values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Method {
    /// The planner decides: structured when the operator has a realization whose
    /// order `N` is below the largest possible block rank
    /// `max_i min(p(L-i), m·i)`, dense otherwise (see [`crate::planner`]).
    #[default]
    Auto,
    /// Materialise `T` and take block SVDs: `O(L⁴)` per channel.
    Dense,
    /// Use the realization: `O(L·N³)` per channel; an error if the operator has none.
    Structured,
    /// Certified low-rank approximations of every `H_i`, for long operators without
    /// a small state (attention, long convolutions, dense maps): the cost grows with
    /// the ESS instead of `L⁴`, and each value comes with a guaranteed interval
    /// ([`Profile::bounds`](super::Profile::bounds)). Never chosen by
    /// [`Method::Auto`]. See [`crate::planner`] for the two algorithms.
    LowRank,
}

/// The default relative width of entropy-ESS intervals on the low-rank method.
pub const DEFAULT_INTERVAL_WIDTH: f64 = 1e-2;

/// How far a computation has got, passed to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The channel that just advanced.
    pub channel: usize,
    /// Channels of the operator.
    pub channels: usize,
    /// Blocks `(channel, index)` finished so far.
    pub done: usize,
    /// Blocks requested in all.
    pub total: usize,
}

/// A progress callback: called from the computing threads after each batch of
/// blocks; returning [`ControlFlow::Break`] cancels the computation, which then
/// fails with [`EssError::Cancelled`](crate::EssError::Cancelled).
pub type ProgressFn = dyn Fn(Progress) -> ControlFlow<()> + Send + Sync;

/// Options of [`profiles`](super::profiles) and the other explicit entry points,
/// set with builder methods (new options can be added without breaking code).
///
/// ```
/// use effective_state_size::ess::{EssOptions, Indices, Method};
/// use std::ops::ControlFlow;
/// let opts = EssOptions::default()
///     .with_indices(Indices::Stride(8))
///     .with_method(Method::Dense)
///     .with_memory_budget(1 << 30)
///     .with_progress(|p| { eprintln!("{}/{}", p.done, p.total); ControlFlow::Continue(()) });
/// assert_eq!(opts.method(), Method::Dense);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct EssOptions {
    indices: Indices,
    method: Method,
    memory_budget: u64,
    backend: Arc<dyn SvdBackend>,
    progress: Option<Arc<ProgressFn>>,
    interval_width: f64,
    max_rank: Option<usize>,
}

impl Default for EssOptions {
    /// All indices, [`Method::Auto`], an 8 GiB budget, [`BidiagonalSvd`], no callback,
    /// low-rank interval width [`DEFAULT_INTERVAL_WIDTH`] and no rank cap.
    fn default() -> Self {
        Self {
            indices: Indices::All,
            method: Method::Auto,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            backend: Arc::new(BidiagonalSvd::default()),
            progress: None,
            interval_width: DEFAULT_INTERVAL_WIDTH,
            max_rank: None,
        }
    }
}

impl std::fmt::Debug for EssOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EssOptions")
            .field("indices", &self.indices)
            .field("method", &self.method)
            .field("memory_budget", &self.memory_budget)
            .field("backend", &self.backend)
            .field("progress", &self.progress.as_ref().map(|_| "Fn(Progress)"))
            .field("interval_width", &self.interval_width)
            .field("max_rank", &self.max_rank)
            .finish()
    }
}

impl EssOptions {
    /// Which indices `i` to evaluate (default: all).
    pub fn with_indices(mut self, indices: Indices) -> Self {
        self.indices = indices;
        self
    }
    /// Which algorithm (default: [`Method::Auto`]).
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }
    /// The working-memory budget in bytes (default 8 GiB): see
    /// [`crate::planner`] for what is counted. A request that cannot fit is refused
    /// with [`EssError::MemoryBudget`](crate::EssError::MemoryBudget) before
    /// anything is allocated; within the budget, parallelism is capped so that the
    /// total fits.
    pub fn with_memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = bytes;
        self
    }
    /// The SVD backend (default [`BidiagonalSvd`], the crate's own values-only
    /// SVD; [`NalgebraSvd`](crate::spectrum::NalgebraSvd) is the alternative).
    pub fn with_backend(mut self, backend: Arc<dyn SvdBackend>) -> Self {
        self.backend = backend;
        self
    }
    /// A progress callback (see [`ProgressFn`]).
    pub fn with_progress(mut self, f: impl Fn(Progress) -> ControlFlow<()> + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// [`Method::LowRank`]: the largest relative width `(upper − lower)/lower` of
    /// an entropy-ESS interval the method works towards (default
    /// [`DEFAULT_INTERVAL_WIDTH`]; tolerance-ESS intervals are always worked
    /// towards width 0). Must be finite and positive; checked when the options are
    /// used.
    pub fn with_interval_width(mut self, relative: f64) -> Self {
        self.interval_width = relative;
        self
    }
    /// [`Method::LowRank`]: the largest approximation rank tried per block
    /// (default `None`: no cap, so every interval is resolved, in the worst case by
    /// a full SVD). With a cap, a block that needs more is reported with its wider,
    /// still guaranteed, interval ([`Profile::ambiguous`](super::Profile::ambiguous)).
    pub fn with_max_rank(mut self, rank: Option<usize>) -> Self {
        self.max_rank = rank;
        self
    }

    /// The target relative width of entropy intervals ([`Method::LowRank`]).
    pub fn interval_width(&self) -> f64 {
        self.interval_width
    }
    /// The rank cap of [`Method::LowRank`].
    pub fn max_rank(&self) -> Option<usize> {
        self.max_rank
    }
    /// The indices to evaluate.
    pub fn indices(&self) -> &Indices {
        &self.indices
    }
    /// The requested method.
    pub fn method(&self) -> Method {
        self.method
    }
    /// The memory budget in bytes.
    pub fn memory_budget(&self) -> u64 {
        self.memory_budget
    }
    /// The SVD backend.
    pub fn backend(&self) -> &dyn SvdBackend {
        &*self.backend
    }
    /// The progress callback, if any.
    pub fn progress_callback(&self) -> Option<&ProgressFn> {
        self.progress.as_deref()
    }
    /// The progress callback, shared.
    pub(crate) fn progress_arc(&self) -> Option<Arc<ProgressFn>> {
        self.progress.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_every_option_and_hides_the_callback() {
        let text = format!("{:?}", EssOptions::default().with_max_rank(Some(3)).with_memory_budget(1234));
        for field in ["EssOptions", "indices: All", "method: Auto", "memory_budget: 1234", "max_rank: Some(3)"] {
            assert!(text.contains(field), "{field} in {text}");
        }
        assert!(text.contains("progress: None"), "{text}");
        let text = format!("{:?}", EssOptions::default().with_progress(|_| std::ops::ControlFlow::Continue(())));
        assert!(text.contains("progress: Some(\"Fn(Progress)\")"), "{text}");
    }
}
