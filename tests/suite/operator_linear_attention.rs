//! The linear-attention family: linear attention (feature maps, normalisation),
//! RetNet, GLA, DeltaNet and gated DeltaNet.

use crate::common;

use common::*;
use effective_state_size::ess::{self, Method, Tolerance};
use effective_state_size::{
    DecayedLinearAttention, DeltaNet, Dims, EssError, FeatureMap, GatedLinearAttention, LinearAttention,
    LinearOperator, OperatorExt,
};
use proptest::prelude::*;
use std::sync::Arc;

/// Unit-norm rows, as DeltaNet uses.
fn normalize_rows(v: &mut [f64], d: usize) {
    for row in v.chunks_mut(d) {
        let n = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        row.iter_mut().for_each(|x| *x /= n);
    }
}

fn check_family<O: LinearOperator<Scalar = f64>>(op: &O, seed: u64) {
    assert_apply_matches_dense(op, seed);
    assert_realization_matches(op, seed + 1);
    assert_structured_matches_dense(op);
}

/// Tolerance-ESS under the numerical-rank threshold is min(n, i, L-i) everywhere.
fn assert_reaches(op: &impl LinearOperator<Scalar = f64>, n: usize) {
    let len = op.seq_len();
    for path in [Method::Dense, Method::Structured] {
        let p = tol_profile(op, Tolerance::NumericalRank, path);
        for row in &p {
            for i in 1..len {
                assert_eq!(row[i - 1], n.min(i).min(len - i) as f64, "{} i={i} {path:?}", op.family());
            }
        }
    }
}

#[test]
fn linear_attention_with_feature_maps_and_normalisation() {
    let (h, len, d) = (2, 24, 4);
    let (q, k) = qk(1, h, len, d);
    let plain = LinearAttention::new(&q, &k, Dims { channels: h, len, width: d }).unwrap();
    check_family(&plain, 10);
    assert_reaches(&plain, d);
    let t = plain.dense(1).unwrap();
    let dot: f64 = (0..d).map(|j| q[(len + 9) * d + j] * k[(len + 3) * d + j]).sum();
    assert!((t[(9, 3)] - dot).abs() < 1e-14);

    let elu = plain.clone().with_feature_map(FeatureMap::EluPlusOne).unwrap().normalized().unwrap();
    check_family(&elu, 20);
    for head in 0..h {
        let t = elu.dense(head).unwrap();
        for r in 0..len {
            assert!((t.row(r).sum() - 1.0).abs() < 1e-12, "head {head}: normalised rows sum to 1");
        }
    }
    // A custom map that doubles the feature dimension: n = 2d.
    let square = FeatureMap::Custom(Arc::new(|x: &[f64]| x.iter().flat_map(|&v| [v, v * v]).collect()));
    let custom = plain.clone().with_feature_map(square).unwrap();
    assert_eq!(custom.theoretical_state_size(), Some(2 * d));
    check_family(&custom, 30);
    assert_reaches(&custom, 2 * d);
    check_family(&plain.clone().with_feature_map(FeatureMap::Relu).unwrap(), 40);
    // Debug names the map (a closure is shown as `Custom(..)`).
    let names: Vec<String> = [
        FeatureMap::Identity,
        FeatureMap::EluPlusOne,
        FeatureMap::Relu,
        FeatureMap::Custom(Arc::new(|x: &[f64]| x.to_vec())),
    ]
    .iter()
    .map(|m| format!("{m:?}"))
    .collect();
    assert_eq!(names, ["Identity", "EluPlusOne", "Relu", "Custom(..)"]);
}

#[test]
fn retnet_matches_formula_and_reaches_d() {
    let (h, len, d) = (2, 32, 5);
    let (q, k) = qk(2, h, len, d);
    let op = DecayedLinearAttention::new(&q, &k, &[0.9, 0.6], Dims { channels: h, len, width: d }).unwrap();
    let t = op.dense(1).unwrap();
    let dot: f64 = (0..d).map(|j| q[(len + 12) * d + j] * k[(len + 4) * d + j]).sum();
    assert!((t[(12, 4)] - 0.6f64.powi(8) * dot).abs() < 1e-14);
    check_family(&op, 50);
    let op = DecayedLinearAttention::new(&q, &k, &[0.95, 0.9], Dims { channels: h, len, width: d }).unwrap();
    assert_reaches(&op, d);
}

fn gla(seed: u64, len: usize, d: usize, lo: f64, hi: f64) -> GatedLinearAttention<f64> {
    let (q, k) = qk(seed, 1, len, d);
    let mut r = rng(seed + 1000);
    GatedLinearAttention::new(&q, &k, &uniform_vec(&mut r, len * d, lo, hi), Dims { channels: 1, len, width: d })
        .unwrap()
}

#[test]
fn gla_is_consistent_and_reaches_d() {
    // The entry formula itself is checked in tests/suite/oracles.rs.
    let op = gla(3, 30, 4, 0.7, 1.0);
    check_family(&op, 60);
    assert_reaches(&op, 4);
}

#[test]
fn gla_with_gates_near_one_keeps_more_ess_than_with_gates_near_zero() {
    let (len, d) = (64, 8);
    let open = gla(4, len, d, 0.95, 1.0);
    let shut = gla(4, len, d, 0.0, 0.05);
    let tol = Tolerance::Relative(1e-3);
    let mean = |op: &GatedLinearAttention<f64>| ess::tolerance(op, tol).unwrap().mean();
    let (mo, ms) = (mean(&open), mean(&shut));
    assert!(mo > 2.0 * ms, "open {mo} vs shut {ms}");
    let (eo, es) = (ess::entropy(&open).unwrap().mean(), ess::entropy(&shut).unwrap().mean());
    assert!(eo > es, "entropy open {eo} vs shut {es}");
}

#[test]
fn deltanet_and_gated_deltanet_match_and_reach_d() {
    let (h, len, d) = (2, 28, 4);
    let (q, mut k) = qk(5, h, len, d);
    normalize_rows(&mut k, d);
    let mut r = rng(6);
    let beta = uniform_vec(&mut r, h * len, 0.1, 0.9);
    let op = DeltaNet::new(&q, &k, &beta, Dims { channels: h, len, width: d }).unwrap();
    assert_eq!(op.family(), "DeltaNet");
    check_family(&op, 70);
    assert_reaches(&op, d);
    // T[t,s] for t = s+1: q_tᵀ (I - β_t k_t k_tᵀ) β_s k_s, written out.
    let (t, s) = (8, 7);
    let kt = &k[t * d..(t + 1) * d];
    let ks = &k[s * d..(s + 1) * d];
    let qt = &q[t * d..(t + 1) * d];
    let kk: f64 = kt.iter().zip(ks).map(|(a, b)| a * b).sum();
    let x: Vec<f64> = (0..d).map(|j| beta[s] * (ks[j] - beta[t] * kt[j] * kk)).collect();
    let expect: f64 = qt.iter().zip(&x).map(|(a, b)| a * b).sum();
    assert!((op.dense(0).unwrap()[(t, s)] - expect).abs() < 1e-14);
    let alpha = uniform_vec(&mut r, h * len, 0.8, 1.0);
    let gated = DeltaNet::gated(&q, &k, &beta, &alpha, Dims { channels: h, len, width: d }).unwrap();
    assert_eq!(gated.family(), "gated DeltaNet");
    check_family(&gated, 80);
}

#[test]
fn bad_linear_attention_inputs_are_rejected() {
    let (q, k) = qk(7, 1, 8, 3);
    assert!(matches!(
        GatedLinearAttention::new(&q, &k, &[1.2; 24], Dims { channels: 1, len: 8, width: 3 }),
        Err(EssError::InvalidParameter { .. })
    ));
    let err = GatedLinearAttention::new(&q, &k, &[0.5; 23], Dims { channels: 1, len: 8, width: 3 }).unwrap_err();
    assert!(err.to_string().contains("received 23 values"), "{err}");
    assert!(DecayedLinearAttention::new(&q, &k, &[-0.1], Dims { channels: 1, len: 8, width: 3 }).is_err());
    assert!(DecayedLinearAttention::new(&q, &k, &[0.5, 0.5], Dims { channels: 1, len: 8, width: 3 }).is_err());
    assert!(DeltaNet::new(&q, &k, &[2.5; 8], Dims { channels: 1, len: 8, width: 3 }).is_err());
    assert!(DeltaNet::gated(&q, &k, &[0.5; 8], &[f64::NAN; 8], Dims { channels: 1, len: 8, width: 3 }).is_err());
    // Identity features can make the normaliser vanish or go negative.
    let neg_q: Vec<f64> = q.iter().map(|x| -x.abs()).collect();
    let pos_k: Vec<f64> = k.iter().map(|x| x.abs()).collect();
    let err =
        LinearAttention::new(&neg_q, &pos_k, Dims { channels: 1, len: 8, width: 3 }).unwrap().normalized().unwrap_err();
    assert!(err.to_string().contains("EluPlusOne"), "{err}");
    // A normaliser of exactly zero (a division by zero) is refused too, here at
    // head 1, step 2 only: q_t ⟂ Σ k_r there.
    let dims = Dims { channels: 2, len: 4, width: 2 };
    let q0 = [1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 2.0];
    let q1 = [1.0, 0.5, 2.0, 1.0, 1.0, 0.0, 1.0, 3.0];
    let k1 = [1.0, 1.0, 0.5, -0.5, -1.5, 0.0, 1.0, 1.0];
    let (zq, zk): (Vec<f64>, Vec<f64>) =
        (q0.iter().chain(&q1).copied().collect(), q0.iter().chain(&k1).copied().collect());
    let err = LinearAttention::new(&zq, &zk, dims).unwrap().normalized().unwrap_err();
    assert!(err.to_string().contains("= 0 at (head 1, step 2)"), "{err}");
    let ragged = FeatureMap::Custom(Arc::new(|x: &[f64]| if x[0] > 0.0 { vec![1.0] } else { vec![1.0, 2.0] }));
    assert!(LinearAttention::new(&q, &k, Dims { channels: 1, len: 8, width: 3 })
        .unwrap()
        .with_feature_map(ragged)
        .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn linear_family_ess_never_exceeds_feature_dimension(seed in 0u64..10_000, d in 1usize..5) {
        let len = 20;
        let (q, mut k) = qk(seed, 1, len, d);
        let mut r = rng(seed);
        let tol = Tolerance::Relative(1e-10);
        let within = |p: Vec<Vec<f64>>| p[0].iter().all(|&v| v <= d as f64);
        let dims = Dims { channels: 1, len, width: d };
        prop_assert!(within(tol_profile(&LinearAttention::new(&q, &k, dims).unwrap(), tol, Method::Dense)));
        prop_assert!(within(tol_profile(&DecayedLinearAttention::new(&q, &k, &[0.9], dims).unwrap(), tol, Method::Dense)));
        let alpha = uniform_vec(&mut r, len * d, 0.0, 1.0);
        prop_assert!(within(tol_profile(&GatedLinearAttention::new(&q, &k, &alpha, dims).unwrap(), tol, Method::Dense)));
        normalize_rows(&mut k, d);
        let beta = uniform_vec(&mut r, len, 0.0, 1.0);
        prop_assert!(within(tol_profile(&DeltaNet::new(&q, &k, &beta, dims).unwrap(), tol, Method::Dense)));
        let gates = uniform_vec(&mut r, len, 0.0, 1.0);
        prop_assert!(within(tol_profile(&DeltaNet::gated(&q, &k, &beta, &gates, dims).unwrap(), tol, Method::Dense)));
        let normalized = LinearAttention::new(&q, &k, dims).unwrap().with_feature_map(FeatureMap::EluPlusOne).unwrap().normalized().unwrap();
        prop_assert!(within(tol_profile(&normalized, tol, Method::Dense)));
    }
}
