//! Safetensors weights read tensor by tensor.
//!
//! Only the headers are parsed up front; each tensor's bytes are read from its file when the
//! model asks for it and converted to the compute dtype right away, so peak memory is the final
//! weights plus one tensor — never a whole shard. (candle's memory-mapped loader needs `unsafe`,
//! which this workspace denies; reading on demand keeps the same bound on memory.)

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use serde_json::Value;

use super::ModelError;
use super::config::TextConfig;
use super::quant::{QuantizedWeights, TextLinear, text_linear};

/// Largest safetensors header accepted (the 2B checkpoint's is about 60 kB).
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Clone, Debug)]
struct TensorEntry {
    file: usize,
    dtype: DType,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    start: u64,
    end: u64,
}

/// The tensors of one or more safetensors files.
#[derive(Debug)]
pub struct SafetensorsFiles {
    paths: Vec<PathBuf>,
    files: Vec<Mutex<File>>,
    entries: HashMap<String, TensorEntry>,
}

fn dtype_of(s: &str) -> Option<DType> {
    Some(match s {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I64" => DType::I64,
        "U32" => DType::U32,
        "U8" => DType::U8,
        _ => return None,
    })
}

impl SafetensorsFiles {
    /// Parses the headers of the given files.
    pub fn open(paths: &[PathBuf]) -> Result<Self, ModelError> {
        let mut files = Vec::with_capacity(paths.len());
        let mut entries = HashMap::new();
        for (index, path) in paths.iter().enumerate() {
            let mut f = File::open(path).map_err(|e| ModelError::file(path, e.to_string()))?;
            let file_len = f
                .metadata()
                .map_err(|e| ModelError::file(path, e.to_string()))?
                .len();
            let mut len_bytes = [0u8; 8];
            f.read_exact(&mut len_bytes)
                .map_err(|e| ModelError::file(path, format!("safetensors header length: {e}")))?;
            let header_len = u64::from_le_bytes(len_bytes);
            if header_len > MAX_HEADER_BYTES || header_len + 8 > file_len {
                return Err(ModelError::file(
                    path,
                    format!(
                        "safetensors header length {header_len} does not fit the file ({file_len} bytes)"
                    ),
                ));
            }
            let mut header = vec![0u8; header_len as usize];
            f.read_exact(&mut header)
                .map_err(|e| ModelError::file(path, format!("safetensors header: {e}")))?;
            let header: Value = serde_json::from_slice(&header).map_err(|e| {
                ModelError::file(path, format!("safetensors header is not JSON: {e}"))
            })?;
            let Value::Object(map) = header else {
                return Err(ModelError::file(
                    path,
                    "safetensors header is not a JSON object",
                ));
            };
            let data_start = 8 + header_len;
            for (name, info) in map {
                if name == "__metadata__" {
                    continue;
                }
                let bad =
                    |problem: String| ModelError::file(path, format!("tensor '{name}': {problem}"));
                let dtype_name = info.get("dtype").and_then(Value::as_str).unwrap_or("");
                let dtype = dtype_of(dtype_name)
                    .ok_or_else(|| bad(format!("unsupported dtype '{dtype_name}'")))?;
                let shape: Vec<usize> = info
                    .get("shape")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("no shape".into()))?
                    .iter()
                    .map(|d| d.as_u64().and_then(|n| usize::try_from(n).ok()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("shape is not a list of sizes".into()))?;
                let offsets: Vec<u64> = info
                    .get("data_offsets")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let [begin, end] = offsets[..] else {
                    return Err(bad("data_offsets must be two numbers".into()));
                };
                let elements = shape
                    .iter()
                    .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
                    .ok_or_else(|| bad("shape overflows".into()))?;
                let expected = elements
                    .checked_mul(dtype.size_in_bytes() as u64)
                    .ok_or_else(|| bad("shape overflows".into()))?;
                if end < begin || end - begin != expected || data_start + end > file_len {
                    return Err(bad(format!(
                        "byte range {begin}..{end} does not match {shape:?} {dtype_name} or the file size"
                    )));
                }
                entries.insert(
                    name,
                    TensorEntry {
                        file: index,
                        dtype,
                        shape,
                        start: data_start + begin,
                        end: data_start + end,
                    },
                );
            }
            files.push(Mutex::new(f));
        }
        Ok(Self {
            paths: paths.to_vec(),
            files,
            entries,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Total number of stored elements (the parameter count of a model checkpoint).
    pub fn element_count(&self) -> u64 {
        self.entries
            .values()
            .map(|e| e.shape.iter().map(|&d| d as u64).product::<u64>())
            .sum()
    }

    /// Stored dtypes with how many elements each holds, most elements first.
    pub fn dtype_counts(&self) -> Vec<(DType, u64)> {
        let mut counts: Vec<(DType, u64)> = Vec::new();
        for e in self.entries.values() {
            let n = e.shape.iter().map(|&d| d as u64).product::<u64>();
            match counts.iter_mut().find(|(d, _)| *d == e.dtype) {
                Some((_, c)) => *c += n,
                None => counts.push((e.dtype, n)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        counts
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }

    /// Stored dtype of a tensor.
    pub fn dtype(&self, name: &str) -> Option<DType> {
        self.entries.get(name).map(|e| e.dtype)
    }

    /// The stored bytes of one tensor (little-endian, in its stored dtype), for copying a tensor
    /// to another file unchanged.
    pub fn read_bytes(&self, name: &str) -> Result<Vec<u8>, ModelError> {
        let e = self.entries.get(name).ok_or_else(|| ModelError::Weights {
            name: name.to_string(),
            problem: "not in the checkpoint".into(),
        })?;
        let path = &self.paths[e.file];
        let mut bytes = vec![0u8; (e.end - e.start) as usize];
        let mut f = self.files[e.file]
            .lock()
            .map_err(|_| ModelError::file(path, "file handle poisoned by an earlier panic"))?;
        f.seek(SeekFrom::Start(e.start))
            .and_then(|_| f.read_exact(&mut bytes))
            .map_err(|err| ModelError::file(path, format!("reading tensor '{name}': {err}")))?;
        Ok(bytes)
    }

    /// Reads one tensor in its stored dtype onto `device`.
    pub fn load(&self, name: &str, device: &Device) -> Result<Tensor, ModelError> {
        let bytes = self.read_bytes(name)?;
        let e = &self.entries[name];
        Ok(Tensor::from_raw_buffer(&bytes, e.dtype, &e.shape, &Device::Cpu)?.to_device(device)?)
    }
}

/// A candle `VarBuilder` backend over [`SafetensorsFiles`] that checks every shape.
pub struct Backend(pub std::sync::Arc<SafetensorsFiles>);

impl SimpleBackend for Backend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.get_unchecked(name, dtype, dev)?;
        if t.shape() != &s {
            return Err(candle_core::Error::Msg(format!(
                "weights: tensor '{name}' has shape {:?} in the checkpoint but the config implies {:?}",
                t.dims(),
                s.dims()
            )));
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.0
            .load(name, dev)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?
            .to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// Finds the weight files of a checkpoint directory: `model.safetensors`, or the shards listed
/// in `model.safetensors.index.json`.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text =
            std::fs::read_to_string(&index).map_err(|e| ModelError::file(&index, e.to_string()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::file(&index, format!("not valid JSON: {e}")))?;
        let map = v
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| ModelError::file(&index, "no weight_map"))?;
        let mut names: Vec<&str> = map.values().filter_map(Value::as_str).collect();
        names.sort_unstable();
        names.dedup();
        let mut out = Vec::new();
        for n in names {
            if n.contains('/') || n.contains('\\') || n.contains("..") {
                return Err(ModelError::file(
                    &index,
                    format!("shard name '{n}' leaves the directory"),
                ));
            }
            let p = dir.join(n);
            if !p.is_file() {
                return Err(ModelError::file(
                    &p,
                    "listed in model.safetensors.index.json but missing",
                ));
            }
            out.push(p);
        }
        if out.is_empty() {
            return Err(ModelError::file(&index, "weight_map lists no files"));
        }
        return Ok(out);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(ModelError::file(
        dir,
        "no weights: neither model.safetensors nor model.safetensors.index.json is there",
    ))
}

/// Maps candle errors from loading to the tensor they concern where the message names one.
pub fn load_error(e: candle_core::Error) -> ModelError {
    let msg = e.to_string();
    if let Some(rest) = msg.split("weights: tensor '").nth(1) {
        let name = rest.split('\'').next().unwrap_or("").to_string();
        return ModelError::Weights {
            name,
            problem: msg.clone(),
        };
    }
    if let Some(rest) = msg.split("cannot find tensor ").nth(1) {
        return ModelError::Weights {
            name: rest.trim().to_string(),
            problem: "not in the checkpoint".into(),
        };
    }
    ModelError::Tensor(e)
}

/// A tensor's shape wherever a checkpoint keeps it: the float safetensors files, or the GGUF file
/// of a quantised checkpoint (which holds the language-model matrices).
pub fn stored_shape<'a>(
    files: &'a SafetensorsFiles,
    quant: Option<&'a QuantizedWeights>,
    name: &str,
) -> Option<&'a [usize]> {
    files
        .shape(name)
        .or_else(|| quant.and_then(|q| q.shape(name)))
}

/// Refuses a token table `name` whose shape disagrees with config.json's vocabulary and width.
pub fn check_embedding_shape(
    name: &str,
    shape: &[usize],
    text: &TextConfig,
) -> Result<(), ModelError> {
    if shape == [text.vocab_size, text.hidden_size] {
        return Ok(());
    }
    Err(ModelError::Weights {
        name: name.to_string(),
        problem: format!(
            "shape {shape:?} does not match config.json (vocab_size {}, hidden_size {})",
            text.vocab_size, text.hidden_size
        ),
    })
}

/// The untied LM head (`lm_head.weight`, quantised when the GGUF file holds it), or `None` when
/// config.json ties it to the embeddings.
pub fn load_lm_head(
    files: &SafetensorsFiles,
    vb: &candle_nn::VarBuilder,
    text: &TextConfig,
    quant: Option<&QuantizedWeights>,
) -> Result<Option<TextLinear>, ModelError> {
    if text.tie_word_embeddings {
        return Ok(None);
    }
    if stored_shape(files, quant, "lm_head.weight").is_none() {
        return Err(ModelError::Weights {
            name: "lm_head.weight".into(),
            problem: "missing, and config.json does not tie it to the embeddings".into(),
        });
    }
    text_linear(
        text.hidden_size,
        text.vocab_size,
        false,
        &vb.pp("lm_head"),
        quant,
    )
    .map(Some)
    .map_err(load_error)
}
