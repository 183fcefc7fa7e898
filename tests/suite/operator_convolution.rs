//! Convolutions: FIR (k-1), long kernels, gated convolutions.

use crate::common;

use common::*;
use effective_state_size::ess::{Method, Tolerance};
use effective_state_size::{EssError, FirConvolution, GatedConvolution, LinearOperator, LongConvolution, OperatorExt};
use proptest::prelude::*;

#[test]
fn fir_apply_and_realization_match_dense() {
    let mut r = rng(21);
    let op = FirConvolution::new(&rows(&normal_vec(&mut r, 3 * 5), 5), 17).unwrap();
    assert_apply_matches_dense(&op, 1);
    assert_realization_matches(&op, 2);
    assert_structured_matches_dense(&op);
    let one_tap = FirConvolution::new(&rows(&[2.0], 1), 6).unwrap();
    assert_eq!(one_tap.theoretical_state_size(), Some(0));
    assert_apply_matches_dense(&one_tap, 3);
    assert_eq!(tol_profile(&one_tap, Tolerance::NumericalRank, Method::Auto)[0], vec![0.0; 5]);
}

#[test]
fn generic_fir_kernel_of_length_k_has_ess_k_minus_1_in_the_middle() {
    let mut r = rng(22);
    for k in [2usize, 4, 7, 12] {
        let len = 64;
        let op = FirConvolution::new(&rows(&normal_vec(&mut r, k), k), len).unwrap();
        for path in [Method::Dense, Method::Structured] {
            let p = tol_profile(&op, Tolerance::NumericalRank, path);
            for i in 1..len {
                assert_eq!(p[0][i - 1], (k - 1).min(i).min(len - i) as f64, "k={k} i={i} {path:?}");
            }
        }
    }
}

#[test]
fn long_convolution_has_no_fixed_tss_and_fills_the_bound() {
    let mut r = rng(23);
    let len = 40;
    let op = LongConvolution::new(&rows(&normal_vec(&mut r, 2 * len), len)).unwrap();
    assert_eq!(op.theoretical_state_size(), None);
    assert_eq!(op.realization_info().order(), None);
    assert_apply_matches_dense(&op, 4);
    let p = tol_profile(&op, Tolerance::NumericalRank, Method::Auto);
    for i in 1..len {
        assert_eq!(p[0][i - 1], i.min(len - i) as f64, "i={i}");
    }
}

#[test]
fn gated_convolution_matches_its_formula_and_keeps_the_kernel_tss() {
    let mut r = rng(24);
    let (len, k) = (30, 6);
    let (h, z, v) = (normal_vec(&mut r, 2 * k), normal_vec(&mut r, 2 * len), normal_vec(&mut r, 2 * len));
    let op = GatedConvolution::new(&rows(&h, k), &rows(&z, len), &rows(&v, len)).unwrap();
    let t = op.dense(1).unwrap();
    assert!((t[(9, 5)] - z[len + 9] * h[k + 4] * v[len + 5]).abs() < 1e-14);
    assert_eq!(t[(15, 5)], 0.0);
    assert_apply_matches_dense(&op, 5);
    assert_realization_matches(&op, 6);
    assert_structured_matches_dense(&op);
    assert_eq!(op.theoretical_state_size(), Some(k - 1));
    let p = tol_profile(&op, Tolerance::NumericalRank, Method::Auto);
    assert_eq!(p[0][14], (k - 1) as f64);
    let long =
        GatedConvolution::new(&rows(&normal_vec(&mut r, len), len), &rows(&z[..len], len), &rows(&v[..len], len))
            .unwrap();
    assert_eq!(long.theoretical_state_size(), None);
}

#[test]
fn bad_convolution_inputs_are_rejected() {
    let err = FirConvolution::new(&[vec![1.0, 2.0], vec![3.0]], 8).unwrap_err();
    assert!(matches!(err, EssError::ShapeMismatch { .. }) && err.to_string().contains("channel 1"), "{err}");
    assert!(matches!(FirConvolution::new(&rows(&[1.0, f64::NAN], 2), 8), Err(EssError::NonFinite { .. })));
    assert!(matches!(FirConvolution::new(&rows(&[1.0; 9], 9), 8), Err(EssError::InvalidParameter { .. })));
    assert!(matches!(FirConvolution::<f64>::new::<&[f64]>(&[], 8), Err(EssError::Empty { .. })));
    assert!(GatedConvolution::new(&rows(&[1.0; 2], 2), &rows(&[1.0; 7], 8), &rows(&[1.0; 8], 8)).is_err());
    assert!(matches!(
        LongConvolution::new(&rows(&[1.0; 8], 8)).unwrap().apply(0, &[1.0; 7]),
        Err(EssError::ShapeMismatch { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn fir_ess_never_exceeds_tss(k in 1usize..8, len in 8usize..30, seed in 0u64..10_000) {
        let mut r = rng(seed);
        let op = FirConvolution::new(&rows(&normal_vec(&mut r, k), k), len).unwrap();
        let p = tol_profile(&op, Tolerance::Relative(1e-10), Method::Dense);
        prop_assert!(p[0].iter().all(|&v| v <= (k - 1) as f64));
    }

    #[test]
    fn gated_ess_never_exceeds_tss(k in 1usize..6, seed in 0u64..10_000) {
        let mut r = rng(seed);
        let len = 20;
        let op = GatedConvolution::new(&rows(&normal_vec(&mut r, k), k), &rows(&normal_vec(&mut r, len), len), &rows(&normal_vec(&mut r, len), len)).unwrap();
        let p = tol_profile(&op, Tolerance::Relative(1e-10), Method::Dense);
        prop_assert!(p[0].iter().all(|&v| v <= (k - 1) as f64));
    }
}
