//! Operators read from files: a dense `T` (see [`crate::input`]), a realization
//! in the standard form (`A`, `B`, `C`, optional `D`), or the parameters of a
//! structured family exported from a model (`--family`). Realizations and
//! families are computed in `f64` (exact from `f32` files) and use the
//! structured path, so `T` is never formed.
//!
//! Tensor names and layouts (row-major, no batch axis, as PyTorch code has them):
//!
//! | source | tensors |
//! |---|---|
//! | realization file | `A (C, L, R, R)` or diagonal `(C, L, R)`, `B (C, L, R, m)`, `C (C, L, p, R)`, `D (C, L, p, m)` (optional) |
//! | `--family mamba` | `A (D, N)` (continuous, ≤ 0) or `A_log (D, N)` (`A = -exp(A_log)`), `delta (L, D)` (after softplus), `B (L, N)`, `C (L, N)` |
//! | `--family ssd` | `A (H)` (continuous, ≤ 0) or `A_log (H)`, `dt (L, H)` (after softplus), `B (L, N)`, `C (L, N)` |
//! | `--family gla` | `q (L, H, d)`, `k (L, H, d)`, `alpha (L, H, d)` (gates in `[0, 1]`) |
//! | `--family retnet` | `q (L, H, d)`, `k (L, H, d)`, `gamma (H)` |
//! | `--family linear` | `q (L, H, d)`, `k (L, H, d)` |
//! | `--family deltanet` | `q (L, H, d)`, `k (L, H, d)`, `beta (L, H)`, `alpha (L, H)` (optional: gated DeltaNet) |
//! | `--family lti` | `A (C, N)` diagonal or `(C, N, N)`, `B (C, N)` or `(C, N, m)`, `C (C, N)` or `(C, p, N)`; `--len L` |
//! | `--family fir` | `h (C, k)`; `--len L` |
//!
//! Families use the post-update convention of the library (`y_t` reads the state
//! after the update, Mamba's convention); realization files the standard form.

use crate::error::{CliError, InputError, TensorProblem};
use crate::input::{self, Tensor};
use clap::ValueEnum;
use effective_state_size::nalgebra::DMatrix;
use effective_state_size::realization::RealizationBatch;
use effective_state_size::{
    BlockShape, DecayedLinearAttention, DeltaNet, Dims, EssError, FirConvolution, GatedLinearAttention,
    LinearAttention, LinearOperator, LtiStateSpace, MambaChannels, Ssd,
};
use std::path::Path;

/// The structured families `--family` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Family {
    /// Mamba (S6) selective SSM channels.
    Mamba,
    /// Mamba-2 (SSD) heads.
    Ssd,
    /// Gated linear attention.
    Gla,
    /// RetNet (decayed linear attention).
    Retnet,
    /// Linear attention (identity feature map).
    Linear,
    /// DeltaNet (gated when `alpha` is present).
    Deltanet,
    /// LTI state spaces (needs `--len`).
    Lti,
    /// FIR convolution (needs `--len`).
    Fir,
}

/// An operator in `f64` behind the library's trait.
pub type Operator = Box<dyn LinearOperator<Scalar = f64>>;

/// The named tensors of one file.
struct Tensors<'a> {
    file: &'a str,
    what: String,
    tensors: Vec<(String, Tensor)>,
}

impl Tensors<'_> {
    fn names(&self) -> Vec<String> {
        self.tensors.iter().map(|(n, _)| n.clone()).collect()
    }
    fn err(&self, source: InputError) -> CliError {
        CliError::Input { file: self.file.to_string(), source }
    }
    fn find(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
    /// The tensor `name` (values in f64, shape), or an error naming its layout.
    fn get(&self, name: &str, layout: &str) -> Result<(Vec<f64>, Vec<usize>), CliError> {
        match self.find(name) {
            Some(t) => Ok((t.to_f64(), t.shape.clone())),
            None => Err(self.missing(name, layout)),
        }
    }
    /// The error for a missing tensor `name`, naming its layout and the file's
    /// tensors.
    fn missing(&self, name: &str, layout: &str) -> CliError {
        self.err(InputError::MissingTensor(Box::new(TensorProblem {
            name: name.into(),
            what: self.what.clone(),
            layout: layout.into(),
            shape: Vec::new(),
            names: self.names(),
        })))
    }
    /// [`get`](Self::get), the values moved out of the file's tensors instead
    /// of copied (take each tensor once: it is left empty).
    fn take(&mut self, name: &str, layout: &str) -> Result<(Vec<f64>, Vec<usize>), CliError> {
        match self.tensors.iter().position(|(n, _)| n == name) {
            Some(i) => {
                let t = &mut self.tensors[i].1;
                Ok((t.take_f64(), t.shape.clone()))
            }
            None => Err(self.missing(name, layout)),
        }
    }
    /// [`get_rank`](Self::get_rank), moving the values as [`take`](Self::take).
    fn take_rank(&mut self, name: &str, layout: &str, rank: usize) -> Result<(Vec<f64>, Vec<usize>), CliError> {
        let got = self.take(name, layout)?;
        self.of_rank(name, layout, rank, got)
    }
    /// `name` with exactly `rank` axes.
    fn get_rank(&self, name: &str, layout: &str, rank: usize) -> Result<(Vec<f64>, Vec<usize>), CliError> {
        let got = self.get(name, layout)?;
        self.of_rank(name, layout, rank, got)
    }
    /// `got` (values, shape) of tensor `name` if it has exactly `rank`
    /// nonzero axes, else the error naming its layout.
    fn of_rank(
        &self,
        name: &str,
        layout: &str,
        rank: usize,
        (v, shape): (Vec<f64>, Vec<usize>),
    ) -> Result<(Vec<f64>, Vec<usize>), CliError> {
        if shape.len() != rank || shape.contains(&0) {
            return Err(self.shape_err(name, layout, &shape));
        }
        Ok((v, shape))
    }
    fn shape_err(&self, name: &str, layout: &str, shape: &[usize]) -> CliError {
        self.err(InputError::TensorShape(Box::new(TensorProblem {
            name: name.into(),
            what: self.what.clone(),
            layout: layout.into(),
            shape: shape.to_vec(),
            names: Vec::new(),
        })))
    }
    fn dtype(&self) -> &'static str {
        if self.tensors.iter().any(|(_, t)| t.dtype == "f64") {
            "f64"
        } else {
            "f32"
        }
    }
}

/// `(L, H, d)` → `(H, L, d)`, row-major.
fn heads_first(v: &[f64], len: usize, heads: usize, d: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len());
    for h in 0..heads {
        for t in 0..len {
            out.extend_from_slice(&v[(t * heads + h) * d..(t * heads + h + 1) * d]);
        }
    }
    out
}

/// Whether a file holds a realization in the standard form (tensors `A`, `B`, `C`).
pub fn is_realization_file(path: &Path) -> bool {
    let names = input::tensor_names(path);
    ["A", "B", "C"].iter().all(|n| names.iter().any(|m| m == n))
}

/// Reads a realization file (see the module docs) into an operator; returns it
/// and the file's dtype.
pub fn read_realization(path: &Path) -> Result<(Operator, &'static str), CliError> {
    let file = path.display().to_string();
    let mut t = Tensors { file: &file, what: "a realization file".into(), tensors: input::read_all(path)? };
    let dtype = t.dtype();
    // Moved out of the file's tensors, not copied: the peak holds the values
    // twice (read, then in the realizations), not three times.
    let (a, ashape) = t.take("A", "(C, L, R, R) or (C, L, R)")?;
    let (b, bshape) = t.take_rank("B", "(C, L, R, m)", 4)?;
    let (c, cshape) = t.take_rank("C", "(C, L, p, R)", 4)?;
    let block = BlockShape { outputs: cshape[2], inputs: bshape[3] };
    let d = match t.find("D") {
        Some(_) => Some(t.take_rank("D", "(C, L, p, m)", 4)?.0),
        None => None,
    };
    drop(t);
    let op = RealizationBatch::from_tensors(&a, &ashape, &b, &c, d.as_deref(), block)
        .map_err(|source| CliError::Analysis { file: file.clone(), source })?;
    Ok((Box::new(op), dtype))
}

/// Reads the parameters of `family` from a `.safetensors` file (see the module
/// docs for names and layouts); `len` is needed by `lti` and `fir`.
pub fn read_family(path: &Path, family: Family, len: Option<usize>) -> Result<(Operator, &'static str), CliError> {
    let file = path.display().to_string();
    let name = family.to_possible_value().map_or("?".into(), |v| v.get_name().to_string());
    let t = Tensors { file: &file, what: format!("--family {name}"), tensors: input::read_all(path)? };
    let lib = |source: EssError| CliError::Analysis { file: file.clone(), source };
    let need_len = || {
        len.ok_or_else(|| CliError::Args {
            flag: "--len",
            value: String::new(),
            problem: format!("--family {name} has no sequence axis: give the sequence length with --len L"),
        })
    };
    // A continuous A (≤ 0) given directly, or as A_log with A = -exp(A_log).
    let continuous = |layout: &str, rank: usize| -> Result<(Vec<f64>, Vec<usize>), CliError> {
        match (t.find("A"), t.find("A_log")) {
            (None, Some(_)) => {
                let (v, s) = t.get_rank("A_log", layout, rank)?;
                Ok((v.iter().map(|x| -x.exp()).collect(), s))
            }
            _ => t.get_rank("A", layout, rank),
        }
    };
    let qk = |t: &Tensors<'_>| -> Result<(Vec<f64>, Vec<f64>, Dims, usize), CliError> {
        let (q, qs) = t.get_rank("q", "(L, H, d)", 3)?;
        let (k, ks) = t.get_rank("k", "(L, H, d)", 3)?;
        if ks != qs {
            return Err(t.shape_err("k", &format!("the shape of q, {qs:?}"), &ks));
        }
        let (l, h, d) = (qs[0], qs[1], qs[2]);
        Ok((heads_first(&q, l, h, d), heads_first(&k, l, h, d), Dims { channels: h, len: l, width: d }, h))
    };
    let op: Operator = match family {
        Family::Mamba => {
            let (a, ashape) = continuous("(D, N)", 2)?;
            let (dch, n) = (ashape[0], ashape[1]);
            let (delta, dshape) = t.get_rank("delta", "(L, D)", 2)?;
            let l = dshape[0];
            if dshape[1] != dch {
                return Err(t.shape_err("delta", &format!("(L, D) with D = {dch} (from A)"), &dshape));
            }
            let (b, bs) = t.get_rank("B", "(L, N)", 2)?;
            let (c, cs) = t.get_rank("C", "(L, N)", 2)?;
            for (nm, s) in [("B", &bs), ("C", &cs)] {
                if s[..] != [l, n] {
                    return Err(t.shape_err(nm, &format!("(L, N) = ({l}, {n})"), s));
                }
            }
            let delta_dl: Vec<f64> =
                (0..dch).flat_map(|d| (0..l).map(move |s| (d, s))).map(|(d, s)| delta[s * dch + d]).collect();
            Box::new(MambaChannels::new(&a, &delta_dl, &b, &c, Dims { channels: dch, len: l, width: n }).map_err(lib)?)
        }
        Family::Ssd => {
            let (a, ashape) = continuous("(H)", 1)?;
            let heads = ashape[0];
            let (dt, ds) = t.get_rank("dt", "(L, H)", 2)?;
            let l = ds[0];
            if ds[1] != heads {
                return Err(t.shape_err("dt", &format!("(L, H) with H = {heads} (from A)"), &ds));
            }
            let (b, bs) = t.get_rank("B", "(L, N)", 2)?;
            let (c, cs) = t.get_rank("C", "(L, N)", 2)?;
            let n = bs[1];
            if bs[0] != l || cs[..] != [l, n] {
                return Err(t.shape_err("C", &format!("(L, N) = ({l}, {n}) like B"), &cs));
            }
            let mut decay = Vec::with_capacity(heads * l);
            let (mut bb, mut cc) = (Vec::with_capacity(heads * l * n), Vec::with_capacity(heads * l * n));
            for h in 0..heads {
                for s in 0..l {
                    let step = dt[s * heads + h];
                    decay.push((step * a[h]).exp());
                    bb.extend(b[s * n..(s + 1) * n].iter().map(|x| x * step));
                    cc.extend_from_slice(&c[s * n..(s + 1) * n]);
                }
            }
            Box::new(Ssd::new(&decay, &bb, &cc, Dims { channels: heads, len: l, width: n }).map_err(lib)?)
        }
        Family::Gla => {
            let (q, k, dims, _) = qk(&t)?;
            let (alpha, s) = t.get_rank("alpha", "(L, H, d)", 3)?;
            if s[..] != [dims.len, dims.channels, dims.width] {
                return Err(t.shape_err("alpha", "(L, H, d) like q", &s));
            }
            let alpha = heads_first(&alpha, dims.len, dims.channels, dims.width);
            Box::new(GatedLinearAttention::new(&q, &k, &alpha, dims).map_err(lib)?)
        }
        Family::Retnet => {
            let (q, k, dims, h) = qk(&t)?;
            let (gamma, s) = t.get_rank("gamma", "(H)", 1)?;
            if s[0] != h {
                return Err(t.shape_err("gamma", &format!("(H) with H = {h}"), &s));
            }
            Box::new(DecayedLinearAttention::new(&q, &k, &gamma, dims).map_err(lib)?)
        }
        Family::Linear => {
            let (q, k, dims, _) = qk(&t)?;
            Box::new(LinearAttention::new(&q, &k, dims).map_err(lib)?)
        }
        Family::Deltanet => {
            let (q, k, dims, h) = qk(&t)?;
            let per_head = |name: &str| -> Result<Vec<f64>, CliError> {
                let (v, s) = t.get_rank(name, "(L, H)", 2)?;
                if s[..] != [dims.len, h] {
                    return Err(t.shape_err(name, &format!("(L, H) = ({}, {h})", dims.len), &s));
                }
                Ok((0..h).flat_map(|hh| (0..dims.len).map(move |s| s * h + hh)).map(|j| v[j]).collect())
            };
            let beta = per_head("beta")?;
            match t.find("alpha") {
                Some(_) => Box::new(DeltaNet::gated(&q, &k, &beta, &per_head("alpha")?, dims).map_err(lib)?),
                None => Box::new(DeltaNet::new(&q, &k, &beta, dims).map_err(lib)?),
            }
        }
        Family::Lti => {
            let l = need_len()?;
            let (a, ashape) = t.get("A", "(C, N) or (C, N, N)")?;
            let (b, bshape) = t.get("B", "(C, N) or (C, N, m)")?;
            let (c, cshape) = t.get("C", "(C, N) or (C, p, N)")?;
            if ashape.len() == 2 && bshape.len() == 2 && cshape.len() == 2 {
                let (ch, n) = (ashape[0], ashape[1]);
                Box::new(LtiStateSpace::diagonal(&a, &b, &c, Dims { channels: ch, len: l, width: n }).map_err(lib)?)
            } else {
                let (ch, n) = (ashape[0], ashape[1]);
                let m = if bshape.len() == 3 { bshape[2] } else { 1 };
                let p = if cshape.len() == 3 { cshape[1] } else { 1 };
                let expect = |name: &str, shape: &[usize], want: &[usize], layout: &str| {
                    if shape == want {
                        Ok(())
                    } else {
                        Err(t.shape_err(name, layout, shape))
                    }
                };
                if ashape.len() == 3 {
                    expect("A", &ashape, &[ch, n, n], "(C, N, N)")?;
                } else {
                    expect("A", &ashape, &[ch, n], "(C, N)")?;
                }
                if bshape.len() == 3 {
                    expect("B", &bshape, &[ch, n, m], "(C, N, m)")?;
                } else {
                    expect("B", &bshape, &[ch, n], "(C, N)")?;
                }
                if cshape.len() == 3 {
                    expect("C", &cshape, &[ch, p, n], "(C, p, N)")?;
                } else {
                    expect("C", &cshape, &[ch, n], "(C, N)")?;
                }
                let systems = (0..ch)
                    .map(|k| {
                        let am = if ashape.len() == 3 {
                            DMatrix::from_row_slice(n, n, &a[k * n * n..(k + 1) * n * n])
                        } else {
                            DMatrix::from_diagonal(&effective_state_size::nalgebra::DVector::from_row_slice(
                                &a[k * n..(k + 1) * n],
                            ))
                        };
                        let bm = DMatrix::from_row_slice(n, m, &b[k * n * m..(k + 1) * n * m]);
                        let cm = DMatrix::from_row_slice(p, n, &c[k * p * n..(k + 1) * p * n]);
                        (am, bm, cm)
                    })
                    .collect();
                Box::new(LtiStateSpace::from_matrices(systems, l).map_err(lib)?)
            }
        }
        Family::Fir => {
            let l = need_len()?;
            let (h, s) = t.get_rank("h", "(C, k)", 2)?;
            let rows: Vec<&[f64]> = h.chunks(s[1]).collect();
            Box::new(FirConvolution::new(&rows, l).map_err(lib)?)
        }
    };
    Ok((op, t.dtype()))
}
