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

/// `(0..n).map(f)` collected in order: with the `parallel` feature and
/// `n ≥ min_parallel`, contiguous chunks of indices run in parallel.
pub(crate) fn map_range<R, F>(n: usize, min_parallel: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync + Send,
{
    let parts = chunked(n, min_parallel, |range| range.map(&f).collect::<Vec<R>>());
    if parts.len() == 1 {
        return parts.into_iter().flatten().collect();
    }
    let mut out = Vec::with_capacity(n);
    for part in parts {
        out.extend(part);
    }
    out
}

/// `f(t, items[t])` for every `t`, collected in order, stopping at the first
/// error *in index order* (the error a plain loop returns): with the `parallel`
/// feature and `n ≥ min_parallel`, contiguous chunks of items move to the
/// workers, each stopping at its first error, and the earliest chunk's error
/// wins.
pub(crate) fn try_map_vec<I, R, F>(items: Vec<I>, min_parallel: usize, f: F) -> Result<Vec<R>>
where
    I: Send,
    R: Send,
    F: Fn(usize, I) -> Result<R> + Sync + Send,
{
    let n = items.len();
    let workers = threads();
    if workers < 2 || n < min_parallel.max(2) {
        return items.into_iter().enumerate().map(|(t, x)| f(t, x)).collect();
    }
    let chunk = n.div_ceil(4 * workers);
    // Contiguous chunks with their first index, in order.
    let (mut parts, mut rest) = (Vec::new(), items);
    while !rest.is_empty() {
        let start = (rest.len() - 1) / chunk * chunk;
        parts.push((start, rest.split_off(start)));
    }
    parts.reverse();
    let part = |(start, v): (usize, Vec<I>)| v.into_iter().enumerate().map(|(k, x)| f(start + k, x)).collect();
    #[cfg(feature = "parallel")]
    let parts: Vec<Result<Vec<R>>> = {
        use rayon::prelude::*;
        parts.into_par_iter().map(part).collect()
    };
    #[cfg(not(feature = "parallel"))]
    let parts: Vec<Result<Vec<R>>> = parts.into_iter().map(part).collect();
    let mut out = Vec::with_capacity(n);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// `part` of each contiguous chunk of `0..n`, in order: one chunk (on the
/// calling thread) when `n < min_parallel` or with one worker, otherwise four
/// per worker, in parallel.
fn chunked<P, F>(n: usize, min_parallel: usize, part: F) -> Vec<P>
where
    P: Send,
    F: Fn(std::ops::Range<usize>) -> P + Sync + Send,
{
    let workers = threads();
    if workers < 2 || n < min_parallel.max(2) {
        return vec![part(0..n)];
    }
    let chunk = n.div_ceil(4 * workers);
    let starts: Vec<usize> = (0..n).step_by(chunk).collect();
    let range = |s: usize| s..(s + chunk).min(n);
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        starts.par_iter().map(|&s| part(range(s))).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        starts.iter().map(|&s| part(range(s))).collect()
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

/// Runs `f` on a worker of the thread pool (with the `parallel` feature; on the
/// calling thread without) and waits for it. A sequence of [`join`]s made from
/// outside the pool hands each one over to a worker and back (two context
/// switches per call); made from inside, they cost almost nothing. Use it around
/// a loop of joins that may be called from a thread outside the pool.
pub(crate) fn in_pool<R, F>(f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    #[cfg(feature = "parallel")]
    {
        if rayon::current_thread_index().is_some() {
            return f();
        }
        rayon::join(f, || ()).0
    }
    #[cfg(not(feature = "parallel"))]
    {
        f()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `in_pool` returns the closure's value and runs it on a pool worker (with
    /// the `parallel` feature), also when called from a worker already.
    #[test]
    fn in_pool_runs_on_a_worker_and_returns_the_value() {
        let on_worker = || cfg!(feature = "parallel") == in_pool(|| worker_index().is_some());
        assert!(on_worker());
        assert_eq!(in_pool(|| 6 * 7), 42);
        // Nested: from inside a worker it runs inline, on that worker.
        let (outer, inner) = in_pool(|| (worker_index(), in_pool(worker_index)));
        assert_eq!(outer, inner);
    }

    /// `map_range` and `try_map_vec` give `(0..n).map(f)` in order, below and
    /// above the parallel threshold and for any thread count, and the error of
    /// the smallest failing index, even when a later chunk fails first.
    #[test]
    fn range_maps_keep_the_order_and_report_the_first_error() {
        use crate::error::EssError;
        let square = |t: usize| t * t;
        let fails_at = |bad: Vec<usize>| {
            move |t: usize| {
                if bad.contains(&t) {
                    // The later failures come back at once; the first one only
                    // after a pause, so that with several threads it is not the
                    // first error to happen.
                    if t == bad[0] {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    Err(EssError::param("t", t.to_string()))
                } else {
                    Ok(t)
                }
            }
        };
        let check = || {
            for (n, min) in [(0, 0), (1, 0), (7, 100), (1000, 10), (4099, 2048)] {
                let want: Vec<usize> = (0..n).map(square).collect();
                assert_eq!(map_range(n, min, square), want, "n = {n}, threshold {min}");
                let owned: Vec<String> = (0..n).map(|t| t.to_string()).collect();
                let f = |t: usize, s: String| Ok(s.parse::<usize>().unwrap() * t);
                assert_eq!(try_map_vec(owned, min, f).unwrap(), want);
            }
            for bad in [vec![3000, 3500, 4000], vec![10, 4098], vec![4098]] {
                let g = fails_at(bad.clone());
                let err = try_map_vec(vec![(); 4099], 2048, |t, ()| g(t)).unwrap_err();
                assert!(
                    matches!(&err, EssError::InvalidParameter { reason, .. } if *reason == bad[0].to_string()),
                    "{err} for {bad:?}"
                );
            }
        };
        check();
        #[cfg(feature = "parallel")]
        for threads in [1, 2, 3, 8] {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(check);
        }
    }

    fn worker_index() -> Option<usize> {
        #[cfg(feature = "parallel")]
        {
            rayon::current_thread_index()
        }
        #[cfg(not(feature = "parallel"))]
        {
            None
        }
    }
}
