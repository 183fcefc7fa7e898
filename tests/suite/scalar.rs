//! f32 and f64 agree within f32 precision on every family and both paths.

use crate::common;

use common::*;
use effective_state_size::ess::{self, EssOptions, Measure, Method, Tolerance};
use effective_state_size::{
    Dims, FirConvolution, GatedLinearAttention, LinearOperator, LtiStateSpace, SoftmaxAttention,
};

fn to32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Entropy-ESS within 1e-3 relative; tolerance-ESS at a relative 1e-3 threshold
/// (far above f32 noise) within one count at near-ties.
fn agree<A: LinearOperator<Scalar = f32>, B: LinearOperator<Scalar = f64>>(a: &A, b: &B, path: Method) {
    let opts = EssOptions::default().with_method(path);
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
        &SoftmaxAttention::new(&to32(&q), &to32(&k), Dims { channels: 2, len, width: d }).unwrap(),
        &SoftmaxAttention::new(&q, &k, Dims { channels: 2, len, width: d }).unwrap(),
        Method::Dense,
    );
    let alpha: Vec<f64> = uniform_vec(&mut r, 2 * len * d, 0.5, 1.0).iter().map(|&x| x as f32 as f64).collect();
    let g32 =
        GatedLinearAttention::new(&to32(&q), &to32(&k), &to32(&alpha), Dims { channels: 2, len, width: d }).unwrap();
    let g64 = GatedLinearAttention::new(&q, &k, &alpha, Dims { channels: 2, len, width: d }).unwrap();
    agree(&g32, &g64, Method::Dense);
    agree(&g32, &g64, Method::Structured);
    let h = [1.0, -0.5, 0.25, 0.125];
    agree(
        &FirConvolution::new(&rows(&to32(&h), 4), len).unwrap(),
        &FirConvolution::new(&rows(&h, 4), len).unwrap(),
        Method::Structured,
    );
    let (a, b, c) = ([0.9, 0.5, -0.7], [1.0, 0.5, 0.25], [1.0, -1.0, 0.5]);
    let s32 = LtiStateSpace::diagonal(&to32(&a), &to32(&b), &to32(&c), Dims { channels: 1, len, width: 3 }).unwrap();
    let s64 = LtiStateSpace::diagonal(&a, &b, &c, Dims { channels: 1, len, width: 3 }).unwrap();
    agree(&s32, &s64, Method::Structured);
    agree(&s32, &s64, Method::Dense);
}
