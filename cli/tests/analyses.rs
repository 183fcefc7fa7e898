//! End-to-end tests of the analyses of issue #10: `--mark`, `--mark-window`, 4-D
//! batches, `--sweep`/`--sweep-abs`, `normalized_mean`, repeated and wildcard
//! `--tensor`. Every number is checked against an oracle written here: a
//! values-only nalgebra SVD of each sliced block and the definitions as loops.

use nalgebra::DMatrix;
use npyz::WriterBuilder;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn ess_bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ess")).args(args).output().expect("run ess")
}

fn ok_json(args: &[&str]) -> Value {
    let out = ess_bin(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn ok_text(args: &[&str]) -> String {
    let out = ess_bin(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn assert_fails(args: &[&str], needle: &str) {
    let out = ess_bin(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {err}");
    assert!(err.contains(needle), "args {args:?}: stderr {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err:?}");
}

/// `(items, channels, L, L)` causal data whose Hankel ranks vary with the index:
/// a random causal part times a per-(item, channel) mask that cuts rows after a
/// "delimiter" off from columns before it.
fn data(items: usize, channels: usize, len: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::new();
    for b in 0..items {
        for c in 0..channels {
            let cut = 3 + (b + 2 * c) % (len - 5);
            for r in 0..len {
                for s in 0..len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let u = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                    // Low rank far from the diagonal, generic near it.
                    let low = ((r + 1) as f64 * 0.3).sin() * ((s + 1) as f64 * 0.7).cos();
                    let val = if r - s.min(r) < 3 { u } else { low + 1e-6 * u };
                    let forgotten = r > cut && s <= cut;
                    v.push(if s <= r && !forgotten { val } else { 0.0 });
                }
            }
        }
    }
    v
}

fn write_npy(path: &Path, data: &[f64], shape: &[usize]) {
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(file).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

fn sv(t: &DMatrix<f64>, i: usize) -> Vec<f64> {
    let block = t.view((i, 0), (t.nrows() - i, i)).into_owned();
    let mut s: Vec<f64> = block.singular_values().iter().copied().collect();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    s
}

fn entropy(s: &[f64]) -> f64 {
    let sum: f64 = s.iter().sum();
    if sum == 0.0 {
        return 0.0;
    }
    (-s.iter().filter(|&&x| x > 0.0).map(|&x| x / sum * (x / sum).ln()).sum::<f64>()).exp()
}

fn rel_count(s: &[f64], tau: f64) -> f64 {
    s.iter().filter(|&&x| x > tau * s[0]).count() as f64
}

/// `[item][channel][i-1]` profiles of one measure by brute force.
fn oracle(data: &[f64], items: usize, channels: usize, len: usize, f: &dyn Fn(&[f64]) -> f64) -> Vec<Vec<Vec<f64>>> {
    (0..items)
        .map(|b| {
            (0..channels)
                .map(|c| {
                    let off = (b * channels + c) * len * len;
                    let t = DMatrix::from_row_slice(len, len, &data[off..off + len * len]);
                    (1..len).map(|i| f(&sv(&t, i))).collect()
                })
                .collect()
        })
        .collect()
}

fn delta(v: &[f64], t: usize, w: usize, len: usize) -> f64 {
    let after: Vec<f64> = (t + 1..=t + w).filter(|&i| i < len).map(|i| v[i - 1]).collect();
    let before: Vec<f64> = (t.saturating_sub(w) + 1..=t).filter(|&i| i >= 1).map(|i| v[i - 1]).collect();
    after.iter().sum::<f64>() / after.len() as f64 - before.iter().sum::<f64>() / before.len() as f64
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}")).iter().map(|x| x.as_f64().unwrap()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn assert_all_close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(close(*x, *y), "{what}: {a:?} vs {b:?}");
    }
}

/// Checks a `markers` JSON object against the oracle profiles `[item][channel]`.
fn check_markers(m: &Value, name: &str, per_item: &[Vec<Vec<f64>>], marks: &[usize], w: usize, len: usize) {
    let channels = per_item[0].len();
    let (mut marked, mut base) = (vec![], vec![]);
    for item in per_item {
        for v in item {
            for t in 1..=len - 2 {
                if marks.contains(&t) {
                    marked.push(delta(v, t, w, len))
                } else {
                    base.push(delta(v, t, w, len))
                }
            }
        }
    }
    for c in 0..channels {
        assert_eq!(m["channels"][c]["channel"], c);
        let expect: Vec<f64> = marks
            .iter()
            .map(|&t| per_item.iter().map(|item| delta(&item[c], t, w, len)).sum::<f64>() / per_item.len() as f64)
            .collect();
        assert_all_close(&floats(&m["channels"][c][format!("{name}_delta")]), &expect, name);
    }
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let bm = mean(&base);
    let bs = (base.iter().map(|x| (x - bm).powi(2)).sum::<f64>() / base.len() as f64).sqrt();
    let s = &m[name];
    assert!(close(s["mean_delta"].as_f64().unwrap(), mean(&marked)), "{name} mean_delta");
    assert!(close(s["baseline_mean"].as_f64().unwrap(), bm), "{name} baseline_mean");
    assert!(close(s["baseline_std"].as_f64().unwrap(), bs), "{name} baseline_std");
    if bs > 0.0 {
        let z = (mean(&marked) - bm) / bs;
        assert!((s["z"].as_f64().unwrap() - z).abs() < 1e-7 * z.abs().max(1.0), "{name} z");
    } else {
        assert!(s["z"].is_null());
    }
}

#[test]
fn mark_and_mark_window_on_one_input() {
    let d = tempfile::tempdir().unwrap();
    let (len, channels) = (14, 2);
    let x = data(1, channels, len, 1);
    let path = d.path().join("a.npy");
    write_npy(&path, &x, &[channels, len, len]);
    let p = path.to_str().unwrap();
    let tol = oracle(&x, 1, channels, len, &|s| rel_count(s, 1e-3));
    let ent = oracle(&x, 1, channels, len, &entropy);
    for (marks, w, args) in [
        (vec![4usize, 9], 1usize, vec!["--mark", "4,9"]),
        (vec![9, 2], 3, vec!["--mark", "9, 2", "--mark-window", "3"]),
    ] {
        let mut a = vec!["profile", p, "--format", "json"];
        a.extend(args.iter());
        let v = ok_json(&a);
        let m = &v["markers"];
        assert_eq!(m["positions"], serde_json::json!(marks));
        assert_eq!(m["window"], w);
        check_markers(m, "tolerance", &tol, &marks, w, len);
        check_markers(m, "entropy", &ent, &marks, w, len);
        // Existing fields are unchanged by markers.
        assert_eq!(v["channels"][1]["tolerance_ess"].as_array().unwrap().len(), len - 1);
        assert!(v["channels"][0]["tolerance_ess"][0].is_u64());
    }
    // Without --mark there is no markers key.
    assert!(ok_json(&["profile", p, "--format", "json"]).get("markers").is_none());
    // Table and plot.
    let table = ok_text(&["profile", p, "--mark", "4,9"]);
    assert!(table.contains("markers at t = 4, 9 (window 1)") && table.contains("Δ t=9"), "{table}");
    assert!(table.contains("tolerance: mean Δ") && table.contains("entropy: mean Δ"), "{table}");
    let svg = d.path().join("m.svg");
    ok_text(&["profile", p, "--mark", "4,9", "--plot", svg.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("markers t = 4, 9"));
}

#[test]
fn marker_errors_are_one_line() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("a.npy");
    write_npy(&path, &data(1, 1, 10, 2), &[10, 10]);
    let p = path.to_str().unwrap();
    assert_fails(&["profile", p, "--mark", "9"], "marker position 9 is out of range: markers lie in 1..=8");
    assert_fails(&["profile", p, "--mark", "0,3"], "marker position 0 is out of range");
    assert_fails(&["profile", p, "--mark", "3,x"], "--mark \"3,x\": expected a comma-separated list");
    assert_fails(&["profile", p, "--mark", "3,5,3"], "position 3 is given twice");
    assert_fails(&["profile", p, "--mark", "3", "--mark-window", "0"], "the window must be at least 1");
    assert_fails(&["profile", p, "--mark-window", "2"], "a window needs marker positions");
    assert_fails(
        &["profile", p, "--mark", "3", "--indices", "stride:2"],
        "--mark needs ESS at index i = 1, which was not evaluated",
    );
    // --indices all is fine.
    ok_text(&["profile", p, "--mark", "3", "--indices", "all"]);
}

#[test]
fn batches_report_the_mean_and_std_and_pool_markers() {
    let d = tempfile::tempdir().unwrap();
    let (items, channels, len) = (3, 2, 12);
    let x = data(items, channels, len, 3);
    let path = d.path().join("batch.npy");
    write_npy(&path, &x, &[items, channels, len, len]);
    let p = path.to_str().unwrap();
    let v = ok_json(&["profile", p, "--format", "json", "--mark", "5", "--mark-window", "2", "--tss", "4"]);
    assert_eq!(v["batch"], items);
    assert_eq!(v["seq_len"], len);
    let tol = oracle(&x, items, channels, len, &|s| rel_count(s, 1e-3));
    let ent = oracle(&x, items, channels, len, &entropy);
    for (name, per_item) in [("tolerance", &tol), ("entropy", &ent)] {
        let mut all_means = vec![];
        for c in 0..channels {
            let mean: Vec<f64> =
                (0..len - 1).map(|j| per_item.iter().map(|it| it[c][j]).sum::<f64>() / items as f64).collect();
            let std: Vec<f64> = (0..len - 1)
                .map(|j| {
                    let xs: Vec<f64> = per_item.iter().map(|it| it[c][j]).collect();
                    (xs.iter().map(|x| (x - mean[j]).powi(2)).sum::<f64>() / items as f64).sqrt()
                })
                .collect();
            assert_all_close(&floats(&v["channels"][c][format!("{name}_ess")]), &mean, name);
            assert_all_close(&floats(&v["channels"][c][format!("{name}_ess_std")]), &std, name);
            all_means.extend(mean);
        }
        let s = &v["summary"][format!("{name}_ess")];
        let m = all_means.iter().sum::<f64>() / all_means.len() as f64;
        assert!(close(s["mean"].as_f64().unwrap(), m), "summary of the batch mean");
        assert!(close(s["utilization"].as_f64().unwrap(), m / 4.0));
        let norm: f64 = (0..channels)
            .flat_map(|c| (1..len).map(move |i| (c, i)))
            .map(|(c, i)| all_means[c * (len - 1) + i - 1] / i.min(len - i) as f64)
            .sum::<f64>()
            / all_means.len() as f64;
        assert!(close(s["normalized_mean"].as_f64().unwrap(), norm), "normalized_mean");
        check_markers(&v["markers"], name, per_item, &[5], 2, len);
    }
    // Table and CSV carry the batch.
    let table = ok_text(&["profile", p]);
    assert!(table.contains("batch of 3 (mean over inputs)"), "{table}");
    let csv = ok_text(&["profile", p, "--format", "csv"]);
    assert!(csv.starts_with("channel,index,tolerance_ess,tolerance_ess_std,entropy_ess,entropy_ess_std\n"), "{csv}");
    // A batch of f32 data runs in f32.
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let p32 = d.path().join("b32.npy");
    let shape: Vec<u64> = [items, channels, len, len].iter().map(|&s| s as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(std::fs::File::create(&p32).unwrap())
        .begin_nd()
        .unwrap();
    w.extend(x32.iter().copied()).unwrap();
    w.finish().unwrap();
    let v32 = ok_json(&["profile", p32.to_str().unwrap(), "--format", "json"]);
    assert_eq!((v32["dtype"].as_str(), v32["batch"].as_u64()), (Some("f32"), Some(items as u64)));
    let e64 = floats(&v["channels"][0]["entropy_ess"]);
    let e32 = floats(&v32["channels"][0]["entropy_ess"]);
    assert!(e64.iter().zip(&e32).all(|(a, b)| (a - b).abs() < 1e-3));
}

#[test]
fn normalized_mean_of_one_input() {
    let d = tempfile::tempdir().unwrap();
    let (len, channels) = (9, 2);
    let x = data(1, channels, len, 4);
    let path = d.path().join("n.npy");
    write_npy(&path, &x, &[channels, len, len]);
    let v = ok_json(&["profile", path.to_str().unwrap(), "--format", "json", "--indices", "2,5,7"]);
    let ent = oracle(&x, 1, channels, len, &entropy);
    let expect = [2usize, 5, 7]
        .iter()
        .flat_map(|&i| (0..channels).map(move |c| (c, i)))
        .map(|(c, i)| ent[0][c][i - 1] / i.min(len - i) as f64)
        .sum::<f64>()
        / 6.0;
    assert!(close(v["summary"]["entropy_ess"]["normalized_mean"].as_f64().unwrap(), expect));
    let table = ok_text(&["profile", path.to_str().unwrap()]);
    assert!(table.contains("normalised ESS (ESS_i / min(p(L-i), m·i)), mean: tolerance"), "{table}");
}

#[test]
fn sweeps_count_every_threshold_from_one_run() {
    let d = tempfile::tempdir().unwrap();
    let (len, channels) = (12, 2);
    let x = data(1, channels, len, 5);
    let path = d.path().join("s.npy");
    write_npy(&path, &x, &[channels, len, len]);
    let p = path.to_str().unwrap();
    let v = ok_json(&["profile", p, "--format", "json", "--sweep", "1e-1,1e-3,1e-8", "--sweep-abs", "0.5,1e-2"]);
    let sweep = v["sweep"].as_array().unwrap();
    let taus = [("relative", 1e-1), ("relative", 1e-3), ("relative", 1e-8), ("absolute", 0.5), ("absolute", 1e-2)];
    assert_eq!(sweep.len(), taus.len());
    for (entry, &(mode, tau)) in sweep.iter().zip(&taus) {
        assert_eq!((entry["mode"].as_str(), entry["value"].as_f64()), (Some(mode), Some(tau)));
        let prof = oracle(&x, 1, channels, len, &|s| {
            if mode == "relative" {
                rel_count(s, tau)
            } else {
                s.iter().filter(|&&v| v > tau).count() as f64
            }
        });
        let all: Vec<f64> = prof[0].iter().flatten().copied().collect();
        assert!(close(entry["mean"].as_f64().unwrap(), all.iter().sum::<f64>() / all.len() as f64), "{mode} {tau}");
        assert_eq!(entry["max"].as_f64().unwrap(), all.iter().copied().fold(0.0, f64::max));
        let cm: Vec<f64> = prof[0].iter().map(|c| c.iter().sum::<f64>() / c.len() as f64).collect();
        assert_all_close(&floats(&entry["channel_mean"]), &cm, "channel_mean");
    }
    // The relative sweep is non-increasing in τ, and its 1e-3 entry is the default tolerance-ESS.
    let means: Vec<f64> = sweep[..3].iter().map(|e| e["mean"].as_f64().unwrap()).collect();
    assert!(means[0] <= means[1] && means[1] <= means[2]);
    assert_eq!(sweep[1]["mean"], v["summary"]["tolerance_ess"]["mean"]);
    let table = ok_text(&["profile", p, "--sweep", "1e-1,1e-2"]);
    assert!(table.contains("tolerance sweep, one SVD per block for every τ") && table.contains("1e-2"), "{table}");
    let svg = d.path().join("s.svg");
    ok_text(&["profile", p, "--sweep", "1e-1,1e-2", "--sweep-abs", "1e-2", "--plot", svg.to_str().unwrap()]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("tolerance sweep (relative)") && text.contains("tolerance sweep (absolute)"));
    assert!(ok_json(&["profile", p, "--format", "json"]).get("sweep").is_none());
}

#[test]
fn sweep_errors_are_one_line() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("a.npy");
    write_npy(&path, &data(1, 1, 6, 6), &[6, 6]);
    let p = path.to_str().unwrap();
    assert_fails(&["profile", p, "--sweep", ""], "the sweep is empty");
    assert_fails(&["profile", p, "--sweep", " "], "the sweep is empty");
    assert_fails(&["profile", p, "--sweep", "0"], "--sweep \"0\": invalid tolerance 0");
    assert_fails(&["profile", p, "--sweep", "1e-2,-1e-3"], "invalid tolerance -0.001");
    assert_fails(&["profile", p, "--sweep", "1.5"], "must lie in (0, 1)");
    assert_fails(&["profile", p, "--sweep", "1e-2,,1e-3"], "\"\" is not a number");
    assert_fails(&["profile", p, "--sweep-abs", "-1"], "--sweep-abs \"-1\": invalid tolerance -1");
    assert_fails(&["profile", p, "--sweep-abs", "nan"], "invalid tolerance NaN");
}

/// Writes a `.safetensors` file of f64 tensors.
fn write_st(path: &Path, tensors: &[(&str, Vec<usize>, &[f64])]) {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, d)| d.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (*n, safetensors::tensor::TensorView::new(safetensors::Dtype::F64, s.clone(), b).unwrap())
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn several_tensors_give_one_report_each_and_a_summary() {
    let d = tempfile::tempdir().unwrap();
    let len = 10;
    let (a, b, g) = (data(1, 2, len, 7), data(2, 1, len, 8), data(1, 1, len, 9));
    let path = d.path().join("model.safetensors");
    write_st(
        &path,
        &[
            ("layers.0.attn", vec![2, len, len], &a),
            ("layers.1.attn", vec![2, 1, len, len], &b),
            ("gates", vec![len, len], &g),
        ],
    );
    let p = path.to_str().unwrap();
    let v = ok_json(&["profile", p, "--tensor", "layers.*.attn", "--format", "json", "--mark", "4"]);
    let reports = v["tensors"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(v["summary"]["tensors"], 2);
    let names: Vec<&str> = reports.iter().map(|r| r["tensor"].as_str().unwrap()).collect();
    assert_eq!(names, ["layers.0.attn", "layers.1.attn"]);
    // Each report is the single-tensor report plus "tensor".
    for r in reports {
        let single =
            ok_json(&["profile", p, "--tensor", r["tensor"].as_str().unwrap(), "--format", "json", "--mark", "4"]);
        let mut r = r.clone();
        r.as_object_mut().unwrap().remove("tensor");
        assert_eq!(r, single);
    }
    assert_eq!(reports[1]["batch"], 2);
    assert!(reports[0].get("batch").is_none());
    // The summary: mean of means, max of maxes, sum of totals (oracle from the reports' own inputs).
    let oracle_summary = |f: &dyn Fn(&[f64]) -> f64| {
        let pa = oracle(&a, 1, 2, len, f);
        let pb = oracle(&b, 2, 1, len, f);
        let mean_a = pa[0].iter().flatten().sum::<f64>() / (2 * (len - 1)) as f64;
        let max_a = pa[0].iter().flatten().copied().fold(0.0, f64::max);
        let total_a = (0..len - 1).map(|j| pa[0][0][j] + pa[0][1][j]).sum::<f64>() / (len - 1) as f64;
        let mean_b: Vec<f64> = (0..len - 1).map(|j| (pb[0][0][j] + pb[1][0][j]) / 2.0).collect();
        let mb = mean_b.iter().sum::<f64>() / (len - 1) as f64;
        let max_b = mean_b.iter().copied().fold(0.0, f64::max);
        ((mean_a + mb) / 2.0, max_a.max(max_b), total_a + mb)
    };
    for (key, f) in
        [("entropy_ess", &entropy as &dyn Fn(&[f64]) -> f64), ("tolerance_ess", &|s: &[f64]| rel_count(s, 1e-3))]
    {
        let (mean, max, total) = oracle_summary(f);
        let s = &v["summary"][key];
        assert!(close(s["mean"].as_f64().unwrap(), mean), "{key} mean");
        assert!(close(s["max"].as_f64().unwrap(), max), "{key} max");
        assert!(close(s["total"].as_f64().unwrap(), total), "{key} total");
    }
    // Repeated --tensor, in the order given; table, CSV and plot.
    let v2 = ok_json(&["profile", p, "--tensor", "gates", "--tensor", "layers.0.attn", "--format", "json"]);
    let names: Vec<&str> = v2["tensors"].as_array().unwrap().iter().map(|r| r["tensor"].as_str().unwrap()).collect();
    assert_eq!(names, ["gates", "layers.0.attn"]);
    let table = ok_text(&["profile", p, "--tensor", "*"]);
    for name in ["gates", "layers.0.attn", "layers.1.attn"] {
        assert_eq!(table.lines().filter(|l| l.starts_with(name)).count(), 1, "one row per tensor: {table}");
    }
    assert!(table.contains("3 tensors") && table.lines().any(|l| l.starts_with("all ")), "{table}");
    let csv = ok_text(&["profile", p, "--tensor", "layers.*", "--format", "csv"]);
    assert!(csv.starts_with("tensor,channel,index,tolerance_ess,entropy_ess\n"), "{csv}");
    assert!(csv.contains("\nlayers.1.attn,0,1,"), "{csv}");
    let svg = d.path().join("layers.svg");
    ok_text(&["profile", p, "--tensor", "layers.*", "--plot", svg.to_str().unwrap()]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("ESS per tensor") && text.contains("1: layers.1.attn"), "plot names the layers");
    // Errors.
    assert_fails(
        &["profile", p, "--tensor", "conv.*"],
        "--tensor \"conv.*\" matches no tensor; the file holds: gates, layers.0.attn, layers.1.attn",
    );
    assert_fails(&["profile", p, "--tensor", "layers.*", "--tensor", "nope"], "no tensor named \"nope\"");
    assert_fails(
        &["profile", p, "--tensor", "layers.*", "--mark", "9"],
        "(tensor layers.0.attn): marker position 9 is out of range",
    );
}

/// The real fixture (a trained transformer's attention, examples/tiny_transformer.py)
/// reads as two batch tensors and its delimiters lower ESS.
#[test]
fn the_trained_transformer_fixture() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/delimiter_attention.safetensors");
    let v = ok_json(&["profile", fixture, "--tensor", "layers.*.attn", "--mark", "9,20", "--format", "json"]);
    let reports = v["tensors"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    for r in reports {
        assert_eq!((r["batch"].as_u64(), r["seq_len"].as_u64(), r["dtype"].as_str()), (Some(3), Some(32), Some("f32")));
        assert!(r["markers"]["entropy"]["mean_delta"].as_f64().unwrap() < 0.0, "ESS drops after a delimiter");
    }
}
