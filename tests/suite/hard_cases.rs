//! Properties on the cases that break tolerance counting: singular values placed
//! just above and just below every kind of threshold (`τ·σ₁·(1 ± δ)`), on
//! non-square blocks, at extreme scales, in f64 and in f32. The expected counts
//! come from the prescribed spectrum, not from an SVD.

use crate::common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Tolerance};
use effective_state_size::nalgebra::DMatrix;
use effective_state_size::prelude::*;
use proptest::prelude::*;

/// A causal `L × L` matrix whose block `H_i` is exactly `U diag(σ) Vᵀ` (random
/// orthonormal `U`, `V` from QR) and which is zero elsewhere below the diagonal
/// block, so that `σ(H_i) = σ` up to rounding.
fn with_spectrum(len: usize, i: usize, sigma: &[f64], seed: u64) -> DMatrix<f64> {
    let mut r = rng(seed);
    let k = sigma.len();
    let orth = |rows: usize, r: &mut rand::rngs::StdRng| {
        DMatrix::from_vec(rows, k, normal_vec(r, rows * k)).qr().q().columns(0, k).into_owned()
    };
    let (u, v) = (orth(len - i, &mut r), orth(i, &mut r));
    let h = &u * DMatrix::from_diagonal(&sigma.to_vec().into()) * v.transpose();
    let mut t = DMatrix::zeros(len, len);
    t.view_mut((i, 0), (len - i, i)).copy_from(&h);
    t
}

/// Tolerance-ESS of `t` at index `i` in `T`'s precision `S`.
fn count_at<S: Scalar>(t: &DMatrix<f64>, i: usize, tol: Tolerance) -> f64 {
    let op = DenseOperator::single(t.map(|x| S::cast(x))).unwrap();
    let opts = EssOptions::default().with_indices(Indices::List(vec![i]));
    ess::profile(&op, Measure::Tolerance(tol), &opts).unwrap().channel(0)[0]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Relative and absolute thresholds: values at `τ·σ₁·(1 ± δ)` are counted
    /// exactly, at any scale `2^e`, in f64 (δ = 1e-4) and f32 (δ = 5e-2).
    #[test]
    fn values_beside_relative_and_absolute_thresholds_are_counted_exactly(
        seed in 0u64..1000,
        tau_exp in -9i32..-1,
        above in 1usize..4,
        below in 1usize..4,
        scale_exp in -900i32..900,
        i in 8usize..20,
    ) {
        let len = 28;
        let tau = 10f64.powi(tau_exp);
        for (f32_mode, delta) in [(false, 1e-4), (true, 5e-2)] {
            let tau = if f32_mode { tau.max(1e-4) } else { tau };
            let scale = if f32_mode { 2f64.powi(scale_exp / 10) } else { 2f64.powi(scale_exp) };
            let mut sigma = vec![scale];
            sigma.extend((0..above).map(|k| tau * scale * (1.0 + delta) * (1.0 + k as f64)));
            sigma.extend((0..below).map(|k| tau * scale * (1.0 - delta) / (1.0 + k as f64)));
            let k = sigma.len().min(i).min(len - i);
            sigma.truncate(k);
            let expect_rel = sigma.iter().filter(|&&s| s > tau * scale).count() as f64;
            let t = with_spectrum(len, i, &sigma, seed);
            let (rel, abs) = (Tolerance::Relative(tau), Tolerance::Absolute(tau * scale));
            if f32_mode {
                prop_assert_eq!(count_at::<f32>(&t, i, rel), expect_rel);
                prop_assert_eq!(count_at::<f32>(&t, i, abs), expect_rel);
            } else {
                prop_assert_eq!(count_at::<f64>(&t, i, rel), expect_rel);
                prop_assert_eq!(count_at::<f64>(&t, i, abs), expect_rel);
            }
        }
    }

    /// Numerical rank on a non-square block: a value between `σ₁·min(rows, cols)·ε`
    /// and `σ₁·max(rows, cols)·ε` is not counted (LAPACK's convention uses the
    /// larger dimension); one at twice the max threshold is.
    #[test]
    fn numerical_rank_uses_the_larger_dimension_of_non_square_blocks(seed in 0u64..1000, i in 3usize..9, f32_mode in any::<bool>()) {
        let len = 40; // H_i is (40 - i) × i: far from square
        let (rows, cols) = (len - i, i);
        let eps = if f32_mode { f32::EPSILON as f64 } else { f64::EPSILON };
        let (lo, hi) = (rows.min(cols) as f64 * eps, rows.max(cols) as f64 * eps);
        let between = (lo * hi).sqrt(); // geometric middle: ≥ 2.2× from either end
        let sigma = [1.0, 2.0 * hi, between];
        let t = with_spectrum(len, i, &sigma, seed);
        let n = if f32_mode {
            count_at::<f32>(&t, i, Tolerance::NumericalRank)
        } else {
            count_at::<f64>(&t, i, Tolerance::NumericalRank)
        };
        prop_assert_eq!(n, 2.0, "rows {} cols {} between {:e}", rows, cols, between);
    }

    /// Entropy-ESS of a prescribed spectrum equals its closed form at any scale.
    #[test]
    fn entropy_of_a_prescribed_spectrum(seed in 0u64..1000, scale_exp in -1000i32..1000, k in 1usize..6) {
        let (len, i) = (24, 12);
        let scale = 2f64.powi(scale_exp) * 1.37;
        let sigma: Vec<f64> = (0..k).map(|j| scale / (1.0 + j as f64)).collect();
        let t = with_spectrum(len, i, &sigma, seed);
        let op = DenseOperator::single(t).unwrap();
        let v = ess::profile(&op, Measure::Entropy, &EssOptions::default().with_indices(Indices::List(vec![i]))).unwrap();
        let sum: f64 = (0..k).map(|j| 1.0 / (1.0 + j as f64)).sum();
        let h: f64 = (0..k).map(|j| { let p = 1.0 / (1.0 + j as f64) / sum; -p * p.ln() }).sum();
        prop_assert!(close(v.channel(0)[0], h.exp(), 1e-10), "{} vs {}", v.channel(0)[0], h.exp());
    }
}
