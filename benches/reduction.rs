//! Distillation timings, sized for a 2-core machine: balanced truncation of a
//! GLA head (structured path, `O(L·N³)`), and the Hankel-block realization of a
//! long convolution and of a softmax attention head (dense path, `O(L⁴)`), and
//! the convolution-kernel path of a long convolution (`L = 1024, 4096`). The
//! error tables are printed by `examples/distillation.rs`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use effective_state_size::reduction::{reduce, ReduceOptions};
use effective_state_size::{Dims, GatedLinearAttention, LongConvolution, SoftmaxAttention};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

fn normal(r: &mut rand::rngs::StdRng, n: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|_| r.sample::<f64, _>(rand_distr::StandardNormal) * scale).collect()
}

fn gla(n: usize, len: usize) -> GatedLinearAttention<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(7);
    let q = normal(&mut r, len * n, 1.0 / (n as f64).sqrt());
    let k = normal(&mut r, len * n, 1.0 / (n as f64).sqrt());
    let alpha: Vec<f64> = (0..len * n).map(|_| r.random_range(0.9..1.0)).collect();
    GatedLinearAttention::new(&q, &k, &alpha, Dims { channels: 1, len, width: n }).expect("valid")
}

fn reduction(c: &mut Criterion) {
    let mut group = c.benchmark_group("reduce");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(3));
    for (n, len) in [(32usize, 512usize), (64, 512), (64, 1024)] {
        let op = gla(n, len);
        group.bench_with_input(BenchmarkId::new(format!("gla_n{n}_to_16"), len), &op, |b, op| {
            b.iter(|| reduce(black_box(op), &ReduceOptions::order(16)).unwrap())
        });
    }
    for len in [128usize, 256] {
        let h: Vec<f64> = (0..len).map(|t| (-(t as f64) / 60.0).exp() * (0.05 * t as f64).cos()).collect();
        let op = LongConvolution::new(&[h]).unwrap();
        group.bench_with_input(BenchmarkId::new("long_conv_to_8", len), &op, |b, op| {
            b.iter(|| reduce(black_box(op), &ReduceOptions::order(8)).unwrap())
        });
        let mut r = rand::rngs::StdRng::seed_from_u64(3);
        let q = normal(&mut r, len * 16, 1.0);
        let k = normal(&mut r, len * 16, 1.0);
        let attn = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: 16 }).unwrap();
        group.bench_with_input(BenchmarkId::new("attention_to_8", len), &attn, |b, op| {
            b.iter(|| reduce(black_box(op), &ReduceOptions::order(8)).unwrap())
        });
    }
    // The convolution-kernel path (time-invariant model of the kernel, O(L²·r)).
    for len in [1024usize, 4096] {
        let h: Vec<f64> = (0..len).map(|t| (-(t as f64) / 300.0).exp() * (0.05 * t as f64).cos()).collect();
        let op = LongConvolution::new(&[h]).unwrap();
        group.bench_with_input(BenchmarkId::new("long_conv_kernel_to_16", len), &op, |b, op| {
            b.iter(|| reduce(black_box(op), &ReduceOptions::order(16)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, reduction);
criterion_main!(benches);
