//! Dense-path ESS profile of one random causal channel at L = 128, 256, 512,
//! against a reference: the loop a researcher writes by hand (slice every block
//! `T[i:, :i]`, call nalgebra's SVD, values only) in the same process.
//!
//! `ess` is the crate with its default backend (nested triangular factors,
//! nalgebra's SVD of each factor) on every rayon thread; `ess_1_thread` and
//! `ess_bidiagonal_1_thread` (with [`BidiagonalSvd`]) run in a one-thread pool,
//! like the reference loop: their ratio to `reference_loop` is the per-core
//! speed-up to quote.
//! The peer comparison with NumPy/LAPACK is `benches/numpy_dense_peer.py`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use effective_state_size::ess::{self, EssOptions, Measure, Tolerance};
use effective_state_size::spectrum::BidiagonalSvd;
use effective_state_size::DenseOperator;
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::sync::Arc;

fn random_causal(len: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    DMatrix::from_fn(len, len, |r, c| if c <= r { rng.random_range(-1.0..1.0) } else { 0.0 })
}

/// The hand-written reference: entropy-ESS of every block, one SVD each.
fn reference_profile(t: &DMatrix<f64>) -> Vec<f64> {
    let len = t.nrows();
    (1..len)
        .map(|i| {
            let block = t.view((i, 0), (len - i, i)).into_owned();
            let s = block.singular_values();
            let sum: f64 = s.iter().sum();
            (-s.iter().map(|x| x / sum).filter(|&p| p > 0.0).map(|p| p * p.ln()).sum::<f64>()).exp()
        })
        .collect()
}

fn dense_profile(c: &mut Criterion) {
    let mut group = c.benchmark_group("dense_profile");
    group.sample_size(10);
    for len in [128usize, 256, 512] {
        let t = random_causal(len, 7);
        let op = DenseOperator::single(t.clone()).unwrap();
        let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
        group.bench_with_input(BenchmarkId::new("ess", len), &op, |b, op| {
            b.iter(|| ess::profiles(black_box(op), &measures, &EssOptions::default()).unwrap())
        });
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        group.bench_with_input(BenchmarkId::new("ess_1_thread", len), &op, |b, op| {
            b.iter(|| one.install(|| ess::profiles(black_box(op), &measures, &EssOptions::default()).unwrap()))
        });
        let bidiagonal = EssOptions::default().with_backend(Arc::new(BidiagonalSvd::default()));
        group.bench_with_input(BenchmarkId::new("ess_bidiagonal_1_thread", len), &op, |b, op| {
            b.iter(|| one.install(|| ess::profiles(black_box(op), &measures, &bidiagonal).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("reference_loop", len), &t, |b, t| {
            b.iter(|| reference_profile(black_box(t)))
        });
    }
    group.finish();
}

criterion_group!(benches, dense_profile);
criterion_main!(benches);
