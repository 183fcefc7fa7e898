use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::{AttentionBias, Dims, SoftmaxAttention};
use rand::{Rng, SeedableRng};
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let len: usize = args[1].parse().unwrap();
    let d: usize = args[2].parse().unwrap();
    let scale: f64 = args[3].parse().unwrap();
    let slope: f64 = args[4].parse().unwrap();
    let methods: &str = &args[5];
    let mut r = rand::rngs::StdRng::seed_from_u64(1);
    let q: Vec<f64> = (0..len * d).map(|_| r.random_range(-1.0..1.0) * scale).collect();
    let k: Vec<f64> = (0..len * d).map(|_| r.random_range(-1.0..1.0) * scale).collect();
    let mut op = SoftmaxAttention::new(&q, &k, Dims { channels: 1, len, width: d }).unwrap();
    if slope > 0.0 {
        op = op.with_bias(AttentionBias::Alibi(vec![slope])).unwrap();
    }
    let ms = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    for m in methods.split(',') {
        let method = match m {
            "dense" => Method::Dense,
            _ => Method::LowRank,
        };
        let t = Instant::now();
        let p = ess::profiles(
            &op,
            &ms,
            &EssOptions::default()
                .with_method(method)
                .with_indices(Indices::Stride(args.get(6).map(|s| s.parse().unwrap()).unwrap_or(1))),
        )
        .unwrap();
        let el = t.elapsed().as_secs_f64();
        let amb = p[1].ambiguous(0, 0.0).unwrap().iter().filter(|&&a| a).count();
        let ew = p[0].bounds().map(|b| b[0].iter().map(|x| (x[1] - x[0]) / x[0]).fold(0.0, f64::max)).unwrap_or(0.0);
        println!("{m}: {el:.3}s entropy mean {:.2} max {:.2} tol mean {:.2} max {:.1} ambiguous {amb}/{} max entropy width {ew:.2e}", p[0].mean(), p[0].max(), p[1].mean(), p[1].max(), p[1].indices().len());
    }
}
