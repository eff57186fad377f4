//! `config.json` of a Qwen3-VL checkpoint (and of ECG-R1, which adds `ecg_*` fields): nested
//! `text_config` / `vision_config`, the rope object spelled `rope_parameters` (transformers 5.x)
//! or `rope_scaling` (4.5x), interleaved M-RoPE, the deepstack layers and the learned vision
//! position grid.

use serde_json::Value;

use crate::model::ModelError;
use crate::model::config::text::{
    Fields, MAX_LAYERS, MAX_WIDTH, QWEN3_VL_TEXT, TextConfig, check_activation, eos_ids, token_id,
    vision_width_and_heads,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Qwen3VisionConfig {
    pub depth: usize,
    pub hidden_size: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    pub in_channels: usize,
    pub patch_size: usize,
    pub spatial_merge_size: usize,
    pub temporal_patch_size: usize,
    /// Output width of the mergers (the text model's hidden size).
    pub out_hidden_size: usize,
    /// Size of the learned position table; its square root is the side of the grid that is
    /// bilinearly resampled to each image's patch grid.
    pub num_position_embeddings: usize,
    /// Vision blocks after which a deepstack merger taps the hidden states, in order; merger `i`
    /// feeds decoder layer `i`.
    pub deepstack_visual_indexes: Vec<usize>,
    pub rope_theta: f64,
}

impl Qwen3VisionConfig {
    /// Side of the learned position grid (`int(sqrt(num_position_embeddings))`).
    pub fn grid_side(&self) -> usize {
        self.num_position_embeddings.isqrt()
    }
}

/// The ECG-R1 additions to `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct EcgFields {
    /// Id of `<|ecg_pad|>`, whose embeddings the projected ECG tokens replace.
    pub ecg_token_id: u32,
    pub ecg_hidden_size: Option<usize>,
    pub ecg_projector_type: Option<String>,
    pub ecg_model_config: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Qwen3VlConfig {
    pub text: TextConfig,
    pub vision: Qwen3VisionConfig,
    pub image_token_id: u32,
    pub video_token_id: u32,
    pub vision_start_token_id: u32,
    pub vision_end_token_id: u32,
    pub eos_token_ids: Vec<u32>,
    /// Present when config.json carries `ecg_token_id` (an ECG-R1 checkpoint).
    pub ecg: Option<EcgFields>,
}

/// Whether `config.json` (parsed) describes a Qwen3-VL model.
pub fn is_qwen3vl(top: &Value) -> bool {
    let model_type = top.get("model_type").and_then(Value::as_str).unwrap_or("");
    let arch = top
        .get("architectures")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .any(|s| s == "Qwen3VLForConditionalGeneration")
        });
    model_type == "qwen3_vl" || arch
}

impl Qwen3VlConfig {
    /// Parses `config.json` text. `file` names it in errors.
    pub fn from_json(file: &str, text: &str) -> Result<Self, ModelError> {
        let top: Value = serde_json::from_str(text)
            .map_err(|e| ModelError::config(file, "(file)", format!("not valid JSON: {e}")))?;
        Self::from_value(file, &top)
    }

    pub fn from_value(file: &str, top: &Value) -> Result<Self, ModelError> {
        if !is_qwen3vl(top) {
            return Err(ModelError::config(
                file,
                "model_type",
                "not a qwen3_vl checkpoint (model_type / architectures)",
            ));
        }
        let text_section = top.get("text_config").filter(|v| v.is_object());
        let t = Fields {
            file,
            section: text_section,
            top,
            section_name: "text_config",
        };
        let text = TextConfig::parse(&t, top, text_section, &QWEN3_VL_TEXT)?;
        let vsec = top
            .get("vision_config")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                ModelError::config(
                    file,
                    "vision_config",
                    "missing (a Qwen3-VL checkpoint has a vision tower)",
                )
            })?;
        let vision = parse_vision(file, vsec)?;
        if vision.out_hidden_size != text.hidden_size {
            return Err(ModelError::config(
                file,
                "vision_config.out_hidden_size",
                format!(
                    "{} differs from the text hidden_size {}",
                    vision.out_hidden_size, text.hidden_size
                ),
            ));
        }
        if vision.deepstack_visual_indexes.len() > text.num_layers {
            return Err(ModelError::config(
                file,
                "vision_config.deepstack_visual_indexes",
                format!(
                    "{} deepstack layers for {} decoder layers",
                    vision.deepstack_visual_indexes.len(),
                    text.num_layers
                ),
            ));
        }
        let ecg = match top.get("ecg_token_id").filter(|v| !v.is_null()) {
            None => None,
            Some(_) => Some(EcgFields {
                ecg_token_id: token_id(file, top, &["ecg_token_id"], None)?,
                ecg_hidden_size: top
                    .get("ecg_hidden_size")
                    .and_then(Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok()),
                ecg_projector_type: top
                    .get("ecg_projector_type")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                ecg_model_config: top
                    .get("ecg_model_config")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
        };
        Ok(Self {
            text,
            vision,
            image_token_id: token_id(file, top, &["image_token_id"], Some(151_655))?,
            video_token_id: token_id(file, top, &["video_token_id"], Some(151_656))?,
            vision_start_token_id: token_id(file, top, &["vision_start_token_id"], Some(151_652))?,
            vision_end_token_id: token_id(file, top, &["vision_end_token_id"], Some(151_653))?,
            eos_token_ids: eos_ids(top, text_section),
            ecg,
        })
    }
}

fn parse_vision(file: &str, vsec: &Value) -> Result<Qwen3VisionConfig, ModelError> {
    let v = Fields {
        file,
        section: Some(vsec),
        top: vsec,
        section_name: "vision_config",
    };
    let (hidden_size, num_heads) = vision_width_and_heads(&v, "hidden_size")?;
    check_activation(
        &v,
        "hidden_act",
        "gelu_pytorch_tanh",
        "Qwen3-VL's vision MLP",
    )?;
    let num_position_embeddings = v.usize("num_position_embeddings", MAX_WIDTH * 16)?;
    let side = num_position_embeddings.isqrt();
    if side * side != num_position_embeddings {
        return Err(ModelError::config(
            file,
            "vision_config.num_position_embeddings",
            format!("{num_position_embeddings} is not a square grid"),
        ));
    }
    let depth = v.usize("depth", MAX_LAYERS)?;
    let deepstack_visual_indexes: Vec<usize> = match vsec.get("deepstack_visual_indexes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|&n| n < depth)
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ModelError::config(
                    file,
                    "vision_config.deepstack_visual_indexes",
                    format!("every index must be a block number below depth {depth}"),
                )
            })?,
        Some(other) => {
            return Err(ModelError::config(
                file,
                "vision_config.deepstack_visual_indexes",
                format!("expected a list of block numbers, found {other}"),
            ));
        }
    };
    let rope_theta = vsec
        .get("rope_parameters")
        .and_then(|r| r.get("rope_theta"))
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t > 0.0)
        .unwrap_or(10_000.0);
    let c = Qwen3VisionConfig {
        depth,
        hidden_size,
        num_heads,
        intermediate_size: v.usize("intermediate_size", MAX_WIDTH * 8)?,
        in_channels: v.usize_opt("in_channels")?.unwrap_or(3),
        patch_size: v.usize_opt("patch_size")?.unwrap_or(16),
        spatial_merge_size: v.usize_opt("spatial_merge_size")?.unwrap_or(2),
        temporal_patch_size: v.usize_opt("temporal_patch_size")?.unwrap_or(2),
        out_hidden_size: v.usize("out_hidden_size", MAX_WIDTH)?,
        num_position_embeddings,
        deepstack_visual_indexes,
        rope_theta,
    };
    if c.patch_size == 0 || c.spatial_merge_size == 0 || c.temporal_patch_size == 0 {
        return Err(ModelError::config(
            file,
            "vision_config.patch_size",
            "patch, merge and temporal sizes must be positive",
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rope::MropeLayout;

    /// The shape of Qwen3-VL-8B-Instruct's config.json (transformers 4.57 spelling).
    const QWEN3VL_8B: &str = r#"{
      "architectures": ["Qwen3VLForConditionalGeneration"],
      "image_token_id": 151655, "model_type": "qwen3_vl",
      "text_config": {
        "attention_bias": false, "bos_token_id": 151643, "eos_token_id": 151645,
        "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096,
        "intermediate_size": 12288, "max_position_embeddings": 262144,
        "model_type": "qwen3_vl_text", "num_attention_heads": 32, "num_hidden_layers": 36,
        "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
        "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20],
                         "rope_type": "default"},
        "rope_theta": 5000000, "vocab_size": 151936
      },
      "tie_word_embeddings": false, "video_token_id": 151656,
      "vision_config": {
        "deepstack_visual_indexes": [8, 16, 24], "depth": 27, "hidden_act": "gelu_pytorch_tanh",
        "hidden_size": 1152, "in_channels": 3, "intermediate_size": 4304,
        "model_type": "qwen3_vl", "num_heads": 16, "num_position_embeddings": 2304,
        "out_hidden_size": 4096, "patch_size": 16, "spatial_merge_size": 2,
        "temporal_patch_size": 2
      },
      "vision_end_token_id": 151653, "vision_start_token_id": 151652
    }"#;

    #[test]
    fn reads_the_8b_layout() {
        let c = Qwen3VlConfig::from_json("config.json", QWEN3VL_8B).unwrap();
        assert_eq!(c.text.head_dim, 128);
        assert_eq!(c.text.mrope_section, [24, 20, 20]);
        assert_eq!(c.text.mrope_layout, MropeLayout::Interleaved);
        assert!((c.text.rope_theta - 5_000_000.0).abs() < 1e-6);
        assert!(c.text.qk_norm && !c.text.qkv_bias && !c.text.o_bias);
        assert!(!c.text.tie_word_embeddings);
        assert_eq!(c.vision.deepstack_visual_indexes, vec![8, 16, 24]);
        assert_eq!(c.vision.grid_side(), 48);
        assert_eq!(c.eos_token_ids, vec![151_645]);
        assert!(c.ecg.is_none());
    }

    #[test]
    fn reads_rope_parameters_and_ecg_fields() {
        let v: Value = serde_json::from_str(QWEN3VL_8B).unwrap();
        let mut v = v;
        let tc = v["text_config"].as_object_mut().unwrap();
        let rope = tc.remove("rope_scaling").unwrap();
        tc.remove("rope_theta");
        let mut rope = rope;
        rope["rope_theta"] = 1_234_567.into();
        tc.insert("rope_parameters".into(), rope);
        v["ecg_token_id"] = 151_669.into();
        v["ecg_hidden_size"] = 768.into();
        v["ecg_projector_type"] = "mlp2x_gelu".into();
        let c = Qwen3VlConfig::from_value("config.json", &v).unwrap();
        assert!((c.text.rope_theta - 1_234_567.0).abs() < 1e-6);
        let ecg = c.ecg.unwrap();
        assert_eq!(ecg.ecg_token_id, 151_669);
        assert_eq!(ecg.ecg_hidden_size, Some(768));
        assert_eq!(ecg.ecg_projector_type.as_deref(), Some("mlp2x_gelu"));
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let chunked = QWEN3VL_8B.replace(
            "\"mrope_interleaved\": true",
            "\"mrope_interleaved\": false",
        );
        let e = Qwen3VlConfig::from_json("config.json", &chunked)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mrope_interleaved"), "{e}");
        let yarn = QWEN3VL_8B.replace("\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"");
        let e = Qwen3VlConfig::from_json("config.json", &yarn)
            .unwrap_err()
            .to_string();
        assert!(e.contains("yarn"), "{e}");
        let deep = QWEN3VL_8B.replace("[8, 16, 24]", "[8, 16, 27]");
        let e = Qwen3VlConfig::from_json("config.json", &deep)
            .unwrap_err()
            .to_string();
        assert!(e.contains("deepstack_visual_indexes"), "{e}");
        let grid = QWEN3VL_8B.replace("2304", "2300");
        let e = Qwen3VlConfig::from_json("config.json", &grid)
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_position_embeddings"), "{e}");
        let qwen2 = r#"{"model_type": "qwen2_vl"}"#;
        assert!(Qwen3VlConfig::from_json("config.json", qwen2).is_err());
    }
}
