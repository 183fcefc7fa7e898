//! Times the certified low-rank method alone on the softmax head of
//! `benches/lowrank_long.rs` (queries and keys of dimension 4, seed 1) and prints
//! wall and CPU seconds of each repetition: the profiling target for the
//! low-rank path (the bench itself also runs the dense path, which dominates a
//! profile).
//!
//! ```sh
//! cargo run --release --example lowrank_timing -- [L] [REPS]
//! ```

use effective_state_size::ess::{self, EssOptions, Measure, Method, Tolerance};
use effective_state_size::{Dims, SoftmaxAttention};
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let len = args.first().copied().unwrap_or(2048);
    let reps = args.get(1).copied().unwrap_or(1);
    let d = 4;
    let mut r = rand::rngs::StdRng::seed_from_u64(1);
    let q: Vec<f64> = (0..len * d).map(|_| r.random_range(-1.0..1.0)).collect();
    let k: Vec<f64> = (0..len * d).map(|_| r.random_range(-1.0..1.0)).collect();
    let op = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: d }).expect("valid head");
    let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    let opts = EssOptions::default().with_method(Method::LowRank);
    for _ in 0..reps {
        let (start, cpu0) = (Instant::now(), cpu_seconds());
        let ps = ess::profiles(&op, &measures, &opts).expect("profile");
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map_or(f64::NAN, |(b, a)| b - a);
        println!(
            "L={len} seconds={secs:.3} cpu_seconds={cpu:.3} entropy_mean={:.4} tolerance_mean={:.4}",
            ps[0].mean(),
            ps[1].mean()
        );
    }
}
