//! Softmax attention: full, sliding-window, biased.

use crate::common;

use common::*;
use effective_state_size::ess::{Method, Tolerance};
use effective_state_size::{
    AttentionBias, Dims, EssError, LinearAttention, LinearOperator, OperatorExt, SoftmaxAttention,
};
use proptest::prelude::*;

#[test]
fn dense_rows_are_a_softmax_of_scaled_logits() {
    let (len, d) = (12, 4);
    let (q, k) = qk(1, 2, len, d);
    let op = SoftmaxAttention::new(&q, &k, Dims { channels: 2, len, width: d }).unwrap();
    let t = op.dense(1).unwrap();
    let (tt, h) = (7, 1);
    let logit = |s: usize| {
        (0..d).map(|j| q[(h * len + tt) * d + j] * k[(h * len + s) * d + j]).sum::<f64>() / (d as f64).sqrt()
    };
    let z: f64 = (0..=tt).map(|s| logit(s).exp()).sum();
    for s in 0..len {
        let expect = if s <= tt { logit(s).exp() / z } else { 0.0 };
        assert!((t[(tt, s)] - expect).abs() < 1e-14);
    }
    for row in 0..len {
        assert!((t.row(row).sum() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn streaming_apply_matches_dense_for_every_variant() {
    let (len, d) = (20, 8);
    let (q, k) = qk(2, 3, len, d);
    let base = SoftmaxAttention::new(&q, &k, Dims { channels: 3, len, width: d }).unwrap();
    assert_apply_matches_dense(&base, 1);
    assert_apply_matches_dense(&base.clone().with_window(5).unwrap(), 2);
    assert_apply_matches_dense(&base.clone().with_scale(3.0).unwrap(), 3);
    assert_apply_matches_dense(&base.clone().with_bias(AttentionBias::Alibi(vec![0.5, 0.25, 0.125])).unwrap(), 4);
    let mut r = rng(5);
    let m = normal_vec(&mut r, 3 * len * len);
    assert_apply_matches_dense(&base.clone().with_bias(AttentionBias::Matrix(m)).unwrap().with_window(7).unwrap(), 5);
}

#[test]
fn alibi_bias_enters_the_logits() {
    let (len, d) = (6, 2);
    let (q, k) = qk(3, 1, len, d);
    let plain = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: d }).unwrap().dense(0).unwrap();
    let alibi = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: d })
        .unwrap()
        .with_bias(AttentionBias::Alibi(vec![0.7]))
        .unwrap()
        .dense(0)
        .unwrap();
    // Ratios within a row change by exp(-slope·Δdistance).
    let (t, s1, s2) = (5, 1, 4);
    let ratio = (alibi[(t, s1)] / alibi[(t, s2)]) / (plain[(t, s1)] / plain[(t, s2)]);
    assert!((ratio - (-0.7f64 * 3.0).exp()).abs() < 1e-12);
}

/// A bias matrix entry of `10¹⁰` against queries and keys of `10⁻¹⁵⁰` (so that
/// `q·k` alone would set the logits' power-of-two scale near `2⁻⁹⁹⁶`): the scale
/// must come from the largest bias of each head's causal part, wherever it
/// sits. The row holding it is one-hot, every other row uniform (`q·k` is
/// negligible), and nothing overflows.
#[test]
fn a_large_bias_anywhere_sets_the_logits_scale() {
    let (len, d, heads) = (4, 2, 2);
    let q: Vec<f64> = (0..heads * len * d).map(|j| 1e-150 * (1.0 + 0.1 * j as f64)).collect();
    let k: Vec<f64> = (0..heads * len * d).map(|j| 1e-150 * (2.0 - 0.1 * j as f64)).collect();
    let mut bias = vec![0.0; heads * len * len];
    let big = [(0, 3, 2), (1, 2, 1)];
    for &(h, t, s) in &big {
        bias[(h * len + t) * len + s] = 1e10;
    }
    let op = SoftmaxAttention::new(&q, &k, Dims { channels: heads, len, width: d })
        .unwrap()
        .with_bias(AttentionBias::Matrix(bias))
        .unwrap();
    for h in 0..heads {
        let t_h = op.dense(h).unwrap();
        for t in 0..len {
            for s in 0..=t {
                let want = match big.iter().find(|&&(bh, bt, _)| bh == h && bt == t) {
                    Some(&(_, _, bs)) => f64::from(u8::from(s == bs)),
                    None => 1.0 / (t + 1) as f64,
                };
                assert!((t_h[(t, s)] - want).abs() <= 1e-12, "head {h}, T[{t}, {s}] = {} (want {want})", t_h[(t, s)]);
            }
        }
    }
}

#[test]
fn full_softmax_attention_reaches_min_i_l_minus_i() {
    for (seed, len, d) in [(11u64, 64usize, 8usize), (12, 128, 16)] {
        let (q, k) = qk(seed, 1, len, d);
        let op = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: d }).unwrap();
        assert_eq!(op.theoretical_state_size(), None);
        let p = tol_profile(&op, Tolerance::NumericalRank, Method::Auto);
        for i in 1..len {
            assert_eq!(p[0][i - 1], i.min(len - i) as f64, "L={len} d={d} i={i}");
        }
    }
}

#[test]
fn sliding_window_reaches_min_w_minus_1_i_l_minus_i() {
    let (len, d) = (60, 8);
    let (q, k) = qk(13, 2, len, d);
    for w in [1usize, 2, 5, 9] {
        let op = SoftmaxAttention::new(&q, &k, Dims { channels: 2, len, width: d }).unwrap().with_window(w).unwrap();
        assert_eq!(op.theoretical_state_size(), Some(w - 1));
        let p = tol_profile(&op, Tolerance::NumericalRank, Method::Auto);
        for row in &p {
            for i in 1..len {
                assert_eq!(row[i - 1], (w - 1).min(i).min(len - i) as f64, "w={w} i={i}");
            }
        }
    }
}

#[test]
fn softmax_keeps_more_ess_than_low_dimensional_linear_attention_at_long_l() {
    let (len, d) = (128, 16);
    let (q, k) = qk(14, 1, len, d);
    let soft = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: d }).unwrap();
    let n = 2;
    let (ql, kl) = qk(15, 1, len, n);
    let lin = LinearAttention::new(&ql, &kl, Dims { channels: 1, len, width: n }).unwrap();
    let tol = Tolerance::Relative(1e-3);
    let mean = |p: Vec<Vec<f64>>| p[0].iter().sum::<f64>() / p[0].len() as f64;
    let (ms, ml) = (mean(tol_profile(&soft, tol, Method::Dense)), mean(tol_profile(&lin, tol, Method::Dense)));
    assert!(ms > 4.0 * ml, "softmax {ms} vs linear {ml}");
    assert!(ml <= n as f64);
}

#[test]
fn bad_attention_inputs_are_rejected() {
    let (q, k) = qk(16, 2, 8, 4);
    let err = SoftmaxAttention::new(&q, &k[..60], Dims { channels: 2, len: 8, width: 4 }).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("K") && msg.contains("heads=2, L=8, d=4") && msg.contains("received 60 values"), "{msg}");
    let mut bad = q.clone();
    bad[37] = f64::NAN;
    let err = SoftmaxAttention::new(&bad, &k, Dims { channels: 2, len: 8, width: 4 }).unwrap_err();
    assert!(matches!(err, EssError::NonFinite { ref position, .. } if position == "(1, 1, 1)"), "{err}");
    let op = SoftmaxAttention::new(&q, &k, Dims { channels: 2, len: 8, width: 4 }).unwrap();
    assert!(matches!(op.clone().with_window(0), Err(EssError::InvalidParameter { .. })));
    assert!(op.clone().with_scale(f64::INFINITY).is_err());
    assert!(op.clone().with_bias(AttentionBias::Alibi(vec![1.0])).is_err());
    assert!(op.clone().with_bias(AttentionBias::Matrix(vec![0.0; 10])).is_err());
    assert!(matches!(
        SoftmaxAttention::<f64>::new(&[], &[], Dims { channels: 0, len: 8, width: 4 }),
        Err(EssError::Empty { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn windowed_ess_never_exceeds_w_minus_1(seed in 0u64..10_000, w in 1usize..8, scale in 0.1f64..3.0) {
        let (len, d) = (24, 4);
        let (q, k) = qk(seed, 1, len, d);
        let op = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: d }).unwrap().with_window(w).unwrap().with_scale(scale).unwrap();
        prop_assert!(tol_profile(&op, Tolerance::Relative(1e-10), Method::Dense)[0].iter().all(|&v| v <= (w - 1) as f64));
    }
}
