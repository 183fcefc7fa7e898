//! ESS at initialization: a Mamba (S6) layer and a gated-linear-attention (GLA)
//! layer with their published initializations, for state sizes N = 8 … 256.
//!
//! The ESS paper reports that at initialization S6's ESS stalls as its TSS grows,
//! while GLA's keeps growing; this example shows what this crate measures.
//!
//! * **S6** (Mamba): `A_n = −(n+1)` (S4D-real), `Δ_t = softplus(w·x_t + b)` with
//!   `softplus(b)` log-uniform in `[1e-3, 1e-1]` per channel (Mamba's `dt_init`),
//!   `B_t = W_B x_t`, `C_t = W_C x_t` with Gaussian weights of variance `1/D`.
//! * **GLA**: `q_t = W_q x_t`, `k_t = W_k x_t / √N`, gates
//!   `α_t = sigmoid(W_α x_t)^{1/16}` (the GLA paper's normaliser 16), feature
//!   dimension `N`.
//!
//! Both read the same random input `x_t ∈ R^64`, `L = 4N` steps, 2 channels
//! (heads). ESS is taken at the middle index `i = L/2`, where the boundary bound
//! `min(i, L−i) = 2N` is above the TSS, on the dense path (one SVD per channel).
//!
//! Run with `cargo run --release --example initialization` (a few seconds).

use effective_state_size::ess::{self, EssOptions, Indices, Measure, Method, Tolerance};
use effective_state_size::{Dims, GatedLinearAttention, LinearOperator, MambaChannels, Result};

/// Deterministic Gaussian numbers (xorshift and Box–Muller), so that the example
/// prints the same table everywhere.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    fn normals(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| scale * self.normal()).collect()
    }
}

/// Width of the input `x_t`.
const D_MODEL: usize = 64;
/// Channels (Mamba) or heads (GLA).
const CHANNELS: usize = 2;

/// `y[t] = W x_t` for `x: (L, D)` and `w: (out, D)`, row-major `(L, out)`.
fn project(x: &[f64], w: &[f64], len: usize, out: usize) -> Vec<f64> {
    let mut y = vec![0.0; len * out];
    for t in 0..len {
        for o in 0..out {
            y[t * out + o] = (0..D_MODEL).map(|j| w[o * D_MODEL + j] * x[t * D_MODEL + j]).sum();
        }
    }
    y
}

fn softplus(z: f64) -> f64 {
    if z > 20.0 {
        z
    } else {
        z.exp().ln_1p()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// A Mamba (S6) layer at initialization on input `x`.
fn mamba(x: &[f64], n: usize, len: usize, r: &mut Rng) -> Result<MambaChannels<f64>> {
    let s = (1.0 / D_MODEL as f64).sqrt();
    let a: Vec<f64> = (0..CHANNELS).flat_map(|_| (0..n).map(|k| -((k + 1) as f64))).collect();
    let mut delta = Vec::with_capacity(CHANNELS * len);
    for _ in 0..CHANNELS {
        // dt = exp(U(ln 1e-3, ln 1e-1)); bias = softplus⁻¹(dt); small input weights.
        let dt = (1e-3f64.ln() + r.uniform() * (1e-1f64.ln() - 1e-3f64.ln())).exp();
        let bias = dt + (-(-dt).exp_m1()).ln();
        let w = r.normals(D_MODEL, 0.1 * s);
        for t in 0..len {
            let z: f64 = (0..D_MODEL).map(|j| w[j] * x[t * D_MODEL + j]).sum::<f64>() + bias;
            delta.push(softplus(z));
        }
    }
    let b = project(x, &r.normals(n * D_MODEL, s), len, n);
    let c = project(x, &r.normals(n * D_MODEL, s), len, n);
    MambaChannels::new(&a, &delta, &b, &c, Dims { channels: CHANNELS, len, width: n })
}

/// A GLA layer at initialization on input `x`.
fn gla(x: &[f64], n: usize, len: usize, r: &mut Rng) -> Result<GatedLinearAttention<f64>> {
    let s = (1.0 / D_MODEL as f64).sqrt();
    let (mut q, mut k, mut alpha) = (vec![], vec![], vec![]);
    for _ in 0..CHANNELS {
        q.extend(project(x, &r.normals(n * D_MODEL, s), len, n));
        k.extend(project(x, &r.normals(n * D_MODEL, s / (n as f64).sqrt()), len, n));
        let logits = project(x, &r.normals(n * D_MODEL, s), len, n);
        alpha.extend(logits.iter().map(|&z| sigmoid(z).powf(1.0 / 16.0)));
    }
    GatedLinearAttention::new(&q, &k, &alpha, Dims { channels: CHANNELS, len, width: n })
}

/// One row of the table: mean over channels of tolerance-ESS (relative 1e-3) and
/// entropy-ESS at the middle index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// The state size `N` (the TSS of both layers).
    pub n: usize,
    /// S6: tolerance-ESS and entropy-ESS.
    pub s6: (f64, f64),
    /// GLA: tolerance-ESS and entropy-ESS.
    pub gla: (f64, f64),
}

fn middle_ess<O: LinearOperator>(op: &O) -> Result<(f64, f64)> {
    let opts = EssOptions::default().with_indices(Indices::Middle).with_method(Method::Dense);
    let ps = ess::profiles(op, &[Measure::Tolerance(Tolerance::Relative(1e-3)), Measure::Entropy], &opts)?;
    Ok((ps[0].mean(), ps[1].mean()))
}

/// Measures both layers for every state size in `ns`.
pub fn run(ns: &[usize]) -> Result<Vec<Row>> {
    ns.iter()
        .map(|&n| {
            let len = 4 * n;
            // One seed per N, so that each row can be recomputed on its own.
            let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
            let x = r.normals(len * D_MODEL, 1.0);
            let s6 = middle_ess(&mamba(&x, n, len, &mut r)?)?;
            let g = middle_ess(&gla(&x, n, len, &mut r)?)?;
            Ok(Row { n, s6, gla: g })
        })
        .collect()
}

/// The table as the example prints it.
pub fn table(rows: &[Row]) -> String {
    let mut s =
        String::from("    N   TSS |  S6 tol-ESS  S6 ent-ESS  S6 tol/TSS | GLA tol-ESS GLA ent-ESS GLA tol/TSS\n");
    for r in rows {
        s += &format!(
            "{:>5} {:>5} | {:>11.1} {:>11.2} {:>11.3} | {:>11.1} {:>11.2} {:>11.3}\n",
            r.n,
            r.n,
            r.s6.0,
            r.s6.1,
            r.s6.0 / r.n as f64,
            r.gla.0,
            r.gla.1,
            r.gla.0 / r.n as f64
        );
    }
    s
}

/// The state sizes of the printed table.
pub const STATE_SIZES: [usize; 6] = [8, 16, 32, 64, 128, 256];

#[allow(dead_code)] // `main` is unused when the file is included by tests/suite/workflows.rs
fn main() -> Result<()> {
    print!("{}", table(&run(&STATE_SIZES)?));
    Ok(())
}
