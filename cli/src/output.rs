//! Table, CSV and JSON renderings of a report.

use crate::analysis::Report;
use std::fmt::Write;

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("reports serialise") + "\n"
}

pub fn csv(r: &Report) -> String {
    let mut s = String::from("channel,index,tolerance_ess,entropy_ess\n");
    for ch in &r.channels {
        for ((i, t), e) in ch.index.iter().zip(&ch.tolerance_ess).zip(&ch.entropy_ess) {
            let _ = writeln!(s, "{},{i},{t},{e}", ch.channel);
        }
    }
    s
}

pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let tol = match r.tolerance.value {
        Some(v) => format!("{} {v:e}", r.tolerance.mode),
        None => r.tolerance.mode.to_string(),
    };
    let _ = writeln!(
        s,
        "{}: L = {}, block {}×{}, {} channel(s), {}, {} indices, tolerance {tol}, {} path",
        r.file, r.seq_len, r.block[0], r.block[1], r.summary.channels, r.dtype, r.summary.evaluated_indices, r.path
    );
    let _ = writeln!(
        s,
        "{:>8} {:>12} {:>12} {:>14} {:>14}",
        "channel", "tol mean", "tol max", "entropy mean", "entropy max"
    );
    let (t, e) = (&r.summary.tolerance_ess, &r.summary.entropy_ess);
    for c in 0..r.summary.channels {
        let _ = writeln!(
            s,
            "{c:>8} {:>12.2} {:>12.0} {:>14.3} {:>14.3}",
            t.channel_mean[c], t.channel_max[c], e.channel_mean[c], e.channel_max[c]
        );
    }
    let _ = writeln!(s, "{:>8} {:>12.2} {:>12.0} {:>14.3} {:>14.3}", "all", t.mean, t.max, e.mean, e.max);
    let _ = writeln!(
        s,
        "total ESS (sum over channels, mean over indices): tolerance {:.2}, entropy {:.3}",
        t.total_mean, e.total_mean
    );
    if let (Some(tss), Some(ut), Some(ue)) = (r.tss, t.utilization, e.utilization) {
        let _ = writeln!(s, "utilization against TSS {tss}: tolerance {ut:.3}, entropy {ue:.3}");
    }
    s
}
