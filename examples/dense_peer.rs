//! The dense path on one matrix, timed: the Rust side of
//! `benches/numpy_dense_peer.py` (which runs it against NumPy on the same matrix).
//!
//! `cargo run --release --example dense_peer -- T.f64 L REPS` reads an `L × L`
//! row-major little-endian `f64` file, computes entropy-ESS and tolerance-ESS
//! (relative 1e-3) at every index `REPS` times and prints one line per
//! repetition, `seconds <s> checksum <sum of both profiles>`. Threads:
//! `RAYON_NUM_THREADS`; backend: `ESS_BACKEND=nalgebra` or `bidiagonal` (else the
//! default).

use effective_state_size::ess::{self, EssOptions, Measure, Tolerance};
use effective_state_size::nalgebra::DMatrix;
use effective_state_size::spectrum::{BidiagonalSvd, NalgebraSvd};
use effective_state_size::DenseOperator;
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, len, reps] = args.as_slice() else {
        return Err("usage: dense_peer FILE L REPS".into());
    };
    let (len, reps): (usize, usize) = (len.parse()?, reps.parse()?);
    let bytes = std::fs::read(path)?;
    if bytes.len() != len * len * 8 {
        return Err(format!("{path}: expected {} bytes, found {}", len * len * 8, bytes.len()).into());
    }
    let values: Vec<f64> = bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
    let t = DMatrix::from_row_slice(len, len, &values);
    let op = DenseOperator::single(t)?;
    let measures = [Measure::Entropy, Measure::Tolerance(Tolerance::Relative(1e-3))];
    let opts = match std::env::var("ESS_BACKEND").as_deref() {
        Ok("nalgebra") => EssOptions::default().with_backend(Arc::new(NalgebraSvd::default())),
        Ok("bidiagonal") => EssOptions::default().with_backend(Arc::new(BidiagonalSvd::default())),
        _ => EssOptions::default(),
    };
    for _ in 0..reps {
        let start = Instant::now();
        let profiles = ess::profiles(&op, &measures, &opts)?;
        let seconds = start.elapsed().as_secs_f64();
        let checksum: f64 = profiles.iter().map(|p| p.values()[0].iter().sum::<f64>()).sum();
        println!("seconds {seconds:.6} checksum {checksum:.6}");
    }
    Ok(())
}
