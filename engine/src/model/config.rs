//! `config.json` of a Qwen2-VL checkpoint, in every spelling transformers has written: the
//! flat layout of 4.4x (text fields at the top level, `rope_scaling.mrope_section`, vision
//! `in_chans`) and the nested layout of 5.x (`text_config`, `vision_config`, `rope_parameters`).
//! The field readers and the one [`TextConfig`] builder live in `text` (a leaf module both
//! families use: [`crate::model::qwen3vl::config`] imports it, not this file);
//! [`ModelConfig`] is either family's configuration.

use serde_json::Value;

use super::ModelError;

pub(crate) mod text;

pub use self::text::TextConfig;
// `MAX_LAYERS` is re-exported for the model code that checks layer counts against it.
pub(crate) use self::text::MAX_LAYERS;
use self::text::{
    Fields, QWEN2_VL_TEXT, check_activation, eos_ids, token_id, vision_width_and_heads,
};

#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub depth: usize,
    pub embed_dim: usize,
    pub num_heads: usize,
    pub mlp_hidden: usize,
    pub in_channels: usize,
    pub patch_size: usize,
    pub spatial_merge_size: usize,
    pub temporal_patch_size: usize,
    /// Output width of the patch merger (the text model's hidden size).
    pub out_hidden_size: usize,
    pub rope_theta: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Qwen2VlConfig {
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub image_token_id: u32,
    pub video_token_id: u32,
    pub vision_start_token_id: u32,
    pub vision_end_token_id: u32,
    /// End-of-sequence ids from config.json (generation_config.json may add more).
    pub eos_token_ids: Vec<u32>,
}

/// The configuration of either model family, from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelConfig {
    Qwen2Vl(Qwen2VlConfig),
    Qwen3Vl(crate::model::qwen3vl::config::Qwen3VlConfig),
}

impl ModelConfig {
    /// Parses `config.json` text, choosing the family from `model_type` / `architectures`.
    pub fn from_json(file: &str, text: &str) -> Result<Self, ModelError> {
        let top: Value = serde_json::from_str(text)
            .map_err(|e| ModelError::config(file, "(file)", format!("not valid JSON: {e}")))?;
        if crate::model::qwen3vl::config::is_qwen3vl(&top) {
            return Ok(Self::Qwen3Vl(
                crate::model::qwen3vl::config::Qwen3VlConfig::from_value(file, &top)?,
            ));
        }
        Ok(Self::Qwen2Vl(Qwen2VlConfig::from_json(file, text)?))
    }

    pub fn text(&self) -> &TextConfig {
        match self {
            Self::Qwen2Vl(c) => &c.text,
            Self::Qwen3Vl(c) => &c.text,
        }
    }

    pub fn image_token_id(&self) -> u32 {
        match self {
            Self::Qwen2Vl(c) => c.image_token_id,
            Self::Qwen3Vl(c) => c.image_token_id,
        }
    }

    /// `<|ecg_pad|>`'s id from config.json (ECG-R1 only).
    pub fn ecg_token_id(&self) -> Option<u32> {
        match self {
            Self::Qwen2Vl(_) => None,
            Self::Qwen3Vl(c) => c.ecg.as_ref().map(|e| e.ecg_token_id),
        }
    }

    pub fn eos_token_ids(&self) -> &[u32] {
        match self {
            Self::Qwen2Vl(c) => &c.eos_token_ids,
            Self::Qwen3Vl(c) => &c.eos_token_ids,
        }
    }

    /// (depth, width, heads) of the vision tower.
    pub fn vision_sizes(&self) -> (usize, usize, usize) {
        match self {
            Self::Qwen2Vl(c) => (c.vision.depth, c.vision.embed_dim, c.vision.num_heads),
            Self::Qwen3Vl(c) => (c.vision.depth, c.vision.hidden_size, c.vision.num_heads),
        }
    }
}

impl Qwen2VlConfig {
    /// Parses `config.json` text. `file` names it in errors.
    pub fn from_json(file: &str, text: &str) -> Result<Self, ModelError> {
        let top: Value = serde_json::from_str(text)
            .map_err(|e| ModelError::config(file, "(file)", format!("not valid JSON: {e}")))?;
        let model_type = top.get("model_type").and_then(Value::as_str).unwrap_or("");
        let archs: Vec<&str> = top
            .get("architectures")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if model_type != "qwen2_vl" && !archs.contains(&"Qwen2VLForConditionalGeneration") {
            return Err(ModelError::config(
                file,
                "model_type",
                format!(
                    "this is a '{model_type}' checkpoint ({}); this engine runs qwen2_vl and qwen3_vl",
                    archs.join(", ")
                ),
            ));
        }
        let text_section = top.get("text_config").filter(|v| v.is_object());
        let t = Fields {
            file,
            section: text_section,
            top: &top,
            section_name: "text_config",
        };
        let text = TextConfig::parse(&t, &top, text_section, &QWEN2_VL_TEXT)?;
        let hidden_size = text.hidden_size;

        let vsec = top
            .get("vision_config")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                ModelError::config(
                    file,
                    "vision_config",
                    "missing (a Qwen2-VL checkpoint has a vision tower)",
                )
            })?;
        let v = Fields {
            file,
            section: Some(vsec),
            top: vsec,
            section_name: "vision_config",
        };
        let (embed_dim, vheads) = vision_width_and_heads(&v, "embed_dim")?;
        let mlp_ratio = vsec.get("mlp_ratio").and_then(Value::as_f64).unwrap_or(4.0);
        if !(mlp_ratio.is_finite() && mlp_ratio > 0.0 && mlp_ratio <= 64.0) {
            return Err(ModelError::config(
                file,
                "vision_config.mlp_ratio",
                format!("{mlp_ratio} is not a sensible ratio"),
            ));
        }
        check_activation(&v, "hidden_act", "quick_gelu", "Qwen2-VL's vision MLP")?;
        let in_channels = v
            .usize_opt("in_channels")?
            .or(v.usize_opt("in_chans")?)
            .unwrap_or(3);
        let vision_rope_theta = vsec
            .get("rope_parameters")
            .and_then(|r| r.get("rope_theta"))
            .and_then(Value::as_f64)
            .unwrap_or(10_000.0);
        let out_hidden_size = v.usize_opt("hidden_size")?.unwrap_or(hidden_size);
        if out_hidden_size != hidden_size {
            return Err(ModelError::config(
                file,
                "vision_config.hidden_size",
                format!("{out_hidden_size} differs from the text hidden_size {hidden_size}"),
            ));
        }
        let vision = VisionConfig {
            depth: v.usize("depth", MAX_LAYERS)?,
            embed_dim,
            num_heads: vheads,
            mlp_hidden: (embed_dim as f64 * mlp_ratio) as usize,
            in_channels,
            patch_size: v
                .usize_opt("patch_size")?
                .or(v.usize_opt("spatial_patch_size")?)
                .unwrap_or(14),
            spatial_merge_size: v.usize_opt("spatial_merge_size")?.unwrap_or(2),
            temporal_patch_size: v.usize_opt("temporal_patch_size")?.unwrap_or(2),
            out_hidden_size,
            rope_theta: vision_rope_theta,
        };
        if vision.patch_size == 0
            || vision.spatial_merge_size == 0
            || vision.temporal_patch_size == 0
        {
            return Err(ModelError::config(
                file,
                "vision_config.patch_size",
                "patch, merge and temporal sizes must be positive",
            ));
        }

        let eos_token_ids = eos_ids(&top, text_section);
        Ok(Self {
            text,
            vision,
            image_token_id: token_id(file, &top, &["image_token_id"], Some(151_655))?,
            video_token_id: token_id(file, &top, &["video_token_id"], Some(151_656))?,
            vision_start_token_id: token_id(file, &top, &["vision_start_token_id"], Some(151_652))?,
            vision_end_token_id: token_id(file, &top, &["vision_end_token_id"], Some(151_653))?,
            eos_token_ids,
        })
    }

    /// Parameter count implied by the configuration (used to sanity-check and to report).
    pub fn parameter_count(&self) -> u64 {
        let t = &self.text;
        let (h, i, v) = (
            t.hidden_size as u64,
            t.intermediate_size as u64,
            t.vocab_size as u64,
        );
        let kv = (t.num_kv_heads * t.head_dim) as u64;
        let layer = h * h + h + 2 * (h * kv + kv) + h * h + 3 * h * i + 2 * h;
        let lm_head = if t.tie_word_embeddings { 0 } else { v * h };
        let text = v * h + t.num_layers as u64 * layer + h + lm_head;
        let vc = &self.vision;
        let (e, m) = (vc.embed_dim as u64, vc.mlp_hidden as u64);
        let patch =
            (vc.in_channels * vc.temporal_patch_size * vc.patch_size * vc.patch_size) as u64 * e;
        let block = 4 * e + (3 * e * e + 3 * e) + (e * e + e) + (e * m + m) + (m * e + e);
        let merged = e * (vc.spatial_merge_size * vc.spatial_merge_size) as u64;
        let merger = 2 * e + merged * merged + merged + merged * h + h;
        text + patch + vc.depth as u64 * block + merger
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Qwen2-VL-2B-Instruct's config.json as transformers 4.45 wrote it.
    const FLAT_2B: &str = r#"{
      "architectures": ["Qwen2VLForConditionalGeneration"],
      "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
      "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
      "image_token_id": 151655, "video_token_id": 151656, "hidden_act": "silu",
      "hidden_size": 1536, "initializer_range": 0.02, "intermediate_size": 8960,
      "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen2_vl",
      "num_attention_heads": 12, "num_hidden_layers": 28, "num_key_value_heads": 2,
      "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
      "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.41.2",
      "use_cache": true, "use_sliding_window": false,
      "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16,
        "in_chans": 3, "hidden_size": 1536, "patch_size": 14, "spatial_merge_size": 2,
        "spatial_patch_size": 14, "temporal_patch_size": 2},
      "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
      "vocab_size": 151936
    }"#;

    #[test]
    fn reads_the_flat_2b_layout() {
        let c = Qwen2VlConfig::from_json("config.json", FLAT_2B).unwrap();
        assert_eq!(c.text.head_dim, 128);
        assert_eq!(c.text.mrope_section, [16, 24, 24]);
        assert_eq!(c.text.num_kv_heads, 2);
        assert!(c.text.tie_word_embeddings);
        assert_eq!(c.vision.mlp_hidden, 5120);
        assert_eq!(c.vision.in_channels, 3);
        assert_eq!(c.image_token_id, 151_655);
        assert_eq!(c.eos_token_ids, vec![151_645]);
        // Qwen2-VL-2B has about 2.21 billion parameters.
        let n = c.parameter_count();
        assert!((2_150_000_000..2_250_000_000).contains(&n), "{n}");
    }

    #[test]
    fn rejects_other_architectures_and_bad_sections() {
        let llama = r#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}"#;
        let e = Qwen2VlConfig::from_json("config.json", llama)
            .unwrap_err()
            .to_string();
        assert!(e.contains("llama"), "{e}");
        let bad = FLAT_2B.replace("[16, 24, 24]", "[16, 24, 20]");
        let e = Qwen2VlConfig::from_json("config.json", &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mrope_section"), "{e}");
        let e = Qwen2VlConfig::from_json("config.json", "{")
            .unwrap_err()
            .to_string();
        assert!(e.contains("JSON"), "{e}");
        let huge = FLAT_2B.replace("\"vocab_size\": 151936", "\"vocab_size\": 99999999999");
        let e = Qwen2VlConfig::from_json("config.json", &huge)
            .unwrap_err()
            .to_string();
        assert!(e.contains("vocab_size"), "{e}");
    }
}
