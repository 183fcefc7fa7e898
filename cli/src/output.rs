//! Table, CSV and JSON renderings of a report, one column (or key) per measure,
//! and of a report of several tensors (one row per tensor).

use crate::analysis::{describe_tolerance, MeasureReport, MultiReport, Report};
use std::fmt::Write;

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("reports serialise") + "\n"
}

pub fn multi_json(r: &MultiReport) -> String {
    serde_json::to_string_pretty(r).expect("reports serialise") + "\n"
}

/// `channel,index,<name>_ess…` (and `<name>_ess_std…` for a batch), one row per
/// channel and index; with `--method lowrank` each measure also gets its
/// guaranteed interval, `<name>_ess_lower,<name>_ess_upper`, and tolerance-ESS a
/// `<name>_ambiguous` flag (`true` where the interval has width > 0). Markers and
/// sweeps are in the table and the JSON only.
pub fn csv(r: &Report) -> String {
    let mut s = String::from("channel,index");
    csv_header(&mut s, r);
    csv_rows(&mut s, r, "");
    s
}

/// [`csv`] of every tensor, with a leading `tensor` column.
pub fn multi_csv(m: &MultiReport) -> String {
    let mut s = String::from("tensor,channel,index");
    csv_header(&mut s, &m.reports[0]);
    for r in &m.reports {
        csv_rows(&mut s, r, &format!("{},", r.tensor.as_deref().unwrap_or("")));
    }
    s
}

fn csv_header(s: &mut String, r: &Report) {
    for m in &r.measures {
        let _ = write!(s, ",{}", m.key());
        if m.std.is_some() {
            let _ = write!(s, ",{}_std", m.key());
        }
        if m.bounds.is_some() {
            let _ = write!(s, ",{0}_lower,{0}_upper", m.key());
            if m.is_count() {
                let _ = write!(s, ",{}_ambiguous", m.name);
            }
        }
    }
    s.push('\n');
}

fn csv_rows(s: &mut String, r: &Report, prefix: &str) {
    for c in 0..r.channels {
        for (j, i) in r.indices.iter().enumerate() {
            let _ = write!(s, "{prefix}{c},{i}");
            for m in &r.measures {
                let v = m.values[c][j];
                let _ = if m.is_count() { write!(s, ",{}", v as u64) } else { write!(s, ",{v}") };
                if let Some(std) = &m.std {
                    let _ = write!(s, ",{}", std[c][j]);
                }
                if let Some(b) = &m.bounds {
                    let [lo, hi] = b[c][j];
                    let _ = if m.is_count() {
                        write!(s, ",{},{},{}", lo as u64, hi as u64, lo != hi)
                    } else {
                        write!(s, ",{lo},{hi}")
                    };
                }
            }
            s.push('\n');
        }
    }
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
    let batch = r.batch.map_or(String::new(), |b| format!(", batch of {b} (mean over inputs)"));
    let _ = writeln!(
        s,
        "{}: L = {}, block {}×{}, {} channel(s), {}, {} indices{tolerances}, {} path{batch}",
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
    let _ = writeln!(
        s,
        "normalised ESS (ESS_i / min(p(L-i), m·i)), mean: {}",
        join(&|m| Some(format!("{:.3}", m.summary.normalized_mean)))
    );
    certified_line(&mut s, r);
    markers_table(&mut s, r);
    sweep_table(&mut s, r);
    s
}

/// With `--method lowrank`: per measure, how many counts are ambiguous (their
/// interval has width > 0) and the widest interval relative to its value.
fn certified_line(s: &mut String, r: &Report) {
    let parts: Vec<String> = r
        .measures
        .iter()
        .filter_map(|m| {
            let b = m.bounds.as_ref()?;
            let all = b.iter().flatten();
            let total = all.clone().count();
            let widest = all
                .clone()
                .zip(m.values.iter().flatten())
                .fold(0.0f64, |w, ([lo, hi], v)| w.max(if *v > 0.0 { (hi - lo) / v } else { hi - lo }));
            Some(if m.is_count() {
                let flagged = all.filter(|[lo, hi]| lo != hi).count();
                format!("{} {flagged} of {total} ambiguous", m.name)
            } else {
                format!("{} widest interval {widest:.1e} of its value", m.name)
            })
        })
        .collect();
    if !parts.is_empty() {
        let _ = writeln!(s, "certified intervals (see the JSON or CSV per index): {}", parts.join(", "));
    }
}

/// `x` with three decimals, `-` for none.
fn opt(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.3}"))
}

/// The marker summary per measure and the deltas per channel.
fn markers_table(s: &mut String, r: &Report) {
    let Some(mk) = &r.markers else { return };
    let positions: Vec<String> = mk.positions.iter().map(|t| t.to_string()).collect();
    let pooled = r.batch.map_or(String::new(), |b| format!(", pooled over {b} inputs"));
    let _ = writeln!(
        s,
        "markers at t = {} (window {}{pooled}): Δ = mean ESS after − before; baseline = Δ at every other t",
        positions.join(", "),
        mk.window
    );
    let _ = write!(s, "{:>8} {:>8}", "measure", "channel");
    for t in &mk.positions {
        let _ = write!(s, " {:>9}", format!("Δ t={t}"));
    }
    s.push('\n');
    for m in &r.measures {
        let Some(mm) = &m.markers else { continue };
        for c in 0..r.channels {
            let _ = write!(s, "{:>8} {c:>8}", m.label());
            for d in &mm.deltas[c] {
                let _ = write!(s, " {d:>9.3}");
            }
            s.push('\n');
        }
    }
    for m in &r.measures {
        let Some(mm) = &m.markers else { continue };
        let base = match (mm.baseline_mean, mm.baseline_std) {
            (Some(b), Some(sd)) => format!("{b:.3} ± {sd:.3}"),
            _ => "none (every position is a marker)".into(),
        };
        let _ = writeln!(s, "{}: mean Δ {:.3}, baseline {base}, z {}", m.name, mm.mean_delta, opt(mm.z));
    }
}

/// One row per threshold of the sweep.
fn sweep_table(s: &mut String, r: &Report) {
    if r.sweep.is_empty() {
        return;
    }
    let batch = if r.batch.is_some() { " (of the batch means)" } else { "" };
    let _ = writeln!(s, "tolerance sweep, one SVD per block for every τ{batch}:");
    let _ = writeln!(s, "{:>10} {:>10} {:>10} {:>8}", "mode", "τ", "mean", "max");
    for p in &r.sweep {
        let tau = p.tolerance.value().map_or("-".into(), |v| format!("{v:e}"));
        let max = if r.batch.is_some() { format!("{:.3}", p.max) } else { format!("{:.0}", p.max) };
        let _ = writeln!(s, "{:>10} {tau:>10} {:>10.3} {max:>8}", p.tolerance.mode_name(), p.mean);
    }
}

/// One row per tensor: its sizes and, per measure, mean, max and total ESS; then
/// the across-tensor summary, and marker and sweep lines per tensor.
pub fn multi_table(m: &MultiReport) -> String {
    let mut s = String::new();
    let first = &m.reports[0];
    let _ = writeln!(
        s,
        "{}: {} tensors{}",
        first.file,
        m.reports.len(),
        first.tolerance().map_or(String::new(), |t| format!(", tolerance {}", describe_tolerance(t)))
    );
    let name_w = m.reports.iter().map(|r| r.tensor.as_deref().unwrap_or("").chars().count()).max().unwrap_or(6).max(6);
    let _ = write!(s, "{:<name_w$} {:>5} {:>8} {:>5}", "tensor", "L", "channels", "batch");
    for meas in &first.measures {
        let l = meas.label();
        let _ = write!(s, " {:>12} {:>12} {:>12}", format!("{l} mean"), format!("{l} max"), format!("{l} total"));
    }
    s.push('\n');
    for r in &m.reports {
        let batch = r.batch.map_or("-".to_string(), |b| b.to_string());
        let _ =
            write!(s, "{:<name_w$} {:>5} {:>8} {batch:>5}", r.tensor.as_deref().unwrap_or(""), r.seq_len, r.channels);
        for meas in &r.measures {
            let max =
                if meas.is_count() { format!("{:.0}", meas.summary.max) } else { format!("{:.3}", meas.summary.max) };
            let _ = write!(s, " {:>12.3} {max:>12} {:>12.3}", meas.summary.mean, meas.summary.total_mean);
        }
        s.push('\n');
    }
    let _ = write!(s, "{:<name_w$} {:>5} {:>8} {:>5}", "all", "", "", "");
    for k in 0..first.measures.len() {
        let a = m.across(k);
        let _ = write!(s, " {:>12.3} {:>12.3} {:>12.3}", a.mean, a.max, a.total);
    }
    s.push('\n');
    let _ = writeln!(s, "all: mean = mean over tensors, max = largest ESS, total = sum of the tensors' total ESS");
    for r in &m.reports {
        let name = r.tensor.as_deref().unwrap_or("");
        for meas in &r.measures {
            if let Some(mm) = &meas.markers {
                let _ = writeln!(
                    s,
                    "{name} markers, {}: mean Δ {:.3}, baseline {} ± {}, z {}",
                    meas.name,
                    mm.mean_delta,
                    opt(mm.baseline_mean),
                    opt(mm.baseline_std),
                    opt(mm.z)
                );
            }
        }
        for p in &r.sweep {
            let tau = p.tolerance.value().map_or("-".into(), |v| format!("{v:e}"));
            let _ =
                writeln!(s, "{name} sweep {} τ = {tau}: mean {:.3}, max {:.3}", p.tolerance.mode_name(), p.mean, p.max);
        }
    }
    s
}
