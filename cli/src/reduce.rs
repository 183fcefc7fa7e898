//! `ess reduce`: distil an operator into a small recurrence, write it as a
//! realization file and report the certified and the measured error.

use crate::error::{CliError, IoAction};
use effective_state_size::ess::ComputedBy;
use effective_state_size::reduction::{reduce, Algorithm, ReduceOptions, Reduction};
use effective_state_size::{EssError, LinearOperator};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

/// One channel of the JSON report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelJson {
    /// The channel.
    pub channel: usize,
    /// The channel's own order (states kept at its busiest cut).
    pub order: usize,
    /// The certified bound on `‖T − T_r‖₂`.
    pub error_bound: f64,
    /// The measured `‖T − T_r‖₂`, `null` when `L` is too large to form `T`.
    pub error: Option<f64>,
    /// The Eckart–Young lower bound `max_i σ_{R+1}(H_i)`.
    pub lower_bound: f64,
    /// `2·Σ_k max_i σ_k(H_i)` over the truncated values (reported, not certified).
    pub classical_bound: f64,
}

/// The JSON report of `ess reduce --format json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReduceReport {
    /// The common order `R` of the written file.
    pub order: usize,
    /// `"structured"` (balanced truncation of a realization), `"dense"`
    /// (realization from the Hankel blocks of `T`) or `"kernel"` (time-invariant
    /// model of a convolution kernel).
    pub path: &'static str,
    /// Per channel.
    pub channels: Vec<ChannelJson>,
}

/// Reduces `op` and writes the result to `out`; returns the report.
///
/// `measure_up_to`: the error is measured when `L ≤ measure_up_to`.
pub fn run<O: LinearOperator<Scalar = f64> + ?Sized>(
    file: &str,
    op: &O,
    opts: ReduceOptions,
    measure_up_to: usize,
    out: &Path,
) -> Result<(ReduceReport, Reduction<f64>), CliError> {
    let opts = opts.with_measured_error(op.seq_len() <= measure_up_to);
    let red = reduce(op, &opts).map_err(|source| CliError::Analysis { file: file.to_string(), source })?;
    write(&red, out)?;
    let report = ReduceReport {
        order: red.state_size(),
        path: match (red.algorithm(), red.method()) {
            (Algorithm::ConvolutionKernel, _) => "kernel",
            (_, ComputedBy::Structured) => "structured",
            _ => "dense",
        },
        channels: red
            .channels()
            .iter()
            .map(|c| ChannelJson {
                channel: c.channel,
                order: c.order,
                error_bound: c.error_bound,
                error: c.error,
                lower_bound: c.lower_bound,
                classical_bound: c.classical_bound,
            })
            .collect(),
    };
    Ok((report, red))
}

/// Writes `A (C, L, R, R)`, `B (C, L, R, m)`, `C (C, L, p, R)`, `D (C, L, p, m)`
/// in f64 to a `.safetensors` file.
pub fn write(red: &Reduction<f64>, out: &Path) -> Result<(), CliError> {
    let (ch, len, r) = (red.channels(), red.seq_len(), red.state_size());
    let b = red.block_shape();
    let (p, m) = (b.outputs, b.inputs);
    let (mut a_v, mut b_v, mut c_v, mut d_v) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let push = |v: &mut Vec<u8>, mat: effective_state_size::nalgebra::DMatrixView<'_, f64>| {
        for i in 0..mat.nrows() {
            for j in 0..mat.ncols() {
                v.extend_from_slice(&mat[(i, j)].to_le_bytes());
            }
        }
    };
    let zero = effective_state_size::nalgebra::DMatrix::<f64>::zeros(p, m);
    for c in ch {
        let real = &c.realization;
        for t in 0..len {
            push(&mut a_v, real.a(t).to_dense().as_view());
            push(&mut b_v, real.b(t));
            push(&mut c_v, real.c(t));
            push(&mut d_v, real.d(t).unwrap_or(zero.as_view()));
        }
    }
    let n = ch.len();
    fn view(data: &[u8], shape: Vec<usize>) -> safetensors::tensor::TensorView<'_> {
        safetensors::tensor::TensorView::new(safetensors::Dtype::F64, shape, data).expect("sizes match the shape")
    }
    let views = vec![
        ("A", view(&a_v, vec![n, len, r, r])),
        ("B", view(&b_v, vec![n, len, r, m])),
        ("C", view(&c_v, vec![n, len, p, r])),
        ("D", view(&d_v, vec![n, len, p, m])),
    ];
    let bytes = safetensors::serialize(views, None).map_err(|e| CliError::Io {
        path: out.to_owned(),
        action: IoAction::Write,
        source: std::io::Error::other(e.to_string()),
    })?;
    std::fs::write(out, bytes).map_err(|source| CliError::Io { path: out.to_owned(), action: IoAction::Write, source })
}

/// The table of `ess reduce`.
pub fn table(file: &str, report: &ReduceReport, red: &Reduction<f64>, out: &Path) -> String {
    let mut s = String::new();
    let b = red.block_shape();
    let _ = writeln!(
        s,
        "{file}: L = {}, block {}×{}, {} channel(s), {} path, order R = {} → {}",
        red.seq_len(),
        b.outputs,
        b.inputs,
        report.channels.len(),
        report.path,
        report.order,
        out.display()
    );
    let _ =
        writeln!(s, "{:>8} {:>6} {:>14} {:>14} {:>14}", "channel", "order", "error bound", "measured", "lower bound");
    for c in &report.channels {
        let measured = c.error.map_or("n/a".to_string(), |e| format!("{e:.4e}"));
        let _ = writeln!(
            s,
            "{:>8} {:>6} {:>14.4e} {:>14} {:>14.4e}",
            c.channel, c.order, c.error_bound, measured, c.lower_bound
        );
    }
    s
}

/// Maps a library error without a file.
pub fn lib_error(e: EssError) -> CliError {
    CliError::Ess(e)
}
