//! End-to-end tests of the `ess` binary: files written here, JSON compared with
//! the library, every bad input exits 2 with a one-line message.

use effective_state_size::ess::{self, EssOptions, Indices, Measure, Tolerance};
use effective_state_size::{BlockShape, DenseOperator, Scalar};
use nalgebra::DMatrix;
use npyz::WriterBuilder;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ess_bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ess")).args(args).output().expect("run ess")
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Deterministic causal data `(channels, rows, cols)`, row-major, causal for block (p, m).
fn causal_data(channels: usize, len: usize, p: usize, m: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let (rows, cols) = (p * len, m * len);
    let mut v = Vec::with_capacity(channels * rows * cols);
    for _ in 0..channels {
        for r in 0..rows {
            for c in 0..cols {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let val = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                v.push(if c / m <= r / p { val } else { 0.0 });
            }
        }
    }
    v
}

fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, data: &[T], shape: &[usize], fortran: bool) {
    let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let order = if fortran { npyz::Order::Fortran } else { npyz::Order::C };
    // Fortran order stores the first index fastest: permute from row-major.
    let stored: Vec<T> = if fortran && shape.len() > 1 {
        let total = data.len();
        let mut out = Vec::with_capacity(total);
        let mut idx = vec![0usize; shape.len()];
        for _ in 0..total {
            let mut off = 0;
            for (k, &d) in shape.iter().enumerate() {
                off = off * d + idx[k];
            }
            out.push(data[off]);
            for k in 0..shape.len() {
                idx[k] += 1;
                if idx[k] < shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
        out
    } else {
        data.to_vec()
    };
    let file = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape64).order(order).writer(file).begin_nd().unwrap();
    w.extend(stored).unwrap();
    w.finish().unwrap();
}

/// The library's profiles of the same data.
fn library<T: Scalar>(
    data: &[T],
    shape: [usize; 3],
    block: BlockShape,
    tol: Tolerance,
    idx: Indices,
) -> Vec<ess::Profile> {
    let mats = DenseOperator::matrices_from_row_major(data, shape[0], shape[1], shape[2]).unwrap();
    let op = DenseOperator::new(mats, block).unwrap();
    let opts = EssOptions::default().with_indices(idx);
    ess::profiles(&op, &[Measure::Tolerance(tol), Measure::Entropy], &opts).unwrap()
}

fn assert_json_matches(out: &Output, expect: &[ess::Profile], len: usize) {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["seq_len"], len);
    let chans = v["channels"].as_array().unwrap();
    assert_eq!(chans.len(), expect[0].channels());
    for (c, ch) in chans.iter().enumerate() {
        let idx: Vec<usize> = ch["index"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        assert_eq!(idx, expect[0].indices());
        let tol: Vec<f64> =
            ch["tolerance_ess"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as f64).collect();
        assert_eq!(tol, expect[0].channel(c));
        let ent: Vec<f64> = ch["entropy_ess"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(ent, expect[1].channel(c));
    }
    assert!(v["summary"].is_object());
}

#[test]
fn npy_files_of_every_dtype_order_and_rank_match_the_library() {
    let d = dir();
    let len = 12;
    for (k, &(channels, fortran, f32_)) in
        [(0, false, false), (3, false, true), (2, true, false), (0, true, true)].iter().enumerate()
    {
        let data = causal_data(channels.max(1), len, 1, 1, k as u64 + 1);
        let shape: Vec<usize> = if channels == 0 { vec![len, len] } else { vec![channels, len, len] };
        let path: PathBuf = d.path().join(format!("t{k}.npy"));
        let s3 = [channels.max(1), len, len];
        let expect = if f32_ {
            let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
            write_npy(&path, &v, &shape, fortran);
            library(&v, s3, BlockShape::SISO, Tolerance::Relative(1e-3), Indices::All)
        } else {
            write_npy(&path, &data, &shape, fortran);
            library(&data, s3, BlockShape::SISO, Tolerance::Relative(1e-3), Indices::All)
        };
        let out = ess_bin(&["profile", path.to_str().unwrap(), "--format", "json"]);
        assert_json_matches(&out, &expect, len);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["tolerance"]["mode"], "relative");
        assert_eq!(v["tolerance"]["value"], 1e-3);
        assert_eq!(v["dtype"], if f32_ { "f32" } else { "f64" });
    }
}

#[test]
fn block_shapes_tolerance_modes_and_indices_are_honoured() {
    let d = dir();
    let (len, p, m) = (6, 2, 3);
    let data = causal_data(2, len, p, m, 9);
    let path = d.path().join("mimo.npy");
    write_npy(&path, &data, &[2, p * len, m * len], false);
    let block = BlockShape { outputs: p, inputs: m };
    let cases: [(&[&str], Tolerance, Indices); 3] = [
        (&["--tol-abs", "0.5", "--indices", "stride:2"], Tolerance::Absolute(0.5), Indices::Stride(2)),
        (&["--tol-rank", "--indices", "1,4"], Tolerance::NumericalRank, Indices::List(vec![1, 4])),
        (&["--tol-rel", "0.1"], Tolerance::Relative(0.1), Indices::All),
    ];
    for (extra, tol, idx) in cases {
        let mut args = vec!["profile", path.to_str().unwrap(), "--block", "2,3", "--format", "json"];
        args.extend_from_slice(extra);
        let out = ess_bin(&args);
        assert_json_matches(&out, &library(&data, [2, p * len, m * len], block, tol, idx), len);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["tolerance"]["mode"], tol.mode_name());
        assert_eq!(v["tolerance"]["value"].as_f64(), tol.value());
    }
}

#[test]
fn safetensors_input_csv_table_out_and_plot() {
    let d = dir();
    let len = 10;
    let a = causal_data(2, len, 1, 1, 4);
    let b: Vec<f32> = causal_data(1, len, 1, 1, 5).iter().map(|&x| x as f32).collect();
    let ab: Vec<u8> = a.iter().flat_map(|x| x.to_le_bytes()).collect();
    let bb: Vec<u8> = b.iter().flat_map(|x| x.to_le_bytes()).collect();
    let views = vec![
        ("attn", safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![2, len, len], &ab).unwrap()),
        ("other", safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![len, len], &bb).unwrap()),
    ];
    let path = d.path().join("m.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let p = path.to_str().unwrap();
    let out = ess_bin(&["profile", p, "--tensor", "attn", "--format", "json"]);
    assert_json_matches(
        &out,
        &library(&a, [2, len, len], BlockShape::SISO, Tolerance::Relative(1e-3), Indices::All),
        len,
    );
    let out = ess_bin(&["profile", p, "--tensor", "other", "--format", "json"]);
    assert_json_matches(
        &out,
        &library(&b, [1, len, len], BlockShape::SISO, Tolerance::Relative(1e-3), Indices::All),
        len,
    );

    // CSV to a file: a header and one row per (channel, index).
    let csv_path = d.path().join("out.csv");
    let svg = d.path().join("plot.svg");
    let out = ess_bin(&[
        "profile",
        p,
        "--tensor",
        "attn",
        "--format",
        "csv",
        "--out",
        csv_path.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
        "--tss",
        "4",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "channel,index,tolerance_ess,entropy_ess");
    assert_eq!(lines.len(), 1 + 2 * (len - 1));
    assert!(lines[1].starts_with("0,1,"));
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg_text.contains("<svg") && svg_text.contains("m.safetensors") && svg_text.contains("TSS = 4"),
        "plot lacks title or TSS line"
    );
    assert!(svg_text.contains("entropy-ESS") && svg_text.contains("channel 1"));

    let table = ess_bin(&["profile", p, "--tensor", "attn", "--tss", "4"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("entropy mean") && text.contains("utilization against TSS 4"), "{text}");
}

fn assert_fails(args: &[&str], needle: &str) {
    let out = ess_bin(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {err}");
    assert!(err.contains(needle), "args {args:?}: stderr {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err:?}");
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_file_and_problem() {
    let d = dir();
    let missing = d.path().join("missing.npy");
    assert_fails(&["profile", missing.to_str().unwrap()], "missing.npy: cannot read file");

    let ints = d.path().join("ints.npy");
    write_npy(&ints, &[1i64, 2, 3, 4], &[2, 2], false);
    assert_fails(&["profile", ints.to_str().unwrap()], "ints.npy: unsupported dtype");

    let flat = d.path().join("flat.npy");
    write_npy(&flat, &[1.0f64, 2.0, 3.0], &[3], false);
    assert_fails(&["profile", flat.to_str().unwrap()], "unsupported shape [3]");

    let upper = d.path().join("upper.npy");
    let mut data = causal_data(1, 4, 1, 1, 3);
    data[2] = 0.75;
    write_npy(&upper, &data, &[4, 4], false);
    assert_fails(&["profile", upper.to_str().unwrap()], "not causal: entry (row 0, column 2)");
    assert!(ess_bin(&["profile", upper.to_str().unwrap(), "--causal-part"]).status.success());

    let nan = d.path().join("nan.npy");
    let mut data = causal_data(1, 4, 1, 1, 3);
    data[5] = f64::NAN;
    write_npy(&nan, &data, &[4, 4], false);
    assert_fails(&["profile", nan.to_str().unwrap()], "non-finite value NaN at (0, 1, 1)");

    let st = d.path().join("two.safetensors");
    let bytes: Vec<u8> = causal_data(1, 3, 1, 1, 1).iter().flat_map(|x| x.to_le_bytes()).collect();
    let views = vec![
        ("a", safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![3, 3], &bytes).unwrap()),
        ("b", safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![3, 3], &bytes).unwrap()),
    ];
    std::fs::write(&st, safetensors::serialize(views, None).unwrap()).unwrap();
    assert_fails(&["profile", st.to_str().unwrap()], "choose one with --tensor NAME: a, b");
    assert_fails(&["profile", st.to_str().unwrap(), "--tensor", "c"], "no tensor named \"c\"; the file holds: a, b");

    let ok = d.path().join("ok.npy");
    write_npy(&ok, &causal_data(1, 5, 1, 1, 2), &[5, 5], false);
    let okp = ok.to_str().unwrap();
    assert_fails(&["profile", okp, "--block", "2,2"], "expected shape");
    assert_fails(&["profile", okp, "--indices", "stride:0"], "stride must be at least 1");
    assert_fails(&["profile", okp, "--indices", "7"], "index i = 7 is out of range");
    assert_fails(&["profile", okp, "--tol-rel", "2"], "invalid tolerance 2");
    assert_fails(&["profile", okp, "--tol-abs", "-1"], "invalid tolerance -1");
    let garbage = d.path().join("garbage.npy");
    std::fs::write(&garbage, b"not an npy file at all").unwrap();
    assert_fails(&["profile", garbage.to_str().unwrap()], "garbage.npy: not a valid .npy file");
    let txt = d.path().join("x.txt");
    std::fs::write(&txt, b"1 2 3").unwrap();
    assert_fails(&["profile", txt.to_str().unwrap()], "unsupported file extension");
}

#[test]
fn demo_lists_every_family_and_plots() {
    let d = dir();
    let svg = d.path().join("demo.svg");
    let out = ess_bin(&["demo", "--len", "48", "--plot", svg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    for family in [
        "softmax attention",
        "sliding-window attention",
        "linear attention",
        "RetNet",
        "gated linear attention",
        "DeltaNet",
        "gated DeltaNet",
        "FIR convolution",
        "long convolution",
        "gated convolution",
        "LTI state space",
        "time-varying state space",
        "Mamba (S6)",
        "Mamba-2 (SSD)",
    ] {
        assert!(table.contains(family), "demo table lacks {family}:\n{table}");
    }
    assert!(table.contains("structured") && table.contains("dense"));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let _ = DMatrix::<f64>::zeros(1, 1);
}

#[test]
fn many_channels_plot_as_mean_with_band() {
    let d = dir();
    let len = 8;
    let path = d.path().join("heads.npy");
    write_npy(&path, &causal_data(12, len, 1, 1, 21), &[12, len, len], false);
    let svg = d.path().join("band.svg");
    let out = ess_bin(&["profile", path.to_str().unwrap(), "--plot", svg.to_str().unwrap(), "--indices", "stride:2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("mean of 12 channels (band: min–max)"));
    assert!(text.contains("<polygon"), "the min–max band is drawn as a polygon");
}

/// Regression (reader audit): a header whose shape needs far more data than the file
/// holds is an error, not a huge allocation.
#[test]
fn npy_header_larger_than_the_file_is_rejected() {
    let d = dir();
    let path = d.path().join("huge.npy");
    raw_npy(&path, "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }", &[0u8; 64]);
    assert_fails(&["profile", path.to_str().unwrap()], "needs more data than the file's");
}

/// Writes a v1 `.npy` file with the given header dict and `data` bytes.
fn raw_npy(path: &Path, header: &str, data: &[u8]) {
    let pad = 64 - (10 + header.len() + 1) % 64;
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&((header.len() + pad + 1) as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(b' ', pad));
    bytes.push(b'\n');
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// Regression (found by the npy_reader fuzz target): deeply nested headers made the
/// general header parser take exponential time. They are rejected up front.
#[test]
fn deeply_nested_npy_headers_are_rejected_quickly() {
    let d = dir();
    let lists = d.path().join("lists.npy");
    raw_npy(&lists, &format!("{{'descr': {}, 'fortran_order': False, 'shape': (2, 2), }}", "[".repeat(70)), &[0; 32]);
    let start = std::time::Instant::now();
    assert_fails(&["profile", lists.to_str().unwrap()], "structured arrays are not read");
    let parens = d.path().join("parens.npy");
    raw_npy(
        &parens,
        &format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {}2, 2)))), }}", "(".repeat(60)),
        &[0; 32],
    );
    assert_fails(&["profile", parens.to_str().unwrap()], "header nested too deeply");
    assert!(start.elapsed().as_secs() < 5, "rejection must be immediate");
    // A quoted bracket is data, not nesting: this header is plain and valid.
    let quoted = d.path().join("quoted.npy");
    raw_npy(&quoted, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", &[0; 32]);
    assert!(ess_bin(&["profile", quoted.to_str().unwrap()]).status.success());
}

/// The fuzz targets (a separate workspace, `fuzz/fuzz_targets/*_reader.rs`) call
/// these entry points exactly so: this keeps them compiling.
#[test]
fn fuzz_entry_points_keep_their_signatures() {
    let d = dir();
    let path = d.path().join("f.npy");
    write_npy(&path, &causal_data(1, 4, 1, 1, 7), &[4, 4], false);
    let bytes = std::fs::read(&path).unwrap();
    let t = ess_cli::input::read_bytes(&bytes, "npy", None).expect("a valid file");
    let report = ess_cli::analyse_tensor("fuzz", &t, &Default::default()).expect("a causal operator");
    assert_eq!((report.seq_len, report.measures.len()), (4, 2));
    assert!(ess_cli::input::read_bytes(&bytes, "safetensors", Some("attn")).is_err());
    assert!(ess_cli::input::read_bytes(b"", "safetensors", None).is_err());
}

#[test]
fn method_lowrank_reports_intervals_and_flags_that_match_the_library() {
    let d = dir();
    let (len, rank) = (40, 3);
    // A causal operator of rank-3 blocks plus a little noise.
    let noise = causal_data(1, len, 1, 1, 9);
    let mut data = vec![0.0f64; len * len];
    for r in 0..len {
        for c in 0..=r {
            let low: f64 = (0..rank).map(|k| ((r * (k + 1)) as f64 * 0.3).sin() * ((c + k) as f64 * 0.2).cos()).sum();
            data[r * len + c] = low + 1e-6 * noise[r * len + c];
        }
    }
    let path = d.path().join("low.npy");
    write_npy(&path, &data, &[len, len], false);
    let out = ess_bin(&["profile", path.to_str().unwrap(), "--format", "json", "--method", "lowrank"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["path"], "lowrank");
    let op = DenseOperator::single(DMatrix::from_row_slice(len, len, &data)).unwrap();
    let opts = EssOptions::default().with_method(ess::Method::LowRank);
    let expect = ess::profiles(&op, &[Measure::Tolerance(Tolerance::Relative(1e-3)), Measure::Entropy], &opts).unwrap();
    let exact =
        ess::profiles(&op, &[Measure::Tolerance(Tolerance::Relative(1e-3)), Measure::Entropy], &EssOptions::default())
            .unwrap();
    let ch = &v["channels"][0];
    let f = |key: &str| -> Vec<f64> { ch[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    let flags: Vec<bool> = ch["tolerance_ambiguous"].as_array().unwrap().iter().map(|x| x.as_bool().unwrap()).collect();
    assert_eq!(flags, expect[0].ambiguous(0, 0.0).unwrap());
    assert_eq!(f("entropy_ess_lower"), expect[1].lower(0).unwrap());
    assert_eq!(f("entropy_ess_upper"), expect[1].upper(0).unwrap());
    assert_eq!(f("tolerance_ess_lower"), expect[0].lower(0).unwrap());
    // And the intervals hold the exact (dense) values.
    for (j, &e) in exact[1].channel(0).iter().enumerate() {
        assert!(f("entropy_ess_lower")[j] <= e + 1e-9 && e <= f("entropy_ess_upper")[j] + 1e-9);
    }
    assert_eq!(f("tolerance_ess"), exact[0].channel(0));
    // CSV: the same intervals and flags, column by column.
    let out = ess_bin(&["profile", path.to_str().unwrap(), "--format", "csv", "--method", "lowrank"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), flags.len());
    for (j, row) in rows.iter().enumerate() {
        assert_eq!(row[col("tolerance_ambiguous")], flags[j].to_string());
        assert_eq!(row[col("tolerance_ess_lower")].parse::<f64>().unwrap(), f("tolerance_ess_lower")[j]);
        assert_eq!(row[col("tolerance_ess_upper")].parse::<f64>().unwrap(), f("tolerance_ess_upper")[j]);
        assert_eq!(row[col("entropy_ess_lower")].parse::<f64>().unwrap(), f("entropy_ess_lower")[j]);
        assert_eq!(row[col("entropy_ess_upper")].parse::<f64>().unwrap(), f("entropy_ess_upper")[j]);
    }
    // Table: the number of ambiguous counts, out of every index.
    let out = ess_bin(&["profile", path.to_str().unwrap(), "--method", "lowrank"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let flagged = flags.iter().filter(|&&a| a).count();
    assert!(text.contains(&format!("tolerance {flagged} of {} ambiguous", flags.len())), "{text}");
    // --max-rank and --interval-width reach the library (the flags equal its
    // own with the same cap) and are refused without --method lowrank.
    let out =
        ess_bin(&["profile", path.to_str().unwrap(), "--format", "json", "--method", "lowrank", "--max-rank", "1"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let capped: Vec<bool> =
        v["channels"][0]["tolerance_ambiguous"].as_array().unwrap().iter().map(|x| x.as_bool().unwrap()).collect();
    let lib =
        ess::profiles(&op, &[Measure::Tolerance(Tolerance::Relative(1e-3))], &opts.clone().with_max_rank(Some(1)))
            .unwrap();
    assert_eq!(capped, lib[0].ambiguous(0, 0.0).unwrap());
    assert!(capped.iter().filter(|&&a| a).count() > flagged, "a rank cap of 1 leaves rank-3 blocks ambiguous");
    let out = ess_bin(&["profile", path.to_str().unwrap(), "--method", "lowrank", "--interval-width=-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interval width"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for flag in [["--max-rank", "2"], ["--interval-width", "0.1"]] {
        let out = ess_bin(&["profile", path.to_str().unwrap(), flag[0], flag[1]]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag[0]) && err.contains("--method lowrank"), "{err}");
    }
    // The exact paths print no intervals.
    let out = ess_bin(&["profile", path.to_str().unwrap(), "--format", "json", "--method", "dense"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["channels"][0].get("entropy_ess_lower").is_none());
    let out = ess_bin(&["profile", path.to_str().unwrap(), "--format", "csv", "--method", "dense"]);
    assert!(!String::from_utf8(out.stdout).unwrap().contains("_lower"));
    let out = ess_bin(&["profile", path.to_str().unwrap(), "--method", "fast"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lowrank"), "the error lists the methods");
}
