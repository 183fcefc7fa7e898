//! Order-preserving parallel map: rayon with the `parallel` feature, a plain loop
//! without. Results are identical either way (each item is computed independently
//! and collected in input order).

use crate::error::Result;

/// Maps `f` over `items`, in parallel when the `parallel` feature is on, stopping
/// at the first error.
pub(crate) fn try_map<I, R, F>(items: &[I], f: F) -> Result<Vec<R>>
where
    I: Sync,
    R: Send,
    F: Fn(&I) -> Result<R> + Sync + Send,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items.par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        items.iter().map(f).collect()
    }
}

/// Runs `a` and `b`, in parallel when the `parallel` feature is on (rayon's
/// `join`: the calling thread may help with other work meanwhile), one after
/// the other without.
pub(crate) fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    #[cfg(feature = "parallel")]
    {
        rayon::join(a, b)
    }
    #[cfg(not(feature = "parallel"))]
    {
        (a(), b())
    }
}

/// Number of worker threads (1 without the `parallel` feature).
pub(crate) fn threads() -> usize {
    #[cfg(feature = "parallel")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "parallel"))]
    {
        1
    }
}
