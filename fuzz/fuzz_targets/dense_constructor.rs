//! Arbitrary shapes, block sizes, values and options into `DenseOperator` and the
//! ESS entry points.
#![no_main]

use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::{BlockShape, DenseOperator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let (c, rows, cols) = (data[0] as usize % 4, data[1] as usize % 24, data[2] as usize % 24);
    let block = BlockShape { outputs: data[3] as usize % 4, inputs: data[4] as usize % 4 };
    let mode = data[5];
    let values: Vec<f64> = data[6..]
        .chunks(8)
        .map(|ch| {
            let mut b = [0u8; 8];
            b[..ch.len()].copy_from_slice(ch);
            f64::from_le_bytes(b)
        })
        .collect();
    let Ok(mats) = DenseOperator::matrices_from_row_major(&values, c, rows, cols) else { return };
    let op = if mode & 1 == 0 { DenseOperator::new(mats, block) } else { DenseOperator::from_causal_part(mats, block) };
    let Ok(op) = op else { return };
    let tol = match mode >> 1 & 3 {
        0 => Tolerance::NumericalRank,
        1 => Tolerance::Relative(values.first().copied().unwrap_or(1e-3)),
        _ => Tolerance::Absolute(values.last().copied().unwrap_or(1e-3)),
    };
    let indices = match mode >> 3 & 3 {
        0 => Indices::All,
        1 => Indices::Stride(mode as usize >> 5),
        2 => Indices::Middle,
        _ => Indices::List(data.iter().take(3).map(|&b| b as usize).collect()),
    };
    let opts = EssOptions::default().with_indices(indices).with_method(Method::Auto);
    let _ = ess::profiles(&op, &[Measure::Entropy, Measure::Tolerance(tol)], &opts);
    let _ = ess::singular_values(&op, 0, 1);
});
