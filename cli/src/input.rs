//! Reading tensors from `.npy` and `.safetensors` files.

use crate::error::{CliError, InputError, IoAction};
use std::path::Path;

/// The values of a tensor, row-major, in the file's precision.
pub enum Data {
    /// float32 values.
    F32(Vec<f32>),
    /// float64 values.
    F64(Vec<f64>),
}

/// A tensor read from a file.
pub struct Tensor {
    /// The values, row-major.
    pub data: Data,
    /// The shape.
    pub shape: Vec<usize>,
    /// `"f32"` or `"f64"`.
    pub dtype: &'static str,
}

/// Reads a tensor; `name` picks one out of a `.safetensors` file. Errors name the
/// file.
pub fn read(path: &Path, name: Option<&str>) -> Result<Tensor, CliError> {
    let file = || path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext != "npy" && ext != "safetensors" {
        return Err(CliError::Input { file: file(), source: InputError::Extension(ext) });
    }
    let bytes =
        std::fs::read(path).map_err(|source| CliError::Io { path: path.to_owned(), action: IoAction::Read, source })?;
    read_bytes(&bytes, &ext, name).map_err(|source| CliError::Input { file: file(), source })
}

/// Reads the tensors that `patterns` select (a `.safetensors` file; names may
/// hold `*` wildcards, matched against the sorted names, each tensor listed
/// once in the order of the patterns), or the one tensor of a file when
/// `patterns` is empty or the file is a `.npy`. Each comes with its name (`None`
/// for a `.npy`). Errors name the file.
pub fn read_many(path: &Path, patterns: &[String]) -> Result<Vec<(Option<String>, Tensor)>, CliError> {
    let file = || path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext != "npy" && ext != "safetensors" {
        return Err(CliError::Input { file: file(), source: InputError::Extension(ext) });
    }
    let bytes =
        std::fs::read(path).map_err(|source| CliError::Io { path: path.to_owned(), action: IoAction::Read, source })?;
    let wrap = |source| CliError::Input { file: file(), source };
    if ext == "npy" || patterns.is_empty() {
        return Ok(vec![(None, read_bytes(&bytes, &ext, patterns.first().map(String::as_str)).map_err(wrap)?)]);
    }
    let st =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| wrap(InputError::NotSafetensors(e.to_string())))?;
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort_unstable();
    let chosen = select(&names, patterns).map_err(wrap)?;
    chosen.into_iter().map(|n| tensor_of(&st, &n, &names).map(|t| (Some(n), t)).map_err(wrap)).collect()
}

/// The names that `patterns` select from the sorted `names`, each once, in the
/// order of the patterns (and sorted within one wildcard pattern).
pub fn select(names: &[String], patterns: &[String]) -> Result<Vec<String>, InputError> {
    let mut out: Vec<String> = Vec::new();
    for pat in patterns {
        let matched: Vec<&String> = if pat.contains('*') {
            names.iter().filter(|n| glob(pat, n)).collect()
        } else {
            names.iter().filter(|n| *n == pat).collect()
        };
        if matched.is_empty() {
            return Err(if pat.contains('*') {
                InputError::NoMatch { pattern: pat.clone(), names: names.to_vec() }
            } else {
                InputError::NoSuchTensor { name: pat.clone(), names: names.to_vec() }
            });
        }
        for n in matched {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
    }
    Ok(out)
}

/// Whether `name` matches `pattern`, where `*` stands for any (possibly empty)
/// run of characters and every other character for itself.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Greedy matching with backtracking to the last star: linear in practice,
    // O(|p|·|n|) at worst.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Parses the bytes of a `.npy` (`ext = "npy"`) or `.safetensors` file.
pub fn read_bytes(bytes: &[u8], ext: &str, name: Option<&str>) -> Result<Tensor, InputError> {
    match ext {
        "npy" => read_npy(bytes),
        "safetensors" => read_safetensors(bytes, name),
        _ => Err(InputError::Extension(ext.to_string())),
    }
}

/// Checks the `.npy` preamble and header dict before the full parser sees them:
/// the version, a header of at most 64 KiB, and a plain header (`{'descr': …,
/// 'fortran_order': …, 'shape': (…)}`, nesting depth ≤ 2, no lists). Deeply nested
/// headers make the general Python-literal parser take exponential time, and no
/// float array needs them.
fn screen_npy_header(bytes: &[u8]) -> Result<(), InputError> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(InputError::NotNpy("missing the \\x93NUMPY magic string".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(InputError::NotNpy(format!("unsupported format version {v}"))),
    };
    if header_len > 64 * 1024 {
        return Err(InputError::NotNpy(format!("header of {header_len} bytes (at most 64 KiB expected)")));
    }
    let header = bytes.get(start..start + header_len).ok_or_else(|| InputError::NotNpy("truncated header".into()))?;
    let (mut depth, mut quote) = (0usize, None::<u8>);
    for &c in header {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(c),
            (None, b'[') => return Err(InputError::StructuredArray),
            (None, b'(' | b'{') => {
                depth += 1;
                if depth > 2 {
                    return Err(InputError::NotNpy("header nested too deeply".into()));
                }
            }
            (None, b')' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn read_npy(bytes: &[u8]) -> Result<Tensor, InputError> {
    screen_npy_header(bytes)?;
    let npy = npyz::NpyFile::new(bytes).map_err(|e| InputError::NotNpy(e.to_string()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let order = npy.order();
    let (is_float, size) = match npy.dtype() {
        npyz::DType::Plain(ts) => (ts.type_char() == npyz::TypeChar::Float, ts.size_field()),
        other => return Err(InputError::Dtype { dtype: other.descr() }),
    };
    let descr = npy.dtype().descr();
    // The header's shape must fit in the bytes that follow it: a crafted header
    // must not make us allocate more than the file holds.
    let total = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let fits = total.and_then(|t| t.checked_mul(size as usize)).is_some_and(|b| b <= bytes.len());
    let Some(total) = total.filter(|_| fits) else {
        return Err(InputError::ShapeExceedsFile { shape, bytes: bytes.len() });
    };
    let bad_len = |values: usize| InputError::Length { values, shape: shape.clone(), needed: total };
    let data = match (is_float, size) {
        (true, 4) => {
            let v: Vec<f32> =
                npy.into_vec().map_err(|e| InputError::Decode { dtype: "float32", reason: e.to_string() })?;
            if v.len() != total {
                return Err(bad_len(v.len()));
            }
            Data::F32(to_row_major(v, &shape, order))
        }
        (true, 8) => {
            let v: Vec<f64> =
                npy.into_vec().map_err(|e| InputError::Decode { dtype: "float64", reason: e.to_string() })?;
            if v.len() != total {
                return Err(bad_len(v.len()));
            }
            Data::F64(to_row_major(v, &shape, order))
        }
        _ => return Err(InputError::Dtype { dtype: descr }),
    };
    let dtype = if matches!(data, Data::F32(_)) { "f32" } else { "f64" };
    Ok(Tensor { data, shape, dtype })
}

/// Reorders a Fortran-order buffer (first index fastest) into row-major order.
fn to_row_major<T: Copy>(v: Vec<T>, shape: &[usize], order: npyz::Order) -> Vec<T> {
    if order == npyz::Order::C || shape.len() < 2 {
        return v;
    }
    let total = v.len();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..total {
        // Fortran offset of the row-major multi-index `idx`.
        let (mut off, mut stride) = (0, 1);
        for (k, &d) in shape.iter().enumerate() {
            off += idx[k] * stride;
            stride *= d;
        }
        out.push(v[off]);
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// Every tensor of a `.safetensors` file, sorted by name (for files that hold a
/// realization or a family's parameters). Errors name the file.
pub fn read_all(path: &Path) -> Result<Vec<(String, Tensor)>, CliError> {
    let file = || path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|source| CliError::Io { path: path.to_owned(), action: IoAction::Read, source })?;
    read_all_bytes(&bytes).map_err(|source| CliError::Input { file: file(), source })
}

/// Parses every tensor of the bytes of a `.safetensors` file.
pub fn read_all_bytes(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, InputError> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| InputError::NotSafetensors(e.to_string()))?;
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort_unstable();
    names.into_iter().map(|n| read_safetensors(bytes, Some(&n)).map(|t| (n, t))).collect()
}

/// The names of the tensors of a `.safetensors` file (empty for other files or
/// ones whose header cannot be read: the reader reports those; damaged data
/// behind a readable header is reported when the tensors are read). Only the header is read (its
/// 8-byte length, then its JSON), not the tensors: deciding what a file holds
/// costs nothing against reading it.
pub fn tensor_names(path: &Path) -> Vec<String> {
    use std::io::Read;
    let is_st = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if !is_st {
        return Vec::new();
    }
    let header = || -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut file = std::fs::File::open(path).ok()?;
        let mut len = [0u8; 8];
        file.read_exact(&mut len).ok()?;
        // The format caps the header at 100 MB; a larger length is not a
        // safetensors file.
        let len = usize::try_from(u64::from_le_bytes(len)).ok().filter(|&n| n <= 100_000_000)?;
        let mut json = Vec::new();
        file.take(len as u64).read_to_end(&mut json).ok()?;
        (json.len() == len).then_some(())?;
        serde_json::from_slice(&json).ok()
    };
    let mut names: Vec<String> =
        header().into_iter().flatten().map(|(k, _)| k).filter(|k| k != "__metadata__").collect();
    names.sort_unstable();
    names
}

impl Tensor {
    /// The values in `f64` (exact from `f32`), moved out of the tensor (no copy
    /// for `f64`); the tensor keeps its shape and dtype but no values (take
    /// each tensor once).
    pub fn take_f64(&mut self) -> Vec<f64> {
        match std::mem::replace(&mut self.data, Data::F64(Vec::new())) {
            Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::F64(v) => v,
        }
    }
    /// The values in `f64` (exact from `f32`).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::F64(v) => v.clone(),
        }
    }
}

fn read_safetensors(bytes: &[u8], name: Option<&str>) -> Result<Tensor, InputError> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| InputError::NotSafetensors(e.to_string()))?;
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    let name = match (name, names.as_slice()) {
        (Some(n), _) => n,
        (None, [only]) => only,
        (None, []) => return Err(InputError::NoTensor),
        (None, many) => return Err(InputError::ChooseTensor { names: many.iter().map(|n| n.to_string()).collect() }),
    };
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    tensor_of(&st, name, &names)
}

/// The tensor `name` of a parsed `.safetensors` file (`names`: all, sorted, for
/// the error message).
fn tensor_of(st: &safetensors::SafeTensors<'_>, name: &str, names: &[String]) -> Result<Tensor, InputError> {
    let view =
        st.tensor(name).map_err(|_| InputError::NoSuchTensor { name: name.to_string(), names: names.to_vec() })?;
    let shape = view.shape().to_vec();
    let raw = view.data();
    let data = match view.dtype() {
        safetensors::Dtype::F32 => {
            Data::F32(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
        }
        safetensors::Dtype::F64 => {
            Data::F64(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
        }
        other => return Err(InputError::TensorDtype { name: name.to_string(), dtype: format!("{other:?}") }),
    };
    let dtype = if matches!(data, Data::F32(_)) { "f32" } else { "f64" };
    Ok(Tensor { data, shape, dtype })
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    /// The `(2, 3, 4)` tensor with entry `100a + 10b + c` at `[a][b][c]`, stored
    /// first index fastest (Fortran order), written out loop by loop.
    fn fortran_234() -> Vec<f64> {
        let mut v = Vec::new();
        for c in 0..4 {
            for b in 0..3 {
                for a in 0..2 {
                    v.push((100 * a + 10 * b + c) as f64);
                }
            }
        }
        v
    }

    /// The same tensor, row-major (last index fastest).
    fn row_major_234() -> Vec<f64> {
        let mut v = Vec::new();
        for a in 0..2 {
            for b in 0..3 {
                for c in 0..4 {
                    v.push((100 * a + 10 * b + c) as f64);
                }
            }
        }
        v
    }

    fn npy_bytes<T: npyz::AutoSerialize + Copy>(stored: &[T], shape: &[usize], order: npyz::Order) -> Vec<u8> {
        let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let mut bytes = Vec::new();
        let mut w =
            npyz::WriteOptions::new().default_dtype().shape(&shape).order(order).writer(&mut bytes).begin_nd().unwrap();
        w.extend(stored.iter().copied()).unwrap();
        w.finish().unwrap();
        bytes
    }

    #[test]
    fn fortran_buffers_are_reordered_to_row_major() {
        assert_eq!(to_row_major(fortran_234(), &[2, 3, 4], npyz::Order::Fortran), row_major_234());
        // A 2×3 matrix [[0, 1, 2], [3, 4, 5]] is stored column after column.
        assert_eq!(to_row_major(vec![0, 3, 1, 4, 2, 5], &[2, 3], npyz::Order::Fortran), vec![0, 1, 2, 3, 4, 5]);
        // Row-major input and vectors are left alone.
        assert_eq!(to_row_major(vec![5, 6, 7], &[3], npyz::Order::Fortran), vec![5, 6, 7]);
        assert_eq!(to_row_major(row_major_234(), &[2, 3, 4], npyz::Order::C), row_major_234());
        // Size-one axes: nothing moves.
        assert_eq!(to_row_major(vec![1, 2, 3], &[1, 3, 1], npyz::Order::Fortran), vec![1, 2, 3]);
    }

    #[test]
    fn fortran_order_npy_files_read_row_major_in_f32_and_f64() {
        let bytes = npy_bytes(&fortran_234(), &[2, 3, 4], npyz::Order::Fortran);
        let t = read_bytes(&bytes, "npy", None).unwrap();
        assert_eq!((t.shape.as_slice(), t.dtype), ([2, 3, 4].as_slice(), "f64"));
        assert!(matches!(&t.data, Data::F64(v) if *v == row_major_234()));

        let narrow: Vec<f32> = fortran_234().iter().map(|&x| x as f32).collect();
        let t = read_bytes(&npy_bytes(&narrow, &[2, 3, 4], npyz::Order::Fortran), "npy", None).unwrap();
        let expect: Vec<f32> = row_major_234().iter().map(|&x| x as f32).collect();
        assert_eq!(t.dtype, "f32");
        assert!(matches!(&t.data, Data::F32(v) if *v == expect));

        // The same values in C order read identically.
        let t = read_bytes(&npy_bytes(&row_major_234(), &[2, 3, 4], npyz::Order::C), "npy", None).unwrap();
        assert!(matches!(&t.data, Data::F64(v) if *v == row_major_234()));
    }

    #[test]
    fn tensor_names_come_from_the_header_alone() {
        use safetensors::tensor::{Dtype, TensorView};
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let views = [("C", &values), ("A", &values), ("B", &values)]
            .map(|(n, v)| (n, TensorView::new(Dtype::F64, vec![2], v).unwrap()));
        let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = safetensors::serialize(views, Some(meta)).unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("m.safetensors"), &bytes).unwrap();
        // Sorted, and the metadata entry is not a tensor.
        assert_eq!(tensor_names(&path("m.safetensors")), ["A", "B", "C"]);
        // The tensors are not read: a file cut after its header still names them
        // (reading it is what reports the damage).
        let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        std::fs::write(path("cut.SafeTensors"), &bytes[..header_end]).unwrap();
        assert_eq!(tensor_names(&path("cut.SafeTensors")), ["A", "B", "C"]);
        assert!(read_all(&path("cut.SafeTensors")).is_err());
        // A header cut short, a huge length, garbage, another extension, no file.
        // A hand-written header padded with spaces (as the format allows), and
        // one whose top level is not an object.
        let padded = br#"{"x":{"dtype":"F64","shape":[0],"data_offsets":[0,0]}}     "#;
        let mut file = (padded.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(padded);
        std::fs::write(path("padded.safetensors"), &file).unwrap();
        assert_eq!(tensor_names(&path("padded.safetensors")), ["x"]);
        let mut list = 2u64.to_le_bytes().to_vec();
        list.extend_from_slice(b"[]");
        std::fs::write(path("list.safetensors"), &list).unwrap();
        assert!(tensor_names(&path("list.safetensors")).is_empty());
        std::fs::write(path("short.safetensors"), &bytes[..header_end - 1]).unwrap();
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(path("huge.safetensors"), &huge).unwrap();
        std::fs::write(path("junk.safetensors"), b"not a safetensors file").unwrap();
        std::fs::write(path("m.npy"), &bytes).unwrap();
        for name in ["short.safetensors", "huge.safetensors", "junk.safetensors", "m.npy", "absent.safetensors"] {
            assert!(tensor_names(&path(name)).is_empty(), "{name}");
        }
    }

    #[test]
    fn wildcards_match_any_run_of_characters() {
        assert!(glob("layers.*.attn", "layers.0.attn"));
        assert!(glob("layers.*.attn", "layers.12.attn"));
        assert!(glob("layers.*.attn", "layers..attn"));
        assert!(!glob("layers.*.attn", "layers.0.mlp"));
        assert!(glob("*", ""));
        assert!(glob("*attn*", "model.attn.0"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
        assert!(glob("exact", "exact") && !glob("exact", "exact2"));
        let names: Vec<String> = ["b.attn", "a.attn", "a.mlp"].iter().map(|s| s.to_string()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        let pick = |p: &[&str]| select(&sorted, &p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(pick(&["*.attn"]).unwrap(), ["a.attn", "b.attn"]);
        assert_eq!(pick(&["b.attn", "*.attn"]).unwrap(), ["b.attn", "a.attn"], "each once, in pattern order");
        assert!(matches!(pick(&["*.conv"]), Err(InputError::NoMatch { .. })));
        assert!(matches!(pick(&["c.attn"]), Err(InputError::NoSuchTensor { .. })));
    }

    #[test]
    fn reader_errors_are_typed() {
        assert_eq!(read_bytes(b"", "txt", None).err(), Some(InputError::Extension("txt".into())));
        assert!(matches!(read_bytes(b"garbage", "npy", None), Err(InputError::NotNpy(_))));
        let ints = npy_bytes(&[1i64, 2, 3, 4], &[2, 2], npyz::Order::C);
        assert!(matches!(read_bytes(&ints, "npy", None), Err(InputError::Dtype { dtype }) if dtype == "'<i8'"));
    }
}
