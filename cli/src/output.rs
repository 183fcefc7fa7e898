//! Table, CSV and JSON renderings of a report, one column (or key) per measure.

use crate::analysis::{describe_tolerance, MeasureReport, Report};
use std::fmt::Write;

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("reports serialise") + "\n"
}

/// `channel,index,<name>_ess…`, one row per channel and index.
pub fn csv(r: &Report) -> String {
    let mut s = String::from("channel,index");
    for m in &r.measures {
        let _ = write!(s, ",{}", m.key());
    }
    s.push('\n');
    for c in 0..r.channels {
        for (j, i) in r.indices.iter().enumerate() {
            let _ = write!(s, "{c},{i}");
            for m in &r.measures {
                let v = m.values[c][j];
                let _ = if m.is_count() { write!(s, ",{}", v as u64) } else { write!(s, ",{v}") };
            }
            s.push('\n');
        }
    }
    s
}

/// Width of the two columns (mean and max) of a measure: at least 12, and two more
/// than its longer header.
fn width(m: &MeasureReport) -> usize {
    let (mean, max) = headers(m);
    (mean.chars().count().max(max.chars().count()) + 2).max(12)
}

/// The column headers of a measure: `tol mean`, `tol max`.
fn headers(m: &MeasureReport) -> (String, String) {
    let l = m.label();
    (format!("{l} mean"), format!("{l} max"))
}

/// A count (tolerance-ESS) or a real value (entropy-ESS), as the table shows it.
fn cell(m: &MeasureReport, v: f64, is_max: bool, w: usize) -> String {
    match (m.is_count(), is_max) {
        (true, true) => format!(" {v:>w$.0}"),
        (true, false) => format!(" {v:>w$.2}"),
        (false, _) => format!(" {v:>w$.3}"),
    }
}

pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let tolerances: Vec<String> = r
        .measures
        .iter()
        .filter_map(|m| m.tolerance())
        .map(|t| format!("tolerance {}", describe_tolerance(t)))
        .collect();
    let tolerances = if tolerances.is_empty() { String::new() } else { format!(", {}", tolerances.join(", ")) };
    let _ = writeln!(
        s,
        "{}: L = {}, block {}×{}, {} channel(s), {}, {} indices{tolerances}, {} path",
        r.file,
        r.seq_len,
        r.block.outputs,
        r.block.inputs,
        r.channels,
        r.dtype,
        r.indices.len(),
        r.method.name()
    );
    let _ = write!(s, "{:>8}", "channel");
    for m in &r.measures {
        let (mean, max) = headers(m);
        let _ = write!(s, " {mean:>w$} {max:>w$}", w = width(m));
    }
    s.push('\n');
    let row = |s: &mut String, name: &str, pick: &dyn Fn(&MeasureReport) -> (f64, f64)| {
        let _ = write!(s, "{name:>8}");
        for m in &r.measures {
            let (mean, max) = pick(m);
            s.push_str(&cell(m, mean, false, width(m)));
            s.push_str(&cell(m, max, true, width(m)));
        }
        s.push('\n');
    };
    for c in 0..r.channels {
        row(&mut s, &c.to_string(), &|m| (m.summary.channel_mean[c], m.summary.channel_max[c]));
    }
    row(&mut s, "all", &|m| (m.summary.mean, m.summary.max));
    let join = |f: &dyn Fn(&MeasureReport) -> Option<String>| {
        r.measures.iter().filter_map(|m| f(m).map(|v| format!("{} {v}", m.name))).collect::<Vec<_>>().join(", ")
    };
    let precision = |m: &MeasureReport| if m.is_count() { 2 } else { 3 };
    let _ = writeln!(
        s,
        "total ESS (sum over channels, mean over indices): {}",
        join(&|m| Some(format!("{:.p$}", m.summary.total_mean, p = precision(m))))
    );
    if let Some(tss) = r.tss {
        let utilization = join(&|m| m.summary.utilization.map(|u| format!("{u:.3}")));
        if !utilization.is_empty() {
            let _ = writeln!(s, "utilization against TSS {tss}: {utilization}");
        }
    }
    s
}
