//! Independent entry formulas: every family's `T[t,s]` written out in the test from
//! its published definition (not through the crate's helpers), on every channel of
//! a multi-channel operator whose channels have distinct parameters. The crate's
//! `dense`, `apply` and `realization` are each compared with the formula, so a bug
//! shared by all three (a channel reading channel 0's parameters, a dropped head
//! offset) cannot pass.

use crate::common;

use common::*;
use effective_state_size::ess::Tolerance;
use effective_state_size::nalgebra::{DMatrix, DVector};
use effective_state_size::prelude::*;

/// Compares `dense(c)`, `apply(c, u)` and the realization (if any) of every channel
/// with the oracle `f(c, t, s)` (`t ≥ s`; zero above the diagonal).
fn check_against<O: LinearOperator<Scalar = f64>>(op: &O, f: impl Fn(usize, usize, usize) -> f64) {
    let len = op.seq_len();
    let mut r = rng(77);
    for c in 0..op.channels() {
        let oracle = DMatrix::from_fn(len, len, |t, s| if s <= t { f(c, t, s) } else { 0.0 });
        let scale = oracle.amax().max(1e-300);
        let t = op.dense(c).unwrap();
        assert!(
            (&t - &oracle).amax() <= 1e-12 * scale,
            "{} channel {c}: dense vs formula {}",
            op.family(),
            (&t - &oracle).amax()
        );
        let u = normal_vec(&mut r, len);
        let y = op.apply(c, &u).unwrap();
        let expect = &oracle * DVector::from_vec(u.clone());
        for (k, (a, e)) in y.iter().zip(expect.iter()).enumerate() {
            assert!((a - e).abs() <= 1e-11 * scale * len as f64, "{} channel {c} y[{k}]: {a} vs {e}", op.family());
        }
        if let Some(real) = op.realization(c).unwrap() {
            let tr = real.dense();
            assert!((&tr - &oracle).amax() <= 1e-12 * scale, "{} channel {c}: realization vs formula", op.family());
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const H: usize = 3;
const L: usize = 9;
const D: usize = 3;

/// Row `(h, t)` of a `(H, L, width)` buffer.
fn at(v: &[f64], width: usize, h: usize, t: usize) -> &[f64] {
    &v[(h * L + t) * width..(h * L + t + 1) * width]
}

#[test]
fn mamba_channels_follow_the_selective_scan() {
    let n = 3;
    let mut r = rng(1);
    let a: Vec<f64> = (0..H * n).map(|j| -0.1 - 0.37 * j as f64).collect(); // distinct per channel
    let delta = uniform_vec(&mut r, H * L, 0.05, 0.8);
    let (b, c) = (normal_vec(&mut r, L * n), normal_vec(&mut r, L * n));
    let op = MambaChannels::new(&a, &delta, &b, &c, Dims { channels: H, len: L, width: n }).unwrap();
    check_against(&op, |ch, t, s| {
        // Σ_n C_t[n] exp(A_ch[n] (Δ_{s+1} + … + Δ_t)) Δ_s B_s[n]
        let span: f64 = (s + 1..=t).map(|r| delta[ch * L + r]).sum();
        (0..n).map(|k| c[t * n + k] * (a[ch * n + k] * span).exp() * delta[ch * L + s] * b[s * n + k]).sum()
    });
}

#[test]
fn ssd_heads_follow_the_scalar_decay_formula() {
    let n = 2;
    let mut r = rng(2);
    let a = uniform_vec(&mut r, H * L, 0.3, 1.0);
    let (b, c) = (normal_vec(&mut r, H * L * n), normal_vec(&mut r, H * L * n));
    let op = Ssd::new(&a, &b, &c, Dims { channels: H, len: L, width: n }).unwrap();
    check_against(&op, |h, t, s| {
        let decay: f64 = (s + 1..=t).map(|r| a[h * L + r]).product();
        decay * dot(at(&c, n, h, t), at(&b, n, h, s))
    });
}

#[test]
fn gla_follows_the_gated_outer_product_formula() {
    let mut r = rng(3);
    let (q, k) = (normal_vec(&mut r, H * L * D), normal_vec(&mut r, H * L * D));
    let alpha = uniform_vec(&mut r, H * L * D, 0.2, 1.0);
    let op = GatedLinearAttention::new(&q, &k, &alpha, Dims { channels: H, len: L, width: D }).unwrap();
    check_against(&op, |h, t, s| {
        (0..D)
            .map(|j| {
                let gate: f64 = (s + 1..=t).map(|r| at(&alpha, D, h, r)[j]).product();
                at(&q, D, h, t)[j] * gate * at(&k, D, h, s)[j]
            })
            .sum()
    });
}

#[test]
fn retnet_follows_gamma_powers() {
    let mut r = rng(4);
    let (q, k) = (normal_vec(&mut r, H * L * D), normal_vec(&mut r, H * L * D));
    let gamma = [0.95, 0.6, 0.3];
    let op = DecayedLinearAttention::new(&q, &k, &gamma, Dims { channels: H, len: L, width: D }).unwrap();
    check_against(&op, |h, t, s| gamma[h].powi((t - s) as i32) * dot(at(&q, D, h, t), at(&k, D, h, s)));
}

/// `q_tᵀ A_t ⋯ A_{s+1} β_s k_s` with `A_r = α_r (I − β_r k_r k_rᵀ)`, as dense matrices.
fn deltanet_entry(q: &[f64], k: &[f64], beta: &[f64], alpha: Option<&[f64]>, h: usize, t: usize, s: usize) -> f64 {
    let col = |v: &[f64], r: usize| DVector::from_column_slice(at(v, D, h, r));
    let mut x = col(k, s) * beta[h * L + s];
    for r in s + 1..=t {
        let kr = col(k, r);
        let a =
            (DMatrix::identity(D, D) - &kr * kr.transpose() * beta[h * L + r]) * alpha.map_or(1.0, |g| g[h * L + r]);
        x = a * x;
    }
    col(q, t).dot(&x)
}

#[test]
fn deltanet_and_gated_deltanet_follow_the_delta_rule_products() {
    let mut r = rng(5);
    let q = normal_vec(&mut r, H * L * D);
    let mut k = normal_vec(&mut r, H * L * D);
    for row in k.chunks_mut(D) {
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    let beta = uniform_vec(&mut r, H * L, 0.1, 1.5);
    let alpha = uniform_vec(&mut r, H * L, 0.5, 1.0);
    let dims = Dims { channels: H, len: L, width: D };
    check_against(&DeltaNet::new(&q, &k, &beta, dims).unwrap(), |h, t, s| deltanet_entry(&q, &k, &beta, None, h, t, s));
    check_against(&DeltaNet::gated(&q, &k, &beta, &alpha, dims).unwrap(), |h, t, s| {
        deltanet_entry(&q, &k, &beta, Some(&alpha), h, t, s)
    });
}

#[test]
fn linear_attention_follows_each_feature_map_and_the_row_normaliser() {
    let mut r = rng(6);
    let (q, k) = (normal_vec(&mut r, H * L * D), normal_vec(&mut r, H * L * D));
    let dims = Dims { channels: H, len: L, width: D };
    let elu1 = |x: f64| if x > 0.0 { x + 1.0 } else { x.exp() };
    let relu = |x: f64| x.max(0.0);
    let id = |x: f64| x;
    type Phi<'a> = &'a dyn Fn(f64) -> f64;
    let maps: [(FeatureMap<f64>, Phi); 3] =
        [(FeatureMap::Identity, &id), (FeatureMap::EluPlusOne, &elu1), (FeatureMap::Relu, &relu)];
    for (map, phi) in maps {
        let op = LinearAttention::new(&q, &k, dims).unwrap().with_feature_map(map).unwrap();
        let feat = |v: &[f64]| v.iter().map(|&x| phi(x)).collect::<Vec<f64>>();
        check_against(&op, |h, t, s| dot(&feat(at(&q, D, h, t)), &feat(at(&k, D, h, s))));
    }
    // Normalised (positive map): divide row t by φ(q_t)·Σ_{r≤t} φ(k_r), per head.
    let op = LinearAttention::new(&q, &k, dims)
        .unwrap()
        .with_feature_map(FeatureMap::EluPlusOne)
        .unwrap()
        .normalized()
        .unwrap();
    let feat = |v: &[f64]| v.iter().map(|&x| elu1(x)).collect::<Vec<f64>>();
    check_against(&op, |h, t, s| {
        let z: f64 = (0..=t).map(|r| dot(&feat(at(&q, D, h, t)), &feat(at(&k, D, h, r)))).sum();
        dot(&feat(at(&q, D, h, t)), &feat(at(&k, D, h, s))) / z
    });
    // A custom map with n ≠ d: (x_0², x_1 x_2).
    let custom = FeatureMap::Custom(std::sync::Arc::new(|x: &[f64]| vec![x[0] * x[0], x[1] * x[2]]));
    let op = LinearAttention::new(&q, &k, dims).unwrap().with_feature_map(custom).unwrap();
    assert_eq!(op.theoretical_state_size(), Some(2));
    let f2 = |v: &[f64]| vec![v[0] * v[0], v[1] * v[2]];
    check_against(&op, |h, t, s| dot(&f2(at(&q, D, h, t)), &f2(at(&k, D, h, s))));
}

#[test]
fn softmax_attention_with_window_and_alibi_follows_the_softmax() {
    let mut r = rng(7);
    let (q, k) = (normal_vec(&mut r, H * L * D), normal_vec(&mut r, H * L * D));
    let dims = Dims { channels: H, len: L, width: D };
    let slopes = vec![0.5, 0.25, 0.125];
    let (w, scale) = (4usize, 0.7);
    let op = SoftmaxAttention::new(&q, &k, dims)
        .unwrap()
        .with_scale(scale)
        .unwrap()
        .with_window(w)
        .unwrap()
        .with_bias(AttentionBias::Alibi(slopes.clone()))
        .unwrap();
    let logit =
        |h: usize, t: usize, s: usize| scale * dot(at(&q, D, h, t), at(&k, D, h, s)) - slopes[h] * (t - s) as f64;
    check_against(&op, |h, t, s| {
        if t - s >= w {
            return 0.0;
        }
        let z: f64 = (t.saturating_sub(w - 1)..=t).map(|r| logit(h, t, r).exp()).sum();
        logit(h, t, s).exp() / z
    });
    // Unwindowed, default scale 1/√d, full bias matrix.
    let bias = normal_vec(&mut r, H * L * L);
    let op = SoftmaxAttention::new(&q, &k, dims).unwrap().with_bias(AttentionBias::Matrix(bias.clone())).unwrap();
    let logit = |h: usize, t: usize, s: usize| {
        dot(at(&q, D, h, t), at(&k, D, h, s)) / (D as f64).sqrt() + bias[(h * L + t) * L + s]
    };
    check_against(&op, |h, t, s| logit(h, t, s).exp() / (0..=t).map(|r| logit(h, t, r).exp()).sum::<f64>());
}

#[test]
fn convolutions_follow_their_kernels_and_gates() {
    let mut r = rng(8);
    let kernels: Vec<Vec<f64>> = (0..H).map(|_| normal_vec(&mut r, 4)).collect();
    check_against(
        &FirConvolution::new(&kernels, L).unwrap(),
        |c, t, s| if t - s < 4 { kernels[c][t - s] } else { 0.0 },
    );
    let long: Vec<Vec<f64>> = (0..H).map(|_| normal_vec(&mut r, L)).collect();
    check_against(&LongConvolution::new(&long).unwrap(), |c, t, s| long[c][t - s]);
    let z: Vec<Vec<f64>> = (0..H).map(|_| normal_vec(&mut r, L)).collect();
    let v: Vec<Vec<f64>> = (0..H).map(|_| normal_vec(&mut r, L)).collect();
    check_against(&GatedConvolution::new(&kernels, &z, &v).unwrap(), |c, t, s| {
        if t - s < 4 {
            z[c][t] * kernels[c][t - s] * v[c][s]
        } else {
            0.0
        }
    });
}

#[test]
fn state_spaces_follow_c_a_power_b() {
    let n = 3;
    let mut r = rng(9);
    let a = uniform_vec(&mut r, H * n, -0.9, 0.9);
    let (b, c) = (normal_vec(&mut r, H * n), normal_vec(&mut r, H * n));
    let op = LtiStateSpace::diagonal(&a, &b, &c, Dims { channels: H, len: L, width: n }).unwrap();
    // Post-update convention: T[t,s] = Σ_k c_k a_k^(t-s) b_k.
    check_against(&op, |h, t, s| (0..n).map(|j| c[h * n + j] * a[h * n + j].powi((t - s) as i32) * b[h * n + j]).sum());
    // Time-varying, dense A_t: C_t A_t ⋯ A_{s+1} B_s.
    let at_ = normal_vec(&mut r, H * L * n * n).iter().map(|x| 0.4 * x).collect::<Vec<f64>>();
    let (bt, ct) = (normal_vec(&mut r, H * L * n), normal_vec(&mut r, H * L * n));
    let op =
        TimeVaryingStateSpace::new(&at_, &bt, &ct, Dims { channels: H, len: L, width: n }, BlockShape::SISO).unwrap();
    check_against(&op, |h, t, s| {
        let mut x = DVector::from_column_slice(&bt[(h * L + s) * n..(h * L + s + 1) * n]);
        for r in s + 1..=t {
            x = DMatrix::from_row_slice(n, n, &at_[(h * L + r) * n * n..(h * L + r + 1) * n * n]) * x;
        }
        DVector::from_column_slice(&ct[(h * L + t) * n..(h * L + t + 1) * n]).dot(&x)
    });
}

#[test]
fn numerical_rank_uses_the_larger_block_dimension() {
    // σ₂ = 5e-15·σ₁ lies between σ₁·min(rows, cols)·ε (4.4e-16) and σ₁·max(rows, cols)·ε
    // (2.2e-14) on a 2 × 100 block: LAPACK's convention (max) does not count it.
    let s = [1.0, 5e-15];
    assert_eq!(Tolerance::NumericalRank.count(&s, (2, 100)).unwrap(), 1);
    assert_eq!(Tolerance::NumericalRank.count(&s, (100, 2)).unwrap(), 1);
    assert_eq!(Tolerance::NumericalRank.count(&s, (2, 2)).unwrap(), 2);
}
