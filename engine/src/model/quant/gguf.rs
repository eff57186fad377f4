//! GGUF files: a streaming writer and a tensor-by-tensor reader.
//!
//! candle's `gguf_file::write` takes every tensor at once, so quantising an 8B checkpoint with it
//! would hold the whole quantised model in memory. A GGUF header only needs each tensor's name,
//! type and shape (sizes follow from them), so [`GgufStreamWriter`] writes the header from a plan
//! and then one tensor's blocks at a time. It produces the same bytes as candle's writer (GGUF
//! version 2, 32-byte alignment), which a test checks, and files are read back with candle's own
//! `gguf_file::Content`.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::Device;
use candle_core::quantized::{QTensor, gguf_file};

use super::manifest::QuantType;
use crate::model::ModelError;

const MAGIC: u32 = 0x4655_4747; // "GGUF" little-endian
const VERSION: u32 = 2;
const ALIGNMENT: usize = 32;
/// GGUF metadata value type of a string.
const VALUE_TYPE_STRING: u32 = 8;

/// ggml's type ids (ggml.h `enum ggml_type`).
fn ggml_type_id(q: QuantType) -> u32 {
    match q {
        QuantType::Q8_0 => 8,
        QuantType::Q4K => 12,
    }
}

fn padding(len: usize) -> usize {
    (ALIGNMENT - len % ALIGNMENT) % ALIGNMENT
}

/// A tensor the writer will receive: name, type and shape (outermost dimension first, as in
/// candle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTensor {
    pub name: String,
    pub quant: QuantType,
    pub shape: Vec<usize>,
}

impl PlannedTensor {
    /// Bytes of its quantised blocks.
    pub fn byte_len(&self) -> usize {
        let elements: usize = self.shape.iter().product();
        let g = self.quant.ggml();
        elements / g.block_size() * g.type_size()
    }
}

/// Writes a GGUF file whose header lists `plan`, then each tensor's data in plan order.
pub struct GgufStreamWriter<W: Write> {
    out: W,
    plan: Vec<PlannedTensor>,
    next: usize,
}

fn io_err(e: &std::io::Error) -> candle_core::Error {
    candle_core::Error::Msg(format!("writing GGUF: {e}"))
}

fn write_string<W: Write>(w: &mut W, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

impl<W: Write> GgufStreamWriter<W> {
    /// Writes the header: string `metadata` and the tensor table of `plan`.
    pub fn begin(
        mut out: W,
        metadata: &[(&str, &str)],
        plan: Vec<PlannedTensor>,
    ) -> candle_core::Result<Self> {
        for t in &plan {
            let inner = t.shape.last().copied().unwrap_or(0);
            if !inner.is_multiple_of(t.quant.block_size()) {
                candle_core::bail!(
                    "tensor '{}' {:?}: inner dimension is not a multiple of {}",
                    t.name,
                    t.shape,
                    t.quant.block_size()
                );
            }
        }
        let mut head = Vec::new();
        head.extend_from_slice(&MAGIC.to_le_bytes());
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&(plan.len() as u64).to_le_bytes());
        head.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
        for (key, value) in metadata {
            write_string(&mut head, key).map_err(|e| io_err(&e))?;
            head.extend_from_slice(&VALUE_TYPE_STRING.to_le_bytes());
            write_string(&mut head, value).map_err(|e| io_err(&e))?;
        }
        let mut offset = 0usize;
        for t in &plan {
            write_string(&mut head, &t.name).map_err(|e| io_err(&e))?;
            head.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            // GGUF lists dimensions innermost first.
            for &d in t.shape.iter().rev() {
                head.extend_from_slice(&(d as u64).to_le_bytes());
            }
            head.extend_from_slice(&ggml_type_id(t.quant).to_le_bytes());
            head.extend_from_slice(&(offset as u64).to_le_bytes());
            let len = t.byte_len();
            offset += len + padding(len);
        }
        head.resize(head.len() + padding(head.len()), 0);
        out.write_all(&head).map_err(|e| io_err(&e))?;
        Ok(Self { out, plan, next: 0 })
    }

    /// Writes the next planned tensor's blocks; it must match the plan's name, type and shape.
    pub fn write_tensor(&mut self, name: &str, tensor: &QTensor) -> candle_core::Result<()> {
        let Some(want) = self.plan.get(self.next) else {
            candle_core::bail!("tensor '{name}' was not planned for this GGUF file")
        };
        if want.name != name
            || want.quant.ggml() != tensor.dtype()
            || want.shape != tensor.shape().dims()
        {
            candle_core::bail!(
                "tensor '{name}' {:?} {:?} arrives where '{}' {:?} {:?} was planned",
                tensor.shape().dims(),
                tensor.dtype(),
                want.name,
                want.shape,
                want.quant.ggml()
            );
        }
        let data = tensor.data()?;
        if data.len() != want.byte_len() {
            candle_core::bail!(
                "tensor '{name}': {} bytes of blocks, {} expected",
                data.len(),
                want.byte_len()
            );
        }
        self.out.write_all(&data).map_err(|e| io_err(&e))?;
        self.out
            .write_all(&vec![0u8; padding(data.len())])
            .map_err(|e| io_err(&e))?;
        self.next += 1;
        Ok(())
    }

    /// Checks every planned tensor was written and returns the output.
    pub fn finish(mut self) -> candle_core::Result<W> {
        if self.next != self.plan.len() {
            candle_core::bail!(
                "GGUF file ends after {} of {} planned tensors",
                self.next,
                self.plan.len()
            );
        }
        self.out.flush().map_err(|e| io_err(&e))?;
        Ok(self.out)
    }
}

/// The quantised tensors of a checkpoint: the GGUF header parsed up front, each tensor read from
/// the file when the model asks for it.
pub struct QuantizedWeights {
    path: PathBuf,
    content: gguf_file::Content,
    file: Mutex<BufReader<File>>,
}

impl std::fmt::Debug for QuantizedWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantizedWeights")
            .field("path", &self.path)
            .field("tensors", &self.content.tensor_infos.len())
            .finish_non_exhaustive()
    }
}

impl QuantizedWeights {
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let f = File::open(path).map_err(|e| ModelError::file(path, e.to_string()))?;
        let mut reader = BufReader::new(f);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| ModelError::file(path, format!("not a readable GGUF file: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            content,
            file: Mutex::new(reader),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contains(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .content
            .tensor_infos
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.content.tensor_infos.get(name).map(|i| i.shape.dims())
    }

    /// Number of weights stored (quantised values, not bytes).
    pub fn element_count(&self) -> u64 {
        self.content
            .tensor_infos
            .values()
            .map(|i| i.shape.elem_count() as u64)
            .sum()
    }

    /// Bytes of quantised blocks.
    pub fn byte_count(&self) -> u64 {
        self.content
            .tensor_infos
            .values()
            .map(|i| {
                let g = i.ggml_dtype;
                (i.shape.elem_count() / g.block_size() * g.type_size()) as u64
            })
            .sum()
    }

    /// Reads one quantised tensor onto `device` (its blocks stay quantised there).
    pub fn load(&self, name: &str, device: &Device) -> Result<Arc<QTensor>, ModelError> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| ModelError::Weights {
                name: name.to_string(),
                problem: format!("not in {}", self.path.display()),
            })?;
        let mut reader = self.file.lock().map_err(|_| {
            ModelError::file(&self.path, "file handle poisoned by an earlier panic")
        })?;
        let t = info
            .read(&mut *reader, self.content.tensor_data_offset, device)
            .map_err(|e| ModelError::Weights {
                name: name.to_string(),
                problem: format!("{}: {e}", self.path.display()),
            })?;
        Ok(Arc::new(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;

    fn random(shape: (usize, usize), seed: u64) -> Tensor {
        let mut x = seed;
        let n = shape.0 * shape.1;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn streamed_file_is_byte_identical_to_candles_writer_and_reads_back() {
        let a = QTensor::quantize(&random((3, 64), 1), QuantType::Q8_0.ggml()).unwrap();
        let b = QTensor::quantize(&random((2, 256), 2), QuantType::Q4K.ggml()).unwrap();
        let meta = [("ecgr1.quantization", "q8_0"), ("general.name", "test")];
        let mut theirs = std::io::Cursor::new(Vec::new());
        let values: Vec<(&str, gguf_file::Value)> = meta
            .iter()
            .map(|(k, v)| (*k, gguf_file::Value::String((*v).to_string())))
            .collect();
        let value_refs: Vec<(&str, &gguf_file::Value)> =
            values.iter().map(|(k, v)| (*k, v)).collect();
        gguf_file::write(
            &mut theirs,
            &value_refs,
            &[("a.weight", &a), ("b.weight", &b)],
        )
        .unwrap();
        let plan = vec![
            PlannedTensor {
                name: "a.weight".into(),
                quant: QuantType::Q8_0,
                shape: vec![3, 64],
            },
            PlannedTensor {
                name: "b.weight".into(),
                quant: QuantType::Q4K,
                shape: vec![2, 256],
            },
        ];
        let mut w = GgufStreamWriter::begin(std::io::Cursor::new(Vec::new()), &meta, plan).unwrap();
        // Out of order is refused.
        assert!(w.write_tensor("b.weight", &b).is_err());
        w.write_tensor("a.weight", &a).unwrap();
        w.write_tensor("b.weight", &b).unwrap();
        let ours = w.finish().unwrap().into_inner();
        assert_eq!(ours, theirs.into_inner());

        let path = std::env::temp_dir().join(format!("ecgr1-gguf-{}.gguf", std::process::id()));
        std::fs::write(&path, &ours).unwrap();
        let q = QuantizedWeights::open(&path).unwrap();
        assert_eq!(q.names(), ["a.weight", "b.weight"]);
        assert_eq!(q.shape("b.weight"), Some(&[2usize, 256][..]));
        assert_eq!(q.element_count(), 3 * 64 + 2 * 256);
        let back = q.load("a.weight", &Device::Cpu).unwrap();
        assert_eq!(back.data().unwrap(), a.data().unwrap());
        let e = q.load("c.weight", &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("c.weight"), "{e}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_plan_that_breaks_the_block_size_or_is_unfinished_is_refused() {
        let bad = vec![PlannedTensor {
            name: "x".into(),
            quant: QuantType::Q4K,
            shape: vec![4, 64],
        }];
        assert!(GgufStreamWriter::begin(std::io::Cursor::new(Vec::new()), &[], bad).is_err());
        let plan = vec![PlannedTensor {
            name: "x".into(),
            quant: QuantType::Q8_0,
            shape: vec![4, 64],
        }];
        let w = GgufStreamWriter::begin(std::io::Cursor::new(Vec::new()), &[], plan).unwrap();
        assert!(w.finish().is_err());
    }
}
