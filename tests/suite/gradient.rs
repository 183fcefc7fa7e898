//! ESS gradients (issue #10, part 6) against finite differences, and the Jacobi
//! SVD against nalgebra's values-only SVD and its own residuals.

use crate::common;

use common::{oracle_count, oracle_entropy, random_causal, rng};
use effective_state_size::ess::gradient::{block_gradient, operator_gradient, profile_gradient, Smooth};
use effective_state_size::ess::{Indices, Tolerance};
use effective_state_size::spectrum::jacobi_svd;
use effective_state_size::{BlockShape, Dims, EssError, LtiStateSpace};
use nalgebra::DMatrix;
use proptest::prelude::*;

/// Singular values by nalgebra, values only (the path NUMERICS.md vouches for).
fn sv(h: &DMatrix<f64>) -> Vec<f64> {
    let mut s: Vec<f64> = h.clone().singular_values().iter().copied().collect();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    s
}

/// The soft count written out independently of the crate.
fn oracle_soft(s: &[f64], tol: Tolerance, temp: f64) -> f64 {
    let theta = match tol {
        Tolerance::Relative(t) => t * s[0],
        Tolerance::Absolute(t) => t,
        _ => unreachable!(),
    };
    s.iter().filter(|&&x| x > 0.0).map(|&x| 1.0 / (1.0 + (-(x.ln() - theta.ln()) / temp).exp())).sum()
}

fn objective(h: &DMatrix<f64>, m: Smooth) -> f64 {
    match m {
        Smooth::Entropy => oracle_entropy(&sv(h)),
        Smooth::SoftTolerance { tolerance, temperature } => oracle_soft(&sv(h), tolerance, temperature),
        _ => unreachable!(),
    }
}

/// Central finite difference of `objective` along `d`.
fn fd(h: &DMatrix<f64>, d: &DMatrix<f64>, m: Smooth, eps: f64) -> f64 {
    (objective(&(h + d * eps), m) - objective(&(h - d * eps), m)) / (2.0 * eps)
}

fn dot(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    a.component_mul(b).sum()
}

const SOFT_REL: Smooth = Smooth::SoftTolerance { tolerance: Tolerance::Relative(0.3), temperature: 0.5 };
const SOFT_ABS: Smooth = Smooth::SoftTolerance { tolerance: Tolerance::Absolute(0.8), temperature: 0.4 };

#[test]
fn block_gradients_match_finite_differences_entry_by_entry() {
    let mut r = rng(1);
    for (rows, cols) in [(5, 3), (3, 5), (4, 4), (1, 3), (6, 1)] {
        let h = DMatrix::from_vec(rows, cols, common::normal_vec(&mut r, rows * cols));
        for m in [Smooth::Entropy, SOFT_REL, SOFT_ABS] {
            let g = block_gradient(&h, m).unwrap();
            assert!((g.value - objective(&h, m)).abs() < 1e-12, "{m:?}");
            for a in 0..rows {
                for b in 0..cols {
                    let mut e = DMatrix::zeros(rows, cols);
                    e[(a, b)] = 1.0;
                    let num = fd(&h, &e, m, 1e-6);
                    assert!(
                        (g.gradient[(a, b)] - num).abs() < 1e-6 * num.abs().max(1.0),
                        "{m:?} {rows}x{cols} ({a},{b}): {} vs {num}",
                        g.gradient[(a, b)]
                    );
                }
            }
        }
    }
}

/// Q from the QR of a random matrix: a random orthogonal basis.
fn orthonormal(r: &mut rand::rngs::StdRng, n: usize, k: usize) -> DMatrix<f64> {
    let a = DMatrix::from_vec(n, k, common::normal_vec(r, n * k));
    a.qr().q().columns(0, k).into_owned()
}

#[test]
fn repeated_singular_values_have_a_well_defined_gradient() {
    // Full rank (4 × 4): a zero singular value would add the |σ|-kink of the
    // rank-deficient case to the finite differences.
    let mut r = rng(2);
    let (u, v) = (orthonormal(&mut r, 4, 4), orthonormal(&mut r, 4, 4));
    for sigma in [[2.0, 2.0, 1.0, 0.5], [3.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]] {
        let h = &u * DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(&sigma)) * v.transpose();
        for m in [Smooth::Entropy, SOFT_ABS] {
            let g = block_gradient(&h, m).unwrap();
            // The directional derivative along random directions equals ⟨G, D⟩.
            for _ in 0..4 {
                let d = DMatrix::from_vec(4, 4, common::normal_vec(&mut r, 16));
                let num = fd(&h, &d, m, 1e-6);
                assert!((dot(&g.gradient, &d) - num).abs() < 1e-6 * num.abs().max(1.0), "{sigma:?} {m:?}");
            }
            // And G does not depend on the basis of the repeated group: rotate it.
            let rot = orthonormal(&mut r, 4, 4);
            let s = DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(&sigma));
            let mut q = DMatrix::identity(4, 4);
            // Rotate only within the group of the first two (equal) values when they are equal.
            if sigma[0] == sigma[1] {
                q.view_mut((0, 0), (2, 2)).copy_from(&rot.view((0, 0), (2, 2)).qr().q());
            }
            let h2 = (&u * &q) * &s * (&v * &q).transpose();
            assert!((&h2 - &h).amax() < 1e-12);
            let g2 = block_gradient(&h2, m).unwrap();
            assert!((&g2.gradient - &g.gradient).amax() < 1e-9);
        }
    }
}

#[test]
fn a_repeated_top_value_spreads_the_relative_threshold_term() {
    // σ = (1, 1, 0.2): the relative surrogate is not differentiable, and the
    // gradient returned is the average of the two one-sided choices; it still
    // satisfies ⟨G, H⟩ = 0 (scale invariance) and is basis independent.
    let mut r = rng(3);
    let (u, v) = (orthonormal(&mut r, 4, 3), orthonormal(&mut r, 4, 3));
    let h = &u * DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(&[1.0, 1.0, 0.2])) * v.transpose();
    let g = block_gradient(&h, SOFT_REL).unwrap();
    assert!(dot(&g.gradient, &h).abs() < 1e-12);
    // Perturbing along the direction that keeps the two top values equal (scaling
    // the top group) is differentiable: compare with finite differences there.
    let top = u.columns(0, 2) * v.columns(0, 2).transpose();
    let num = fd(&h, &top, SOFT_REL, 1e-6);
    assert!((dot(&g.gradient, &top) - num).abs() < 1e-6, "{} vs {num}", dot(&g.gradient, &top));
}

#[test]
fn rank_deficient_blocks() {
    // A rank-one block: entropy-ESS is 1 and its gradient along rank-one matrices
    // is zero (the value is constant on them).
    let h = DMatrix::from_fn(4, 3, |a, b| (a + 1) as f64 * (b as f64 - 1.5));
    let g = block_gradient(&h, Smooth::Entropy).unwrap();
    assert!((g.value - 1.0).abs() < 1e-12);
    assert!(g.gradient.amax() < 1e-12);
    // The soft count is differentiable there (T < 1): compare with finite differences.
    let mut r = rng(4);
    let d = DMatrix::from_vec(4, 3, common::normal_vec(&mut r, 12));
    let soft = Smooth::SoftTolerance { tolerance: Tolerance::Absolute(0.5), temperature: 0.3 };
    let gs = block_gradient(&h, soft).unwrap();
    let num = fd(&h, &d, soft, 1e-7);
    assert!((dot(&gs.gradient, &d) - num).abs() < 1e-5 * num.abs().max(1.0), "{} vs {num}", dot(&gs.gradient, &d));
    // The zero block: value 0, gradient 0.
    let z = block_gradient(&DMatrix::<f64>::zeros(3, 2), Smooth::Entropy).unwrap();
    assert_eq!((z.value, z.gradient.amax()), (0.0, 0.0));
}

/// Values at or below the rounding level of the block, `σ_1·max(rows, cols)·ε`
/// (here `1000·4·2^-52 ≈ 8.9e-13`), count as zeros: their vectors are noise. A
/// value just above it is kept and pulls on the gradient; one just below is
/// dropped, with a zero slope.
#[test]
fn values_at_the_rounding_level_count_as_zero() {
    let cut = 1000.0 * 4.0 * f64::EPSILON;
    let (above, below) = (1.2e-12, 5e-13);
    assert!(above > cut && below < cut && below > 1000.0 / 4.0 * f64::EPSILON && below > (1000.0 + 4.0) * f64::EPSILON);
    let mut h = DMatrix::<f64>::zeros(4, 3);
    h[(0, 0)] = 1000.0;
    h[(1, 1)] = above;
    h[(2, 2)] = below;
    let g = block_gradient(&h, Smooth::Entropy).unwrap();
    assert_eq!(g.singular_values, vec![1000.0, above, 0.0]);
    // The kept value's slope by hand: -E·(ln p_2 + H)/Σσ, with p_2 = σ_2/Σσ.
    let sum = 1000.0 + above;
    let (p1, p2) = (1000.0 / sum, above / sum);
    let entropy = -(p1 * p1.ln() + p2 * p2.ln());
    let slope = -entropy.exp() * (p2.ln() + entropy) / sum;
    assert!((g.gradient[(1, 1)] - slope).abs() < 1e-12 * slope.abs(), "{} vs {slope}", g.gradient[(1, 1)]);
    assert_eq!(g.gradient[(2, 2)], 0.0);
}

#[test]
fn profile_gradient_of_t_matches_finite_differences_and_the_sum_of_blocks() {
    let mut r = rng(5);
    let (len, p, m) = (6, 2, 1);
    let t = random_causal(&mut r, len, p, m);
    let block = BlockShape { outputs: p, inputs: m };
    for meas in [Smooth::Entropy, SOFT_REL] {
        let pg = profile_gradient(&t, block, &Indices::All, meas).unwrap();
        assert_eq!(pg.indices, (1..len).collect::<Vec<_>>());
        let total = |t: &DMatrix<f64>| -> f64 {
            (1..len).map(|i| objective(&t.view((i * p, 0), (p * (len - i), m * i)).into_owned(), meas)).sum()
        };
        assert!((pg.total() - total(&t)).abs() < 1e-10);
        for a in 0..p * len {
            for b in 0..m * len {
                let mut e = DMatrix::zeros(p * len, m * len);
                e[(a, b)] = 1e-6;
                let num = (total(&(&t + &e)) - total(&(&t - &e))) / 2e-6;
                assert!((pg.gradient[(a, b)] - num).abs() < 1e-6 * num.abs().max(1.0), "({a},{b})");
                if b / m >= a / p {
                    assert_eq!(pg.gradient[(a, b)], 0.0, "no Hankel block holds the diagonal or above");
                }
            }
        }
    }
    // Through an operator: an SSM channel's T.
    let op = LtiStateSpace::diagonal(
        &[0.9, 0.5, -0.3],
        &[1.0; 3],
        &[1.0, -1.0, 0.5],
        Dims { channels: 1, len: 12, width: 3 },
    )
    .unwrap();
    let og = operator_gradient(&op, 0, &Indices::Stride(3), Smooth::Entropy).unwrap();
    assert_eq!(og.indices, vec![3, 6, 9]);
    assert!(matches!(
        operator_gradient(&op, 1, &Indices::All, Smooth::Entropy),
        Err(EssError::ChannelOutOfRange { .. })
    ));
}

#[test]
fn gradient_errors_are_typed() {
    let h = DMatrix::from_element(3, 3, 1.0);
    // The temperature lies in the open interval (0, 1): both ends are refused.
    for temperature in [1.0, 0.0, -0.5, f64::NAN] {
        let bad_t = Smooth::SoftTolerance { tolerance: Tolerance::Relative(0.1), temperature };
        assert!(matches!(block_gradient(&h, bad_t), Err(EssError::InvalidParameter { .. })), "{temperature}");
    }
    let rank = Smooth::SoftTolerance { tolerance: Tolerance::NumericalRank, temperature: 0.1 };
    assert!(matches!(block_gradient(&h, rank), Err(EssError::InvalidParameter { .. })));
    let neg = Smooth::SoftTolerance { tolerance: Tolerance::Absolute(-1.0), temperature: 0.1 };
    assert!(matches!(block_gradient(&h, neg), Err(EssError::InvalidTolerance { .. })));
    let mut nan = h.clone();
    nan[(1, 1)] = f64::NAN;
    assert!(matches!(block_gradient(&nan, Smooth::Entropy), Err(EssError::NonFinite { .. })));
    assert!(matches!(block_gradient(&DMatrix::<f64>::zeros(0, 3), Smooth::Entropy), Err(EssError::Empty { .. })));
    let upper = DMatrix::from_fn(4, 4, |a, b| if b == a + 1 { 1.0 } else { 0.0 });
    assert!(matches!(
        profile_gradient(&upper, BlockShape::SISO, &Indices::All, Smooth::Entropy),
        Err(EssError::NotCausal { .. })
    ));
    assert!(matches!(
        profile_gradient(&DMatrix::<f64>::zeros(4, 3), BlockShape::SISO, &Indices::All, Smooth::Entropy),
        Err(EssError::ShapeMismatch { .. })
    ));
    // Rows or columns that are not a whole number of blocks, even where the
    // quotients agree (9 / 2 = 4 / 1 = 4 steps), or where only one side is
    // whole: shape errors.
    for (rows, cols) in [(9, 4), (8, 5), (9, 5)] {
        let block = BlockShape { outputs: 2, inputs: 1 };
        let err = profile_gradient(&DMatrix::<f64>::zeros(rows, cols), block, &Indices::All, Smooth::Entropy);
        assert!(matches!(err, Err(EssError::ShapeMismatch { .. })), "{rows} × {cols}: {err:?}");
    }
    // A block shape with no outputs or no inputs is a shape error, not a
    // division by zero.
    for block in [BlockShape { outputs: 0, inputs: 1 }, BlockShape { outputs: 1, inputs: 0 }] {
        assert!(matches!(
            profile_gradient(&DMatrix::<f64>::zeros(4, 4), block, &Indices::All, Smooth::Entropy),
            Err(EssError::ShapeMismatch { .. })
        ));
    }
    assert!(matches!(
        profile_gradient(&DMatrix::<f64>::zeros(4, 4), BlockShape::SISO, &Indices::List(vec![4]), Smooth::Entropy),
        Err(EssError::IndexOutOfRange { .. })
    ));
}

#[test]
fn f32_gradients_agree_with_f64() {
    let mut r = rng(6);
    let h = DMatrix::from_vec(5, 4, common::normal_vec(&mut r, 20));
    let h32 = h.map(|x| x as f32);
    for m in [Smooth::Entropy, SOFT_REL] {
        let (a, b) = (block_gradient(&h, m).unwrap(), block_gradient(&h32, m).unwrap());
        assert!((a.value - b.value).abs() < 1e-5);
        assert!((a.gradient.map(|x| x as f32) - &b.gradient).amax() < 1e-4);
    }
    // Extreme scales: entropy is scale-invariant, its gradient scales as 1/c.
    let big = block_gradient(&(&h * 1e250), Smooth::Entropy).unwrap();
    let one = block_gradient(&h, Smooth::Entropy).unwrap();
    assert!((big.value - one.value).abs() < 1e-12);
    assert!((&big.gradient * 1e250 - &one.gradient).amax() < 1e-10 * one.gradient.amax());
}

#[test]
fn jacobi_values_match_nalgebra_values_only_on_all_ones_and_random_shapes() {
    // NUMERICS.md: nalgebra with vectors is wrong on 231 of 841 all-ones shapes up
    // to 30×30; its values-only SVD is right. Check every shape to 30×30.
    for rows in 1..=30 {
        for cols in 1..=30 {
            let ones = DMatrix::from_element(rows, cols, 1.0);
            let svd = jacobi_svd(&ones).unwrap();
            let expect = ((rows * cols) as f64).sqrt();
            assert!((svd.singular_values[0] - expect).abs() < 1e-13 * expect, "{rows}x{cols}");
            assert!(svd.singular_values[1..].iter().all(|&s| s < 1e-13 * expect), "{rows}x{cols}");
            assert!(svd.residual < 1e-14, "{rows}x{cols}: residual {}", svd.residual);
        }
    }
    let mut r = rng(7);
    for (rows, cols) in [(12, 7), (7, 12), (20, 20), (1, 9), (30, 2)] {
        let a = DMatrix::from_vec(rows, cols, common::normal_vec(&mut r, rows * cols));
        let svd = jacobi_svd(&a).unwrap();
        let s = sv(&a);
        for (x, y) in svd.singular_values.iter().zip(&s) {
            assert!((x - y).abs() < 1e-13 * s[0]);
        }
        // Orthonormal vectors and reconstruction.
        let k = rows.min(cols);
        assert!((svd.u.transpose() * &svd.u - DMatrix::identity(k, k)).amax() < 1e-13);
        assert!((svd.v.transpose() * &svd.v - DMatrix::identity(k, k)).amax() < 1e-13);
        let back = &svd.u
            * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(svd.singular_values.clone()))
            * svd.v.transpose();
        assert!((back - &a).amax() < 1e-13 * s[0]);
        // An independent residual check.
        for j in 0..k {
            let res = (&a * svd.v.column(j) - svd.u.column(j) * svd.singular_values[j]).norm();
            assert!(res < 1e-13 * s[0]);
        }
    }
    // Graded singular values keep their relative accuracy (what ln σ and 1/σ need).
    let (u, v) = (orthonormal(&mut r, 8, 8), orthonormal(&mut r, 8, 8));
    let sig: Vec<f64> = (0..8i32).map(|k| 10f64.powi(-k * 2)).collect();
    let a = &u * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(sig.clone())) * v.transpose();
    let svd = jacobi_svd(&a).unwrap();
    for (x, y) in svd.singular_values.iter().zip(&sig).take(6) {
        assert!((x - y).abs() < 1e-3 * y + 1e-15, "{x} vs {y}");
    }
    assert!(oracle_count(&svd.singular_values, 1e-11) == 6);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Scale invariance: entropy-ESS and the relative surrogate have ⟨∂/∂H, H⟩ = 0;
    /// the absolute surrogate has ⟨∂/∂H, H⟩ = Σ s(1−s)/T ≥ 0 and its value lies in
    /// [0, min(rows, cols)]; entropy-ESS lies in [1, rank].
    #[test]
    fn gradient_identities(seed in 0u64..10_000, rows in 1usize..7, cols in 1usize..7, scale in -3i32..3) {
        let mut r = rng(seed);
        let h = DMatrix::from_vec(rows, cols, common::normal_vec(&mut r, rows * cols)) * 10f64.powi(scale);
        let k = rows.min(cols) as f64;
        let e = block_gradient(&h, Smooth::Entropy).unwrap();
        prop_assert!(dot(&e.gradient, &h).abs() < 1e-9 * e.gradient.norm() * h.norm() + 1e-12);
        prop_assert!(e.value >= 1.0 - 1e-12 && e.value <= k + 1e-12);
        let s = block_gradient(&h, SOFT_REL).unwrap();
        prop_assert!(dot(&s.gradient, &h).abs() < 1e-9 * s.gradient.norm() * h.norm() + 1e-12);
        prop_assert!(s.value >= 0.0 && s.value <= k);
        let a = block_gradient(&h, SOFT_ABS).unwrap();
        prop_assert!(dot(&a.gradient, &h) >= -1e-12);
        prop_assert!(a.value >= 0.0 && a.value <= k);
        prop_assert!(e.residual < 1e-12 && s.residual < 1e-12);
    }
}
