//! ESS profiles of a dense tensor (or a batch of them), computed by one library
//! call, into a report that holds any number of measures, and optionally marker
//! modulation and a tolerance sweep from the same sweep of singular values.

use crate::progress::ProgressBar;
use effective_state_size::ess::{
    self, ComputedBy, EssOptions, Indices, MarkerModulation, Measure, Method, Profile, SweepPoint, Tolerance,
    ToleranceSweep,
};
use effective_state_size::{BlockShape, DenseOperator, EssError, LinearOperator, Scalar};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::ops::ControlFlow;
use std::sync::Arc;

/// What to compute.
#[derive(Debug, Clone)]
pub struct Request {
    /// Block shape `p × m`.
    pub block: BlockShape,
    /// The measures, in report order (at least one).
    pub measures: Vec<Measure>,
    /// Indices to evaluate.
    pub indices: Indices,
    /// Take the causal part of a non-causal matrix instead of failing.
    pub causal_part: bool,
    /// Theoretical state size, if known.
    pub tss: Option<usize>,
    /// Marker (delimiter) positions and window, if any: every index is then needed.
    pub markers: Option<Markers>,
    /// Thresholds of a tolerance sweep (empty: none), computed in the same sweep.
    pub sweep: Vec<Tolerance>,
    /// Which algorithm (`--method`; default: the planner decides).
    pub method: Method,
    /// `--interval-width` (with `--method lowrank`): the target relative width of
    /// entropy intervals; `None`: the library's default.
    pub interval_width: Option<f64>,
    /// `--max-rank` (with `--method lowrank`): the rank cap per block.
    pub max_rank: Option<usize>,
}

/// Marker positions `t` (0-based token positions, `1 ≤ t ≤ L-2`) and the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    /// The positions, in the order given.
    pub positions: Vec<usize>,
    /// The window `w ≥ 1`.
    pub window: usize,
}

impl Default for Request {
    /// SISO blocks, tolerance-ESS (relative 1e-3) and entropy-ESS, all indices,
    /// causality required, no markers, no sweep.
    fn default() -> Self {
        Self {
            block: BlockShape::SISO,
            measures: vec![Measure::Tolerance(Tolerance::Relative(1e-3)), Measure::Entropy],
            indices: Indices::All,
            causal_part: false,
            tss: None,
            markers: None,
            sweep: Vec::new(),
            method: Method::Auto,
            interval_width: None,
            max_rank: None,
        }
    }
}

impl Request {
    /// The library's options for this request: indices, method and the
    /// low-rank targets (no progress callback).
    fn options(&self) -> EssOptions {
        let opts = EssOptions::default().with_indices(self.indices.clone()).with_method(self.method);
        let opts = match self.interval_width {
            Some(w) => opts.with_interval_width(w),
            None => opts,
        };
        opts.with_max_rank(self.max_rank)
    }
}

/// Summary statistics of one measure over channels and indices.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Mean over channels and indices of `ESS_i / min(p·(L−i), m·i)`, the
    /// boundary-normalised ESS.
    pub normalized_mean: f64,
}

impl MeasureSummary {
    /// The summary of a profile (of a batch: of its mean profile).
    pub fn of(p: &Profile, tss: Option<usize>) -> Self {
        let total = p.total();
        MeasureSummary {
            mean: p.mean(),
            max: p.max(),
            channel_mean: p.channel_means(),
            channel_max: p.channel_maxes(),
            total_mean: total.iter().sum::<f64>() / total.len() as f64,
            utilization: tss.filter(|&t| t > 0).map(|t| p.mean() / t as f64),
            normalized_mean: p.normalized_mean(),
        }
    }
}

/// One measure of a report: its name, its tolerance if it has one, its values per
/// channel and their summary.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureReport {
    /// Name, unique within the report: `tolerance`, `entropy`, and `tolerance_2`,
    /// `tolerance_3`, … for further measures of the same kind. JSON and CSV call
    /// the values `<name>_ess`.
    pub name: String,
    /// The measure.
    pub measure: Measure,
    /// Values per channel, at the report's indices (of a batch: the mean over
    /// its inputs).
    pub values: Vec<Vec<f64>>,
    /// Of a batch: the population standard deviation over its inputs, per
    /// channel and index (`<name>_ess_std`).
    pub std: Option<Vec<Vec<f64>>>,
    /// Statistics over channels and indices.
    pub summary: MeasureSummary,
    /// Marker modulation, when markers were given.
    pub markers: Option<MarkerModulation>,
    /// Guaranteed intervals `[lower, upper]` per channel and index, from
    /// `--method lowrank` (`None` on the exact paths).
    pub bounds: Option<Vec<Vec<[f64; 2]>>>,
}

impl MeasureReport {
    /// The tolerance of a tolerance-ESS measure.
    pub fn tolerance(&self) -> Option<Tolerance> {
        match self.measure {
            Measure::Tolerance(t) => Some(t),
            _ => None,
        }
    }
    /// The JSON and CSV key of the values: `<name>_ess`.
    pub fn key(&self) -> String {
        format!("{}_ess", self.name)
    }
    /// Whether the values are counts (tolerance-ESS of one input), written as
    /// integers; batch means are not.
    pub fn is_count(&self) -> bool {
        self.tolerance().is_some() && self.std.is_none()
    }
    /// A short column label: `tol` for `tolerance`, otherwise the name.
    pub fn label(&self) -> String {
        short_label(&self.name)
    }
    /// A plot title: `tolerance-ESS (relative)`, `entropy-ESS`.
    pub fn title(&self) -> String {
        let base = format!("{}-ESS", self.name);
        match self.tolerance() {
            Some(t) => format!("{base} ({})", t.mode_name()),
            None => base,
        }
    }
}

/// The short column label of a measure name: `tol` for `tolerance`.
pub fn short_label(name: &str) -> String {
    match name.strip_prefix("tolerance") {
        Some(rest) => format!("tol{rest}"),
        None => name.to_string(),
    }
}

/// Names for `measures`, unique in order: the measure's own name the first time,
/// `<name>_2`, `<name>_3`, … after that.
pub fn measure_names(measures: &[Measure]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(measures.len());
    for m in measures {
        let seen = measures.iter().take(names.len()).filter(|x| x.name() == m.name()).count();
        names.push(if seen == 0 { m.name().to_string() } else { format!("{}_{}", m.name(), seen + 1) });
    }
    names
}

/// `relative 1e-3`, `absolute 5e-1`, `numerical-rank`.
pub fn describe_tolerance(t: Tolerance) -> String {
    match t.value() {
        Some(v) => format!("{} {v:e}", t.mode_name()),
        None => t.mode_name().to_string(),
    }
}

/// The ESS profiles of one file's operator, measure by measure.
///
/// Serialises to the JSON schema of `ess profile --format json`: `file, seq_len,
/// block, dtype, path, tss, tolerance{mode,value}` (of the first tolerance measure;
/// `null` without one), `batch` (only for a batch input: its size),
/// `channels[{channel, index, <name>_ess…, <name>_ess_std… (batch)}]` and
/// `summary{channels, evaluated_indices, <name>_ess{mean, max, channel_mean,
/// channel_max, total_mean, utilization, normalized_mean}…}`; with markers
/// `markers{positions, window, channels[{channel, <name>_delta…}],
/// <name>{mean_delta, baseline_mean, baseline_std, z}…}`; with a sweep
/// `sweep[{mode, value, mean, max, channel_mean}]`. Tolerance-ESS values of one
/// input are integers. In a multi-tensor report each report starts with
/// `tensor`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The tensor's name, in a report of several tensors.
    pub tensor: Option<String>,
    /// The file, as given.
    pub file: String,
    /// Sequence length `L`.
    pub seq_len: usize,
    /// Block shape `p × m`.
    pub block: BlockShape,
    /// `"f32"` or `"f64"`.
    pub dtype: &'static str,
    /// How the singular values were computed.
    pub method: ComputedBy,
    /// Theoretical state size, if given.
    pub tss: Option<usize>,
    /// Number of channels.
    pub channels: usize,
    /// The evaluated indices `i`.
    pub indices: Vec<usize>,
    /// The measures, in request order.
    pub measures: Vec<MeasureReport>,
    /// Number of inputs of a batch (a 4-D tensor); `None` for one input.
    pub batch: Option<usize>,
    /// Marker positions and window, when markers were given (the modulation of
    /// each measure is in [`MeasureReport::markers`]).
    pub markers: Option<Markers>,
    /// The tolerance sweep, in the order requested (empty: none).
    pub sweep: Vec<SweepPoint>,
}

impl Report {
    /// Assembles a report from the library's profiles (one per measure, all of the
    /// same operator and indices).
    ///
    /// # Panics
    /// If `profiles` is empty.
    pub fn from_profiles(
        file: &str,
        dtype: &'static str,
        block: BlockShape,
        tss: Option<usize>,
        profiles: &[Profile],
    ) -> Report {
        let first = profiles.first().expect("at least one profile");
        let measures: Vec<Measure> = profiles.iter().map(Profile::measure).collect();
        let measures = measure_names(&measures)
            .into_iter()
            .zip(profiles)
            .map(|(name, p)| MeasureReport {
                name,
                measure: p.measure(),
                values: p.values().to_vec(),
                std: None,
                summary: MeasureSummary::of(p, tss),
                markers: None,
                bounds: p.bounds().map(<[_]>::to_vec),
            })
            .collect();
        Report {
            tensor: None,
            file: file.to_string(),
            seq_len: first.seq_len(),
            block,
            dtype,
            method: first.computed_by(),
            tss,
            channels: first.channels(),
            indices: first.indices().to_vec(),
            measures,
            batch: None,
            markers: None,
            sweep: Vec::new(),
        }
    }

    /// The tolerance of the first tolerance-ESS measure.
    pub fn tolerance(&self) -> Option<Tolerance> {
        self.measures.iter().find_map(MeasureReport::tolerance)
    }

    /// The measure called `name`.
    pub fn measure(&self, name: &str) -> Option<&MeasureReport> {
        self.measures.iter().find(|m| m.name == name)
    }
}

/// The `tolerance` object of the JSON report.
#[derive(Serialize)]
struct ToleranceJson {
    mode: &'static str,
    value: Option<f64>,
}

/// One measure's values of one channel: integers for counts.
struct ValuesJson<'a>(&'a MeasureReport, usize);

impl Serialize for ValuesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = &self.0.values[self.1];
        if self.0.is_count() {
            s.collect_seq(v.iter().map(|&x| x as u64))
        } else {
            s.collect_seq(v)
        }
    }
}

struct ChannelJson<'a>(&'a Report, usize);

impl Serialize for ChannelJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (r, c) = (self.0, self.1);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("channel", &c)?;
        m.serialize_entry("index", &r.indices)?;
        for measure in &r.measures {
            m.serialize_entry(&measure.key(), &ValuesJson(measure, c))?;
            if let Some(std) = &measure.std {
                m.serialize_entry(&format!("{}_std", measure.key()), &std[c])?;
            }
            if let Some(b) = &measure.bounds {
                // A count is certain exactly when its interval has width 0.
                if let Measure::Tolerance(_) = measure.measure {
                    let flags: Vec<bool> = b[c].iter().map(|[lo, hi]| lo != hi).collect();
                    m.serialize_entry(&format!("{}_ambiguous", measure.name), &flags)?;
                }
                let lower: Vec<f64> = b[c].iter().map(|x| x[0]).collect();
                let upper: Vec<f64> = b[c].iter().map(|x| x[1]).collect();
                m.serialize_entry(&format!("{}_lower", measure.key()), &lower)?;
                m.serialize_entry(&format!("{}_upper", measure.key()), &upper)?;
            }
        }
        m.end()
    }
}

/// The summary statistics of one measure's marker modulation.
#[derive(Serialize)]
struct MarkerSummaryJson {
    mean_delta: f64,
    baseline_mean: Option<f64>,
    baseline_std: Option<f64>,
    z: Option<f64>,
}

struct MarkerChannelJson<'a>(&'a Report, usize);

impl Serialize for MarkerChannelJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (r, c) = (self.0, self.1);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("channel", &c)?;
        for measure in &r.measures {
            if let Some(mm) = &measure.markers {
                m.serialize_entry(&format!("{}_delta", measure.name), &mm.deltas[c])?;
            }
        }
        m.end()
    }
}

struct MarkersJson<'a>(&'a Report, &'a Markers);

impl Serialize for MarkersJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (r, mk) = (self.0, self.1);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("positions", &mk.positions)?;
        m.serialize_entry("window", &mk.window)?;
        let channels: Vec<MarkerChannelJson<'_>> = (0..r.channels).map(|c| MarkerChannelJson(r, c)).collect();
        m.serialize_entry("channels", &channels)?;
        for measure in &r.measures {
            if let Some(mm) = &measure.markers {
                let summary = MarkerSummaryJson {
                    mean_delta: mm.mean_delta,
                    baseline_mean: mm.baseline_mean,
                    baseline_std: mm.baseline_std,
                    z: mm.z,
                };
                m.serialize_entry(&measure.name, &summary)?;
            }
        }
        m.end()
    }
}

/// One threshold of the sweep: `{mode, value, mean, max, channel_mean}`.
#[derive(Serialize)]
struct SweepJson<'a> {
    mode: &'static str,
    value: Option<f64>,
    mean: f64,
    max: f64,
    channel_mean: &'a [f64],
}

impl<'a> SweepJson<'a> {
    fn of(p: &'a SweepPoint) -> Self {
        SweepJson {
            mode: p.tolerance.mode_name(),
            value: p.tolerance.value(),
            mean: p.mean,
            max: p.max,
            channel_mean: &p.channel_mean,
        }
    }
}

struct SummaryJson<'a>(&'a Report);

impl Serialize for SummaryJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(Some(2 + r.measures.len()))?;
        m.serialize_entry("channels", &r.channels)?;
        m.serialize_entry("evaluated_indices", &r.indices.len())?;
        for measure in &r.measures {
            m.serialize_entry(&measure.key(), &measure.summary)?;
        }
        m.end()
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(t) = &self.tensor {
            m.serialize_entry("tensor", t)?;
        }
        m.serialize_entry("file", &self.file)?;
        m.serialize_entry("seq_len", &self.seq_len)?;
        m.serialize_entry("block", &[self.block.outputs, self.block.inputs])?;
        m.serialize_entry("dtype", self.dtype)?;
        m.serialize_entry("path", self.method.name())?;
        m.serialize_entry("tss", &self.tss)?;
        let tolerance = self.tolerance().map(|t| ToleranceJson { mode: t.mode_name(), value: t.value() });
        m.serialize_entry("tolerance", &tolerance)?;
        if let Some(b) = self.batch {
            m.serialize_entry("batch", &b)?;
        }
        let channels: Vec<ChannelJson<'_>> = (0..self.channels).map(|c| ChannelJson(self, c)).collect();
        m.serialize_entry("channels", &channels)?;
        m.serialize_entry("summary", &SummaryJson(self))?;
        if let Some(mk) = &self.markers {
            m.serialize_entry("markers", &MarkersJson(self, mk))?;
        }
        if !self.sweep.is_empty() {
            let sweep: Vec<SweepJson<'_>> = self.sweep.iter().map(SweepJson::of).collect();
            m.serialize_entry("sweep", &sweep)?;
        }
        m.end()
    }
}

/// The reports of several tensors of one file (a model's layers).
///
/// Serialises to `{"tensors": [<report with "tensor">…], "summary": {"tensors":
/// n, <name>_ess: {"mean", "max", "total"}…}}`: per measure, `mean` is the mean
/// over tensors of each tensor's mean ESS (every tensor weighs the same), `max`
/// the largest ESS of any tensor, and `total` the sum over tensors of each
/// tensor's total ESS (sum over channels, mean over indices).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiReport {
    /// One report per tensor, each with its [`Report::tensor`] name.
    pub reports: Vec<Report>,
}

/// The across-tensor statistics of one measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AcrossTensors {
    /// Mean over tensors of each tensor's mean ESS.
    pub mean: f64,
    /// Largest ESS of any tensor.
    pub max: f64,
    /// Sum over tensors of each tensor's total ESS.
    pub total: f64,
}

impl MultiReport {
    /// The across-tensor statistics of the `k`-th measure.
    pub fn across(&self, k: usize) -> AcrossTensors {
        let sums = self.reports.iter().map(|r| &r.measures[k].summary);
        let n = self.reports.len() as f64;
        AcrossTensors {
            mean: sums.clone().map(|s| s.mean).sum::<f64>() / n,
            max: sums.clone().map(|s| s.max).fold(f64::NEG_INFINITY, f64::max),
            total: sums.map(|s| s.total_mean).sum(),
        }
    }
}

struct MultiSummaryJson<'a>(&'a MultiReport);

impl Serialize for MultiSummaryJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("tensors", &r.reports.len())?;
        if let Some(first) = r.reports.first() {
            for (k, measure) in first.measures.iter().enumerate() {
                m.serialize_entry(&measure.key(), &r.across(k))?;
            }
        }
        m.end()
    }
}

impl Serialize for MultiReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("tensors", &self.reports)?;
        m.serialize_entry("summary", &MultiSummaryJson(self))?;
        m.end()
    }
}

/// Builds the operator of `(channels, rows, cols)` row-major data once and computes
/// every requested measure (and the sweep's thresholds) with one library call,
/// driving the progress bar from the library's progress callback.
///
/// # Errors
/// Everything the library refuses: a shape that does not fit the block, non-finite
/// or non-causal entries (unless `req.causal_part`), invalid indices or measures,
/// markers out of range or with indices that exclude one the baseline needs.
pub fn analyse<T: Scalar>(
    file: &str,
    data: &[T],
    shape: [usize; 3],
    dtype: &'static str,
    req: &Request,
) -> Result<Report, EssError> {
    analyse_batch(file, data, [1, shape[0], shape[1], shape[2]], false, dtype, req)
}

/// Like [`analyse`] for `(batch, channels, rows, cols)` row-major data: with
/// `is_batch`, the `batch` operators are the items of a batch of inputs of one
/// layer, reported as the mean over items (and the standard deviation);
/// otherwise `batch` must be 1.
///
/// # Errors
/// As [`analyse`].
pub fn analyse_batch<T: Scalar>(
    file: &str,
    data: &[T],
    shape: [usize; 4],
    is_batch: bool,
    dtype: &'static str,
    req: &Request,
) -> Result<Report, EssError> {
    let [items, channels, rows, cols] = shape;
    let per_item = channels * rows * cols;
    let mut ops = Vec::with_capacity(items);
    for k in 0..items {
        let chunk = data.get(k * per_item..(k + 1) * per_item).unwrap_or(&[]);
        let mats = DenseOperator::matrices_from_row_major(chunk, channels, rows, cols)?;
        ops.push(if req.causal_part {
            DenseOperator::from_causal_part(mats, req.block)?
        } else {
            DenseOperator::new(mats, req.block)?
        });
    }
    let first = ops.first().ok_or_else(|| EssError::Empty {
        what: "batch".into(),
        hint: "the batch axis has size 0: give at least one input".into(),
    })?;
    if !is_batch {
        return analyse_operator(file, first, dtype, req);
    }
    let len = first.seq_len();
    if let Some(mk) = &req.markers {
        check_markers(mk, &req.indices, len)?;
    }
    let mut all = req.measures.clone();
    all.extend(req.sweep.iter().map(|&t| Measure::Tolerance(t)));
    let bar = Arc::new(ProgressBar::on_stderr());
    let opts = req.options().with_progress({
        let bar = Arc::clone(&bar);
        move |p| {
            bar.update(p);
            ControlFlow::Continue(())
        }
    });
    let k = req.measures.len();
    let mut report = if is_batch {
        let batches = ess::over_operators(&ops, &all, &opts);
        bar.finish();
        let batches = batches?;
        let means: Vec<Profile> = batches.iter().map(|b| b.mean_profile()).collect();
        let mut report = Report::from_profiles(file, dtype, req.block, req.tss, &means[..k]);
        for (m, b) in report.measures.iter_mut().zip(&batches) {
            m.std = Some(b.std.clone());
            if let Some(mk) = &req.markers {
                m.markers = Some(b.marker_modulation(&mk.positions, mk.window)?);
            }
        }
        report.batch = Some(items);
        if !req.sweep.is_empty() {
            report.sweep = ToleranceSweep::from_profiles(means[k..].to_vec())?.points();
        }
        report
    } else {
        let profiles = ess::profiles(first, &all, &opts);
        bar.finish();
        let profiles = profiles?;
        let mut report = Report::from_profiles(file, dtype, req.block, req.tss, &profiles[..k]);
        if let Some(mk) = &req.markers {
            for (m, p) in report.measures.iter_mut().zip(&profiles) {
                m.markers = Some(p.marker_modulation(&mk.positions, mk.window)?);
            }
        }
        if !req.sweep.is_empty() {
            report.sweep = ToleranceSweep::from_profiles(profiles[k..].to_vec())?.points();
        }
        report
    };
    report.markers = req.markers.clone();
    Ok(report)
}

/// Computes every requested measure (and the sweep and markers) of one
/// operator of any kind with one library call — the structured path when it has
/// a realization — driving the progress bar.
///
/// # Errors
/// Everything the library refuses.
pub fn analyse_operator<O: LinearOperator + ?Sized>(
    file: &str,
    op: &O,
    dtype: &'static str,
    req: &Request,
) -> Result<Report, EssError> {
    if let Some(mk) = &req.markers {
        check_markers(mk, &req.indices, op.seq_len())?;
    }
    let mut all = req.measures.clone();
    all.extend(req.sweep.iter().map(|&t| Measure::Tolerance(t)));
    let bar = Arc::new(ProgressBar::on_stderr());
    let opts = req.options().with_progress({
        let bar = Arc::clone(&bar);
        move |p| {
            bar.update(p);
            ControlFlow::Continue(())
        }
    });
    let k = req.measures.len();
    let profiles = ess::profiles(op, &all, &opts);
    bar.finish();
    let profiles = profiles?;
    let mut report = Report::from_profiles(file, dtype, op.block_shape(), req.tss, &profiles[..k]);
    if let Some(mk) = &req.markers {
        for (m, p) in report.measures.iter_mut().zip(&profiles) {
            m.markers = Some(p.marker_modulation(&mk.positions, mk.window)?);
        }
    }
    if !req.sweep.is_empty() {
        report.sweep = ToleranceSweep::from_profiles(profiles[k..].to_vec())?.points();
    }
    report.markers = req.markers.clone();
    Ok(report)
}

/// Checks markers against the sequence length before anything is computed:
/// positions in `1..=L-2` and every index evaluated (the baseline uses every
/// position).
fn check_markers(mk: &Markers, indices: &Indices, len: usize) -> Result<(), EssError> {
    if let Some(&bad) = mk.positions.iter().find(|&&t| t == 0 || t + 2 > len) {
        return Err(EssError::MarkerOutOfRange { position: bad, max: len.saturating_sub(2), len });
    }
    let evaluated = indices.resolve(len)?;
    if let Some(missing) = (1..len).find(|i| evaluated.binary_search(i).is_err()) {
        return Err(EssError::IndexNotEvaluated {
            what: "--mark".into(),
            index: missing,
            hint: "marker modulation compares every position with a baseline, so every index 1..=L-1 is evaluated; drop --indices (or pass --indices all)".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two channels of a causal 6×6 operator with rank-one Hankel blocks
    /// (channel 0) and a generic one (channel 1).
    fn data() -> Vec<f64> {
        let mut v = Vec::new();
        for c in 0..2 {
            for r in 0..6 {
                for s in 0..6 {
                    let x = if c == 0 { (r + 1) as f64 * (s + 2) as f64 } else { ((7 * r + 3 * s) as f64).sin() };
                    v.push(if s <= r { x } else { 0.0 });
                }
            }
        }
        v
    }

    fn request(measures: Vec<Measure>) -> Request {
        Request { measures, tss: Some(3), ..Request::default() }
    }

    #[test]
    fn a_report_holds_any_number_of_measures_matching_the_library() {
        let measures = vec![
            Measure::Entropy,
            Measure::Tolerance(Tolerance::Relative(1e-3)),
            Measure::Tolerance(Tolerance::Absolute(0.5)),
            Measure::Tolerance(Tolerance::NumericalRank),
        ];
        let r = analyse("x.npy", &data(), [2, 6, 6], "f64", &request(measures.clone())).unwrap();
        let names: Vec<&str> = r.measures.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["entropy", "tolerance", "tolerance_2", "tolerance_3"]);
        assert_eq!((r.channels, r.seq_len, r.indices.clone()), (2, 6, vec![1, 2, 3, 4, 5]));
        assert_eq!(r.tolerance(), Some(Tolerance::Relative(1e-3)), "the first tolerance measure");

        let mats = DenseOperator::matrices_from_row_major(&data(), 2, 6, 6).unwrap();
        let op = DenseOperator::new(mats, BlockShape::SISO).unwrap();
        let expect = ess::profiles(&op, &measures, &EssOptions::default()).unwrap();
        for (m, p) in r.measures.iter().zip(&expect) {
            assert_eq!(m.measure, p.measure());
            assert_eq!(m.values, p.values());
            assert_eq!(m.summary.mean, p.mean());
            assert_eq!(m.summary.channel_max, p.channel_maxes());
            assert_eq!(m.summary.utilization, Some(p.mean() / 3.0));
        }
        assert_eq!(r.measure("tolerance_3").unwrap().values[0], vec![1.0; 5], "tril(u vᵀ) has rank one");

        // Every measure reaches the JSON, under its own key, counts as integers.
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        for key in ["entropy_ess", "tolerance_ess", "tolerance_2_ess", "tolerance_3_ess"] {
            assert!(json["channels"][1][key].is_array(), "{key}");
            assert!(json["summary"][key]["channel_mean"].is_array(), "{key}");
        }
        assert!(json["channels"][0]["tolerance_3_ess"][0].is_u64());
        assert!(json["channels"][0]["entropy_ess"][0].is_f64());
        assert_eq!(json["tolerance"]["mode"], "relative");
    }

    #[test]
    fn one_measure_and_no_tolerance() {
        let r = analyse("x.npy", &data(), [2, 6, 6], "f64", &request(vec![Measure::Entropy])).unwrap();
        assert_eq!(r.measures.len(), 1);
        assert_eq!(r.tolerance(), None);
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert!(json["tolerance"].is_null());
        assert!(json["channels"][0].get("tolerance_ess").is_none());
    }

    #[test]
    fn names_labels_and_titles() {
        let t = Measure::Tolerance(Tolerance::NumericalRank);
        assert_eq!(measure_names(&[t, Measure::Entropy, t, t]), ["tolerance", "entropy", "tolerance_2", "tolerance_3"]);
        assert_eq!(short_label("tolerance_2"), "tol_2");
        assert_eq!(short_label("entropy"), "entropy");
        assert_eq!(describe_tolerance(Tolerance::Relative(1e-3)), "relative 1e-3");
    }

    #[test]
    fn the_library_refuses_empty_measures_and_non_causal_data() {
        assert!(analyse("x.npy", &data(), [2, 6, 6], "f64", &request(vec![])).is_err());
        let mut d = data();
        d[1] = 1.0;
        let err = analyse("x.npy", &d, [2, 6, 6], "f64", &Request::default()).unwrap_err();
        assert!(matches!(err, EssError::NotCausal { channel: 0, row: 0, col: 1, .. }), "{err}");
        let r = analyse("x.npy", &d, [2, 6, 6], "f64", &Request { causal_part: true, ..Request::default() });
        assert!(r.is_ok());
    }

    /// The report as version 0.1 wrote it, with derived `Serialize`.
    mod v01 {
        use serde::Serialize;
        #[derive(Serialize)]
        pub struct MeasureSummary {
            pub mean: f64,
            pub max: f64,
            pub channel_mean: Vec<f64>,
            pub channel_max: Vec<f64>,
            pub total_mean: f64,
            pub utilization: Option<f64>,
        }
        impl From<&super::MeasureSummary> for MeasureSummary {
            fn from(s: &super::MeasureSummary) -> Self {
                MeasureSummary {
                    mean: s.mean,
                    max: s.max,
                    channel_mean: s.channel_mean.clone(),
                    channel_max: s.channel_max.clone(),
                    total_mean: s.total_mean,
                    utilization: s.utilization,
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
    }

    /// Every field of version 0.1 keeps its name and value; the only addition to
    /// a default report is `normalized_mean` in each measure's summary.
    #[test]
    fn json_keeps_every_field_of_version_0_1() {
        for tss in [None, Some(4)] {
            let r = analyse("dir/x.npy", &data(), [2, 6, 6], "f64", &Request { tss, ..Request::default() }).unwrap();
            let (tol, ent) = (&r.measures[0], &r.measures[1]);
            let old = v01::Report {
                file: r.file.clone(),
                seq_len: r.seq_len,
                block: [1, 1],
                dtype: "f64",
                path: "dense",
                tss,
                tolerance: v01::ToleranceJson { mode: "relative", value: Some(1e-3) },
                channels: (0..2)
                    .map(|c| v01::ChannelJson {
                        channel: c,
                        index: r.indices.clone(),
                        tolerance_ess: tol.values[c].iter().map(|&v| v as u64).collect(),
                        entropy_ess: ent.values[c].clone(),
                    })
                    .collect(),
                summary: v01::Summary {
                    channels: 2,
                    evaluated_indices: 5,
                    tolerance_ess: (&tol.summary).into(),
                    entropy_ess: (&ent.summary).into(),
                },
            };
            let mut now = serde_json::to_value(&r).unwrap();
            for key in ["tolerance_ess", "entropy_ess"] {
                let added = now["summary"][key].as_object_mut().unwrap().remove("normalized_mean");
                assert!(added.unwrap().is_f64());
            }
            assert_eq!(now, serde_json::to_value(&old).unwrap());
            // And in the same order: the 0.1 keys come first, as before.
            let text = serde_json::to_string(&r).unwrap();
            let at = |k: &str| text.find(k).unwrap();
            assert!(
                at("\"file\"") < at("\"seq_len\"")
                    && at("\"tolerance\"") < at("\"channels\"")
                    && at("\"channels\"") < at("\"summary\"")
            );
        }
    }
}
