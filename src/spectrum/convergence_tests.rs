//! How fast the two bidiagonal kernels converge, measured in sweeps.
//!
//! dqds ([`super::dqds`]) and the bidiagonal QR ([`super::bidiag`], dqds's
//! fallback on both paths) take a sweep limit and give up past it. Their shifts, deflation tests and
//! ordering heuristics decide only how many sweeps they need — the values stay
//! within `O(ε·σ₁)` either way — so a test of the values alone cannot see a
//! heuristic broken into slow convergence. These tests can: for a fixed battery
//! of 120 bidiagonals (four kinds: uniform, graded, clustered near 1, with tiny
//! entries; orders 2 to 128) they find the fewest sweeps with which each kernel
//! succeeds (by bisection on the limit), sum them per kind, and hold each sum
//! to the count measured when the test was written: a change that costs even
//! one sweep more fails here, and one that saves sweeps must update the pinned
//! counts (so that every change of a heuristic is seen). The kernels use only `+ − × ÷` and `√` (correctly rounded in IEEE
//! arithmetic, never contracted into FMAs by Rust), so the counts are the same
//! on every platform and optimisation level. The same run checks every value
//! against the one-sided Jacobi SVD of the bidiagonal written out as a dense
//! matrix.

use super::dqds::tests::random_bidiagonal;
use crate::scalar::Scalar;
use nalgebra::DMatrix;

/// The battery: `(kind, d, e)`, three of each kind and order.
fn battery() -> Vec<(usize, Vec<f64>, Vec<f64>)> {
    let mut seed = 2026u64;
    let mut out = Vec::new();
    for &n in &[2usize, 3, 4, 5, 8, 16, 17, 32, 64, 128] {
        for kind in 0..4 {
            for _ in 0..3 {
                let (d, e) = random_bidiagonal(n, kind, &mut seed);
                out.push((kind, d, e));
            }
        }
    }
    out
}

/// The smallest `m ≥ 1` with `ok(m)`, for `ok` monotone in `m`.
fn fewest(ok: impl Fn(usize) -> bool) -> Option<usize> {
    let mut hi = 1usize;
    while !ok(hi) {
        if hi >= 1 << 16 {
            return None;
        }
        hi *= 2;
    }
    let mut lo = 0usize;
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The singular values of the bidiagonal `(d, e)` by the one-sided Jacobi SVD,
/// ascending.
fn reference<T: Scalar>(d: &[T], e: &[T]) -> Vec<T> {
    let n = d.len();
    let b = DMatrix::from_fn(n, n, |r, c| {
        if r == c {
            d[r]
        } else if c == r + 1 {
            e[r]
        } else {
            T::zero()
        }
    });
    let mut s = super::jacobi_svd(&b).expect("finite bidiagonal").singular_values;
    s.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    s
}

/// Which kernel: dqds or the bidiagonal QR.
#[derive(Clone, Copy, Debug)]
enum Kernel {
    Dqds,
    Qr,
}

/// Runs `kernel` on `(d, e)` with at most `limit` sweeps; the values, ascending.
fn run<T: Scalar>(kernel: Kernel, d: &[T], e: &[T], limit: usize) -> Option<Vec<T>> {
    let (mut d, mut e) = (d.to_vec(), e.to_vec());
    let ok = match kernel {
        Kernel::Dqds => super::dqds::dqds_values(&mut d, &e, limit),
        Kernel::Qr => super::bidiag::bidiagonal_values(&mut d, &mut e, limit).is_some(),
    };
    ok.then(|| {
        let mut v: Vec<T> = d.iter().map(|x| x.abs()).collect();
        v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        v
    })
}

/// The fewest sweeps per kind over the battery (in `T`), after checking every
/// value against [`reference`] to `8·n·ε·σ₁`; and how many problems the kernel
/// declined at any limit (dqds declines a bidiagonal whose squares underflow to
/// zero, and the caller falls back to QR).
fn sweeps_per_kind<T: Scalar>(kernel: Kernel) -> ([usize; 4], usize) {
    let (mut totals, mut declined) = ([0usize; 4], 0);
    for (kind, d, e) in battery() {
        let (d, e): (Vec<T>, Vec<T>) =
            (d.iter().map(|&x| T::cast(x)).collect(), e.iter().map(|&x| T::cast(x)).collect());
        let Some(need) = fewest(|m| run(kernel, &d, &e, m).is_some()) else {
            declined += 1;
            continue;
        };
        let got = run(kernel, &d, &e, need).expect("converges at its own count");
        let want = reference(&d, &e);
        let n = d.len();
        let allowed = T::cast(8.0 * n as f64) * T::EPSILON * want[n - 1];
        for (g, w) in got.iter().zip(&want) {
            assert!((*g - *w).abs() <= allowed, "{kernel:?} kind {kind} n {n}: {g:?} vs {w:?}");
        }
        totals[kind] += need;
    }
    (totals, declined)
}

/// Each total equal to its pinned count, and the pinned number of declined
/// problems.
fn assert_counts(kernel: Kernel, (got, declined): ([usize; 4], usize), pinned: [usize; 4], pinned_declined: usize) {
    assert_eq!(got, pinned, "{kernel:?}: sweeps per kind (fewer is an improvement: lower the pinned counts)");
    assert_eq!(declined, pinned_declined, "{kernel:?}: problems declined");
}

// Sweeps per kind (uniform, graded, clustered, tiny entries) over the battery,
// measured when this test was written (after 0.2.0).

#[test]
fn dqds_converges_within_its_measured_sweeps() {
    assert_counts(Kernel::Dqds, sweeps_per_kind::<f64>(Kernel::Dqds), [6374, 2402, 6063, 8996], 0);
    // In f32 one order-128 bidiagonal with tiny entries is declined (a square
    // underflows in a sweep) and left to the QR.
    assert_counts(Kernel::Dqds, sweeps_per_kind::<f32>(Kernel::Dqds), [4086, 551, 4247, 3656], 1);
}

/// The limit both paths give dqds ([`super::dqds::sweep_limit`], `30·n + 100`)
/// leaves every battery problem at least twice the sweeps it needs (so the
/// fallback to QR stays for what dqds cannot do, not for slow problems). The
/// hungriest, of order 128 with tiny entries, needs 1,724 sweeps (13.5 per
/// value) of its 3,940: 44 %.
#[test]
fn the_dqds_sweep_limit_leaves_twice_the_sweeps_needed() {
    let mut worst = (0.0f64, 0usize);
    for (_, d, e) in battery() {
        let n = d.len();
        let need = fewest(|m| run(Kernel::Dqds, &d, &e, m).is_some()).expect("the battery converges in f64");
        let share = need as f64 / super::dqds::sweep_limit(n) as f64;
        if share > worst.0 {
            worst = (share, n);
        }
    }
    assert!(worst.0 <= 0.5, "a problem of order {} needs {:.0} % of the sweep limit", worst.1, 100.0 * worst.0);
}

#[test]
fn the_bidiagonal_qr_converges_within_its_measured_sweeps() {
    assert_counts(Kernel::Qr, sweeps_per_kind::<f64>(Kernel::Qr), [1696, 779, 1778, 1586], 0);
    assert_counts(Kernel::Qr, sweeps_per_kind::<f32>(Kernel::Qr), [1388, 410, 1455, 1276], 0);
}
