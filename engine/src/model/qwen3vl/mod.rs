//! Qwen3-VL on candle (and ECG-R1, which is Qwen3-VL plus the ECG-CoCa tower): the vision tower
//! with deepstack, the Qwen3 text decoder with interleaved multimodal RoPE, and the ECG path —
//! the projected tower tokens replace the `<|ecg_pad|>` embeddings in order, take ordinary
//! sequential positions (they are text tokens to `get_rope_index`) and get no deepstack.
//! Tensors in the transformers layout: `model.language_model.*`, `model.visual.*`,
//! `lm_head.weight` (absent when tied), `model.ecg_tower.*`, `model.ecg_projector.*`.

pub mod config;
pub mod vision;

use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use super::config::MAX_LAYERS;
use super::decoder::{Deepstack, Session, TextModel, place_rows};
use super::ecg_coca::{EcgEncoder, TOWER_PREFIX};
use super::preprocess::ProcessedImage;
use super::quant::QuantizedWeights;
use super::vision::{pixel_tensor, prompt_positions};
use super::weights::{
    Backend, SafetensorsFiles, check_embedding_shape, load_error, load_lm_head, stored_shape,
};
use super::{ModelDType, ModelError};
use crate::record::ModelSignal;
use config::Qwen3VlConfig;
use vision::{VisionOutput, VisionTower};

const TEXT_PREFIX: &str = "model.language_model";
const VISION_PREFIX: &str = "model.visual";

/// A loaded Qwen3-VL network, with the ECG encoder when the checkpoint has one.
pub struct Qwen3Vl {
    config: Qwen3VlConfig,
    vision: VisionTower,
    text: TextModel,
    ecg: Option<EcgEncoder>,
    device: Device,
    dtype: ModelDType,
}

impl std::fmt::Debug for Qwen3Vl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qwen3Vl")
            .field("dtype", &self.dtype)
            .field("device", &self.device)
            .field("ecg", &self.ecg)
            .finish_non_exhaustive()
    }
}

/// Whether the checkpoint's tensors include the ECG-CoCa tower.
pub fn has_ecg_tower(files: &SafetensorsFiles) -> bool {
    files.contains(&format!("{TOWER_PREFIX}.conv1.weight"))
}

/// Sizes of an ECG-R1 checkpoint's tower and projector, read from the tensor headers only
/// (no weights loaded; `ecgr1 model info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcgSizes {
    pub width: usize,
    pub leads: usize,
    pub patch: usize,
    pub tokens: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_width: usize,
    pub projector_layers: usize,
    pub projector_out: usize,
}

/// The tower and projector sizes from the shapes of `model.ecg_tower.*` and
/// `model.ecg_projector.*`; `None` when the checkpoint has no tower or a shape is not the
/// expected rank (loading the model names the tensor then).
pub fn ecg_sizes(files: &SafetensorsFiles) -> Option<EcgSizes> {
    use super::ecg_coca::{HEAD_WIDTH, PROJECTOR_PREFIX};
    let conv = files.shape(&format!("{TOWER_PREFIX}.conv1.weight"))?;
    let &[width, leads, patch] = conv else {
        return None;
    };
    let &[tokens, _] = files.shape(&format!("{TOWER_PREFIX}.positional_embedding"))? else {
        return None;
    };
    let block = |n: usize| format!("{TOWER_PREFIX}.transformer.resblocks.{n}.mlp.c_fc.weight");
    // Bounded like the config's sizes: a header cannot claim more blocks than this.
    let depth = (0..MAX_LAYERS)
        .take_while(|&n| files.contains(&block(n)))
        .count();
    let &[mlp_width, _] = files.shape(&block(0))? else {
        return None;
    };
    let layer = |n: usize| format!("{PROJECTOR_PREFIX}.{}.weight", 2 * n);
    let projector_layers = (0..MAX_LAYERS)
        .take_while(|&n| files.contains(&layer(n)))
        .count();
    let &[projector_out, _] = files.shape(&layer(0))? else {
        return None;
    };
    Some(EcgSizes {
        width,
        leads,
        patch,
        tokens,
        depth,
        heads: width / HEAD_WIDTH,
        mlp_width,
        projector_layers,
        projector_out,
    })
}

impl Qwen3Vl {
    /// Loads the network described by `cfg` from the checkpoint's tensors onto `device` in
    /// `dtype`; the ECG tower and projector too when `model.ecg_tower.*` is there. `quant` holds
    /// the language-model matrices of a quantised checkpoint (its GGUF file); the towers always
    /// come from `files`.
    pub fn load(
        cfg: &Qwen3VlConfig,
        files: &Arc<SafetensorsFiles>,
        quant: Option<&QuantizedWeights>,
        device: &Device,
        dtype: ModelDType,
    ) -> Result<Self, ModelError> {
        let embed_name = format!("{TEXT_PREFIX}.embed_tokens.weight");
        let Some(shape) = stored_shape(files, quant, &embed_name) else {
            return Err(ModelError::Weights {
                name: embed_name,
                problem: "not in the checkpoint; not a Qwen3-VL layout".into(),
            });
        };
        check_embedding_shape(&embed_name, shape, &cfg.text)?;
        let vb = VarBuilder::from_backend(
            Box::new(Backend(Arc::clone(files))),
            dtype.candle(),
            device.clone(),
        );
        let lm_head = load_lm_head(files, &vb, &cfg.text, quant)?;
        let text =
            TextModel::load(&cfg.text, &vb.pp(TEXT_PREFIX), lm_head, quant).map_err(load_error)?;
        let vision = VisionTower::load(&cfg.vision, &vb.pp(VISION_PREFIX)).map_err(load_error)?;
        let ecg = if has_ecg_tower(files) {
            let Some(fields) = &cfg.ecg else {
                return Err(ModelError::config(
                    "config.json",
                    "ecg_token_id",
                    "missing, but the checkpoint has model.ecg_tower.* tensors",
                ));
            };
            let enc = EcgEncoder::from_varbuilder(&vb)?;
            enc.check_config(
                fields.ecg_hidden_size,
                fields.ecg_projector_type.as_deref(),
                Some(cfg.text.hidden_size),
            )?;
            Some(enc)
        } else {
            None
        };
        Ok(Self {
            config: cfg.clone(),
            vision,
            text,
            ecg,
            device: device.clone(),
            dtype,
        })
    }

    pub fn config(&self) -> &Qwen3VlConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// How many language-model matrices run quantised, out of how many.
    pub fn quantized_matrices(&self) -> (usize, usize) {
        self.text.quantized_matrices()
    }

    pub fn text_model(&self) -> &TextModel {
        &self.text
    }

    pub fn dtype(&self) -> ModelDType {
        self.dtype
    }

    pub fn vision(&self) -> &VisionTower {
        &self.vision
    }

    /// The ECG encoder (tower + projector) of an ECG-R1 checkpoint.
    pub fn ecg_encoder(&self) -> Option<&EcgEncoder> {
        self.ecg.as_ref()
    }

    /// Runs the vision tower on preprocessed images.
    pub fn encode_images(&self, images: &[ProcessedImage]) -> Result<VisionOutput, ModelError> {
        let (pixels, grids) = pixel_tensor(images, self.vision.patch_dim(), &self.device)?;
        Ok(self.vision.forward(&pixels, &grids)?)
    }

    /// The projected ECG tokens of one signal: `[tokens, hidden]`.
    pub fn encode_ecg(&self, signal: &ModelSignal) -> Result<Tensor, ModelError> {
        let enc = self.ecg.as_ref().ok_or_else(|| {
            ModelError::Prompt(
                "this checkpoint has no ECG tower (model.ecg_tower.*); give it an image".into(),
            )
        })?;
        let x = enc.encode(signal)?;
        Ok(x.squeeze(0)?)
    }

    /// Starts a sequence: embeds `ids`, places the image tokens (and their deepstack features)
    /// and the ECG tokens, computes the 3-D positions and runs the decoder. Returns the session
    /// and the next-token logits.
    pub fn prefill(
        &self,
        ids: &[u32],
        images: &[ProcessedImage],
        ecg: Option<&ModelSignal>,
    ) -> Result<(Session<'_>, Vec<f32>), ModelError> {
        let rows = ecg.map(|signal| self.encode_ecg(signal)).transpose()?;
        self.prefill_encoded(ids, images, rows.as_ref())
    }

    /// [`Self::prefill`] with the signal already through the tower and projector
    /// ([`Self::encode_ecg`]'s `[tokens, hidden]` rows), so a benchmark can time the two apart.
    pub fn prefill_encoded(
        &self,
        ids: &[u32],
        images: &[ProcessedImage],
        ecg_rows: Option<&Tensor>,
    ) -> Result<(Session<'_>, Vec<f32>), ModelError> {
        let (positions, next) = prompt_positions(
            ids,
            images,
            self.config.image_token_id,
            self.config.vision.spatial_merge_size,
        )?;
        let mut embeds = self.text.embed_ids(ids)?;
        let ecg_id = self.config.ecg.as_ref().map(|e| e.ecg_token_id);
        match (ecg_rows, ecg_id) {
            (Some(rows), Some(id)) => {
                embeds = place_rows(&embeds, ids, id, rows, "ECG")?;
            }
            (Some(_), None) => {
                return Err(ModelError::Prompt(
                    "a signal was given but this checkpoint has no ECG tower".into(),
                ));
            }
            (None, Some(id)) if ids.contains(&id) => {
                return Err(ModelError::Prompt(
                    "the prompt has ECG tokens but no signal was given".into(),
                ));
            }
            (None, _) => {}
        }
        let mut deepstack = None;
        if !images.is_empty() {
            let out = self.encode_images(images)?;
            embeds = place_rows(
                &embeds,
                ids,
                self.config.image_token_id,
                &out.embeds,
                "image",
            )?;
            let rows: Vec<u32> = (0..ids.len())
                .filter(|&i| ids[i] == self.config.image_token_id)
                .map(|i| i as u32)
                .collect();
            deepstack = Some(Deepstack {
                rows,
                layers: out.deepstack,
            });
        }
        self.text
            .prefill(ids, &embeds, &positions, next, deepstack.as_ref())
    }
}
