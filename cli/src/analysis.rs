//! ESS profiles of a dense tensor, with progress, into a serialisable report.

use crate::progress::Progress;
use effective_state_size::ess::{self, EssOptions, Indices, Measure, Profile, Tolerance};
use effective_state_size::{BlockShape, DenseOperator, Scalar};
use serde::Serialize;

/// What to compute.
pub struct Request {
    /// Block shape `p × m`.
    pub block: BlockShape,
    /// Tolerance of tolerance-ESS.
    pub tolerance: Tolerance,
    /// Indices to evaluate.
    pub indices: Indices,
    /// Take the causal part of a non-causal matrix instead of failing.
    pub causal_part: bool,
    /// Theoretical state size, if known.
    pub tss: Option<usize>,
}

impl Default for Request {
    /// SISO blocks, relative tolerance 1e-3, all indices, causality required.
    fn default() -> Self {
        Self {
            block: BlockShape::SISO,
            tolerance: Tolerance::Relative(1e-3),
            indices: Indices::All,
            causal_part: false,
            tss: None,
        }
    }
}

#[derive(Serialize)]
pub struct ToleranceJson {
    pub mode: &'static str,
    pub value: Option<f64>,
}

#[derive(Serialize)]
pub struct ChannelJson {
    pub channel: usize,
    pub index: Vec<usize>,
    pub tolerance_ess: Vec<u64>,
    pub entropy_ess: Vec<f64>,
}

#[derive(Serialize)]
pub struct MeasureSummary {
    /// Mean over channels and indices.
    pub mean: f64,
    /// Maximum over channels and indices.
    pub max: f64,
    /// Per-channel mean over indices.
    pub channel_mean: Vec<f64>,
    /// Per-channel maximum over indices.
    pub channel_max: Vec<f64>,
    /// Mean over indices of the total (sum over channels).
    pub total_mean: f64,
    /// Mean ESS / TSS, when a TSS is known.
    pub utilization: Option<f64>,
}

#[derive(Serialize)]
pub struct Summary {
    pub channels: usize,
    pub evaluated_indices: usize,
    pub tolerance_ess: MeasureSummary,
    pub entropy_ess: MeasureSummary,
}

#[derive(Serialize)]
pub struct Report {
    pub file: String,
    pub seq_len: usize,
    pub block: [usize; 2],
    pub dtype: &'static str,
    pub path: &'static str,
    pub tss: Option<usize>,
    pub tolerance: ToleranceJson,
    pub channels: Vec<ChannelJson>,
    pub summary: Summary,
}

fn summarize(p: &Profile, tss: Option<usize>) -> MeasureSummary {
    let total = p.total();
    MeasureSummary {
        mean: p.mean(),
        max: p.max(),
        channel_mean: p.channel_means(),
        channel_max: p.channel_maxes(),
        total_mean: total.iter().sum::<f64>() / total.len() as f64,
        utilization: tss.filter(|&t| t > 0).map(|t| p.mean() / t as f64),
    }
}

/// Splits `(channels, rows, cols)` data into channel matrices and computes both
/// measures, channel by channel, in chunks of indices so progress can be shown.
pub fn analyse<T: Scalar>(
    file: &str,
    data: &[T],
    shape: [usize; 3],
    dtype: &'static str,
    req: &Request,
) -> Result<Report, String> {
    let [channels, rows, cols] = shape;
    let mats = DenseOperator::matrices_from_row_major(data, channels, rows, cols).map_err(|e| e.to_string())?;
    let op = if req.causal_part {
        DenseOperator::from_causal_part(mats, req.block)
    } else {
        DenseOperator::new(mats, req.block)
    }
    .map_err(|e| e.to_string())?;
    use effective_state_size::LinearOperator;
    let len = op.seq_len();
    let indices = req.indices.resolve(len).map_err(|e| e.to_string())?;
    let measures = [Measure::Tolerance(req.tolerance), Measure::Entropy];
    let mut progress = Progress::new(channels * indices.len());
    let chunk = if progress.enabled() { indices.len().div_ceil(20).max(1) } else { indices.len() };
    let mut tol_values = Vec::with_capacity(channels);
    let mut ent_values = Vec::with_capacity(channels);
    for c in 0..channels {
        let single = DenseOperator::new(vec![op.matrix(c).map_err(|e| e.to_string())?.clone()], req.block)
            .map_err(|e| e.to_string())?;
        let (mut tv, mut ev) = (Vec::new(), Vec::new());
        for part in indices.chunks(chunk) {
            let opts = EssOptions { indices: Indices::List(part.to_vec()), ..Default::default() };
            let ps = ess::profiles(&single, &measures, &opts).map_err(|e| e.to_string())?;
            tv.extend_from_slice(ps[0].channel(0));
            ev.extend_from_slice(ps[1].channel(0));
            progress.advance(part.len(), c, channels);
        }
        tol_values.push(tv);
        ent_values.push(ev);
    }
    progress.finish();
    let assemble = |m: Measure, v: Vec<Vec<f64>>| {
        Profile::from_values(len, indices.clone(), m, ess::ComputedBy::Dense, req.tss, v).map_err(|e| e.to_string())
    };
    let (tol, ent) = (assemble(measures[0], tol_values)?, assemble(measures[1], ent_values)?);
    let channels_json = (0..channels)
        .map(|c| ChannelJson {
            channel: c,
            index: indices.clone(),
            tolerance_ess: tol.channel(c).iter().map(|&v| v as u64).collect(),
            entropy_ess: ent.channel(c).to_vec(),
        })
        .collect();
    Ok(Report {
        file: file.to_string(),
        seq_len: len,
        block: [req.block.outputs, req.block.inputs],
        dtype,
        path: "dense",
        tss: req.tss,
        tolerance: ToleranceJson { mode: req.tolerance.mode_name(), value: req.tolerance.value() },
        summary: Summary {
            channels,
            evaluated_indices: indices.len(),
            tolerance_ess: summarize(&tol, req.tss),
            entropy_ess: summarize(&ent, req.tss),
        },
        channels: channels_json,
    })
}
