//! `ess demo`: one seeded operator of every family, measured and tabulated.

use crate::analysis::{describe_tolerance, measure_names, short_label};
use crate::error::CliError;
use crate::plot::{self, Panel, Series};
use effective_state_size::ess::{self, EssOptions, Measure, Profile, Tolerance};
use effective_state_size::*;
use std::path::Path;
use std::time::Instant;

/// A small deterministic generator (xorshift), so the demo needs no RNG crate.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
    fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
    /// Approximately standard normal (sum of uniforms).
    fn normal(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| (0..6).map(|_| self.uniform(-1.0, 1.0)).sum::<f64>() / 2f64.sqrt()).collect()
    }
}

/// One family's operator, measured.
pub struct Row {
    pub family: String,
    pub len: usize,
    pub tss: Option<usize>,
    /// One profile per measure, in the order of [`run`]'s `measures`.
    pub profiles: Vec<Profile>,
    pub millis: f64,
}

fn measure<O: LinearOperator<Scalar = f64>>(op: &O, measures: &[Measure]) -> Result<Row, EssError> {
    let start = Instant::now();
    let profiles = ess::profiles(op, measures, &EssOptions::default())?;
    let millis = start.elapsed().as_secs_f64() * 1e3;
    Ok(Row { family: op.family().to_string(), len: op.seq_len(), tss: op.theoretical_state_size(), profiles, millis })
}

/// The demo's measures: tolerance-ESS with `tol`, then entropy-ESS.
pub fn measures(tol: Tolerance) -> Vec<Measure> {
    vec![Measure::Tolerance(tol), Measure::Entropy]
}

/// Builds and measures every family at sequence length `len` (two heads or
/// channels of width 8 where the family has them).
pub fn run(len: usize, measures: &[Measure]) -> Result<Vec<Row>, EssError> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (h, d, n) = (2, 8, 8);
    let heads = Dims { channels: h, len, width: d };
    let (q, k) = (r.normal(h * len * d), r.normal(h * len * d));
    let mut unit_k = r.normal(h * len * d);
    for row in unit_k.chunks_mut(d) {
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    let a_cont: Vec<f64> = (0..n).map(|j| -0.2 - 0.4 * j as f64).collect();
    let (a_bar, b_bar) = zoh_diagonal(&a_cont, &vec![1.0; n], 0.5)?;
    let m = measures;
    let mut rows = vec![
        measure(&SoftmaxAttention::new(&q, &k, heads)?, m)?,
        measure(&SoftmaxAttention::new(&q, &k, heads)?.with_window(16)?, m)?,
        measure(&LinearAttention::new(&q, &k, heads)?.with_feature_map(FeatureMap::EluPlusOne)?.normalized()?, m)?,
        measure(&DecayedLinearAttention::new(&q, &k, &[0.97, 0.85], heads)?, m)?,
        measure(&GatedLinearAttention::new(&q, &k, &r.vec(h * len * d, 0.8, 1.0), heads)?, m)?,
        measure(&DeltaNet::new(&q, &unit_k, &r.vec(h * len, 0.1, 0.9), heads)?, m)?,
        measure(&DeltaNet::gated(&q, &unit_k, &r.vec(h * len, 0.1, 0.9), &r.vec(h * len, 0.9, 1.0), heads)?, m)?,
    ];
    // Convolutions take one kernel (and gate) row per channel.
    let fir = r.normal(h * 4);
    rows.push(measure(&FirConvolution::new(&rows_of(&fir, 4), len)?, m)?);
    let long = r.normal(h * len);
    rows.push(measure(&LongConvolution::new(&rows_of(&long, len))?, m)?);
    let (kernel, z, v) = (r.normal(h * 4), r.normal(h * len), r.normal(h * len));
    rows.push(measure(&GatedConvolution::new(&rows_of(&kernel, 4), &rows_of(&z, len), &rows_of(&v, len))?, m)?);
    let one = Dims { channels: 1, len, width: n };
    rows.push(measure(&LtiStateSpace::diagonal(&a_bar, &b_bar, &r.normal(n), one)?, m)?);
    let tv_a: Vec<f64> = r.normal(len * n * n).iter().map(|x| 0.25 * x).collect();
    let tv = TimeVaryingStateSpace::new(&tv_a, &r.normal(len * n), &r.normal(len * n), one, BlockShape::SISO)?;
    rows.push(measure(&tv, m)?);
    let a_mamba: Vec<f64> = a_cont.iter().chain(&a_cont).copied().collect();
    let delta = r.vec(h * len, 0.05, 0.5);
    let states = Dims { channels: h, len, width: n };
    rows.push(measure(&MambaChannels::new(&a_mamba, &delta, &r.normal(len * n), &r.normal(len * n), states)?, m)?);
    rows.push(measure(
        &Ssd::new(&r.vec(h * len, 0.8, 1.0), &r.normal(h * len * n), &r.normal(h * len * n), states)?,
        m,
    )?);
    Ok(rows)
}

/// The rows of a row-major `(channels, width)` buffer.
fn rows_of(data: &[f64], width: usize) -> Vec<&[f64]> {
    data.chunks(width).collect()
}

/// The measure whose mean the `util` column divides by the TSS: the first
/// tolerance-ESS, or else the first measure.
fn util_measure(measures: &[Measure]) -> usize {
    measures.iter().position(|m| matches!(m, Measure::Tolerance(_))).unwrap_or(0)
}

/// The table, one row per family, and a legend under it.
pub fn table(rows: &[Row], measures: &[Measure]) -> String {
    let names = measure_names(measures);
    let labels: Vec<String> = names.iter().map(|n| short_label(n)).collect();
    let util = util_measure(measures);
    // Column widths: at least 9 and 8, and the header's.
    let widths: Vec<(usize, usize)> = labels.iter().map(|l| ((l.len() + 5).max(9), (l.len() + 4).max(8))).collect();
    let mut s = String::from("ESS of one seeded operator per family\n");
    s += &format!("{:<34} {:>5} {:>5}", "family", "L", "TSS");
    for (l, (a, b)) in labels.iter().zip(&widths) {
        s += &format!(" {:>a$} {:>b$}", format!("{l} mean"), format!("{l} max"));
    }
    s += &format!(" {:>9} {:>11} {:>9}\n", "util", "path", "time ms");
    for r in rows {
        s += &format!("{:<34} {:>5} {:>5}", r.family, r.len, r.tss.map_or("-".to_string(), |t| t.to_string()));
        for ((p, m), (a, b)) in r.profiles.iter().zip(measures).zip(&widths) {
            match m {
                Measure::Tolerance(_) => s += &format!(" {:>a$.2} {:>b$.0}", p.mean(), p.max()),
                _ => s += &format!(" {:>a$.2} {:>b$.2}", p.mean(), p.max()),
            }
        }
        let u = r.tss.filter(|&t| t > 0).zip(r.profiles.get(util));
        let u = u.map_or("-".to_string(), |(t, p)| format!("{:.2}", p.mean() / t as f64));
        let path = r.profiles.first().map_or("-", |p| p.computed_by().name());
        s += &format!(" {u:>9} {path:>11} {:>9.1}\n", r.millis);
    }
    s += &legend(measures);
    s
}

/// What the columns mean, and the tolerance in force.
fn legend(measures: &[Measure]) -> String {
    let names = measure_names(measures);
    let util = names.get(util_measure(measures)).map_or("ESS".to_string(), |n| format!("{n}-ESS"));
    let tolerances: Vec<String> = measures
        .iter()
        .filter_map(|m| match m {
            Measure::Tolerance(t) => Some(describe_tolerance(*t) + &threshold(*t)),
            _ => None,
        })
        .collect();
    let tol = match tolerances.as_slice() {
        [] => "none".to_string(),
        _ => tolerances.join("; "),
    };
    format!(
        "util = mean {util} / TSS, the share of the theoretical state in use.\n\
         \"-\" = no fixed TSS (only rank H_i ≤ min(i, L-i) holds), hence no util.\n\
         tolerance in force: {tol}; entropy-ESS needs none.\n\
         path: dense = SVDs of the blocks of T, structured = from the state realization; time: all measures.\n"
    )
}

/// The threshold a tolerance sets, in words.
fn threshold(t: Tolerance) -> String {
    match t {
        Tolerance::Relative(x) => format!(" (counts σ_k > {x:e}·σ_1)"),
        Tolerance::Absolute(x) => format!(" (counts σ_k > {x:e})"),
        Tolerance::NumericalRank => " (counts σ_k > σ_1·max(rows, cols)·ε)".to_string(),
        _ => String::new(),
    }
}

/// Channel-averaged profiles of every family, one panel per measure.
pub fn plot(rows: &[Row], measures: &[Measure], path: &Path) -> Result<(), CliError> {
    let panels: Vec<Panel> = measure_names(measures)
        .iter()
        .enumerate()
        .map(|(k, name)| {
            Panel::profiles(
                format!("{name}-ESS (channel mean)"),
                "ESS_i".into(),
                rows.iter()
                    .filter_map(|r| r.profiles.get(k).map(|p| (r, p)))
                    .map(|(r, p)| Series {
                        label: r.family.clone(),
                        x: p.indices().to_vec(),
                        y: p.average(),
                        band: None,
                    })
                    .collect(),
                None,
            )
        })
        .collect();
    plot::draw(path, "ess demo: every operator family", &panels, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_explains_util_dash_and_tolerance() {
        let m = measures(Tolerance::Relative(1e-3));
        let rows = run(12, &m).unwrap();
        assert_eq!(rows.len(), 14);
        assert!(rows.iter().all(|r| r.profiles.len() == 2));
        let t = table(&rows, &m);
        let legend: Vec<&str> = t.lines().skip(2 + rows.len()).collect();
        assert_eq!(legend.len(), 4, "{t}");
        assert!(legend[0].starts_with("util = mean tolerance-ESS / TSS"), "{t}");
        assert!(legend[1].starts_with("\"-\" = no fixed TSS"), "{t}");
        assert!(legend[2].contains("tolerance in force: relative 1e-3 (counts σ_k > 1e-3·σ_1)"), "{t}");
        // Every row has as many columns as the header.
        let header = t.lines().nth(1).unwrap();
        for row in t.lines().skip(2).take(rows.len()) {
            assert_eq!(row.chars().count(), header.chars().count(), "{t}");
        }
        assert!(t.lines().any(|l| l.starts_with("softmax attention") && l.contains(" - ")), "{t}");
    }
}
