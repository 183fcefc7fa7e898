//! Long-sequence run: 64 Mamba (S6) channels, N = 16, L = 65,536, the full
//! entropy- and tolerance-ESS profile on the structured path. Prints the wall time
//! and the process's peak resident memory (VmHWM). One run, not a criterion
//! benchmark: a single run takes tens of seconds.
//!
//! `cargo bench --bench long_sequence` (override the size with
//! `ESS_LONG_CHANNELS` and `ESS_LONG_LEN`).

use effective_state_size::ess::{self, EssOptions, Measure, Tolerance};
use effective_state_size::{Dims, MambaChannels};
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` compatibility
    }
    let (channels, len, n) = (env("ESS_LONG_CHANNELS", 64), env("ESS_LONG_LEN", 65_536), 16);
    let mut r = rand::rngs::StdRng::seed_from_u64(5);
    let mut v = |k: usize, lo: f64, hi: f64| (0..k).map(|_| r.random_range(lo..hi)).collect::<Vec<f64>>();
    let a = v(channels * n, -4.0, -0.05);
    let delta = v(channels * len, 0.001, 0.1);
    let (b, c) = (v(len * n, -1.0, 1.0), v(len * n, -1.0, 1.0));
    let op = MambaChannels::new(&a, &delta, &b, &c, Dims { channels, len, width: n }).expect("valid parameters");
    let before = peak_rss_mib();
    let start = Instant::now();
    let ps =
        ess::profiles(&op, &[Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))], &EssOptions::default())
            .expect("profile");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "long_sequence: channels={channels} N={n} L={len} path={} time={secs:.1}s ({:.2} µs per channel-index) \
         peak RSS {:.0} MiB (inputs alone {:.0} MiB); mean entropy-ESS {:.3}, mean tol-ESS {:.3}",
        ps[0].computed_by().name(),
        secs * 1e6 / (channels * (len - 1)) as f64,
        peak_rss_mib().unwrap_or(f64::NAN),
        before.unwrap_or(f64::NAN),
        ps[0].mean(),
        ps[1].mean(),
    );
}
