//! Qwen2-VL on candle: vision tower, multimodal RoPE and the text decoder, loaded from a
//! Hugging Face checkpoint in either tensor layout (`model.language_model.*` + `model.visual.*`
//! from transformers 5.x, or `model.*` + `visual.*` from 4.x).

pub mod attention;
pub mod rope;
pub mod text;
pub mod vision;

use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use super::checkpoint::Checkpoint;
use super::config::Qwen2VlConfig;
use super::preprocess::ProcessedImage;
use super::quant::{QuantizedWeights, text_linear};
use super::weights::{Backend, SafetensorsFiles};
use super::{ModelDType, ModelError};
use text::{KvCache, TextModel};
use vision::VisionTower;

/// A loaded Qwen2-VL network.
pub struct Qwen2Vl {
    config: Qwen2VlConfig,
    vision: VisionTower,
    text: TextModel,
    text_inv_freq: Vec<f32>,
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

/// Maps candle errors from loading to the tensor they concern where the message names one.
fn load_error(e: candle_core::Error) -> ModelError {
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

impl Qwen2Vl {
    /// Loads the weights of `ckpt` onto `device` in `dtype`.
    pub fn load(ckpt: &Checkpoint, device: &Device, dtype: ModelDType) -> Result<Self, ModelError> {
        let files = Arc::new(SafetensorsFiles::open(&ckpt.weight_files)?);
        // A quantised checkpoint keeps its language-model matrices in a GGUF file; every lookup
        // below asks both.
        let quant = match ckpt.gguf_file() {
            Some(path) => Some(QuantizedWeights::open(&path)?),
            None => None,
        };
        let quant = quant.as_ref();
        let has = |name: &str| files.contains(name) || quant.is_some_and(|q| q.contains(name));
        let shape_of = |name: &str| {
            files
                .shape(name)
                .or_else(|| quant.and_then(|q| q.shape(name)))
        };
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
        let cfg = &ckpt.config;
        if let Some(shape) = shape_of(&format!("{text_prefix}.embed_tokens.weight"))
            && shape != [cfg.text.vocab_size, cfg.text.hidden_size]
        {
            return Err(ModelError::Weights {
                name: format!("{text_prefix}.embed_tokens.weight"),
                problem: format!(
                    "shape {shape:?} does not match config.json (vocab_size {}, hidden_size {})",
                    cfg.text.vocab_size, cfg.text.hidden_size
                ),
            });
        }
        let vb = VarBuilder::from_backend(
            Box::new(Backend(files.clone())),
            dtype.candle(),
            device.clone(),
        );
        let lm_head = if cfg.text.tie_word_embeddings {
            None
        } else if has("lm_head.weight") {
            Some(
                text_linear(
                    cfg.text.hidden_size,
                    cfg.text.vocab_size,
                    false,
                    &vb.pp("lm_head"),
                    quant,
                )
                .map_err(load_error)?,
            )
        } else {
            return Err(ModelError::Weights {
                name: "lm_head.weight".into(),
                problem: "missing, and config.json does not tie it to the embeddings".into(),
            });
        };
        let text =
            TextModel::load(&cfg.text, &vb.pp(text_prefix), lm_head, quant).map_err(load_error)?;
        let vision = VisionTower::load(&cfg.vision, &vb.pp(vision_prefix)).map_err(load_error)?;
        Ok(Self {
            config: cfg.clone(),
            vision,
            text,
            text_inv_freq: rope::inv_freq(cfg.text.head_dim, cfg.text.rope_theta),
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

    /// Runs the vision tower on preprocessed images; `[total image tokens, hidden]`.
    pub fn encode_images(&self, images: &[ProcessedImage]) -> Result<Tensor, ModelError> {
        let mut data = Vec::new();
        let mut grids = Vec::new();
        for img in images {
            if img.patch_dim != self.vision.patch_dim() {
                return Err(ModelError::Image(format!(
                    "patches of {} values do not fit the vision tower's {}",
                    img.patch_dim,
                    self.vision.patch_dim()
                )));
            }
            data.extend_from_slice(&img.pixel_values);
            grids.push(img.grid_thw);
        }
        let n = data.len() / self.vision.patch_dim();
        let pixels = Tensor::from_vec(data, (n, self.vision.patch_dim()), &self.device)?;
        Ok(self.vision.forward(&pixels, &grids)?)
    }

    fn rope_tensors(&self, positions: &[[i64; 3]]) -> Result<(Tensor, Tensor), ModelError> {
        let (cos, sin) = rope::mrope_tables(
            positions,
            &self.text_inv_freq,
            self.config.text.mrope_section,
        );
        let half = self.text_inv_freq.len();
        let n = positions.len();
        let dt = self.dtype.candle();
        Ok((
            Tensor::from_vec(cos, (n, half), &self.device)?.to_dtype(dt)?,
            Tensor::from_vec(sin, (n, half), &self.device)?.to_dtype(dt)?,
        ))
    }

    /// Starts a sequence: embeds `ids`, places the image embeddings at the image tokens, computes
    /// the 3-D positions and runs the decoder. Returns the session (holding the cache) and the
    /// next-token logits.
    pub fn prefill(
        &self,
        ids: &[u32],
        images: &[ProcessedImage],
    ) -> Result<(Session<'_>, Vec<f32>), ModelError> {
        if ids.is_empty() {
            return Err(ModelError::Prompt("the prompt has no tokens".into()));
        }
        let vocab = self.config.text.vocab_size;
        if let Some(bad) = ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(ModelError::Prompt(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let grids: Vec<[usize; 3]> = images.iter().map(|i| i.grid_thw).collect();
        let (positions, next) = rope::rope_positions(
            ids,
            self.config.image_token_id,
            &grids,
            self.config.vision.spatial_merge_size,
        )
        .map_err(ModelError::Prompt)?;
        let id_t = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let mut embeds = self.text.embed(&id_t)?.squeeze(0)?; // [L, hidden]
        if !images.is_empty() {
            let img = self.encode_images(images)?.to_dtype(embeds.dtype())?;
            // Replace the image-token rows, in order, with the image embeddings.
            let mut rows = Vec::with_capacity(ids.len());
            let mut k = 0usize;
            let img_rows = img.dim(0)?;
            let mut pieces = Vec::new();
            let mut start = 0usize;
            for (i, &t) in ids.iter().enumerate() {
                if t == self.config.image_token_id {
                    if i > start {
                        pieces.push(embeds.narrow(0, start, i - start)?);
                    }
                    if k >= img_rows {
                        return Err(ModelError::Prompt(
                            "more image tokens than image embeddings".into(),
                        ));
                    }
                    pieces.push(img.narrow(0, k, 1)?);
                    k += 1;
                    start = i + 1;
                }
                rows.push(i);
            }
            if k != img_rows {
                return Err(ModelError::Prompt(format!(
                    "{k} image tokens in the prompt for {img_rows} image embeddings"
                )));
            }
            if start < ids.len() {
                pieces.push(embeds.narrow(0, start, ids.len() - start)?);
            }
            embeds = Tensor::cat(&pieces, 0)?;
        }
        let (cos, sin) = self.rope_tensors(&positions)?;
        let mut session = Session {
            model: self,
            cache: self.text.new_cache(),
            next_position: next,
            tokens: ids.to_vec(),
        };
        let logits = self
            .text
            .forward(&embeds.unsqueeze(0)?, &cos, &sin, &mut session.cache)?;
        Ok((session, logits.to_vec1()?))
    }
}

/// A sequence in progress: the KV cache and the next rotary position.
pub struct Session<'m> {
    model: &'m Qwen2Vl,
    cache: KvCache,
    next_position: i64,
    tokens: Vec<u32>,
}

impl Session<'_> {
    /// Every token fed so far (prompt and generated).
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Feeds text tokens after what the session has seen; returns the next-token logits.
    pub fn feed(&mut self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        if ids.is_empty() {
            return Err(ModelError::Prompt("nothing to feed".into()));
        }
        let m = self.model;
        let vocab = m.config.text.vocab_size;
        if let Some(bad) = ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(ModelError::Prompt(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let positions: Vec<[i64; 3]> = (0..ids.len())
            .map(|i| [self.next_position + i as i64; 3])
            .collect();
        let (cos, sin) = m.rope_tensors(&positions)?;
        let id_t = Tensor::new(ids, &m.device)?.unsqueeze(0)?;
        let embeds = m.text.embed(&id_t)?;
        let logits = m.text.forward(&embeds, &cos, &sin, &mut self.cache)?;
        self.next_position += ids.len() as i64;
        self.tokens.extend_from_slice(ids);
        Ok(logits.to_vec1()?)
    }
}

impl super::generate::TokenStepper for Session<'_> {
    fn feed(&mut self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        Session::feed(self, ids)
    }
}
