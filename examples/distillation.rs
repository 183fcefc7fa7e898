//! The tables of `docs/distillation.md`: reduce a GLA teacher, a long
//! (Hyena-like) convolution and softmax attention heads, and print order,
//! certified bound, classical-form bound, measured error, Eckart–Young lower
//! bound and time as Markdown rows.
//!
//! ```text
//! cargo run --release --example distillation -- gla N L ORDERS…
//! cargo run --release --example distillation -- conv L ORDERS…         # convolution-kernel path
//! cargo run --release --example distillation -- conv-blocks L ORDERS…  # Hankel-block path
//! cargo run --release --example distillation -- attention L HEADS [Q_SCALE_PERCENT]
//! ```

use effective_state_size::ess::{self, Method, Tolerance};
use effective_state_size::prelude::*;
use effective_state_size::reduction::{reduce, Algorithm, ReduceOptions};
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn normal(r: &mut rand::rngs::StdRng, n: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|_| r.sample::<f64, _>(rand_distr::StandardNormal) * scale).collect()
}

fn row<O: LinearOperator<Scalar = f64> + ?Sized>(op: &O, opts: ReduceOptions, label: &str) {
    let start = Instant::now();
    let red = reduce(op, &opts).expect("reduction");
    let secs = start.elapsed().as_secs_f64();
    for ch in red.channels() {
        let e = ch.error.map_or("n/a".into(), |e| format!("{e:.3e}"));
        let classical =
            if ch.classical_bound.is_nan() { "—".to_string() } else { format!("{:.3e}", ch.classical_bound) };
        println!(
            "| {label} | {} | {:.3e} | {classical} | {e} | {:.3e} | {secs:.2} |",
            ch.order, ch.error_bound, ch.lower_bound
        );
        eprintln!("{label}: algorithm {}", red.algorithm().name());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |k: usize| args.get(k).and_then(|s| s.parse::<usize>().ok());
    let mut r = rand::rngs::StdRng::seed_from_u64(7);
    println!("| operator | order | certified bound | classical form | measured ‖T − T_r‖₂ | Eckart–Young | seconds |");
    println!("|---|---|---|---|---|---|---|");
    match args.first().map(String::as_str) {
        Some("gla") => {
            let (n, len) = (num(1).unwrap_or(64), num(2).unwrap_or(512));
            // A teacher with gates in [0.9, 1) (long memory) and unit-variance q, k.
            let q = normal(&mut r, len * n, 1.0 / (n as f64).sqrt());
            let k = normal(&mut r, len * n, 1.0 / (n as f64).sqrt());
            let alpha: Vec<f64> = (0..len * n).map(|_| r.random_range(0.9..1.0)).collect();
            let op = GatedLinearAttention::new(&q, &k, &alpha, Dims { channels: 1, len, width: n }).unwrap();
            for order in args.iter().skip(3).filter_map(|s| s.parse::<usize>().ok()) {
                row(&op, ReduceOptions::order(order).with_measured_error(true), &format!("GLA N={n} L={len}"));
            }
        }
        Some(which @ ("conv" | "conv-blocks")) => {
            let len = num(1).unwrap_or(1024);
            // Hyena-like: a sum of decaying, oscillating modes plus a fast-decaying random part.
            let h: Vec<f64> = (0..len)
                .map(|t| {
                    let x = t as f64;
                    (-x / 300.0).exp() * (0.05 * x).cos()
                        + 0.5 * (-x / 60.0).exp() * (0.31 * x).sin()
                        + 0.2 * (-x / 8.0).exp() * r.random_range(-1.0..1.0)
                })
                .collect();
            let op = LongConvolution::new(&[h]).unwrap();
            let blocks = which == "conv-blocks";
            if !blocks {
                // The kernel path: the reduction alone, then with the measured error.
                println!();
                println!("| operator | order | certified bound ‖h − h_r‖₁ | measured ‖T − T_r‖₂ | Eckart–Young (middle cut) | seconds (reduce) | seconds (measure) |");
                println!("|---|---|---|---|---|---|---|");
                for order in args.iter().skip(2).filter_map(|s| s.parse::<usize>().ok()) {
                    let start = Instant::now();
                    let red = reduce(&op, &ReduceOptions::order(order)).expect("reduction");
                    let reduce_secs = start.elapsed().as_secs_f64();
                    assert_eq!(red.algorithm(), Algorithm::ConvolutionKernel);
                    let start = Instant::now();
                    let red = reduce(&op, &ReduceOptions::order(order).with_measured_error(true)).expect("reduction");
                    let measure_secs = (start.elapsed().as_secs_f64() - reduce_secs).max(0.0);
                    let ch = &red.channels()[0];
                    let e = ch.error.map_or("n/a".into(), |e| format!("{e:.3e}"));
                    println!(
                        "| long conv L={len} | {} | {:.3e} | {e} | {:.3e} | {reduce_secs:.2} | {measure_secs:.2} |",
                        ch.order, ch.error_bound, ch.lower_bound
                    );
                }
                return;
            }
            for order in args.iter().skip(2).filter_map(|s| s.parse::<usize>().ok()) {
                let opts = ReduceOptions::order(order).with_measured_error(true);
                let (opts, path) = if blocks {
                    (opts.with_algorithm(Algorithm::HankelBlocks), "Hankel blocks")
                } else {
                    (opts, "kernel")
                };
                row(&op, opts, &format!("long conv L={len} ({path})"));
            }
        }
        Some("attention") => {
            let (len, heads, d) = (num(1).unwrap_or(512), num(2).unwrap_or(2), 64);
            // Query scale in percent (100: q, k ~ N(0, 1); smaller: smoother heads).
            let scale = num(3).unwrap_or(100) as f64 / 100.0;
            let q = normal(&mut r, heads * len * d, scale);
            let k = normal(&mut r, heads * len * d, 1.0);
            let op = SoftmaxAttention::new(&q, &k, Dims { channels: heads, len, width: d }).unwrap();
            let tol = Tolerance::Relative(1e-3);
            let start = Instant::now();
            let p =
                ess::profile(&op, Measure::Tolerance(tol), &EssOptions::default().with_method(Method::Dense)).unwrap();
            eprintln!(
                "ESS (relative 1e-3) per head: {:?} in {:.1} s",
                p.channel_maxes(),
                start.elapsed().as_secs_f64()
            );
            row(
                &op,
                ReduceOptions::tolerance(tol).with_measured_error(true),
                &format!("attention L={len} d={d} q×{scale}"),
            );
        }
        _ => eprintln!(
            "usage: distillation (gla N L ORDERS… | conv L ORDERS… | conv-blocks L ORDERS… | attention L HEADS)"
        ),
    }
}
