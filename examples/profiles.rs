//! Prints ESS profiles of a few operators with known closed forms.
//!
//! Run with `cargo run --release --example profiles`.

use effective_state_size::ess::{self, EssOptions, Indices, Measure, Tolerance};
use effective_state_size::{DenseOperator, Dims, FirConvolution, LinearOperator, LtiStateSpace, Result};
use nalgebra::DMatrix;

fn show<O: LinearOperator>(name: &str, op: &O) -> Result<()> {
    let opts = EssOptions::default().with_indices(Indices::Stride(8));
    let ps = ess::profiles(op, &[Measure::Tolerance(Tolerance::NumericalRank), Measure::Entropy], &opts)?;
    println!(
        "{name} (L = {}, TSS = {:?}, path = {})",
        op.seq_len(),
        op.theoretical_state_size(),
        ps[0].computed_by().name()
    );
    println!("  i        {}", ps[0].indices().iter().map(|i| format!("{i:>6}")).collect::<String>());
    println!("  tol-ESS  {}", ps[0].channel(0).iter().map(|v| format!("{v:>6.0}")).collect::<String>());
    println!("  ent-ESS  {}", ps[1].channel(0).iter().map(|v| format!("{v:>6.2}")).collect::<String>());
    Ok(())
}

fn main() -> Result<()> {
    let len = 64;
    show("FIR kernel, k = 5 (expect 4)", &FirConvolution::new(&[[1.0, -0.7, 0.4, 0.2, -0.1]], len)?)?;
    show(
        "diagonal SSM, N = 3 (expect 3)",
        &LtiStateSpace::diagonal(
            &[0.9, 0.6, -0.4],
            &[1.0, 1.0, 1.0],
            &[1.0, -0.5, 0.8],
            Dims { channels: 1, len, width: 3 },
        )?,
    )?;
    let window = 6;
    let band =
        DMatrix::from_fn(
            len,
            len,
            |t, s| if s <= t && t - s < window { 1.0 / (1.0 + (t * s) as f64 * 0.01) } else { 0.0 },
        );
    show("banded matrix, width 6 (expect 5)", &DenseOperator::single(band)?)?;
    Ok(())
}
