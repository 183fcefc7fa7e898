//! Order-preserving parallel maps, fills and searches: rayon with the `parallel`
//! feature, a plain loop without. Results are identical either way (each item
//! is computed independently, and kept or written in input order).

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

/// `f(t, chunk_t)` for every chunk `t` of `chunk` values of `data` (the last
/// one may be shorter): with the `parallel` feature and at least
/// `min_parallel` chunks, contiguous runs of at least `chunks / (4·workers)` chunks in
/// parallel. Each chunk is written by one call, so the result is the same either way.
pub(crate) fn for_each_chunk_mut<I, F>(data: &mut [I], chunk: usize, min_parallel: usize, f: F)
where
    I: Send,
    F: Fn(usize, &mut [I]) + Sync + Send,
{
    match parallel_run(data.len().div_ceil(chunk), min_parallel) {
        #[cfg(feature = "parallel")]
        Some(run) => {
            use rayon::prelude::*;
            data.par_chunks_mut(chunk).with_min_len(run).enumerate().for_each(|(t, x)| f(t, x));
        }
        _ => data.chunks_mut(chunk).enumerate().for_each(|(t, x)| f(t, x)),
    }
}

/// The smallest `t < n` with `bad(t)`, if any (what a plain loop would find
/// first): with the `parallel` feature and `n ≥ min_parallel`, searched in
/// parallel.
pub(crate) fn first_index<F>(n: usize, min_parallel: usize, bad: F) -> Option<usize>
where
    F: Fn(usize) -> bool + Sync + Send,
{
    match parallel_run(n, min_parallel) {
        #[cfg(feature = "parallel")]
        Some(run) => {
            use rayon::prelude::*;
            (0..n).into_par_iter().with_min_len(run).find_first(|&t| bad(t))
        }
        _ => (0..n).find(|&t| bad(t)),
    }
}

/// The shortest run of indices per task when `0..n` is worth splitting (several
/// workers and `n ≥ min_parallel`): `n / (4·workers)`; `None` otherwise.
fn parallel_run(n: usize, min_parallel: usize) -> Option<usize> {
    let workers = threads();
    (workers >= 2 && n >= min_parallel.max(2)).then(|| n.div_ceil(4 * workers))
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

    /// `for_each_chunk_mut` hands every chunk its own index (the last one
    /// shorter) and `first_index` finds the smallest index with the property,
    /// below and above the parallel threshold and for any thread count.
    #[test]
    fn chunks_keep_their_index_and_the_first_index_is_found() {
        let check = || {
            for (n, min) in [(0, 0), (1, 0), (7, 100), (1000, 10), (4099, 2048)] {
                for chunk in [1, 3] {
                    let mut got = vec![usize::MAX; n];
                    for_each_chunk_mut(&mut got, chunk, min, |t, x| {
                        x.iter_mut().enumerate().for_each(|(i, v)| *v = (t * chunk + i) * (t * chunk + i))
                    });
                    let want: Vec<usize> = (0..n).map(|t| t * t).collect();
                    assert_eq!(got, want, "n = {n}, chunks of {chunk}, threshold {min}");
                }
                assert_eq!(first_index(n, min, |_| false), None);
                for bad in [vec![0], vec![n / 2, n.saturating_sub(1)], vec![n.saturating_sub(1)], vec![3, n / 3, n / 2]]
                {
                    let first = bad.iter().copied().filter(|&t| t < n).min();
                    assert_eq!(first_index(n, min, |t| bad.contains(&t)), first, "n = {n}, threshold {min}, {bad:?}");
                }
            }
        };
        check();
        #[cfg(feature = "parallel")]
        for threads in [1, 2, 3, 8] {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(check);
        }
    }

    /// The splitting rule: no split below the threshold (at least 2) or on one
    /// worker; otherwise runs of `⌈n / (4·workers)⌉` indices.
    #[cfg(feature = "parallel")]
    #[test]
    fn ranges_split_into_runs_of_a_quarter_share_per_worker() {
        let on = |threads: usize, n: usize, min: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| parallel_run(n, min))
        };
        assert_eq!(on(1, 10_000, 10), None);
        assert_eq!(on(2, 99, 100), None);
        assert_eq!(on(2, 1, 0), None);
        assert_eq!(on(2, 2, 0), Some(1));
        assert_eq!(on(2, 100, 100), Some(13));
        assert_eq!(on(3, 4099, 2048), Some(342));
        assert_eq!(on(8, 4096, 2048), Some(128));
    }

    /// Above the threshold the ends of a range run on two workers at once:
    /// index 0 waits (up to 10 s) until the last index has started, which a
    /// sequential loop would never do before it.
    #[cfg(feature = "parallel")]
    #[test]
    fn long_ranges_run_on_two_workers_at_once() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};
        let (n, min) = (64, 8);
        let overlapped = |last_started: &AtomicBool, t: usize| {
            if t == n - 1 {
                last_started.store(true, Ordering::SeqCst);
            }
            if t != 0 {
                return false;
            }
            let start = Instant::now();
            while !last_started.load(Ordering::SeqCst) {
                if start.elapsed() > Duration::from_secs(10) {
                    return false;
                }
                std::thread::yield_now();
            }
            true
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let flag = AtomicBool::new(false);
        let first = pool.install(|| first_index(n, min, |t| overlapped(&flag, t)));
        assert_eq!(first, Some(0), "first_index: index 0 ran without the last index running alongside");
        let flag = AtomicBool::new(false);
        let mut items = vec![false; 2 * n];
        pool.install(|| for_each_chunk_mut(&mut items, 2, min, |t, x| x[0] = overlapped(&flag, t)));
        assert!(items[0], "for_each_chunk_mut: chunk 0 ran without the last chunk running alongside");
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
