//! The certificate of a reduction: the a-priori error bound, the Eckart–Young
//! lower bound and the measured error `‖T − T_r‖₂`.
//!
//! # The bound (proved in [`crate::distillation`])
//! Balanced truncation keeps `k_i ≤ r` states at every cut `i`. In the balanced
//! coordinates of a minimal realization the reduced operator is `T` with the
//! orthogonal projection `Π_i` onto the kept states inserted at every cut;
//! inserting the projections one cut at a time changes the operator by
//! `O_i (I − Π_i) R̃_i`, whose norm is at most `σ_{k_i+1}(H_i)` because the
//! reachability Gramian of the partially projected system never exceeds
//! `Σ_i`. Hence, in exact arithmetic,
//!
//! ```text
//! ‖T − T_r‖₂ ≤ Σ_{i=1}^{L-1} σ_{k_i+1}(H_i)            (certified)
//! ‖T − T_r‖₂ ≥ max_i σ_{r+1}(H_i)                       (Eckart–Young, any T_r of order r)
//! ```
//!
//! The number `2·Σ_k max_{i : k > k_i} σ_k(H_i)`, the form of the time-varying
//! balanced truncation bound of Sandberg & Rantzer (2004) and Lall & Beck
//! (2003), is reported as well but not certified (see the distillation page).

/// Accumulates the per-cut singular values into the bounds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accumulator {
    /// `Σ_i σ_{k_i+1}(H_i)`.
    cut_sum: f64,
    /// `max_i σ_k(H_i)` over the cuts where state `k` was truncated.
    truncated_max: Vec<f64>,
    /// `max_i σ_{r+1}(H_i)`.
    lower: f64,
    /// `max_i σ_1(H_i) / σ_{k_i}(H_i)` over the cuts that keep a state.
    condition: f64,
    /// The largest kept count.
    order: usize,
}

impl Accumulator {
    /// Adds one cut: its singular values `sigma` (descending; values beyond the
    /// slice are zero), the states kept there and the requested order `r`.
    pub(crate) fn add_cut(&mut self, sigma: &[f64], kept: usize, r: usize) {
        let at = |k: usize| sigma.get(k).copied().unwrap_or(0.0);
        self.cut_sum += at(kept);
        if self.truncated_max.len() < sigma.len() {
            self.truncated_max.resize(sigma.len(), 0.0);
        }
        for (k, &s) in sigma.iter().enumerate().skip(kept) {
            self.truncated_max[k] = self.truncated_max[k].max(s);
        }
        self.lower = self.lower.max(at(r));
        if kept > 0 && at(kept - 1) > 0.0 {
            self.condition = self.condition.max(at(0) / at(kept - 1));
        }
        self.order = self.order.max(kept);
    }

    /// The largest number of states kept at a cut.
    pub(crate) fn order(&self) -> usize {
        self.order
    }

    /// The bounds, with the rounding allowance for an operator of length `len`,
    /// state (or largest cut rank) `n`, Frobenius norm `norm_f`, computed in `f64`
    /// and delivered in a type of machine epsilon `eps_out`.
    pub(crate) fn finish(&self, len: usize, n: usize, norm_f: f64, eps_out: f64) -> Bounds {
        let classical = 2.0 * self.truncated_max.iter().sum::<f64>();
        let work = (len as f64) * ((n.max(1)) as f64);
        // Rounding allowance: errors of order ε per operation along paths of up
        // to L steps through N states, amplified by √κ where the balancing divides
        // by √σ_{k_i}; and the final rounding of the reduced parts to the output
        // type. A safeguard validated by the property tests, not a rigorous
        // floating-point bound.
        let kappa = self.condition.max(1.0).sqrt();
        let rounding = ROUNDING * norm_f * (f64::EPSILON * work * kappa + eps_out * work);
        Bounds { bound: self.cut_sum + rounding, cut_sum: self.cut_sum, classical, lower: self.lower, rounding }
    }
}

/// The constant of the rounding allowance.
const ROUNDING: f64 = 16.0;

/// What [`Accumulator::finish`] returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    pub bound: f64,
    pub cut_sum: f64,
    pub classical: f64,
    pub lower: f64,
    pub rounding: f64,
}

/// `‖E‖₂` of a dense matrix: every singular value when small, else a power
/// iteration on `EᵀE` to relative change `1e-10` (which approaches `‖E‖₂` from
/// below).
pub(crate) fn spectral_norm(e: &nalgebra::DMatrix<f64>) -> crate::error::Result<f64> {
    if e.nrows().min(e.ncols()) <= 400 {
        let s = crate::spectrum::singular_values(&crate::spectrum::NalgebraSvd::default(), e.clone())?;
        return Ok(s.first().copied().unwrap_or(0.0));
    }
    power_iteration(e.ncols(), |x| Ok(e * x), |y| Ok(e.tr_mul(y)))
}

/// The largest singular value of an operator given by `apply` and `apply_t`
/// (its transpose), by power iteration on `EᵀE` from a fixed start. Each
/// `E·x` is normalised before `Eᵀ` is applied and norms are taken with the
/// largest entry factored out, so that nothing overflows below `σ_1 ≈ 10^308`
/// (a plain `EᵀE·x` overflows from `σ_1 ≈ 10^154` on).
pub(crate) fn power_iteration(
    cols: usize,
    apply: impl Fn(&nalgebra::DVector<f64>) -> crate::error::Result<nalgebra::DVector<f64>>,
    apply_t: impl Fn(&nalgebra::DVector<f64>) -> crate::error::Result<nalgebra::DVector<f64>>,
) -> crate::error::Result<f64> {
    let norm = |v: &nalgebra::DVector<f64>| {
        let m = v.amax();
        if m == 0.0 || !m.is_finite() {
            m
        } else {
            m * (v / m).norm()
        }
    };
    let mut x = nalgebra::DVector::from_fn(cols, |j, _| 1.0 + ((j as f64) * 0.618_033_988_7).fract());
    let n = norm(&x);
    if n == 0.0 {
        return Ok(0.0);
    }
    x /= n;
    let mut sigma = 0.0;
    for _ in 0..2000 {
        let y = apply(&x)?;
        let s = norm(&y);
        if s == 0.0 || !s.is_finite() {
            return Ok(s);
        }
        let z = apply_t(&(y / s))?;
        let zn = norm(&z);
        if zn == 0.0 || !zn.is_finite() {
            return Ok(s);
        }
        x = z / zn;
        let done = (s - sigma).abs() <= 1e-10 * s;
        sigma = s;
        if done {
            break;
        }
    }
    Ok(sigma)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realization::{Realization, Steps, Transition};
    use nalgebra::{DMatrix, DVector};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The accumulated bounds by hand; the condition number counts kept states
    /// with a nonzero value only (a kept zero would make it, and the rounding
    /// allowance, infinite).
    #[test]
    fn accumulator_by_hand_and_a_kept_zero_value() {
        let mut acc = Accumulator::default();
        acc.add_cut(&[2.0, 0.0], 2, 2);
        assert!(acc.finish(10, 2, 1.0, 0.0).rounding.is_finite());
        acc.add_cut(&[4.0, 0.5], 2, 2);
        // κ = 4 / 0.5 = 8: allowance 16·‖T‖_F·ε·(L·N)·√κ.
        let want = 16.0 * f64::EPSILON * 20.0 * 8f64.sqrt();
        let bounds = acc.finish(10, 2, 1.0, 0.0);
        assert!((bounds.rounding - want).abs() <= 1e-12 * want);
        assert_eq!(acc.order(), 2);
        // Nothing truncated (all kept): cut sum and classical bound are 0.
        assert_eq!((bounds.cut_sum, bounds.classical), (0.0, 0.0));
        // Keep one of [3, 0.25, 0.125] (r = 1): σ_2 enters the cut sum and the lower
        // bound; the classical bound is 2·Σ_k max_i σ_k over the states truncated
        // somewhere (k = 2, 3 here: 0.25 and 0.125).
        acc.add_cut(&[3.0, 0.25, 0.125], 1, 1);
        let bounds = acc.finish(10, 2, 1.0, 0.0);
        assert_eq!(bounds.cut_sum, 0.25);
        assert_eq!(bounds.classical, 2.0 * (0.25 + 0.125));
        assert_eq!(bounds.lower, 0.25);
        // A cut that keeps nothing (a zero block): only the cut sum and the
        // lower bound move; κ and the order stay.
        acc.add_cut(&[0.0, 0.0], 0, 1);
        let after = acc.finish(10, 2, 1.0, 0.0);
        assert_eq!((after.rounding, acc.order()), (bounds.rounding, 2));
    }

    #[test]
    fn power_iteration_matches_the_svd_and_the_adjoint_recurrence_is_the_transpose() {
        let mut rng = StdRng::seed_from_u64(3);
        let (len, n) = (40, 3);
        let mat = |r: usize, c: usize, rng: &mut StdRng| DMatrix::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0));
        let a = (0..len).map(|_| mat(n, n, &mut rng) * 0.6).collect();
        let b = (0..len).map(|_| mat(n, 2, &mut rng)).collect();
        let c = (0..len).map(|_| mat(2, n, &mut rng)).collect();
        let d = (0..len).map(|_| mat(2, 2, &mut rng)).collect();
        let r = Realization::new(len, Transition::Dense(Steps::Varying(a)), Steps::Varying(b), Steps::Varying(c))
            .unwrap()
            .with_feedthrough(Steps::Varying(d))
            .unwrap();
        let t = r.dense();
        let y: Vec<f64> = (0..2 * len).map(|_| rng.random_range(-1.0..1.0)).collect();
        let z = DVector::from_vec(r.apply_transpose(&y));
        assert!((z - t.tr_mul(&DVector::from_vec(y))).amax() <= 1e-10 * t.amax());
        let exact = t.clone().singular_values().max();
        let est = power_iteration(t.ncols(), |x| Ok(&t * x), |y| Ok(t.tr_mul(y))).unwrap();
        assert!((est - exact).abs() <= 1e-6 * exact, "{est} vs {exact}");
    }

    /// `E = σ_1·e_1·v_1ᵀ + σ_2·e_2·v_2ᵀ` with `v_1 = (1, −1)/√2`, `v_2 = (1, 1)/√2`:
    /// a start vector with equal entries is `v_2` itself, from which the iteration
    /// never leaves `σ_2`; the fixed start has a component along `v_1`.
    fn two_by_two(s1: f64, s2: f64) -> DMatrix<f64> {
        let h = std::f64::consts::FRAC_1_SQRT_2;
        DMatrix::from_row_slice(2, 2, &[s1 * h, -s1 * h, s2 * h, s2 * h])
    }

    /// The power iteration finds `σ_1` to its stopping rule at any scale, from a
    /// start that is not orthogonal to the top right singular vector, also when
    /// the top two values are close; the zero operator gives 0 (not NaN).
    #[test]
    fn power_iteration_converges_at_any_scale_and_on_the_zero_operator() {
        for scale in [1e-12, 1.0, 1e12] {
            for ratio in [0.5, 0.99] {
                let e = two_by_two(2.0 * scale, 2.0 * ratio * scale);
                let est = power_iteration(2, |x| Ok(&e * x), |y| Ok(e.tr_mul(y))).unwrap();
                let exact = 2.0 * scale;
                assert!((est - exact).abs() <= 1e-8 * exact, "scale {scale:e}, ratio {ratio}: {est:e} vs {exact:e}");
            }
        }
        let zero = DMatrix::<f64>::zeros(3, 4);
        assert_eq!(power_iteration(4, |x| Ok(&zero * x), |y| Ok(zero.tr_mul(y))).unwrap(), 0.0);
        // Far beyond `√(largest f64)`, where `EᵀE·x` and a plain `‖E·x‖` overflow.
        for s1 in [2e200, 1e307] {
            let huge = two_by_two(s1, 0.5 * s1);
            let est = power_iteration(2, |x| Ok(&huge * x), |y| Ok(huge.tr_mul(y))).unwrap();
            assert!((est - s1).abs() <= 1e-8 * s1, "{est:e} vs {s1:e}");
        }
    }

    /// `spectral_norm` takes every singular value up to 400 columns and the power
    /// iteration above: both give `σ_1` (a diagonal with known values, the top two
    /// apart, and a dense rotation of it), the small case to rounding.
    #[test]
    fn spectral_norm_on_both_sides_of_its_size_limit() {
        let close = two_by_two(3.0, 3.0 * (1.0 - 1e-7));
        let s = spectral_norm(&close).unwrap();
        assert!((s - 3.0).abs() <= 1e-14 * 3.0, "{s}");
        for n in [400, 401] {
            let d =
                DMatrix::from_diagonal(&DVector::from_fn(n, |j, _| if j == 0 { 2.0 } else { 1.0 / (1.0 + j as f64) }));
            let s = spectral_norm(&d).unwrap();
            assert!((s - 2.0).abs() <= 1e-8, "n = {n}: {s}");
            let mut rng = StdRng::seed_from_u64(3);
            let q = DMatrix::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0)).qr().q();
            let s = spectral_norm(&(&q * &d)).unwrap();
            assert!((s - 2.0).abs() <= 1e-8, "n = {n}, rotated: {s}");
        }
    }
}
