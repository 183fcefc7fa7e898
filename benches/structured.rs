//! Structured (Gramian square-root) path against the dense path, on one Mamba
//! (S6) channel with N = 16, at L = 256, 512, 1024: full entropy- and
//! tolerance-ESS profiles, every index.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use effective_state_size::ess::{self, EssOptions, Measure, Method, Tolerance};
use effective_state_size::{Dims, MambaChannels};
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

criterion_group!(benches, structured_vs_dense);
criterion_main!(benches);
