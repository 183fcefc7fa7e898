//! End-to-end tests of `ess reduce` and of `ess profile` on realization files and
//! family parameter files: files written here, results compared with the library.

use effective_state_size::ess::{self, Tolerance};
use effective_state_size::reduction::{reduce, ReduceOptions};
use effective_state_size::{DenseOperator, Dims, LinearOperator, MambaChannels};
use nalgebra::DMatrix;
use std::path::Path;
use std::process::{Command, Output};

fn ess_bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ess")).args(args).output().expect("run ess")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// `ess` failed with status 2 and one line on stderr containing every `needle`.
fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
}

/// Deterministic pseudo-random values in [-0.5, 0.5).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

/// A causal `(channels, L, L)` tensor whose entries decay away from the diagonal.
fn causal(channels: usize, len: usize, seed: u64) -> Vec<f64> {
    let v = values(channels * len * len, seed);
    let mut out = Vec::with_capacity(v.len());
    for c in 0..channels {
        for t in 0..len {
            for s in 0..len {
                let x = v[(c * len + t) * len + s];
                out.push(if s <= t { x * 0.7f64.powi((t - s) as i32) } else { 0.0 });
            }
        }
    }
    out
}

/// A tensor to write: name, shape, values.
type Named = (&'static str, Vec<usize>, Vec<f64>);

fn write_safetensors(path: &Path, tensors: &[Named], f32: bool) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| {
            if f32 {
                v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect()
            } else {
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
        })
        .collect();
    let dtype = if f32 { safetensors::Dtype::F32 } else { safetensors::Dtype::F64 };
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| (*n, safetensors::tensor::TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn read_shapes(path: &Path) -> Vec<(String, Vec<usize>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<usize>)> =
        st.names().into_iter().map(|n| (n.to_string(), st.tensor(n).unwrap().shape().to_vec())).collect();
    v.sort();
    v
}

#[test]
fn reduce_a_dense_file_and_profile_the_result_on_the_structured_path() {
    let d = tempfile::tempdir().unwrap();
    let (channels, len) = (2, 24);
    let data = causal(channels, len, 1);
    let input = d.path().join("t.safetensors");
    write_safetensors(&input, &[("T", vec![channels, len, len], data.clone())], false);
    let out = d.path().join("r.safetensors");
    let o = ess_bin(&[
        "reduce",
        input.to_str().unwrap(),
        "--order",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let j = json(&o);
    assert_eq!(j["order"], 3);
    assert_eq!(j["path"], "dense");
    // The library's reduction of the same operator.
    let mats = DenseOperator::matrices_from_row_major(&data, channels, len, len).unwrap();
    let op = DenseOperator::new(mats, effective_state_size::BlockShape::SISO).unwrap();
    let lib = reduce(&op, &ReduceOptions::order(3).with_measured_error(true)).unwrap();
    for (c, ch) in lib.channels().iter().enumerate() {
        let jc = &j["channels"][c];
        assert_eq!(jc["channel"], c);
        let (b, e, lb) =
            (jc["error_bound"].as_f64().unwrap(), jc["error"].as_f64().unwrap(), jc["lower_bound"].as_f64().unwrap());
        assert_eq!(b, ch.error_bound);
        assert_eq!(Some(e), ch.error);
        assert!(lb <= e + 1e-12 && e <= b, "{lb} ≤ {e} ≤ {b}");
    }
    assert_eq!(
        read_shapes(&out),
        vec![
            ("A".into(), vec![2, len, 3, 3]),
            ("B".into(), vec![2, len, 3, 1]),
            ("C".into(), vec![2, len, 1, 3]),
            ("D".into(), vec![2, len, 1, 1])
        ]
    );
    // Round trip: the file profiles on the structured path, as the library's reduced operator does.
    let p = json(&ess_bin(&["profile", out.to_str().unwrap(), "--tol-rel", "1e-6", "--format", "json"]));
    assert_eq!(p["path"], "structured");
    assert_eq!(p["tss"], 3);
    let expect = ess::tolerance(&lib, Tolerance::Relative(1e-6)).unwrap();
    for c in 0..channels {
        let got: Vec<f64> =
            p["channels"][c]["tolerance_ess"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got, expect.channel(c), "channel {c}");
        assert!(got.iter().all(|&v| v <= 3.0));
    }
    // The table names the file, the path and the order.
    let o = ess_bin(&["reduce", input.to_str().unwrap(), "--tol-rel", "1e-2", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("dense path") && table.contains("error bound") && table.contains("lower bound"), "{table}");
}

#[test]
fn a_diagonal_a_realization_file_is_read_and_reduced_again() {
    let d = tempfile::tempdir().unwrap();
    let (c, l, n) = (1, 16, 3);
    let a: Vec<f64> = (0..c * l * n).map(|j| [0.9, 0.5, -0.3][j % n]).collect();
    let b = vec![1.0; c * l * n];
    let cc: Vec<f64> = (0..c * l * n).map(|j| [1.0, 0.5, 0.25][j % n]).collect();
    let input = d.path().join("real.safetensors");
    write_safetensors(
        &input,
        &[("A", vec![c, l, n], a), ("B", vec![c, l, n, 1], b), ("C", vec![c, l, 1, n], cc)],
        true,
    );
    let p = json(&ess_bin(&["profile", input.to_str().unwrap(), "--tol-rel", "1e-9", "--format", "json"]));
    assert_eq!((p["path"].as_str(), p["dtype"].as_str()), (Some("structured"), Some("f32")));
    assert_eq!(p["summary"]["tolerance_ess"]["max"], 3.0);
    let out = d.path().join("r.safetensors");
    let j = json(&ess_bin(&[
        "reduce",
        input.to_str().unwrap(),
        "--order",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!((j["order"].as_u64(), j["path"].as_str()), (Some(2), Some("structured")));
    let e = j["channels"][0]["error"].as_f64().unwrap();
    assert!(e <= j["channels"][0]["error_bound"].as_f64().unwrap());
}

/// Mamba parameters in PyTorch's layouts.
fn mamba_file(path: &Path, dch: usize, len: usize, n: usize, f32: bool) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let a: Vec<f64> = values(dch * n, 2).iter().map(|x| -0.1 - 2.0 * (x + 0.5)).collect();
    let delta: Vec<f64> = values(len * dch, 3).iter().map(|x| 0.01 + 0.2 * (x + 0.5)).collect();
    let (b, c) = (values(len * n, 4), values(len * n, 5));
    write_safetensors(
        path,
        &[
            ("A", vec![dch, n], a.clone()),
            ("delta", vec![len, dch], delta.clone()),
            ("B", vec![len, n], b.clone()),
            ("C", vec![len, n], c.clone()),
        ],
        f32,
    );
    (a, delta, b, c)
}

#[test]
fn family_parameters_profile_and_reduce_like_the_library() {
    let d = tempfile::tempdir().unwrap();
    let (dch, len, n) = (3, 20, 4);
    let path = d.path().join("mamba.safetensors");
    let (a, delta, b, c) = mamba_file(&path, dch, len, n, false);
    let p = json(&ess_bin(&["profile", path.to_str().unwrap(), "--family", "mamba", "--format", "json"]));
    assert_eq!((p["path"].as_str(), p["tss"].as_u64()), (Some("structured"), Some(4)));
    // delta (L, D) → the library's (D, L).
    let delta_dl: Vec<f64> =
        (0..dch).flat_map(|k| (0..len).map(move |t| (k, t))).map(|(k, t)| delta[t * dch + k]).collect();
    let op = MambaChannels::new(&a, &delta_dl, &b, &c, Dims { channels: dch, len, width: n }).unwrap();
    let expect = ess::entropy(&op).unwrap();
    for ch in 0..dch {
        let got: Vec<f64> =
            p["channels"][ch]["entropy_ess"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got, expect.channel(ch));
    }
    let out = d.path().join("r.safetensors");
    let j = json(&ess_bin(&[
        "reduce",
        path.to_str().unwrap(),
        "--family",
        "mamba",
        "--order",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let lib = reduce(&op, &ReduceOptions::order(2)).unwrap();
    for ch in 0..dch {
        assert_eq!(j["channels"][ch]["error_bound"].as_f64().unwrap(), lib.channels()[ch].error_bound);
    }
    assert_eq!(op.channels(), j["channels"].as_array().unwrap().len());
}

#[test]
fn every_family_reads_from_its_documented_tensors() {
    let d = tempfile::tempdir().unwrap();
    let (l, h, dd, n) = (12, 2, 3, 4);
    let qk = |s| values(l * h * dd, s);
    let gate = |s: u64| values(l * h * dd, s).iter().map(|x| 0.5 + x * 0.9).collect::<Vec<f64>>();
    let cases: Vec<(&str, Vec<Named>, Vec<&str>)> = vec![
        (
            "ssd",
            vec![
                ("A", vec![h], vec![-0.5, -1.0]),
                ("dt", vec![l, h], values(l * h, 9).iter().map(|x| x + 0.6).collect()),
                ("B", vec![l, n], values(l * n, 10)),
                ("C", vec![l, n], values(l * n, 11)),
            ],
            vec![],
        ),
        (
            "gla",
            vec![("q", vec![l, h, dd], qk(1)), ("k", vec![l, h, dd], qk(2)), ("alpha", vec![l, h, dd], gate(3))],
            vec![],
        ),
        (
            "retnet",
            vec![("q", vec![l, h, dd], qk(1)), ("k", vec![l, h, dd], qk(2)), ("gamma", vec![h], vec![0.9, 0.5])],
            vec![],
        ),
        ("linear", vec![("q", vec![l, h, dd], qk(1)), ("k", vec![l, h, dd], qk(2))], vec![]),
        (
            "deltanet",
            vec![
                ("q", vec![l, h, dd], qk(1)),
                ("k", vec![l, h, dd], qk(2)),
                ("beta", vec![l, h], values(l * h, 4).iter().map(|x| x + 0.5).collect()),
            ],
            vec![],
        ),
        (
            "lti",
            vec![
                ("A", vec![2, n], vec![0.9, 0.5, 0.2, -0.1, 0.8, 0.4, 0.1, 0.0]),
                ("B", vec![2, n], vec![1.0; 8]),
                ("C", vec![2, n], values(8, 6)),
            ],
            vec!["--len", "16"],
        ),
        ("fir", vec![("h", vec![2, 4], values(8, 7))], vec!["--len", "16"]),
    ];
    for (family, tensors, extra) in cases {
        let path = d.path().join(format!("{family}.safetensors"));
        write_safetensors(&path, &tensors, true);
        let mut args = vec!["profile", path.to_str().unwrap(), "--family", family, "--format", "json"];
        args.extend(&extra);
        let p = json(&ess_bin(&args));
        assert_eq!(p["path"], "structured", "{family}");
        let out = d.path().join(format!("{family}.r.safetensors"));
        let mut args = vec![
            "reduce",
            path.to_str().unwrap(),
            "--family",
            family,
            "--order",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--format",
            "json",
        ];
        args.extend(&extra);
        let j = json(&ess_bin(&args));
        for ch in j["channels"].as_array().unwrap() {
            let (e, b) = (ch["error"].as_f64().unwrap(), ch["error_bound"].as_f64().unwrap());
            assert!(ch["lower_bound"].as_f64().unwrap() <= e + 1e-9 && e <= b, "{family}: {ch}");
        }
    }
}

#[test]
fn bad_requests_exit_2_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let len = 10;
    let input = d.path().join("t.safetensors");
    write_safetensors(&input, &[("T", vec![len, len], causal(1, len, 3))], false);
    let (i, o) = (input.to_str().unwrap(), d.path().join("o.safetensors"));
    let o = o.to_str().unwrap();
    fails_with(&ess_bin(&["reduce", i, "--order", "0", "--out", o]), &["order 0", "at least 1"]);
    fails_with(&ess_bin(&["reduce", i, "--order", "6", "--out", o]), &["order 6", "between 1 and 5"]);
    fails_with(&ess_bin(&["reduce", i, "--tol-abs", "1e9", "--out", o]), &["keeps no state", "lower the tolerance"]);
    fails_with(&ess_bin(&["reduce", i, "--tol-rel", "2", "--out", o]), &["relative tolerance must lie in (0, 1)"]);
    fails_with(&ess_bin(&["reduce", i, "--out", o]), &["--order R", "--tol-rel"]);
    let m = d.path().join("m.safetensors");
    write_safetensors(&m, &[("A", vec![2, 3], vec![-1.0; 6]), ("B", vec![8, 3], vec![0.1; 24])], false);
    fails_with(
        &ess_bin(&["profile", m.to_str().unwrap(), "--family", "mamba"]),
        &["\"delta\"", "(L, D)", "--family mamba"],
    );
    let f = d.path().join("f.safetensors");
    write_safetensors(&f, &[("h", vec![1, 3], vec![1.0, 0.5, 0.25])], false);
    fails_with(&ess_bin(&["profile", f.to_str().unwrap(), "--family", "fir"]), &["--len"]);
    // A non-finite value in a realization file.
    let r = d.path().join("r.safetensors");
    write_safetensors(
        &r,
        &[
            ("A", vec![1, 4, 1], vec![0.5, f64::NAN, 0.5, 0.5]),
            ("B", vec![1, 4, 1, 1], vec![1.0; 4]),
            ("C", vec![1, 4, 1, 1], vec![1.0; 4]),
        ],
        false,
    );
    fails_with(&ess_bin(&["reduce", r.to_str().unwrap(), "--order", "1", "--out", o]), &["non-finite"]);
    let _ = DMatrix::<f64>::zeros(1, 1);
}
