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

use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::{LinearOperator, OperatorExt};

/// `op.apply(c, u)` equals `dense(c) · u` for every channel (random `u`).
pub fn assert_apply_matches_dense<O: LinearOperator<Scalar = f64>>(op: &O, seed: u64) {
    let mut r = rng(seed);
    let b = op.block_shape();
    for c in 0..op.channels() {
        let u = normal_vec(&mut r, b.inputs * op.seq_len());
        let y = op.apply(c, &u).unwrap();
        let t = op.dense(c).unwrap();
        let expect = &t * nalgebra::DVector::from_vec(u.clone());
        let scale = expect.amax().max(1.0);
        for (k, (a, e)) in y.iter().zip(expect.iter()).enumerate() {
            assert!((a - e).abs() <= 1e-10 * scale, "{} channel {c} output {k}: apply {a} vs dense·u {e}", op.family());
        }
        effective_state_size::DenseOperator::new(vec![t], b).expect("the family's dense matrix is causal");
    }
}

/// The realization (if any) reproduces the operator: same dense matrix, same output.
pub fn assert_realization_matches<O: LinearOperator<Scalar = f64>>(op: &O, seed: u64) {
    let mut r = rng(seed);
    for c in 0..op.channels() {
        let real = op.realization(c).unwrap().expect("family offers a realization");
        assert_eq!(Some(real.state_size()), op.realization_info().order());
        let t = op.dense(c).unwrap();
        let tr = real.dense();
        let scale = t.amax().max(1.0);
        assert!(
            (&t - &tr).amax() <= 1e-10 * scale,
            "{}: realization differs from dense by {}",
            op.family(),
            (&t - &tr).amax()
        );
        let u = normal_vec(&mut r, op.block_shape().inputs * op.seq_len());
        let (a, b) = (real.apply(&u).unwrap(), op.apply(c, &u).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-10 * scale.max(y.abs()));
        }
    }
}

/// Structured and dense profiles agree (f64) at `indices`: entropy-ESS within
/// 1e-8 relative, and tolerance-ESS at `Relative(tol)` equal away from ties.
pub fn assert_structured_matches_dense_at<O: LinearOperator<Scalar = f64>>(op: &O, indices: Indices, tol: f64) {
    let ms = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(tol))];
    let opts = |path| EssOptions::default().with_indices(indices.clone()).with_method(path);
    let dense = ess::profiles(op, &ms, &opts(Method::Dense)).unwrap();
    let fast = ess::profiles(op, &ms, &opts(Method::Structured)).unwrap();
    assert_eq!(fast[0].computed_by(), ess::ComputedBy::Structured);
    approx::assert_relative_eq!(dense[0], fast[0], max_relative = 1e-8);
    let b = op.block_shape();
    for c in 0..op.channels() {
        let t = op.dense(c).unwrap();
        for (j, &i) in dense[1].indices().iter().enumerate() {
            let s = oracle_sv(&t, i, b.outputs, b.inputs);
            let near_tie = s.iter().any(|&x| s[0] > 0.0 && (x / s[0] / tol - 1.0).abs() < 1e-3);
            if !near_tie {
                assert_eq!(dense[1].channel(c)[j], fast[1].channel(c)[j], "{} channel {c} i={i}", op.family());
            }
        }
    }
}

/// [`assert_structured_matches_dense_at`] at every index, `Relative(1e-6)`.
pub fn assert_structured_matches_dense<O: LinearOperator<Scalar = f64>>(op: &O) {
    assert_structured_matches_dense_at(op, Indices::All, 1e-6);
}

/// Queries and keys `(heads, L, d)`, standard normal.
pub fn qk(seed: u64, heads: usize, len: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut r = rng(seed);
    (normal_vec(&mut r, heads * len * d), normal_vec(&mut r, heads * len * d))
}

/// A random dense `n × n` matrix scaled to spectral radius `rho`.
pub fn random_stable(r: &mut StdRng, n: usize, rho: f64) -> DMatrix<f64> {
    let a = DMatrix::from_vec(n, n, normal_vec(r, n * n));
    let radius = a.clone().complex_eigenvalues().iter().map(|z| z.norm()).fold(0.0, f64::max);
    a * (rho / radius)
}

/// Tolerance-ESS profile of channel `c` under `tol`.
pub fn tol_profile<O: LinearOperator>(op: &O, tol: Tolerance, path: Method) -> Vec<Vec<f64>> {
    let p = ess::profile(op, Measure::Tolerance(tol), &EssOptions::default().with_method(path)).unwrap();
    p.values().to_vec()
}

/// The rows of a row-major `(rows, width)` buffer (per-channel kernels or gates).
/// A zero width gives one empty row (so that constructors see and reject it).
pub fn rows<T>(data: &[T], width: usize) -> Vec<&[T]> {
    if width == 0 {
        return vec![&data[..0]];
    }
    data.chunks(width).collect()
}
