//! Test oracles and generators shared by the integration tests. Every oracle here
//! is computed independently of the crate's ESS code: a direct nalgebra SVD of the
//! sliced block and a direct entropy formula.
#![allow(dead_code)]

use nalgebra::DMatrix;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn normal_vec(rng: &mut StdRng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.sample::<f64, _>(StandardNormal)).collect()
}

pub fn uniform_vec(rng: &mut StdRng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// A random block lower-triangular `(p·L) × (m·L)` matrix.
pub fn random_causal(rng: &mut StdRng, len: usize, p: usize, m: usize) -> DMatrix<f64> {
    DMatrix::from_fn(p * len, m * len, |r, c| if c / m <= r / p { rng.sample(StandardNormal) } else { 0.0 })
}

/// Singular values of `T[i·p.., ..i·m]`, descending, by a direct SVD.
pub fn oracle_sv(t: &DMatrix<f64>, i: usize, p: usize, m: usize) -> Vec<f64> {
    let block = t.view((i * p, 0), (t.nrows() - i * p, i * m)).into_owned();
    let mut s: Vec<f64> = nalgebra::SVD::new(block, false, false).singular_values.iter().copied().collect();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    s
}

/// exp(entropy) of the normalised singular values, written out directly.
pub fn oracle_entropy(s: &[f64]) -> f64 {
    let sum: f64 = s.iter().sum();
    if sum == 0.0 {
        return 0.0;
    }
    let mut h = 0.0;
    for &x in s {
        if x > 0.0 {
            let p = x / sum;
            h -= p * p.ln();
        }
    }
    h.exp()
}

/// `#{σ > thr}`.
pub fn oracle_count(s: &[f64], thr: f64) -> usize {
    s.iter().filter(|&&x| x > thr).count()
}

/// Relative closeness.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}
