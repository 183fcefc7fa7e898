//! Structured (Gramian square-root) path against the dense path, on one Mamba
//! (S6) channel with N = 16, at L = 256, 512, 1024: full entropy- and
//! tolerance-ESS profiles, every index. Then the structured path alone at
//! L = 4096 (divide by 4095 for the cost per index): a Mamba channel (diagonal
//! `A_t` stored as diagonals), a time-varying state space whose diagonal `A_t`
//! are stored as dense matrices (detected, Givens route), and one with truly
//! dense `A_t` (Householder route). Last, the linear-attention family's
//! realizations (one head, `d = 16`, `L = 4096`): building one alone, and the
//! full structured profile, for gated linear attention (diagonal `A_t` per
//! step), DeltaNet (dense `A_t = I − β_t k_t k_tᵀ`) and RetNet (one constant
//! diagonal).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use effective_state_size::ess::{self, EssOptions, Measure, Method, Tolerance};
use effective_state_size::{
    BlockShape, DecayedLinearAttention, DeltaNet, Dims, GatedLinearAttention, LinearOperator, MambaChannels,
    OperatorExt, TimeVaryingStateSpace,
};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

pub fn mamba(channels: usize, len: usize, n: usize, seed: u64) -> MambaChannels<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = |k: usize, lo: f64, hi: f64| (0..k).map(|_| r.random_range(lo..hi)).collect::<Vec<f64>>();
    let a = v(channels * n, -4.0, -0.05);
    let delta = v(channels * len, 0.001, 0.1);
    let (b, c) = (v(len * n, -1.0, 1.0), v(len * n, -1.0, 1.0));
    MambaChannels::new(&a, &delta, &b, &c, Dims { channels, len, width: n }).expect("valid parameters")
}

fn structured_vs_dense(c: &mut Criterion) {
    let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    let mut group = c.benchmark_group("structured_vs_dense_n16");
    group.sample_size(10).warm_up_time(Duration::from_millis(500));
    for len in [256usize, 512, 1024] {
        let op = mamba(1, len, 16, 3);
        for (name, path) in [("structured", Method::Structured), ("dense", Method::Dense)] {
            let opts = EssOptions::default().with_method(path);
            group.bench_with_input(BenchmarkId::new(name, len), &op, |b, op| {
                b.iter(|| ess::profiles(black_box(op), &measures, &opts).unwrap())
            });
        }
    }
    group.finish();
}

/// A time-varying SISO state space with `N × N` transitions `diag(a_t)` plus, when
/// `coupling > 0`, off-diagonal entries of that size.
fn time_varying(len: usize, n: usize, coupling: f64, seed: u64) -> TimeVaryingStateSpace<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let mut a = vec![0.0; len * n * n];
    for t in 0..len {
        for j in 0..n {
            for k in 0..n {
                a[(t * n + j) * n + k] =
                    if j == k { r.random_range(0.6..0.999) } else { coupling * r.random_range(-1.0..1.0) };
            }
        }
    }
    let mut v = |k: usize| (0..k).map(|_| r.random_range(-1.0..1.0)).collect::<Vec<f64>>();
    let (b, c) = (v(len * n), v(len * n));
    TimeVaryingStateSpace::new(&a, &b, &c, Dims { channels: 1, len, width: n }, BlockShape::SISO).expect("valid")
}

fn structured_per_index(c: &mut Criterion) {
    let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    let opts = EssOptions::default().with_method(Method::Structured);
    let len = 4096;
    let mut group = c.benchmark_group("structured_n16_l4096");
    group.sample_size(10).warm_up_time(Duration::from_millis(500));
    let mamba_op = mamba(1, len, 16, 3);
    group.bench_function("mamba_diagonal", |b| {
        b.iter(|| ess::profiles(black_box(&mamba_op), &measures, &opts).unwrap())
    });
    for (name, coupling) in [("dense_stored_diagonal", 0.0), ("truly_dense", 0.01)] {
        let op = time_varying(len, 16, coupling, 4);
        group.bench_function(name, |b| b.iter(|| ess::profiles(black_box(&op), &measures, &opts).unwrap()));
    }
    group.finish();
}

/// One head of each linear-attention kind with a realization of its own
/// transitions: random queries and keys (`d = 16`), gates in `[0.6, 1)`,
/// DeltaNet's `β_t` in `[0.1, 0.5)` (unnormalised keys, `E‖k‖² ≈ 5.3`: the
/// factor `1 − β_t‖k_t‖²` is below −1 on about a third of the steps, which the
/// structured path takes as it comes), RetNet's `γ = 0.95`.
fn linear_attention_heads(
    len: usize,
    d: usize,
    seed: u64,
) -> Vec<(&'static str, Box<dyn LinearOperator<Scalar = f64>>)> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = |k: usize, lo: f64, hi: f64| (0..k).map(|_| r.random_range(lo..hi)).collect::<Vec<f64>>();
    let (q, k) = (v(len * d, -1.0, 1.0), v(len * d, -1.0, 1.0));
    let (gates, beta) = (v(len * d, 0.6, 1.0), v(len, 0.1, 0.5));
    let dims = Dims { channels: 1, len, width: d };
    vec![
        ("gla", Box::new(GatedLinearAttention::new(&q, &k, &gates, dims).expect("valid"))),
        ("deltanet", Box::new(DeltaNet::new(&q, &k, &beta, dims).expect("valid"))),
        ("retnet", Box::new(DecayedLinearAttention::new(&q, &k, &[0.95], dims).expect("valid"))),
    ]
}

fn linear_attention(c: &mut Criterion) {
    let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    let opts = EssOptions::default().with_method(Method::Structured);
    let mut group = c.benchmark_group("linear_attention_d16_l4096");
    group.sample_size(10).warm_up_time(Duration::from_millis(500));
    for (name, op) in linear_attention_heads(4096, 16, 5) {
        group.bench_function(format!("{name}_realization"), |b| {
            b.iter(|| black_box(op.as_ref()).realization(0).unwrap())
        });
        group.bench_function(format!("{name}_profile"), |b| {
            b.iter(|| ess::profiles(black_box(op.as_ref()), &measures, &opts).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, structured_vs_dense, structured_per_index, linear_attention);
criterion_main!(benches);
