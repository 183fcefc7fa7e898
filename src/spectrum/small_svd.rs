//! Singular values (only) of small square matrices: Golub–Kahan–Reinsch, written
//! for the structured path's `N × N` cores, allocation-free on caller-owned
//! buffers.
//!
//! 1. **Bidiagonalization** `M = U·B·Vᵀ` by alternating left and right Householder
//!    reflections (LAPACK `dgebd2`, `dlarfg` form: `v₀ = 1`, `τ ∈ [1, 2]`, so no
//!    reflector is built from a squared small norm), `8/3·n³` flops, `U`, `V`
//!    never formed, four matrices at once, one per vector lane
//!    ([`super::lanes`]): every operation is one vector operation on four
//!    matrices, and each matrix gets bitwise what it gets alone. Cores given
//!    together ([`singular_values_of_lanes`]; the structured path hands
//!    them over four at a time) share one reduction (a lane without a core of
//!    its own holds a copy of one that has).
//! 2. **dqds** on the bidiagonal ([`super::dqds`], as [`super::BidiagonalSvd`]):
//!    every value to high relative accuracy, a division chain per sweep; the
//!    cores of a group are swept in pairs, their sweeps interleaved, with
//!    bitwise the same values. Where dqds declines (an exactly zero entry, or too
//!    many sweeps), the dense path's **bidiagonal QR** takes over
//!    ([`super::bidiag`]: implicit-shift Golub–Kahan sweeps with a Wilkinson
//!    shift on the bidiagonal scaled to `[0.5, 1)`, a negligible entry set to
//!    zero, a negligible diagonal entry's row or column rotated out); each such
//!    decision perturbs `B` by at most `ε·‖B‖`, the size of the
//!    bidiagonalization's own backward error. `O(n)` flops per sweep.
//!
//! Only orthogonal transformations touch the matrix, so each computed `σ_k` is
//! within a small multiple of `ε·σ_1` of the exact one (absolute accuracy, as
//! LAPACK's `dgesvd`): every value down to `ε·σ_1` is resolved, which is what
//! tolerance-ESS and entropy-ESS need. No Gram matrix is formed.
//!
//! The caller hands in a finite matrix whose largest entry is at most a few units
//! in magnitude (the structured path normalises each core to `[0.5, 1)`).

use crate::error::{EssError, Result};
use crate::scalar::Scalar;

/// `√(f² + g²)` without overflow (entries are at most a few units) and without
/// losing tiny arguments to underflow.
#[inline]
fn norm2<T: Scalar>(f: T, g: T) -> T {
    let m = f.abs().max(g.abs());
    if m > T::cast(1.0 / (1u64 << 60) as f64) {
        (f * f + g * g).sqrt()
    } else {
        f.hypot(g)
    }
}

/// The smallest positive normal number of `T`.
#[inline]
pub(crate) fn smallest_normal<T: Scalar>() -> T {
    let (lo, _) = crate::scalar::normal_exponents::<T>();
    crate::scalar::pow2::<T>(lo).unwrap_or(T::zero())
}

/// Euclidean norm of `x`, exact to rounding even when the squares underflow.
#[inline]
fn norm<T: Scalar>(x: &[T]) -> T {
    let ss = x.iter().fold(T::zero(), |acc, &v| acc + v * v);
    // Squares below the smallest normal number lose bits: rescale exactly then.
    let safe = T::cast(x.len() as f64) * smallest_normal::<T>() / T::EPSILON;
    if ss > safe {
        return ss.sqrt();
    }
    let m = x.iter().fold(T::zero(), |m, &v| m.max(v.abs()));
    if m == T::zero() {
        return T::zero();
    }
    // ldexp per value: 2^-e alone may overflow when the values are subnormal.
    let e = crate::scalar::exponent_of(m.to_f64());
    let ss = x.iter().fold(T::zero(), |acc, &v| {
        let w = crate::scalar::ldexp(v, -e);
        acc + w * w
    });
    crate::scalar::ldexp(ss.sqrt(), e)
}

/// Reusable buffers of one matrix for [`singular_values_of_lanes`].
#[derive(Debug, Clone)]
pub(crate) struct Workspace<T> {
    d: Vec<T>,
    e: Vec<T>,
    /// dqds's arrays.
    dqds: super::dqds::DqdsBuffers<T>,
}

impl<T> Default for Workspace<T> {
    fn default() -> Self {
        Self { d: Vec::new(), e: Vec::new(), dqds: super::dqds::DqdsBuffers::default() }
    }
}

/// The singular values of the `n × n` column-major matrix `a`, in no particular
/// order, into `out` (`n` values, nonnegative): [`singular_values_of_lanes`]
/// with `a` in every lane.
///
/// # Errors
/// [`EssError::NoConvergence`] when the bidiagonal QR needs more than
/// `max_sweeps` sweeps.
#[cfg(test)]
pub(crate) fn singular_values<T: Scalar>(
    a: &[T],
    n: usize,
    ws: &mut Workspace<T>,
    out: &mut Vec<T>,
    max_sweeps: usize,
) -> Result<()> {
    debug_assert_eq!(a.len(), n * n);
    let mut lanes = super::lanes::LaneWorkspace::default();
    for (x, &v) in lanes.matrices(n).iter_mut().zip(a) {
        *x = super::lanes::Lanes::splat(v);
    }
    let [result] = singular_values_of_lanes(n, &mut lanes, [(ws, out)], max_sweeps);
    result
}

/// The singular values of the `n × n` matrices in the first `K` lanes of the
/// matrix buffer of `lanes` (destroyed; every lane finite), in no particular order, matrix `l` into the
/// `out` of `jobs[l]` (`n` values, nonnegative): one four-lane
/// bidiagonalization ([`super::lanes`]), then dqds on pairs, their sweeps
/// interleaved ([`super::dqds::dqds_values_pair_with`]). Bitwise the values each
/// matrix gets alone, in any lane.
///
/// # Errors
/// Per matrix, [`EssError::NoConvergence`] when dqds gives up and the
/// bidiagonal QR needs more than `max_sweeps` sweeps.
pub(crate) fn singular_values_of_lanes<T: Scalar, const K: usize>(
    n: usize,
    lanes: &mut super::lanes::LaneWorkspace<T>,
    mut jobs: [(&mut Workspace<T>, &mut Vec<T>); K],
    max_sweeps: usize,
) -> [Result<()>; K] {
    const { assert!(K >= 1 && K <= super::lanes::WIDTH, "one to four matrices") };
    for (_, out) in jobs.iter_mut() {
        out.clear();
    }
    if n == 0 {
        return std::array::from_fn(|_| Ok(()));
    }
    debug_assert!(
        lanes.matrices_filled(n).iter().all(|v| v.0.iter().all(|x| x.is_finite_value())),
        "every lane finite"
    );
    super::lanes::bidiagonalize(n, lanes);
    for (l, (ws, _)) in jobs.iter_mut().enumerate() {
        ws.d.clear();
        ws.d.extend(lanes.d.iter().map(|v| v.0[l]));
        ws.e.clear();
        ws.e.extend(lanes.e.iter().map(|v| v.0[l]));
    }
    let limit = super::dqds::sweep_limit(n);
    let mut ok = [false; K];
    for (pair, ok) in jobs.chunks_mut(2).zip(ok.chunks_mut(2)) {
        match (pair, ok) {
            ([(a, _), (b, _)], [oa, ob]) => {
                (*oa, *ob) = super::dqds::dqds_values_pair_with(
                    (&mut a.d, &a.e, limit, &mut a.dqds),
                    (&mut b.d, &b.e, limit, &mut b.dqds),
                );
            }
            ([(a, _)], [oa]) => *oa = super::dqds::dqds_values_with(&mut a.d, &a.e, limit, &mut a.dqds),
            _ => {}
        }
    }
    let mut ok = ok.into_iter();
    jobs.map(|(ws, out)| bidiagonal_values(n, ws, ok.next().unwrap_or(false), out, max_sweeps))
}

/// The values of the bidiagonal in `ws` into `out`: as dqds left them in `ws.d`
/// (`dqds_ok`), or else by the bidiagonal QR.
fn bidiagonal_values<T: Scalar>(
    n: usize,
    ws: &mut Workspace<T>,
    dqds_ok: bool,
    out: &mut Vec<T>,
    max_sweeps: usize,
) -> Result<()> {
    let Workspace { d, e, .. } = ws;
    if !dqds_ok {
        super::bidiag::bidiagonal_values(d, e, max_sweeps).ok_or(EssError::NoConvergence {
            rows: n,
            cols: n,
            iterations: max_sweeps,
        })?;
    }
    out.extend(d.iter().map(|x| x.abs()));
    Ok(())
}

/// The Householder reflector of `[x0; tail]` for any finite input (LAPACK
/// `dlarfg`): `(I - τ·u·uᵀ)·[x0; tail] = β·e₁` with `u = [1; tail/(x0 - β)]`,
/// the tail of `u` stored over `tail`. Returns `(β, τ)`; `τ = 0` (the
/// identity) when `tail` is zero. Exact to rounding whatever the scale (tiny
/// and subnormal entries included): the path of [`super::lanes`] for a lane
/// whose vector is tiny or zero.
#[cold]
pub(crate) fn reflect_careful<T: Scalar>(mut x0: T, tail: &mut [T]) -> (T, T) {
    let t = norm(tail);
    if t == T::zero() {
        return (x0, T::zero());
    }
    // A tiny vector (its norm near the subnormal range, where 1/(x₀ - β) would
    // overflow): scale it by an exact power of two first (LAPACK rescales too);
    // u and τ do not depend on the scale, β is scaled back.
    let m = tail.iter().fold(x0.abs(), |m, &v| m.max(v.abs()));
    let tiny = smallest_normal::<T>() / T::EPSILON;
    let mut back = 0;
    if m < tiny {
        back = crate::scalar::exponent_of(m.to_f64());
        x0 = crate::scalar::ldexp(x0, -back);
        tail.iter_mut().for_each(|v| *v = crate::scalar::ldexp(*v, -back));
    }
    let t = if back == 0 { t } else { norm(tail) };
    let nrm = norm2(x0, t);
    let beta = if x0 >= T::zero() { -nrm } else { nrm };
    let tau = (beta - x0) / beta;
    let scale = T::one() / (x0 - beta);
    for y in tail.iter_mut() {
        *y *= scale;
    }
    (if back == 0 { beta } else { crate::scalar::ldexp(beta, back) }, tau)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn reference(m: &DMatrix<f64>) -> Vec<f64> {
        let mut s: Vec<f64> = m.singular_values().iter().copied().collect();
        s.sort_by(|a, b| b.total_cmp(a));
        s
    }

    /// Every `got[k]` within `rel·want[0]` of `want[k]` (absolute accuracy).
    fn assert_within(want: &[f64], got: &[f64], rel: f64, what: &str) {
        for (k, (x, y)) in want.iter().zip(got).enumerate() {
            assert!((x - y).abs() <= rel * want[0], "{what} σ_{k}: {x:e} vs {y:e}");
        }
    }

    fn ours<T: Scalar>(m: &DMatrix<T>) -> Vec<f64> {
        let n = m.nrows();
        let a = m.as_slice().to_vec();
        let (mut ws, mut out) = (Workspace::default(), Vec::new());
        singular_values(&a, n, &mut ws, &mut out, 100 + 30 * n * n).unwrap();
        let mut s: Vec<f64> = out.iter().map(|x| x.to_f64()).collect();
        s.sort_by(|a, b| b.total_cmp(a));
        s
    }

    #[test]
    fn matches_nalgebra_on_random_graded_and_singular_matrices() {
        let mut rng = StdRng::seed_from_u64(11);
        for trial in 0..400 {
            let n = rng.random_range(1..=20);
            let kind = trial % 5;
            let m = DMatrix::from_fn(n, n, |i, j| {
                let x: f64 = rng.random_range(-1.0..1.0);
                match kind {
                    0 => x,
                    // graded columns: σ spread over 2^±60
                    1 => x * 2f64.powi(-(6 * j as i32)),
                    // rank deficient (rank ≤ n/2 by construction below)
                    2 => x,
                    // triangular
                    3 if i > j => 0.0,
                    // tiny entries mixed with O(1) ones
                    4 if (i + j) % 3 == 0 => x * 1e-200,
                    _ => x,
                }
            });
            let m = if kind == 2 && n > 1 {
                let k = n / 2;
                let l = m.columns(0, k).into_owned();
                let r = DMatrix::from_fn(k, n, |_, _| rng.random_range(-1.0..1.0));
                l * r
            } else {
                m
            };
            let m = &m / m.amax().max(f64::MIN_POSITIVE);
            assert_within(&reference(&m), &ours(&m), 8.0 * n as f64 * f64::EPSILON, &format!("trial {trial}"));
        }
    }

    #[test]
    fn a_group_gives_bitwise_the_values_of_each_matrix_alone_and_qr_agrees_with_dqds() {
        let mut rng = StdRng::seed_from_u64(13);
        let mut ws: [Workspace<f64>; 5] = std::array::from_fn(|_| Workspace::default());
        let mut vs: [Vec<f64>; 4] = std::array::from_fn(|_| Vec::new());
        for trial in 0..200 {
            let n = rng.random_range(1..=20);
            let mut draw = |zeros: bool| {
                DMatrix::from_fn(n, n, |i, j| {
                    let x: f64 = rng.random_range(-1.0..1.0);
                    // Zero rows leave exact zeros in the bidiagonal: dqds
                    // declines and the QR iteration decides.
                    if zeros && i % 3 == 1 {
                        0.0
                    } else {
                        x * 2f64.powi(-(3 * j as i32))
                    }
                })
            };
            let m: [DMatrix<f64>; 4] = std::array::from_fn(|k| draw(trial % 4 == k));
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let mut alone = Vec::new();
            // Groups of four, three, two and one (each matrix in another lane,
            // the lanes past the group holding other matrices), each value
            // bitwise the one alone.
            let mut lanes = super::super::lanes::LaneWorkspace::default();
            for size in [4, 3, 2, 1] {
                let first = 4 - size;
                for (k, x) in lanes.matrices(n).iter_mut().enumerate() {
                    for (l, y) in x.0.iter_mut().enumerate() {
                        *y = m[(first + l) % 4].as_slice()[k];
                    }
                }
                let [w0, w1, w2, w3, _] = &mut ws;
                let [v0, v1, v2, v3] = &mut vs;
                let results = match size {
                    4 => singular_values_of_lanes(n, &mut lanes, [(w0, v0), (w1, v1), (w2, v2), (w3, v3)], 10_000)
                        .to_vec(),
                    3 => singular_values_of_lanes(n, &mut lanes, [(w0, v0), (w1, v1), (w2, v2)], 10_000).to_vec(),
                    2 => singular_values_of_lanes(n, &mut lanes, [(w0, v0), (w1, v1)], 10_000).to_vec(),
                    _ => singular_values_of_lanes(n, &mut lanes, [(w0, v0)], 10_000).to_vec(),
                };
                for (k, r) in results.into_iter().enumerate() {
                    r.unwrap();
                    singular_values(m[first + k].as_slice(), n, &mut ws[4], &mut alone, 10_000).unwrap();
                    assert_eq!(bits(&vs[k]), bits(&alone), "trial {trial}, group of {size}, matrix {}", first + k);
                }
            }
            let a = &m[0];
            // The fallback on the same bidiagonal: within 8·n·ε·σ₁ of dqds.
            let mut lanes = super::super::lanes::LaneWorkspace::default();
            for (k, x) in lanes.matrices(n).iter_mut().enumerate() {
                *x = super::super::lanes::Lanes::splat(a.as_slice()[k]);
            }
            super::super::lanes::bidiagonalize(n, &mut lanes);
            let (bd, be): (Vec<f64>, Vec<f64>) =
                (lanes.d.iter().map(|x| x.0[0]).collect(), lanes.e.iter().map(|x| x.0[0]).collect());
            let mut d = bd.clone();
            if super::super::dqds::dqds_values(&mut d, &be, 30 * n + 100) {
                let (mut qd, mut qe) = (bd, be);
                super::super::bidiag::bidiagonal_values(&mut qd, &mut qe, 10_000).unwrap();
                let mut q: Vec<f64> = qd.iter().map(|x| x.abs()).collect();
                q.sort_by(|x, y| y.total_cmp(x));
                d.sort_by(|x, y| y.total_cmp(x));
                assert_within(&q, &d, 8.0 * n as f64 * f64::EPSILON, &format!("trial {trial}: QR vs dqds"));
            }
        }
    }

    /// Every value within `8·n·ε·σ₁` of nalgebra's (in f64) on matrices graded
    /// by powers of two over the whole exponent range (down to subnormal
    /// entries), with zero rows and columns, and in f32.
    #[test]
    fn bidiagonalization_matches_nalgebra_graded_rank_deficient_and_f32() {
        let mut rng = StdRng::seed_from_u64(12);
        for trial in 0..300 {
            let n = rng.random_range(1..=24);
            let r: Vec<i32> = (0..n).map(|_| rng.random_range(0..=540)).collect();
            let c: Vec<i32> = (0..n).map(|_| rng.random_range(0..=540)).collect();
            let dead = rng.random_range(0..n);
            let m = DMatrix::from_fn(n, n, |i, j| {
                let x: f64 = rng.random_range(-1.0..1.0);
                match trial % 3 {
                    0 => crate::scalar::ldexp(x, -(r[i] + c[j])),
                    1 if i == dead || j == (dead + 1) % n => 0.0,
                    _ => x,
                }
            });
            let m = &m / m.amax().max(f64::MIN_POSITIVE);
            assert_within(&reference(&m), &ours(&m), 8.0 * n as f64 * f64::EPSILON, &format!("trial {trial}"));
            let m32 = m.map(|x| x as f32);
            let tol = 8.0 * n as f64 * f64::from(f32::EPSILON);
            assert_within(&reference(&m32.map(f64::from)), &ours(&m32), tol, &format!("f32 trial {trial}"));
        }
    }

    /// The careful reflector is exactly scale-equivariant where it works at
    /// the scale of its input and where it rescales a tiny one: on a vector of
    /// small integers times `2^-k` (exact at every `k` used, subnormals
    /// included), `τ` and `u` are bitwise those at `k = 0` and `β` is scaled by
    /// `2^-k` exactly; and `β² = x₀² + ‖tail‖²` within `4ε`.
    #[test]
    fn the_careful_reflector_is_exact_at_every_scale() {
        let mut rng = StdRng::seed_from_u64(49);
        for trial in 0..40 {
            let len = rng.random_range(1..=12);
            let ints: Vec<f64> = (0..=len).map(|_| f64::from(rng.random_range(-40i32..=40))).collect();
            if ints[1..].iter().all(|&x| x == 0.0) {
                continue;
            }
            let at = |k: i32| {
                let mut v: Vec<f64> = ints.iter().map(|&x| crate::scalar::ldexp(x, -k)).collect();
                let x0 = v[0];
                let (beta, tau) = reflect_careful(x0, &mut v[1..]);
                (beta, tau, v[1..].to_vec())
            };
            let (beta, tau, u) = at(0);
            let want = ints.iter().map(|x| x * x).sum::<f64>();
            assert!(
                (beta * beta - want).abs() <= 4.0 * f64::EPSILON * want,
                "trial {trial}: β² {} vs {want}",
                beta * beta
            );
            // (Between about 2^-60 and 2^-970 it takes `hypot`, exact to
            // rounding but not bitwise scale-equivariant.)
            for k in [1, 20, 1000, 1060, 1070] {
                let (b, t, v) = at(k);
                assert_eq!(t.to_bits(), tau.to_bits(), "trial {trial}, 2^-{k}: τ");
                assert_eq!(b.to_bits(), crate::scalar::ldexp(beta, -k).to_bits(), "trial {trial}, 2^-{k}: β");
                let bits = |w: &[f64]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&v), bits(&u), "trial {trial}, 2^-{k}: u");
            }
        }
    }

    #[test]
    fn tiny_and_subnormal_remainders_do_not_break_the_reflectors() {
        // A rank-one matrix plus subnormal noise (as the core of a system with
        // identical states): no NaN, no lost convergence.
        for noise in [1e-310f64, 5e-324, 1e-300, 1e-160, 0.0] {
            let mut m = DMatrix::from_fn(8, 8, |i, j| 0.5 / (1.0 + i as f64 + j as f64 * 0.0));
            for k in 0..8 {
                m[(k, (3 * k + 1) % 8)] += noise * (k as f64 - 3.5);
            }
            let s = ours(&m);
            assert!(s.iter().all(|x| x.is_finite()), "{noise:e}: {s:?}");
            let want = reference(&m);
            assert!((s[0] - want[0]).abs() <= 1e-14 * want[0] && s[1] <= 1e-14 * want[0], "{noise:e}: {s:?}");
        }
        let s = ours(&DMatrix::from_row_slice(2, 2, &[1e-310f64, 2e-310, 0.0, 3e-310]));
        assert!(s.iter().all(|x| x.is_finite() && *x > 0.0), "{s:?}");
        // The core that once produced NaN (a Mamba layer whose states are all
        // alike): O(1), 1e-16, 1e-32, … down to the smallest subnormals.
        let mut m = DMatrix::<f64>::zeros(8, 8);
        for (k, &v) in [
            0.9983352757296106,
            1.2122849477927539e-16,
            2.307268562478893e-32,
            2.780548072266581e-277,
            5.595963423849442e-293,
            4.91270489461552e-309,
            1e-323,
            5e-324,
            2.143651309954252e-16,
            2.974913801348861e-32,
            5.66197336891312e-48,
            6.823388222843745e-293,
            1.3732339786750453e-308,
        ]
        .iter()
        .enumerate()
        {
            m[(k / 8, k % 8)] = v;
        }
        m[(2, 0)] = 1.0199704461767512e-31;
        m[(3, 0)] = 1.509859565043498e-47;
        m[(4, 0)] = 2.5e-323;
        m[(7, 0)] = 5e-324;
        let s = ours(&m);
        assert!(s.iter().all(|x| x.is_finite()), "{s:?}");
        assert!((s[0] - reference(&m)[0]).abs() <= 1e-15, "{s:?}");
    }

    #[test]
    fn special_matrices() {
        for n in 1..=12 {
            assert!(ours(&DMatrix::<f64>::zeros(n, n)).iter().all(|&x| x == 0.0));
            assert!(ours(&DMatrix::<f64>::identity(n, n)).iter().all(|&x| (x - 1.0).abs() < 1e-15));
            let ones = ours(&DMatrix::<f64>::from_element(n, n, 1.0));
            assert!((ones[0] - n as f64).abs() < 1e-13 && ones[1..].iter().all(|&x| x < 1e-14));
            // A Jordan-like bidiagonal with tiny diagonal: zero-diagonal handling.
            let mut j = DMatrix::<f64>::zeros(n, n);
            for k in 0..n - 1 {
                j[(k, k + 1)] = 1.0;
            }
            let s = ours(&j);
            assert!(s[..n - 1].iter().all(|&x| (x - 1.0).abs() < 1e-14) && s[n - 1] == 0.0, "{s:?}");
        }
        let s = ours(&DMatrix::from_row_slice(2, 2, &[0.5f32, 0.25, 0.0, 1e-30]));
        assert!((s[0] - 0.5590169943749475).abs() < 1e-6 && s[1] < 1e-7);
    }
}
