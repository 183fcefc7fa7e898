//! `ess demo`: one seeded operator of every family, measured and tabulated.

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

pub struct Row {
    pub family: String,
    pub len: usize,
    pub tss: Option<usize>,
    pub tol: Profile,
    pub ent: Profile,
    pub millis: f64,
}

fn measure<O: LinearOperator<Scalar = f64>>(op: &O, tol: Tolerance) -> Result<Row, String> {
    let start = Instant::now();
    let ps = ess::profiles(op, &[Measure::Tolerance(tol), Measure::Entropy], &EssOptions::default())
        .map_err(|e| e.to_string())?;
    let millis = start.elapsed().as_secs_f64() * 1e3;
    let mut it = ps.into_iter();
    let (tol, ent) = (it.next().expect("two profiles"), it.next().expect("two profiles"));
    Ok(Row { family: op.family().to_string(), len: op.seq_len(), tss: op.theoretical_state_size(), tol, ent, millis })
}

/// Builds and measures every family at sequence length `len`.
pub fn run(len: usize, tol: Tolerance) -> Result<Vec<Row>, String> {
    let e = |e: EssError| e.to_string();
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (h, d, n) = (2, 8, 8);
    let (q, k) = (r.normal(h * len * d), r.normal(h * len * d));
    let mut unit_k = r.normal(h * len * d);
    for row in unit_k.chunks_mut(d) {
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    let a_cont: Vec<f64> = (0..n).map(|j| -0.2 - 0.4 * j as f64).collect();
    let (a_bar, b_bar) = zoh_diagonal(&a_cont, &vec![1.0; n], 0.5).map_err(e)?;
    let mut rows = vec![
        measure(&SoftmaxAttention::new(&q, &k, h, len, d).map_err(e)?, tol)?,
        measure(&SoftmaxAttention::new(&q, &k, h, len, d).map_err(e)?.with_window(16).map_err(e)?, tol)?,
        measure(
            &LinearAttention::new(&q, &k, h, len, d)
                .map_err(e)?
                .with_feature_map(FeatureMap::EluPlusOne)
                .map_err(e)?
                .normalized()
                .map_err(e)?,
            tol,
        )?,
        measure(&DecayedLinearAttention::new(&q, &k, &[0.97, 0.85], h, len, d).map_err(e)?, tol)?,
        measure(&GatedLinearAttention::new(&q, &k, &r.vec(h * len * d, 0.8, 1.0), h, len, d).map_err(e)?, tol)?,
        measure(&DeltaNet::new(&q, &unit_k, &r.vec(h * len, 0.1, 0.9), h, len, d).map_err(e)?, tol)?,
        measure(
            &DeltaNet::gated(&q, &unit_k, &r.vec(h * len, 0.1, 0.9), &r.vec(h * len, 0.9, 1.0), h, len, d)
                .map_err(e)?,
            tol,
        )?,
        measure(&FirConvolution::new(&r.normal(h * 4), h, 4, len).map_err(e)?, tol)?,
        measure(&LongConvolution::new(&r.normal(h * len), h, len).map_err(e)?, tol)?,
        measure(
            &GatedConvolution::new(&r.normal(h * 4), &r.normal(h * len), &r.normal(h * len), h, 4, len).map_err(e)?,
            tol,
        )?,
        measure(&LtiStateSpace::diagonal(&a_bar, &b_bar, &r.normal(n), 1, n, len).map_err(e)?, tol)?,
    ];
    let tv_a: Vec<f64> = r.normal(len * n * n).iter().map(|x| 0.25 * x).collect();
    rows.push(measure(
        &TimeVaryingStateSpace::new(&tv_a, &r.normal(len * n), &r.normal(len * n), 1, len, n, BlockShape::SISO)
            .map_err(e)?,
        tol,
    )?);
    let a_mamba: Vec<f64> = a_cont.iter().chain(&a_cont).copied().collect();
    let delta = r.vec(h * len, 0.05, 0.5);
    rows.push(measure(
        &MambaChannels::new(&a_mamba, &delta, &r.normal(len * n), &r.normal(len * n), h, len, n).map_err(e)?,
        tol,
    )?);
    rows.push(measure(
        &Ssd::new(&r.vec(h * len, 0.8, 1.0), &r.normal(h * len * n), &r.normal(h * len * n), h, len, n).map_err(e)?,
        tol,
    )?);
    Ok(rows)
}

pub fn table(rows: &[Row], tol: Tolerance) -> String {
    let mut s = format!(
        "ESS of one seeded operator per family (tolerance: {} {}; entropy-ESS needs none)\n",
        tol.mode_name(),
        tol.value().map_or(String::new(), |v| format!("{v:e}"))
    );
    s += &format!(
        "{:<34} {:>5} {:>5} {:>9} {:>8} {:>9} {:>8} {:>9} {:>11} {:>9}\n",
        "family", "L", "TSS", "tol mean", "tol max", "ent mean", "ent max", "util", "path", "time ms"
    );
    for r in rows {
        let util = r.tss.filter(|&t| t > 0).map_or("-".to_string(), |t| format!("{:.2}", r.tol.mean() / t as f64));
        s += &format!(
            "{:<34} {:>5} {:>5} {:>9.2} {:>8.0} {:>9.2} {:>8.2} {:>9} {:>11} {:>9.1}\n",
            r.family,
            r.len,
            r.tss.map_or("-".to_string(), |t| t.to_string()),
            r.tol.mean(),
            r.tol.max(),
            r.ent.mean(),
            r.ent.max(),
            util,
            r.tol.computed_by().name(),
            r.millis
        );
    }
    s
}

/// Channel-averaged profiles of every family, tolerance and entropy side by side.
pub fn plot(rows: &[Row], path: &Path) -> Result<(), String> {
    let series = |pick: fn(&Row) -> &Profile| {
        rows.iter()
            .map(|r| {
                let p = pick(r);
                Series {
                    label: r.family.clone(),
                    x: p.indices().iter().map(|&i| i as f64).collect(),
                    y: p.average(),
                    band: None,
                }
            })
            .collect()
    };
    let panels = [
        Panel {
            title: "tolerance-ESS (channel mean)".into(),
            y_label: "ESS_i".into(),
            series: series(|r| &r.tol),
            tss: None,
        },
        Panel {
            title: "entropy-ESS (channel mean)".into(),
            y_label: "ESS_i".into(),
            series: series(|r| &r.ent),
            tss: None,
        },
    ];
    plot::draw(path, "ess demo: every operator family", &panels)
}
