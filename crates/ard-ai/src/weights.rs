//! Loading the encoder's weights from the files users have:
//!
//! - **safetensors** (`candle_core::safetensors`), with the head counts read from the
//!   `__metadata__` hyper-parameters when present;
//! - a plain **`torch.save(state_dict)`** zip (`archive/data.pkl` + `archive/data/<n>`);
//! - the published **Lightning checkpoint** `astroclip.ckpt`: the same zip layout,
//!   tensors under `state_dict` with the prefix `spectrum_encoder.` (image-encoder
//!   tensors are skipped), and pickled Python objects in `hyper_parameters` that are
//!   read as inert data by [`crate::pickle`] — never executed — and searched for the
//!   `num_heads` / `n_head` hyper-parameters.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::pickle::{self, Value};
use crate::{AiError, Result};

/// Prefix of the spectrum encoder in an AstroCLIP Lightning checkpoint.
pub const CHECKPOINT_PREFIX: &str = "spectrum_encoder.";

/// Tensors of a weight file, keys relative to the `SpectrumHead`.
#[derive(Debug, Clone)]
pub struct LoadedWeights {
    /// Tensors by state-dict key.
    pub tensors: HashMap<String, Tensor>,
    /// (backbone heads, head heads), when the file records them.
    pub heads: Option<(usize, usize)>,
}

fn weights_error(path: &Path, message: impl Into<String>) -> AiError {
    AiError::Weights { path: path.to_path_buf(), message: message.into() }
}

/// `path` is not `what` (or its part `what` cannot be decoded), keeping the decoder's error.
pub(crate) fn decode_error(path: &Path, what: &str, e: impl std::error::Error + Send + Sync + 'static) -> AiError {
    AiError::Decode { path: path.to_path_buf(), what: what.to_string(), source: Box::new(e) }
}

/// An error of reading `path`, keeping its cause.
fn file_error<E: std::error::Error + Send + Sync + 'static>(path: &Path) -> impl FnOnce(E) -> AiError + '_ {
    move |e| AiError::File { path: path.to_path_buf(), source: Box::new(e) }
}

/// Loads a weight file of any supported format (told apart by content, not name).
pub fn load(path: &Path) -> Result<LoadedWeights> {
    let mut head = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).map_err(file_error(path))?;
    if &head == b"PK\x03\x04" {
        load_torch_zip(path)
    } else {
        load_safetensors(path)
    }
}

fn load_safetensors(path: &Path) -> Result<LoadedWeights> {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| decode_error(path, "not a safetensors file", e))?;
    // Header: u64 length + JSON with an optional `__metadata__` of strings.
    let bytes = std::fs::read(path).map_err(file_error(path))?;
    let len = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| weights_error(path, "short header"))?) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(bytes.get(8..8 + len).ok_or_else(|| weights_error(path, "short header"))?).map_err(file_error(path))?;
    let hparam = |name: &str, field: &str| -> Option<usize> {
        let s = header.get("__metadata__")?.get(name)?.as_str()?;
        serde_json::from_str::<serde_json::Value>(s).ok()?.get(field)?.as_u64().map(|v| v as usize)
    };
    let heads = hparam("backbone_hparams", "num_heads").zip(hparam("head_hparams", "n_head"));
    Ok(LoadedWeights { tensors, heads })
}

fn load_torch_zip(path: &Path) -> Result<LoadedWeights> {
    let file = std::fs::File::open(path).map_err(file_error(path))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| decode_error(path, "not a torch zip", e))?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| zip.by_index(i).ok().and_then(|f| f.name().ok().map(|n| n.to_string())))
        .find(|n| n.ends_with("/data.pkl") || n == "data.pkl")
        .ok_or_else(|| weights_error(path, "no data.pkl in the archive"))?;
    let dir = pkl_name.strip_suffix("data.pkl").unwrap_or("").to_string();
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name).and_then(|mut f| f.read_to_end(&mut pkl).map_err(Into::into)).map_err(file_error(path))?;
    let root = pickle::read(&pkl).map_err(|e| decode_error(path, pkl_name.as_str(), e))?;
    let (state, prefix) = match root.get("state_dict") {
        Some(sd) => (sd, CHECKPOINT_PREFIX),
        None => (root.clone(), ""),
    };
    let entries =
        state.entries().ok_or_else(|| weights_error(path, "no state dict (a dict of tensors) at the top or under 'state_dict'"))?;
    let has_prefix = !prefix.is_empty() && entries.iter().any(|(k, _)| k.as_str().is_some_and(|k| k.starts_with(prefix)));
    let mut tensors = HashMap::new();
    for (k, v) in entries {
        let Some(key) = k.as_str() else { continue };
        let key = if has_prefix {
            match key.strip_prefix(prefix) {
                Some(k) => k,
                None => continue, // the image encoder and anything else
            }
        } else {
            key
        };
        let t = rebuild_tensor(&v, &mut zip, &dir).map_err(|e| match e {
            RebuildError::Format(m) => weights_error(path, format!("tensor {key}: {m}")),
            RebuildError::Data(source) => AiError::Storage { path: path.to_path_buf(), tensor: key.to_string(), source },
        })?;
        tensors.insert(key.to_string(), t);
    }
    let heads = root.get("hyper_parameters").and_then(|h| find_int(&h, "num_heads", 0).zip(find_int(&h, "n_head", 0)));
    Ok(LoadedWeights { tensors, heads })
}

/// The first integer stored under `key` in any dict or object state of the tree.
fn find_int(v: &Value, key: &str, depth: usize) -> Option<usize> {
    if depth > 64 {
        return None;
    }
    match v {
        Value::Dict(_) => {
            let entries = v.entries()?;
            if let Some((_, x)) = entries.iter().find(|(k, _)| k.as_str() == Some(key)) {
                if let Some(i) = x.as_int() {
                    return Some(i as usize);
                }
            }
            entries.iter().find_map(|(_, x)| find_int(x, key, depth + 1))
        }
        Value::List(_) | Value::Tuple(_) => v.items()?.iter().find_map(|x| find_int(x, key, depth + 1)),
        Value::Call(c) => {
            let c = c.borrow();
            c.state.as_ref().and_then(|s| find_int(s, key, depth + 1)).or_else(|| find_int(&c.args, key, depth + 1))
        }
        _ => None,
    }
}

/// Why a pickled tensor could not be rebuilt: the pickle is not a tensor this reader
/// knows (a message), or its storage could not be read or turned into a tensor (the cause).
enum RebuildError {
    Format(String),
    Data(Box<dyn std::error::Error + Send + Sync>),
}

impl From<&str> for RebuildError {
    fn from(m: &str) -> Self {
        RebuildError::Format(m.to_string())
    }
}

impl From<String> for RebuildError {
    fn from(m: String) -> Self {
        RebuildError::Format(m)
    }
}

/// A tensor from `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`,
/// possibly wrapped in `_rebuild_parameter(tensor, requires_grad, hooks)`.
fn rebuild_tensor<R: std::io::Read + std::io::Seek>(
    v: &Value,
    zip: &mut zip::ZipArchive<R>,
    dir: &str,
) -> std::result::Result<Tensor, RebuildError> {
    let Value::Call(call) = v else { return Err("not a tensor".into()) };
    let call = call.borrow();
    let name = match &call.func {
        Value::Global(_, n) => n.clone(),
        _ => String::new(),
    };
    let args = call.args.items().ok_or("tensor arguments are not a tuple")?;
    if name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state" {
        return rebuild_tensor(args.first().ok_or("empty _rebuild_parameter")?, zip, dir);
    }
    if name != "_rebuild_tensor_v2" {
        return Err(format!("unsupported tensor constructor {name}").into());
    }
    let Some(Value::PersistentId(pid)) = args.first() else { return Err("no storage reference".into()) };
    // ('storage', <torch.FloatStorage>, key, location, numel)
    let pid = pid.items().ok_or("bad storage reference")?;
    let storage = match pid.get(1) {
        Some(Value::Global(_, n)) => n.clone(),
        _ => return Err("bad storage type".into()),
    };
    let key = pid.get(2).and_then(|k| k.as_str().map(String::from)).ok_or("bad storage key")?;
    let (dtype, size_of) = match storage.as_str() {
        "FloatStorage" => (DType::F32, 4),
        "HalfStorage" => (DType::F16, 2),
        "BFloat16Storage" => (DType::BF16, 2),
        "DoubleStorage" => (DType::F64, 8),
        other => return Err(format!("unsupported storage {other}").into()),
    };
    let offset = args.get(1).and_then(|x| x.as_int()).ok_or("bad storage offset")? as usize;
    let shape: Vec<usize> =
        args.get(2).and_then(|x| x.items()).ok_or("bad size")?.iter().map(|x| x.as_int().unwrap_or(0) as usize).collect();
    let stride: Vec<usize> =
        args.get(3).and_then(|x| x.items()).ok_or("bad stride")?.iter().map(|x| x.as_int().unwrap_or(0) as usize).collect();
    let mut bytes = Vec::new();
    zip.by_name(&format!("{dir}data/{key}"))
        .and_then(|mut f| f.read_to_end(&mut bytes).map_err(Into::into))
        .map_err(|e| RebuildError::Data(Box::new(e)))?;
    let numel: usize = shape.iter().product();
    // Element offsets of a strided view, row-major.
    let mut index = vec![0usize; numel];
    for (i, slot) in index.iter_mut().enumerate() {
        let (mut rem, mut off) = (i, offset);
        for d in (0..shape.len()).rev() {
            off += (rem % shape[d]) * stride[d];
            rem /= shape[d];
        }
        *slot = off;
    }
    if index.iter().any(|&o| (o + 1) * size_of > bytes.len()) {
        return Err(format!("storage {key} is {} bytes, too short for shape {shape:?}", bytes.len()).into());
    }
    let gather = |o: usize| &bytes[o * size_of..(o + 1) * size_of];
    let dev = Device::Cpu;
    let t = match dtype {
        DType::F32 => Tensor::from_vec(
            index.iter().map(|&o| f32::from_le_bytes(gather(o).try_into().unwrap_or([0; 4]))).collect::<Vec<_>>(),
            shape,
            &dev,
        ),
        DType::F64 => Tensor::from_vec(
            index.iter().map(|&o| f64::from_le_bytes(gather(o).try_into().unwrap_or([0; 8]))).collect::<Vec<_>>(),
            shape,
            &dev,
        ),
        DType::F16 => Tensor::from_vec(
            index.iter().map(|&o| half::f16::from_bits(u16::from_le_bytes(gather(o).try_into().unwrap_or([0; 2])))).collect::<Vec<_>>(),
            shape,
            &dev,
        ),
        _ => Tensor::from_vec(
            index.iter().map(|&o| half::bf16::from_bits(u16::from_le_bytes(gather(o).try_into().unwrap_or([0; 2])))).collect::<Vec<_>>(),
            shape,
            &dev,
        ),
    };
    t.map_err(|e| RebuildError::Data(Box::new(e)))
}
