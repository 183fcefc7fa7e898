//! Long single runs of the certified low-rank method, each against what it
//! replaces, printing ratios and the certificate's quality:
//!
//! * a softmax head with small-rank blocks (queries and keys of dimension 4),
//!   `L = 2,048` (`ESS_ATTN_LEN`), every index: low-rank vs dense, the share of
//!   unflagged tolerance values, whether they equal the dense counts, and the
//!   widest entropy interval;
//! * a long convolution of 16 exponential modes, `L = 16,384` (`ESS_CONV_LEN`),
//!   every index, low-rank only (the dense path would take days), plus the same
//!   kernel at `L = 1,024` against the dense path.
//!
//! `cargo bench --bench lowrank_long` (`-- attention` or `-- conv` for one part).

#[path = "lowrank.rs"]
#[allow(dead_code)]
mod shared;

use effective_state_size::ess::{self, EssOptions, Method, Profile};
use effective_state_size::{LinearOperator, LongConvolution};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn run<O: LinearOperator + ?Sized>(op: &O, method: Method) -> (f64, Vec<Profile>) {
    let start = Instant::now();
    let p = ess::profiles(op, &shared_measures(), &EssOptions::default().with_method(method)).expect("profile");
    (start.elapsed().as_secs_f64(), p)
}

fn shared_measures() -> [ess::Measure; 2] {
    [ess::Measure::Entropy, ess::Measure::Tolerance(ess::Tolerance::Relative(1e-3))]
}

/// (share unflagged, unflagged equal to `exact`, widest relative entropy interval).
fn quality(low: &[Profile], exact: Option<&[Profile]>) -> (f64, Option<bool>, f64) {
    let flags = low[1].ambiguous(0, 0.0).unwrap();
    let unflagged = flags.iter().filter(|&&a| !a).count() as f64 / flags.len() as f64;
    let equal = exact.map(|e| flags.iter().enumerate().all(|(j, &a)| a || low[1].channel(0)[j] == e[1].channel(0)[j]));
    let width = low[0].bounds().unwrap()[0].iter().map(|[lo, hi]| (hi - lo) / lo).fold(0.0, f64::max);
    (unflagged, equal, width)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let want = |part: &str| args.is_empty() || args.iter().any(|a| a == part);
    if want("attention") {
        let len = env("ESS_ATTN_LEN", 2048);
        let op = shared::low_rank_head(len, 4, 1);
        let (t_low, low) = run(&op, Method::LowRank);
        let (t_dense, dense) = run(&op, Method::Dense);
        let (unflagged, equal, width) = quality(&low, Some(&dense));
        println!(
            "attention L={len}: lowrank {t_low:.2} s, dense {t_dense:.2} s, ratio {:.1}x; unflagged {:.1} %, unflagged equal to dense: {}; widest entropy interval {width:.2e}; entropy-ESS mean {:.2}, tolerance-ESS mean {:.2}",
            t_dense / t_low,
            100.0 * unflagged,
            equal.unwrap(),
            low[0].mean(),
            low[1].mean()
        );
    }
    if want("conv") {
        let small = 1024;
        let op = LongConvolution::new(&[shared::modal_kernel(small, 8, 3)]).unwrap();
        let (t_low, low) = run(&op, Method::LowRank);
        let (t_dense, dense) = run(&op, Method::Dense);
        let (unflagged, equal, width) = quality(&low, Some(&dense));
        println!(
            "convolution L={small}: lowrank {t_low:.3} s, dense {t_dense:.2} s, ratio {:.0}x; unflagged {:.1} %, equal to dense: {}; widest entropy interval {width:.2e}",
            t_dense / t_low,
            100.0 * unflagged,
            equal.unwrap()
        );
        let len = env("ESS_CONV_LEN", 16_384);
        let op = LongConvolution::new(&[shared::modal_kernel(len, 8, 3)]).unwrap();
        let (t_low, low) = run(&op, Method::LowRank);
        let (unflagged, _, width) = quality(&low, None);
        println!(
            "convolution L={len}: lowrank {t_low:.2} s for {} indices; unflagged {:.1} %; widest entropy interval {width:.2e}; entropy-ESS max {:.2}, tolerance-ESS max {}",
            low[0].indices().len(),
            100.0 * unflagged,
            low[0].max(),
            low[1].max()
        );
    }
}
