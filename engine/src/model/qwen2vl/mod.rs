//! Qwen2-VL on candle: vision tower, multimodal RoPE and the text decoder, loaded from a
//! Hugging Face checkpoint in either tensor layout (`model.language_model.*` + `model.visual.*`
//! from transformers 5.x, or `model.*` + `visual.*` from 4.x).

pub mod vision;

use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use super::config::Qwen2VlConfig;
use super::decoder::{Session, TextModel, place_rows};
use super::preprocess::ProcessedImage;
use super::quant::QuantizedWeights;
use super::vision::{pixel_tensor, prompt_positions};
use super::weights::{
    Backend, SafetensorsFiles, check_embedding_shape, load_error, load_lm_head, stored_shape,
};
use super::{ModelDType, ModelError};
use vision::VisionTower;

/// A loaded Qwen2-VL network.
pub struct Qwen2Vl {
    config: Qwen2VlConfig,
    vision: VisionTower,
    text: TextModel,
    device: Device,
    dtype: ModelDType,
}

impl std::fmt::Debug for Qwen2Vl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qwen2Vl")
            .field("dtype", &self.dtype)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Qwen2Vl {
    /// Loads the network described by `cfg` from the checkpoint's tensors onto `device` in
    /// `dtype`; `quant` holds the language-model matrices of a quantised checkpoint (its GGUF
    /// file), which every lookup below asks besides `files`.
    pub fn load(
        cfg: &Qwen2VlConfig,
        files: &Arc<SafetensorsFiles>,
        quant: Option<&QuantizedWeights>,
        device: &Device,
        dtype: ModelDType,
    ) -> Result<Self, ModelError> {
        let has = |name: &str| stored_shape(files, quant, name).is_some();
        let (text_prefix, vision_prefix) = if has("model.language_model.embed_tokens.weight") {
            ("model.language_model", "model.visual")
        } else if has("model.embed_tokens.weight") {
            ("model", "visual")
        } else {
            return Err(ModelError::Weights {
                name: "model.language_model.embed_tokens.weight".into(),
                problem: "neither this nor model.embed_tokens.weight is in the checkpoint; not a Qwen2-VL layout".into(),
            });
        };
        let vision_prefix = if files.contains(&format!("{vision_prefix}.patch_embed.proj.weight")) {
            vision_prefix
        } else if files.contains("model.visual.patch_embed.proj.weight") {
            "model.visual"
        } else {
            "visual"
        };
        let embed_name = format!("{text_prefix}.embed_tokens.weight");
        if let Some(shape) = stored_shape(files, quant, &embed_name) {
            check_embedding_shape(&embed_name, shape, &cfg.text)?;
        }
        let vb = VarBuilder::from_backend(
            Box::new(Backend(Arc::clone(files))),
            dtype.candle(),
            device.clone(),
        );
        let lm_head = load_lm_head(files, &vb, &cfg.text, quant)?;
        let text =
            TextModel::load(&cfg.text, &vb.pp(text_prefix), lm_head, quant).map_err(load_error)?;
        let vision = VisionTower::load(&cfg.vision, &vb.pp(vision_prefix)).map_err(load_error)?;
        Ok(Self {
            config: cfg.clone(),
            vision,
            text,
            device: device.clone(),
            dtype,
        })
    }

    pub fn config(&self) -> &Qwen2VlConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> ModelDType {
        self.dtype
    }

    /// How many language-model matrices run quantised, out of how many.
    pub fn quantized_matrices(&self) -> (usize, usize) {
        self.text.quantized_matrices()
    }

    pub fn text_model(&self) -> &TextModel {
        &self.text
    }

    /// Runs the vision tower on preprocessed images; `[total image tokens, hidden]`.
    pub fn encode_images(&self, images: &[ProcessedImage]) -> Result<Tensor, ModelError> {
        let (pixels, grids) = pixel_tensor(images, self.vision.patch_dim(), &self.device)?;
        Ok(self.vision.forward(&pixels, &grids)?)
    }

    /// Starts a sequence: embeds `ids`, places the image embeddings at the image tokens, computes
    /// the 3-D positions and runs the decoder. Returns the session (holding the cache) and the
    /// next-token logits.
    pub fn prefill(
        &self,
        ids: &[u32],
        images: &[ProcessedImage],
    ) -> Result<(Session<'_>, Vec<f32>), ModelError> {
        let (positions, next) = prompt_positions(
            ids,
            images,
            self.config.image_token_id,
            self.config.vision.spatial_merge_size,
        )?;
        let mut embeds = self.text.embed_ids(ids)?;
        if !images.is_empty() {
            let img = self.encode_images(images)?;
            embeds = place_rows(&embeds, ids, self.config.image_token_id, &img, "image")?;
        }
        self.text.prefill(ids, &embeds, &positions, next, None)
    }
}
