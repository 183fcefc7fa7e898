//! Times the structured (Gramian square-root) path on one deterministic system and
//! prints the seconds of each repetition: the per-index cost quoted in the docs,
//! the callgrind target, and the Rust side of `benches/numpy_gramian_peer.py`.
//!
//! ```sh
//! cargo run --release --example structured_timing -- KIND [N] [L] [REPS] [CHANNELS]
//! ```
//!
//! `KIND` is `mamba` (a Mamba S6 layer: diagonal `A_t` stored as diagonals),
//! `tv-diagonal` (a time-varying state space whose `A_t` are diagonal but passed
//! as dense `N × N` matrices), or `tv-dense` (the same with truly dense `A_t`).
//! Defaults: `N = 16`, `L = 8192`, 3 repetitions, 1 channel. The system is built
//! from closed-form expressions (no random numbers), the same ones as the NumPy
//! peer script. Every index is evaluated, entropy-ESS and tolerance-ESS
//! (`Relative(1e-3)`); each line gives the wall time and the CPU time of all
//! threads (the steadier figure on a loaded machine), µs per index for both, and
//! the mean of both profiles.

use effective_state_size::ess::{self, EssOptions, Measure, Method, Tolerance};
use effective_state_size::{BlockShape, Dims, LinearOperator, MambaChannels, TimeVaryingStateSpace};
use std::time::Instant;

/// Step size `Δ_t ∈ [0.001, 0.1]` of channel `ch` at step `t`.
fn delta(ch: usize, t: usize) -> f64 {
    0.001 + 0.099 * (0.5 + 0.5 * (0.7 * t as f64 + 1.1 * ch as f64).sin())
}
/// Continuous decay rate `λ_j ∈ [0.05, 4]` of state `j`.
fn lambda(j: usize, n: usize) -> f64 {
    0.05 + 3.95 * j as f64 / (n.max(2) - 1) as f64
}
fn b_entry(t: usize, j: usize) -> f64 {
    (0.3 * t as f64 + 0.7 * j as f64).sin()
}
fn c_entry(t: usize, j: usize) -> f64 {
    (0.11 * t as f64 + 1.3 * j as f64).cos()
}

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn run<O: LinearOperator<Scalar = f64>>(op: &O, kind: &str, n: usize, len: usize, reps: usize) {
    let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    let opts = EssOptions::default().with_method(Method::Structured);
    for _ in 0..reps {
        let (start, cpu0) = (Instant::now(), cpu_seconds());
        let ps = ess::profiles(op, &measures, &opts).expect("profile");
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map_or(f64::NAN, |(b, a)| b - a);
        let indices = op.channels() * (len - 1);
        println!(
            "kind={kind} N={n} L={len} channels={} seconds={secs:.6} us_per_index={:.3} cpu_seconds={cpu:.6} \
             cpu_us_per_index={:.3} mean_entropy={:.6} mean_tol={:.6}",
            op.channels(),
            secs * 1e6 / indices as f64,
            cpu * 1e6 / indices as f64,
            ps[0].mean(),
            ps[1].mean()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map_or("mamba", String::as_str).to_string();
    let num = |k: usize, d: usize| args.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (n, len, reps, channels) = (num(1, 16), num(2, 8192), num(3, 3), num(4, 1));
    let dims = Dims { channels, len, width: n };
    match kind.as_str() {
        "mamba" => {
            let a: Vec<f64> = (0..channels * n).map(|k| -lambda(k % n, n)).collect();
            let d: Vec<f64> = (0..channels * len).map(|k| delta(k / len, k % len)).collect();
            let b: Vec<f64> = (0..len * n).map(|k| b_entry(k / n, k % n)).collect();
            let c: Vec<f64> = (0..len * n).map(|k| c_entry(k / n, k % n)).collect();
            run(&MambaChannels::new(&a, &d, &b, &c, dims).expect("valid"), &kind, n, len, reps);
        }
        "tv-diagonal" | "tv-dense" => {
            // (channels, L, N, N): diag(exp(-Δ_t λ)) (plus, for tv-dense, a small
            // coupling 0.01·sin(t + j - k) off the diagonal); B_t = Δ_t b_t, C_t = c_t.
            let dense = kind == "tv-dense";
            let mut a = vec![0.0; channels * len * n * n];
            let (mut b, mut c) = (vec![0.0; channels * len * n], vec![0.0; channels * len * n]);
            for ch in 0..channels {
                for t in 0..len {
                    let dt = delta(ch, t);
                    let at = &mut a[(ch * len + t) * n * n..(ch * len + t + 1) * n * n];
                    for j in 0..n {
                        for k in 0..n {
                            at[j * n + k] = if j == k {
                                (-dt * lambda(j, n)).exp()
                            } else if dense {
                                0.01 * ((t + j) as f64 - k as f64).sin()
                            } else {
                                0.0
                            };
                        }
                        b[(ch * len + t) * n + j] = dt * b_entry(t, j);
                        c[(ch * len + t) * n + j] = c_entry(t, j);
                    }
                }
            }
            let op = TimeVaryingStateSpace::new(&a, &b, &c, dims, BlockShape::SISO).expect("valid");
            run(&op, &kind, n, len, reps);
        }
        other => {
            eprintln!("unknown kind {other:?}: use mamba, tv-diagonal or tv-dense");
            std::process::exit(2);
        }
    }
}
