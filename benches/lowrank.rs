//! The certified low-rank method against the dense path on the same operator, in
//! one run: a long convolution of 16 exponential modes (kernel path) and a
//! softmax head whose blocks have small numerical rank (queries and keys of
//! dimension 4), full profiles of entropy- and tolerance-ESS.
//!
//! `cargo bench --bench lowrank`. The long single runs (`L = 2,048` attention,
//! `L = 16,384` convolution) are in `benches/lowrank_long.rs`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use effective_state_size::ess::{self, EssOptions, Measure, Method, Tolerance};
use effective_state_size::{Dims, LongConvolution, SoftmaxAttention};
use rand::{Rng, SeedableRng};
use std::hint::black_box;

/// Sum of `modes` damped cosines (so `2·modes` exponential modes), seeded.
pub fn modal_kernel(len: usize, modes: usize, seed: u64) -> Vec<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let p: Vec<(f64, f64, f64, f64)> = (0..modes)
        .map(|_| {
            let decay = 1.0 - 10f64.powf(r.random_range(-4.0..-1.0));
            (r.random_range(-1.0..1.0), decay, r.random_range(0.0..3.0), r.random_range(0.0..6.0))
        })
        .collect();
    (0..len)
        .map(|t| p.iter().map(|&(a, rho, w, ph)| a * rho.powi(t as i32) * (w * t as f64 + ph).cos()).sum())
        .collect()
}

/// One softmax head with queries and keys of dimension `d` drawn from [-1, 1).
pub fn low_rank_head(len: usize, d: usize, seed: u64) -> SoftmaxAttention<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let q: Vec<f64> = (0..len * d).map(|_| r.random_range(-1.0..1.0)).collect();
    let k: Vec<f64> = (0..len * d).map(|_| r.random_range(-1.0..1.0)).collect();
    SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: d }).expect("valid head")
}

const MEASURES: [Measure; 2] = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];

fn lowrank_vs_dense(c: &mut Criterion) {
    let dense = EssOptions::default().with_method(Method::Dense);
    let low = EssOptions::default().with_method(Method::LowRank);
    let mut group = c.benchmark_group("lowrank_conv");
    group.sample_size(10);
    for len in [256usize, 512] {
        let op = LongConvolution::new(&[modal_kernel(len, 8, 3)]).unwrap();
        group.bench_with_input(BenchmarkId::new("lowrank", len), &op, |b, op| {
            b.iter(|| ess::profiles(black_box(op), &MEASURES, &low).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("dense", len), &op, |b, op| {
            b.iter(|| ess::profiles(black_box(op), &MEASURES, &dense).unwrap())
        });
    }
    group.finish();
    let mut group = c.benchmark_group("lowrank_attention");
    group.sample_size(10);
    for len in [256usize, 512] {
        let op = low_rank_head(len, 4, 1);
        group.bench_with_input(BenchmarkId::new("lowrank", len), &op, |b, op| {
            b.iter(|| ess::profiles(black_box(op), &MEASURES, &low).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("dense", len), &op, |b, op| {
            b.iter(|| ess::profiles(black_box(op), &MEASURES, &dense).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, lowrank_vs_dense);
criterion_main!(benches);
