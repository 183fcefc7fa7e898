//! Where every computation runs: off the GIL, on a rayon pool of the requested
//! size, cancellable, with panics caught.
//!
//! The calling thread releases the GIL and waits for a worker thread that runs
//! the job (inside a local rayon pool when a thread count is given). Every 50 ms
//! it takes the GIL back briefly to let Python handle signals (Ctrl-C raises
//! `KeyboardInterrupt` there) and to call the progress callback; either one
//! stops the job through the library's progress callback, which the job's
//! options carry ([`Control::options`]). Other Python threads run meanwhile.

use crate::{internal_error, param, Result};
use effective_state_size::ess::EssOptions;
use effective_state_size::EssError as CoreError;
use pyo3::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

/// How a computation runs: the thread count and an optional Python progress
/// callback `progress(done, total) -> bool | None`.
pub(crate) struct Exec {
    /// Threads of the local pool; `None` uses rayon's global pool
    /// (`RAYON_NUM_THREADS`, or one thread per CPU).
    pub threads: Option<usize>,
    /// Called from the calling thread with the blocks `(channel, index)` done and
    /// requested; returning `False` cancels.
    pub progress: Option<Py<PyAny>>,
}

/// Shared between the waiting thread and the job: a stop flag and the progress.
#[derive(Default)]
pub(crate) struct Control {
    stop: AtomicBool,
    /// Blocks of the library calls that finished.
    finished: AtomicUsize,
    /// Blocks done in all.
    done: AtomicUsize,
    /// Blocks requested in all (known after the first report).
    total: AtomicUsize,
}

impl Control {
    /// `base` with a progress callback that records progress here and stops when
    /// asked. `calls` is the number of library calls the job makes with these
    /// options (one per batch element), each of the same size.
    pub(crate) fn options(self: &Arc<Self>, base: EssOptions, calls: usize) -> EssOptions {
        let ctl = Arc::clone(self);
        base.with_progress(move |p| {
            ctl.total.store(p.total.saturating_mul(calls), Ordering::Relaxed);
            if p.done >= p.total {
                let before = ctl.finished.fetch_add(p.total, Ordering::Relaxed);
                ctl.done.store(before + p.total, Ordering::Relaxed);
            } else {
                let before = ctl.finished.load(Ordering::Relaxed);
                ctl.done.fetch_max(before + p.done, Ordering::Relaxed);
            }
            if ctl.stop.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// For jobs that make no library call with progress (gradients, reduction):
    /// records `done` of `total` work items and tells whether to stop, as
    /// `Err(Cancelled)`. Called between items.
    pub(crate) fn step(&self, done: usize, total: usize) -> Result<(), CoreError> {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
        if self.stop.load(Ordering::Relaxed) {
            return Err(CoreError::Cancelled { done, total });
        }
        Ok(())
    }

    fn progress(&self) -> (usize, usize) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
}

/// The local rayon pool of `n` threads (built once per size and kept).
fn pool(n: usize) -> Result<Arc<ThreadPool>> {
    if n == 0 {
        return Err(param("threads", "0: give at least 1 (None uses every CPU, or RAYON_NUM_THREADS)"));
    }
    static POOLS: OnceLock<Mutex<BTreeMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n) {
        return Ok(Arc::clone(p));
    }
    let p = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("ess-worker-{i}"))
        .build()
        .map_err(|e| param("threads", format!("cannot start {n} threads: {e}")))?;
    let p = Arc::new(p);
    pools.insert(n, Arc::clone(&p));
    Ok(p)
}

/// What the waiting loop saw.
enum Stop {
    /// A Python exception to raise instead of the result (Ctrl-C, or the
    /// progress callback raised).
    Raise(PyErr),
    /// The progress callback returned `False`.
    Cancel,
}

/// Calls the progress callback if the progress changed.
fn report(py: Python<'_>, cb: &Py<PyAny>, ctl: &Control, last: &mut (usize, usize)) -> Option<Stop> {
    let now = ctl.progress();
    if now == *last || now.1 == 0 {
        return None;
    }
    *last = now;
    match cb.call1(py, now) {
        Err(e) => Some(Stop::Raise(e)),
        Ok(v) if matches!(v.bind(py).cast::<pyo3::types::PyBool>(), Ok(b) if !b.is_true()) => Some(Stop::Cancel),
        Ok(_) => None,
    }
}

/// Runs `job` with the GIL released (see the module documentation). The job
/// gets the [`Control`] to build its options with [`Control::options`].
///
/// # Errors
/// The job's error; `KeyboardInterrupt` (or the callback's exception) when
/// interrupted; `EssError` with kind `Cancelled` when the callback returned
/// `False`; an internal `EssError` if the job panicked.
pub(crate) fn run<R, F>(py: Python<'_>, exec: &Exec, job: F) -> Result<R>
where
    R: Send,
    F: FnOnce(&Arc<Control>) -> Result<R, CoreError> + Send,
{
    let pool = exec.threads.map(pool).transpose()?;
    let ctl = Arc::new(Control::default());
    let progress = exec.progress.as_ref();
    let (outcome, stop) = py.detach(|| {
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel::<()>();
            let ctl_job = &ctl;
            let pool = pool.as_deref();
            let worker = std::thread::Builder::new().name("ess-compute".into()).spawn_scoped(s, move || {
                let r = catch_unwind(AssertUnwindSafe(|| match pool {
                    Some(p) => p.install(|| job(ctl_job)),
                    None => job(ctl_job),
                }));
                let _ = tx.send(());
                r
            });
            let worker = match worker {
                Ok(w) => w,
                Err(e) => return (Err(param("threads", format!("cannot start a worker thread: {e}"))), None),
            };
            let mut stop: Option<Stop> = None;
            let mut last = (0, 0);
            // Until the worker reports back (or drops its sender by panicking).
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_millis(50)) {
                if stop.is_some() {
                    continue;
                }
                stop = Python::attach(|py| {
                    if let Err(e) = py.check_signals() {
                        return Some(Stop::Raise(e));
                    }
                    progress.and_then(|cb| report(py, cb, &ctl, &mut last))
                });
                if stop.is_some() {
                    ctl.stop.store(true, Ordering::Relaxed);
                }
            }
            let outcome = match worker.join() {
                Ok(Ok(r)) => r.map_err(Into::into),
                Ok(Err(panic)) | Err(panic) => Err(internal_error(&*panic)),
            };
            (outcome, stop)
        })
    });
    match stop {
        Some(Stop::Raise(e)) => Err(e.into()),
        Some(Stop::Cancel) | None => {
            if let (Ok(_), Some(cb), None) = (&outcome, progress, &stop) {
                // A last report, so that a progress bar reaches its end.
                let mut last = (usize::MAX, usize::MAX);
                if let Some(Stop::Raise(e)) = report(py, cb, &ctl, &mut last) {
                    return Err(e.into());
                }
            }
            outcome
        }
    }
}
