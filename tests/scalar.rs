//! f32 and f64 agree within f32 precision on every family and both paths.

mod common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Measure, Path, Tolerance};
use effective_state_size::{FirConvolution, GatedLinearAttention, LinearOperator, LtiStateSpace, SoftmaxAttention};

fn to32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Entropy-ESS within 1e-3 relative; tolerance-ESS at a relative 1e-3 threshold
/// (far above f32 noise) within one count at near-ties.
fn agree<A: LinearOperator<Scalar = f32>, B: LinearOperator<Scalar = f64>>(a: &A, b: &B, path: Path) {
    let opts = EssOptions { path, ..Default::default() };
    let ms = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    let pa = ess::profiles(a, &ms, &opts).unwrap();
    let pb = ess::profiles(b, &ms, &opts).unwrap();
    for c in 0..a.channels() {
        for (x, y) in pa[0].channel(c).iter().zip(pb[0].channel(c)) {
            assert!((x - y).abs() <= 1e-3 * y.max(1.0), "{} {path:?}: entropy f32 {x} vs f64 {y}", a.family());
        }
        for (x, y) in pa[1].channel(c).iter().zip(pb[1].channel(c)) {
            assert!((x - y).abs() <= 1.0, "{}: tolerance f32 {x} vs f64 {y}", a.family());
        }
    }
}

#[test]
fn families_agree_across_precisions() {
    let mut r = rng(1);
    let (len, d) = (48, 6);
    let (q, k) = (normal_vec(&mut r, 2 * len * d), normal_vec(&mut r, 2 * len * d));
    let q: Vec<f64> = to32(&q).iter().map(|&x| x as f64).collect();
    let k: Vec<f64> = to32(&k).iter().map(|&x| x as f64).collect();
    agree(
        &SoftmaxAttention::new(&to32(&q), &to32(&k), 2, len, d).unwrap(),
        &SoftmaxAttention::new(&q, &k, 2, len, d).unwrap(),
        Path::Dense,
    );
    let alpha: Vec<f64> = uniform_vec(&mut r, 2 * len * d, 0.5, 1.0).iter().map(|&x| x as f32 as f64).collect();
    let g32 = GatedLinearAttention::new(&to32(&q), &to32(&k), &to32(&alpha), 2, len, d).unwrap();
    let g64 = GatedLinearAttention::new(&q, &k, &alpha, 2, len, d).unwrap();
    agree(&g32, &g64, Path::Dense);
    agree(&g32, &g64, Path::Structured);
    let h = [1.0, -0.5, 0.25, 0.125];
    agree(
        &FirConvolution::new(&to32(&h), 1, 4, len).unwrap(),
        &FirConvolution::new(&h, 1, 4, len).unwrap(),
        Path::Structured,
    );
    let (a, b, c) = ([0.9, 0.5, -0.7], [1.0, 0.5, 0.25], [1.0, -1.0, 0.5]);
    let s32 = LtiStateSpace::diagonal(&to32(&a), &to32(&b), &to32(&c), 1, 3, len).unwrap();
    let s64 = LtiStateSpace::diagonal(&a, &b, &c, 1, 3, len).unwrap();
    agree(&s32, &s64, Path::Structured);
    agree(&s32, &s64, Path::Dense);
}
