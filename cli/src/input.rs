//! Reading tensors from `.npy` and `.safetensors` files.

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

/// Reads a tensor; `name` picks one out of a `.safetensors` file.
pub fn read(path: &Path, name: Option<&str>) -> Result<Tensor, String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext != "npy" && ext != "safetensors" {
        return Err(format!("unsupported file extension {ext:?}: give a .npy or .safetensors file"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read file: {e}"))?;
    read_bytes(&bytes, &ext, name)
}

/// Parses the bytes of a `.npy` (`ext = "npy"`) or `.safetensors` file.
pub fn read_bytes(bytes: &[u8], ext: &str, name: Option<&str>) -> Result<Tensor, String> {
    match ext {
        "npy" => read_npy(bytes),
        "safetensors" => read_safetensors(bytes, name),
        _ => Err(format!("unsupported file extension {ext:?}: give a .npy or .safetensors file")),
    }
}

/// Checks the `.npy` preamble and header dict before the full parser sees them:
/// the version, a header of at most 64 KiB, and a plain header (`{'descr': …,
/// 'fortran_order': …, 'shape': (…)}`, nesting depth ≤ 2, no lists). Deeply nested
/// headers make the general Python-literal parser take exponential time, and no
/// float array needs them.
fn screen_npy_header(bytes: &[u8]) -> Result<(), String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a valid .npy file: missing the \\x93NUMPY magic string".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("not a valid .npy file: unsupported format version {v}")),
    };
    if header_len > 64 * 1024 {
        return Err(format!("not a valid .npy file: header of {header_len} bytes (at most 64 KiB expected)"));
    }
    let header = bytes.get(start..start + header_len).ok_or("not a valid .npy file: truncated header")?;
    let (mut depth, mut quote) = (0usize, None::<u8>);
    for &c in header {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(c),
            (None, b'[') => {
                return Err(
                    "unsupported dtype: structured arrays are not read; save a plain float32/float64 array".into()
                )
            }
            (None, b'(' | b'{') => {
                depth += 1;
                if depth > 2 {
                    return Err("not a valid .npy file: header nested too deeply".into());
                }
            }
            (None, b')' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn read_npy(bytes: &[u8]) -> Result<Tensor, String> {
    screen_npy_header(bytes)?;
    let npy = npyz::NpyFile::new(bytes).map_err(|e| format!("not a valid .npy file: {e}"))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let order = npy.order();
    let (is_float, size) = match npy.dtype() {
        npyz::DType::Plain(ts) => (ts.type_char() == npyz::TypeChar::Float, ts.size_field()),
        other => return Err(format!("unsupported dtype {}: only float32 and float64 arrays are read", other.descr())),
    };
    let descr = npy.dtype().descr();
    // The header's shape must fit in the bytes that follow it: a crafted header
    // must not make us allocate more than the file holds.
    let total = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let fits = total.and_then(|t| t.checked_mul(size as usize)).is_some_and(|b| b <= bytes.len());
    let Some(total) = total.filter(|_| fits) else {
        return Err(format!("the header's shape {shape:?} needs more data than the file's {} bytes", bytes.len()));
    };
    let bad_len = |n: usize| format!("the array holds {n} values but its shape {shape:?} needs {total}");
    let data = match (is_float, size) {
        (true, 4) => {
            let v: Vec<f32> = npy.into_vec().map_err(|e| format!("cannot read float32 data: {e}"))?;
            if v.len() != total {
                return Err(bad_len(v.len()));
            }
            Data::F32(to_row_major(v, &shape, order))
        }
        (true, 8) => {
            let v: Vec<f64> = npy.into_vec().map_err(|e| format!("cannot read float64 data: {e}"))?;
            if v.len() != total {
                return Err(bad_len(v.len()));
            }
            Data::F64(to_row_major(v, &shape, order))
        }
        _ => {
            return Err(format!(
            "unsupported dtype {descr}: only float32 and float64 arrays are read (convert with arr.astype(np.float64))"
        ))
        }
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

fn read_safetensors(bytes: &[u8], name: Option<&str>) -> Result<Tensor, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| format!("not a valid .safetensors file: {e}"))?;
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    let name = match (name, names.as_slice()) {
        (Some(n), _) => n,
        (None, [only]) => only,
        (None, []) => return Err("the file holds no tensor".into()),
        (None, many) => {
            return Err(format!(
                "the file holds {} tensors; choose one with --tensor NAME: {}",
                many.len(),
                many.join(", ")
            ))
        }
    };
    let view =
        st.tensor(name).map_err(|_| format!("no tensor named {name:?}; the file holds: {}", names.join(", ")))?;
    let shape = view.shape().to_vec();
    let raw = view.data();
    let data = match view.dtype() {
        safetensors::Dtype::F32 => {
            Data::F32(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
        }
        safetensors::Dtype::F64 => {
            Data::F64(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
        }
        other => return Err(format!("tensor {name:?} has unsupported dtype {other:?}: only F32 and F64 are read")),
    };
    let dtype = if matches!(data, Data::F32(_)) { "f32" } else { "f64" };
    Ok(Tensor { data, shape, dtype })
}
