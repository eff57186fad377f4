//! Either loaded model family behind one type, so the engine, the CLI and the tests prefill and
//! decode without caring which one runs.

use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::checkpoint::Checkpoint;
use super::config::ModelConfig;
use super::decoder::Session;
use super::ecg_coca::EcgTowerConfig;
use super::preprocess::ProcessedImage;
use super::quant::QuantizedWeights;
use super::qwen2vl::Qwen2Vl;
use super::qwen3vl::Qwen3Vl;
use super::weights::SafetensorsFiles;
use super::{ModelDType, ModelError};
use crate::record::ModelSignal;

/// Both variants are boxed: each network is hundreds of bytes of tensor handles, loaded once.
#[derive(Debug)]
pub enum Network {
    Qwen2Vl(Box<Qwen2Vl>),
    Qwen3Vl(Box<Qwen3Vl>),
}

impl Network {
    /// Loads the weights of `ckpt` onto `device` in `dtype`.
    pub fn load(ckpt: &Checkpoint, device: &Device, dtype: ModelDType) -> Result<Self, ModelError> {
        let files = Arc::new(SafetensorsFiles::open(&ckpt.weight_files)?);
        // A quantised checkpoint keeps its language-model matrices in a GGUF file beside the
        // float weights.
        let quant = match ckpt.gguf_file() {
            Some(path) => Some(QuantizedWeights::open(&path)?),
            None => None,
        };
        let quant = quant.as_ref();
        Ok(match &ckpt.config {
            ModelConfig::Qwen2Vl(c) => {
                Self::Qwen2Vl(Box::new(Qwen2Vl::load(c, &files, quant, device, dtype)?))
            }
            ModelConfig::Qwen3Vl(c) => {
                Self::Qwen3Vl(Box::new(Qwen3Vl::load(c, &files, quant, device, dtype)?))
            }
        })
    }

    /// How many language-model matrices run quantised, out of how many.
    pub fn quantized_matrices(&self) -> (usize, usize) {
        match self {
            Self::Qwen2Vl(m) => m.quantized_matrices(),
            Self::Qwen3Vl(m) => m.quantized_matrices(),
        }
    }

    /// The shared text decoder.
    pub fn text_model(&self) -> &super::decoder::TextModel {
        match self {
            Self::Qwen2Vl(m) => m.text_model(),
            Self::Qwen3Vl(m) => m.text_model(),
        }
    }

    pub fn dtype(&self) -> ModelDType {
        match self {
            Self::Qwen2Vl(m) => m.dtype(),
            Self::Qwen3Vl(m) => m.dtype(),
        }
    }

    pub fn device(&self) -> &Device {
        match self {
            Self::Qwen2Vl(m) => m.device(),
            Self::Qwen3Vl(m) => m.device(),
        }
    }

    /// Sizes of the ECG tower when the network reads signals (ECG-R1).
    pub fn ecg_tower(&self) -> Option<&EcgTowerConfig> {
        match self {
            Self::Qwen2Vl(_) => None,
            Self::Qwen3Vl(m) => m.ecg_encoder().map(|e| e.tower.config()),
        }
    }

    /// Prefill with text and images only.
    pub fn prefill(
        &self,
        ids: &[u32],
        images: &[ProcessedImage],
    ) -> Result<(Session<'_>, Vec<f32>), ModelError> {
        self.prefill_with_ecg(ids, images, None)
    }

    /// Prefill with text, images and (ECG-R1) one signal whose projected tokens replace the
    /// `<|ecg_pad|>` embeddings.
    pub fn prefill_with_ecg(
        &self,
        ids: &[u32],
        images: &[ProcessedImage],
        ecg: Option<&ModelSignal>,
    ) -> Result<(Session<'_>, Vec<f32>), ModelError> {
        let rows = ecg.map(|signal| self.encode_ecg(signal)).transpose()?;
        self.prefill_encoded(ids, images, rows.as_ref())
    }

    /// ECG-R1's tower + projector on one signal: the `[tokens, hidden]` rows that replace the
    /// `<|ecg_pad|>` embeddings (for [`Self::prefill_encoded`]).
    pub fn encode_ecg(&self, signal: &ModelSignal) -> Result<Tensor, ModelError> {
        match self {
            Self::Qwen2Vl(_) => Err(no_ecg_tower()),
            Self::Qwen3Vl(m) => m.encode_ecg(signal),
        }
    }

    /// [`Self::prefill_with_ecg`] with the signal already encoded by [`Self::encode_ecg`], so the
    /// tower's time can be measured apart from the decoder's.
    pub fn prefill_encoded(
        &self,
        ids: &[u32],
        images: &[ProcessedImage],
        ecg_rows: Option<&Tensor>,
    ) -> Result<(Session<'_>, Vec<f32>), ModelError> {
        match (self, ecg_rows) {
            (Self::Qwen2Vl(m), None) => m.prefill(ids, images),
            (Self::Qwen2Vl(_), Some(_)) => Err(no_ecg_tower()),
            (Self::Qwen3Vl(m), rows) => m.prefill_encoded(ids, images, rows),
        }
    }
}

/// A signal given to a Qwen2-VL checkpoint.
fn no_ecg_tower() -> ModelError {
    ModelError::Prompt("Qwen2-VL reads images only; it has no ECG tower for the signal".into())
}
