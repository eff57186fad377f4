//! `quantization.json`: what a quantised checkpoint was made from and how.

use std::path::Path;

use candle_core::quantized::GgmlDType;
use serde::{Deserialize, Serialize};

use crate::model::ModelError;

/// Name of the manifest inside a quantised checkpoint directory; its presence is what marks the
/// directory as quantised.
pub const MANIFEST_FILE: &str = "quantization.json";
/// Value of the manifest's `format` field.
pub const MANIFEST_FORMAT: &str = "ecgr1-quantized-checkpoint/1";

/// The GGUF block formats offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuantType {
    /// 8-bit, blocks of 32 values with one f16 scale (8.5 bits per weight).
    #[serde(rename = "q8_0")]
    Q8_0,
    /// 4-bit k-quant, super-blocks of 256 values (4.5 bits per weight).
    #[serde(rename = "q4k")]
    Q4K,
}

impl QuantType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Q8_0 => "q8_0",
            Self::Q4K => "q4k",
        }
    }

    pub fn ggml(self) -> GgmlDType {
        match self {
            Self::Q8_0 => GgmlDType::Q8_0,
            Self::Q4K => GgmlDType::Q4K,
        }
    }

    /// Values per block: a quantised matrix's inner dimension must be a multiple of this.
    pub fn block_size(self) -> usize {
        self.ggml().block_size()
    }

    /// The GGUF file a checkpoint of this type keeps its quantised tensors in.
    pub fn gguf_file_name(self) -> String {
        format!("model-{}.gguf", self.name())
    }
}

impl std::str::FromStr for QuantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "q8_0" | "q8" => Ok(Self::Q8_0),
            "q4k" | "q4_k" => Ok(Self::Q4K),
            other => Err(format!(
                "unknown quantisation '{other}' (expected q8_0 or q4k)"
            )),
        }
    }
}

/// A tensor and its shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRecord {
    pub name: String,
    pub shape: Vec<usize>,
}

/// A language-model matrix that would have been quantised but stayed float, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFloat {
    pub name: String,
    pub shape: Vec<usize>,
    pub reason: String,
}

/// The checkpoint a quantised one was made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub dir: String,
    /// (file name, SHA-256) of every source weight file.
    pub weights_sha256: Vec<(String, String)>,
    pub bytes: u64,
}

/// Contents of `quantization.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantManifest {
    pub format: String,
    pub quant_type: QuantType,
    /// The GGUF file holding the quantised tensors (in the same directory).
    pub gguf_file: String,
    /// The safetensors file holding everything else.
    pub float_file: String,
    pub source: SourceRecord,
    pub quantized: Vec<TensorRecord>,
    pub kept_float: Vec<KeptFloat>,
    pub gguf_bytes: u64,
    pub float_bytes: u64,
    /// Which version of this program wrote it.
    pub writer: String,
}

impl QuantManifest {
    /// Weights held by the quantised tensors (their element count).
    pub fn quantized_elements(&self) -> u64 {
        self.quantized
            .iter()
            .map(|t| t.shape.iter().map(|&d| d as u64).product::<u64>())
            .sum()
    }

    /// Reads the manifest of `dir`; `None` when the directory is not a quantised checkpoint.
    pub fn read(dir: &Path) -> Result<Option<Self>, ModelError> {
        let path = dir.join(MANIFEST_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ModelError::file(&path, format!("cannot read: {e}")))?;
        let manifest: Self = serde_json::from_str(&text)
            .map_err(|e| ModelError::file(&path, format!("not a quantisation manifest: {e}")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ModelError::file(
                &path,
                format!(
                    "format '{}' is not '{MANIFEST_FORMAT}'; written by a newer version?",
                    manifest.format
                ),
            ));
        }
        // The manifest names files inside its own directory only.
        for name in [&manifest.gguf_file, &manifest.float_file] {
            if name.contains('/') || name.contains('\\') || name.contains("..") {
                return Err(ModelError::file(
                    &path,
                    format!("file name '{name}' leaves the directory"),
                ));
            }
        }
        let gguf = dir.join(&manifest.gguf_file);
        if !gguf.is_file() {
            return Err(ModelError::file(
                &gguf,
                "named by quantization.json but missing",
            ));
        }
        Ok(Some(manifest))
    }

    pub fn write(&self, dir: &Path) -> Result<(), ModelError> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| ModelError::file(&path, format!("cannot encode: {e}")))?;
        std::fs::write(&path, text).map_err(|e| ModelError::file(&path, e.to_string()))
    }

    /// The parameter count that, at `dtype_bytes` per value, needs the memory this checkpoint
    /// needs: its float parameters (`total_parameters` less the quantised ones) plus the GGUF
    /// blocks, counted more than once because candle's x86 kernels keep repacked copies of each
    /// quantised matrix beside the original once it has been used (one for q8_0; two for q4k on
    /// AMX machines, whose batched matmuls use their own tiles).
    pub fn memory_parameters(&self, total_parameters: u64, dtype_bytes: u64) -> u64 {
        let quantized = self.quantized_elements();
        let copies = match self.quant_type {
            QuantType::Q8_0 => 2,
            QuantType::Q4K => 3,
        };
        total_parameters.saturating_sub(quantized) + copies * self.gguf_bytes / dtype_bytes.max(1)
    }

    /// How the compute dtype and the weights combine, for the engine identity ("f32, language
    /// model q8_0").
    pub fn describe_dtype(&self, compute: &str) -> String {
        format!("{compute}, language model {}", self.quant_type.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quant_types_parse_and_name_their_blocks() {
        assert_eq!("q8_0".parse::<QuantType>(), Ok(QuantType::Q8_0));
        assert_eq!("Q4K".parse::<QuantType>(), Ok(QuantType::Q4K));
        assert!("q5k".parse::<QuantType>().is_err());
        assert_eq!(QuantType::Q8_0.block_size(), 32);
        assert_eq!(QuantType::Q4K.block_size(), 256);
        assert_eq!(QuantType::Q4K.gguf_file_name(), "model-q4k.gguf");
        assert_eq!(serde_json::to_string(&QuantType::Q8_0).unwrap(), "\"q8_0\"");
    }

    #[test]
    fn a_manifest_naming_a_missing_or_outside_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("ecgr1-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(QuantManifest::read(&dir).unwrap().is_none());
        let mut m = QuantManifest {
            format: MANIFEST_FORMAT.into(),
            quant_type: QuantType::Q8_0,
            gguf_file: "model-q8_0.gguf".into(),
            float_file: "model.safetensors".into(),
            source: SourceRecord {
                dir: "src".into(),
                weights_sha256: Vec::new(),
                bytes: 0,
            },
            quantized: Vec::new(),
            kept_float: Vec::new(),
            gguf_bytes: 0,
            float_bytes: 0,
            writer: "test".into(),
        };
        m.write(&dir).unwrap();
        let e = QuantManifest::read(&dir).unwrap_err().to_string();
        assert!(
            e.contains("model-q8_0.gguf") && e.contains("missing"),
            "{e}"
        );
        std::fs::write(dir.join("model-q8_0.gguf"), b"x").unwrap();
        assert_eq!(QuantManifest::read(&dir).unwrap(), Some(m.clone()));
        // 1000 parameters, 640 of them quantised into 680 bytes, held twice: 360 float
        // parameters plus 2 × 680 / 4 f32-sized slots.
        m.quantized = vec![TensorRecord {
            name: "w".into(),
            shape: vec![10, 64],
        }];
        m.gguf_bytes = 680;
        assert_eq!(m.memory_parameters(1000, 4), 360 + 340);
        m.gguf_file = "../model-q8_0.gguf".into();
        m.write(&dir).unwrap();
        assert!(QuantManifest::read(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
