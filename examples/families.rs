//! Builds one operator of every family from raw arrays (plain `Vec<f64>`s laid out
//! row-major, as exported from NumPy/PyTorch) and prints its ESS summary.
//!
//! Run with `cargo run --release --example families`.

use effective_state_size::ess::{self, EssOptions, Indices, Measure, Tolerance};
use effective_state_size::*;

/// The rows of a row-major `(channels, width)` buffer.
fn rows(data: &[f64], width: usize) -> Vec<&[f64]> {
    data.chunks(width).collect()
}

/// A deterministic pseudo-random vector in [-1, 1).
fn raw(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

fn in_unit(n: usize, seed: u64, lo: f64) -> Vec<f64> {
    raw(n, seed).into_iter().map(|x| lo + (1.0 - lo) * (x + 1.0) / 2.0).collect()
}

fn report<O: LinearOperator>(op: &O) -> Result<()> {
    let opts = EssOptions::default().with_indices(Indices::Stride(4));
    let ps = ess::profiles(op, &[Measure::Tolerance(Tolerance::Relative(1e-3)), Measure::Entropy], &opts)?;
    let tss = op.theoretical_state_size().map_or("-".to_string(), |t| t.to_string());
    println!(
        "{:<34} L={:<4} ch={:<2} TSS={:<4} tol-ESS mean {:>6.2} max {:>4} | entropy-ESS mean {:>6.2} | {}",
        op.family(),
        op.seq_len(),
        op.channels(),
        tss,
        ps[0].mean(),
        ps[0].max(),
        ps[1].mean(),
        ps[0].computed_by().name()
    );
    Ok(())
}

fn main() -> Result<()> {
    let (h, len, d, n) = (2, 64, 8, 6);
    let (q, k) = (raw(h * len * d, 1), raw(h * len * d, 2));

    report(&SoftmaxAttention::new(&q, &k, Dims { channels: h, len, width: d })?)?;
    report(&SoftmaxAttention::new(&q, &k, Dims { channels: h, len, width: d })?.with_window(8)?)?;
    report(
        &LinearAttention::new(&q, &k, Dims { channels: h, len, width: d })?
            .with_feature_map(FeatureMap::EluPlusOne)?
            .normalized()?,
    )?;
    report(&DecayedLinearAttention::new(&q, &k, &[0.9, 0.7], Dims { channels: h, len, width: d })?)?;
    report(&GatedLinearAttention::new(&q, &k, &in_unit(h * len * d, 3, 0.8), Dims { channels: h, len, width: d })?)?;
    report(&DeltaNet::new(&q, &k, &in_unit(h * len, 4, 0.0), Dims { channels: h, len, width: d })?)?;
    report(&DeltaNet::gated(
        &q,
        &k,
        &in_unit(h * len, 4, 0.0),
        &in_unit(h * len, 5, 0.9),
        Dims { channels: h, len, width: d },
    )?)?;

    report(&FirConvolution::new(&rows(&raw(h * 4, 6), 4), len)?)?;
    report(&LongConvolution::new(&rows(&raw(h * len, 7), len))?)?;
    report(&GatedConvolution::new(
        &rows(&raw(h * 4, 8), 4),
        &rows(&raw(h * len, 9), len),
        &rows(&raw(h * len, 10), len),
    )?)?;

    // S4D-style continuous diagonal system, discretised by zero-order hold.
    let a_cont: Vec<f64> = (0..n).map(|j| -0.5 - j as f64).collect();
    let (a_bar, b_bar) = zoh_diagonal(&a_cont, &vec![1.0; n], 0.1)?;
    report(&LtiStateSpace::diagonal(&a_bar, &b_bar, &raw(n, 11), Dims { channels: 1, len, width: n })?)?;
    report(&TimeVaryingStateSpace::new(
        &raw(len * n * n, 12).iter().map(|x| 0.3 * x).collect::<Vec<_>>(),
        &raw(len * n, 13),
        &raw(len * n, 14),
        Dims { channels: 1, len, width: n },
        BlockShape::SISO,
    )?)?;
    let delta: Vec<f64> = raw(h * len, 15).iter().map(|x| (1.0 + (x - 1.0).exp()).ln()).collect();
    report(&MambaChannels::new(
        &a_cont.iter().chain(&a_cont).copied().collect::<Vec<_>>(),
        &delta,
        &raw(len * n, 16),
        &raw(len * n, 17),
        Dims { channels: h, len, width: n },
    )?)?;
    report(&Ssd::new(
        &in_unit(h * len, 18, 0.7),
        &raw(h * len * n, 19),
        &raw(h * len * n, 20),
        Dims { channels: h, len, width: n },
    )?)?;
    Ok(())
}
