//! The text section of `config.json` (one builder for both families, their differences named
//! in a [`TextFamily`]) and the field readers both families' configurations use. A leaf:
//! it imports neither family's module.

use serde_json::Value;

use crate::model::ModelError;
use crate::model::rope::MropeLayout;

/// Sizes beyond these are refused before anything is allocated.
pub(crate) const MAX_VOCAB: usize = 4_000_000;
pub(crate) const MAX_WIDTH: usize = 65_536;
pub(crate) const MAX_LAYERS: usize = 1_024;

#[derive(Clone, Debug, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// Rotary half-dimensions given to the temporal, height and width position ids.
    pub mrope_section: [usize; 3],
    /// How those half-dimensions are laid out (chunked in Qwen2-VL, interleaved in Qwen3-VL).
    pub mrope_layout: MropeLayout,
    pub tie_word_embeddings: bool,
    /// Biases on the q, k and v projections (Qwen2: yes; Qwen3: `attention_bias`, default no).
    pub qkv_bias: bool,
    /// Bias on the output projection (Qwen2: no; Qwen3: `attention_bias`).
    pub o_bias: bool,
    /// Per-head RMSNorm on q and k (Qwen3's `q_norm`/`k_norm`).
    pub qk_norm: bool,
}

/// What the two families' text sections do differently.
pub(crate) struct TextFamily {
    /// The model's name in errors.
    pub model: &'static str,
    /// Whether `head_dim` is read (Qwen3 states it; Qwen2's is hidden / heads).
    pub states_head_dim: bool,
    /// The rotary base when the file states none.
    pub default_rope_theta: f64,
    pub mrope_layout: MropeLayout,
    /// Whether only the default rotary frequencies are accepted (`rope_type` default/mrope).
    pub only_default_rope: bool,
    /// Whether `attention_bias` decides the q/k/v and output biases (else: q/k/v yes, o no).
    pub reads_attention_bias: bool,
    pub qk_norm: bool,
}

pub(crate) const QWEN2_VL_TEXT: TextFamily = TextFamily {
    model: "Qwen2-VL",
    states_head_dim: false,
    default_rope_theta: 1_000_000.0,
    mrope_layout: MropeLayout::Chunked,
    only_default_rope: false,
    reads_attention_bias: false,
    qk_norm: false,
};

pub(crate) const QWEN3_VL_TEXT: TextFamily = TextFamily {
    model: "Qwen3-VL",
    states_head_dim: true,
    // Qwen3VLTextConfig's default theta (when neither spelling states one).
    default_rope_theta: 500_000.0,
    mrope_layout: MropeLayout::Interleaved,
    only_default_rope: true,
    reads_attention_bias: true,
    qk_norm: true,
};

impl TextConfig {
    /// Reads a text section (`t`: nested `text_config` or the flat top level) of `family`.
    pub(crate) fn parse(
        t: &Fields<'_>,
        top: &Value,
        text_section: Option<&Value>,
        family: &TextFamily,
    ) -> Result<Self, ModelError> {
        let file = t.file;
        let (hidden_size, num_heads, num_kv_heads) = text_heads(t)?;
        // Qwen3 states head_dim (128 in every released size, not hidden / heads for all of them).
        let stated_head_dim = if family.states_head_dim {
            t.usize_opt("head_dim")?
        } else {
            None
        };
        let head_dim = match stated_head_dim {
            Some(d) if d > 0 && d % 2 == 0 && d <= MAX_WIDTH => d,
            Some(d) => {
                return Err(ModelError::config(
                    file,
                    t.field_name("head_dim"),
                    format!("{d} is not a positive even size"),
                ));
            }
            None if hidden_size % num_heads == 0 => hidden_size / num_heads,
            None if family.states_head_dim => {
                return Err(ModelError::config(
                    file,
                    t.field_name("num_attention_heads"),
                    format!(
                        "{num_heads} does not divide hidden_size {hidden_size} and head_dim is missing"
                    ),
                ));
            }
            None => {
                return Err(ModelError::config(
                    file,
                    t.field_name("num_attention_heads"),
                    format!("{num_heads} does not divide hidden_size {hidden_size}"),
                ));
            }
        };
        check_activation(t, "hidden_act", "silu", family.model)?;
        let rope = rope_object(t);
        if family.only_default_rope
            && let Some(kind) = rope
                .and_then(|r| r.get("rope_type").or_else(|| r.get("type")))
                .and_then(Value::as_str)
            && kind != "default"
            && kind != "mrope"
        {
            return Err(ModelError::config(
                file,
                t.field_name("rope_parameters.rope_type"),
                format!("'{kind}' is not supported (only the default rotary frequencies)"),
            ));
        }
        // transformers' Qwen3-VL always interleaves the sections, whatever the flag says; a
        // checkpoint that explicitly asks for the chunked layout would be run differently by its
        // authors' code.
        if family.mrope_layout == MropeLayout::Interleaved
            && rope
                .and_then(|r| r.get("mrope_interleaved"))
                .and_then(Value::as_bool)
                == Some(false)
        {
            return Err(ModelError::config(
                file,
                t.field_name("rope_parameters.mrope_interleaved"),
                format!(
                    "false is not supported: {} interleaves the M-RoPE sections",
                    family.model
                ),
            ));
        }
        let (rope_theta, mrope_section) = parse_rope(t, head_dim, family.default_rope_theta)?;
        let (qkv_bias, o_bias) = if family.reads_attention_bias {
            let bias = t
                .find("attention_bias")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (bias, bias)
        } else {
            (true, false)
        };
        Ok(Self {
            vocab_size: t.usize("vocab_size", MAX_VOCAB)?,
            hidden_size,
            intermediate_size: t.usize("intermediate_size", MAX_WIDTH * 8)?,
            num_layers: t.usize("num_hidden_layers", MAX_LAYERS)?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: t.f64_or("rms_norm_eps", 1e-6)?,
            rope_theta,
            mrope_section,
            mrope_layout: family.mrope_layout,
            tie_word_embeddings: tie_word_embeddings(top, text_section),
            qkv_bias,
            o_bias,
            qk_norm: family.qk_norm,
        })
    }
}

/// Reads a field from the nested section first, then the top level (flat layout).
pub(crate) struct Fields<'a> {
    pub file: &'a str,
    pub section: Option<&'a Value>,
    pub top: &'a Value,
    pub section_name: &'a str,
}

impl<'a> Fields<'a> {
    pub fn find(&self, key: &str) -> Option<&'a Value> {
        self.section
            .and_then(|s| s.get(key))
            .filter(|v| !v.is_null())
            .or_else(|| self.top.get(key).filter(|v| !v.is_null()))
    }

    pub fn field_name(&self, key: &str) -> String {
        if self.section.is_some() {
            format!("{}.{key}", self.section_name)
        } else {
            key.to_string()
        }
    }

    pub fn usize_opt(&self, key: &str) -> Result<Option<usize>, ModelError> {
        match self.find(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    ModelError::config(
                        self.file,
                        self.field_name(key),
                        format!("expected a non-negative integer, found {v}"),
                    )
                }),
        }
    }

    pub fn usize(&self, key: &str, max: usize) -> Result<usize, ModelError> {
        let n = self
            .usize_opt(key)?
            .ok_or_else(|| ModelError::config(self.file, self.field_name(key), "missing"))?;
        if n == 0 || n > max {
            return Err(ModelError::config(
                self.file,
                self.field_name(key),
                format!("{n} is outside 1..={max}"),
            ));
        }
        Ok(n)
    }

    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, ModelError> {
        match self.find(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| {
                    ModelError::config(
                        self.file,
                        self.field_name(key),
                        format!("expected a positive number, found {v}"),
                    )
                }),
        }
    }
}

pub(crate) fn token_id(
    file: &str,
    top: &Value,
    keys: &[&str],
    default: Option<u32>,
) -> Result<u32, ModelError> {
    for key in keys {
        if let Some(v) = top.get(*key).filter(|v| !v.is_null()) {
            return v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ModelError::config(file, *key, format!("not a token id: {v}")));
        }
    }
    default.ok_or_else(|| ModelError::config(file, keys[0], "missing"))
}

pub(crate) fn ids_of(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .into_iter()
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The rope object (`rope_parameters` in 5.x, `rope_scaling` in 4.x) of a text section.
pub(crate) fn rope_object<'a>(t: &Fields<'a>) -> Option<&'a Value> {
    t.find("rope_parameters")
        .filter(|v| v.is_object())
        .or_else(|| t.find("rope_scaling").filter(|v| v.is_object()))
}

/// The rotary base and `mrope_section` of a text section: the theta lives in
/// `rope_parameters.rope_theta` or the plain `rope_theta` field (`default_theta` when neither).
pub(crate) fn parse_rope(
    t: &Fields<'_>,
    head_dim: usize,
    default_theta: f64,
) -> Result<(f64, [usize; 3]), ModelError> {
    let file = t.file;
    let rope = rope_object(t);
    let rope_theta = match rope
        .and_then(|r| r.get("rope_theta"))
        .and_then(Value::as_f64)
    {
        Some(theta) if theta.is_finite() && theta > 0.0 => theta,
        _ => t.f64_or("rope_theta", default_theta)?,
    };
    let section: Vec<usize> = rope
        .and_then(|r| r.get("mrope_section"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64().and_then(|n| usize::try_from(n).ok()))
                .collect()
        })
        .unwrap_or_default();
    let mrope_section: [usize; 3] = match section.as_slice() {
        [a, b, c] if a + b + c == head_dim / 2 => [*a, *b, *c],
        [] => {
            return Err(ModelError::config(
                file,
                t.field_name("rope_parameters.mrope_section"),
                "missing (neither rope_parameters nor rope_scaling has mrope_section)",
            ));
        }
        other => {
            return Err(ModelError::config(
                file,
                t.field_name("rope_parameters.mrope_section"),
                format!(
                    "{other:?} must be three numbers summing to head_dim/2 = {}",
                    head_dim / 2
                ),
            ));
        }
    };
    Ok((rope_theta, mrope_section))
}

/// `hidden_size`, `num_attention_heads` and `num_key_value_heads` (default: as many as the
/// attention heads) of a text section, the kv heads dividing the attention heads.
pub(crate) fn text_heads(t: &Fields<'_>) -> Result<(usize, usize, usize), ModelError> {
    let hidden_size = t.usize("hidden_size", MAX_WIDTH)?;
    let num_heads = t.usize("num_attention_heads", MAX_WIDTH)?;
    let num_kv_heads = t.usize_opt("num_key_value_heads")?.unwrap_or(num_heads);
    if num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
        return Err(ModelError::config(
            t.file,
            t.field_name("num_key_value_heads"),
            format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
        ));
    }
    Ok((hidden_size, num_heads, num_kv_heads))
}

/// The vision tower's width (`width_key`) and head count, checked so every head splits into a
/// multiple of 4 (the 2-D rotary embedding rotates row and column halves of each half-head).
pub(crate) fn vision_width_and_heads(
    v: &Fields<'_>,
    width_key: &str,
) -> Result<(usize, usize), ModelError> {
    let width = v.usize(width_key, MAX_WIDTH)?;
    let heads = v.usize("num_heads", MAX_WIDTH)?;
    if width % heads != 0 || (width / heads) % 4 != 0 {
        return Err(ModelError::config(
            v.file,
            v.field_name("num_heads"),
            format!("{heads} heads do not split {width_key} {width} into a multiple of 4"),
        ));
    }
    Ok((width, heads))
}

/// Refuses an activation other than `expected` in the field `key` (absent is fine).
pub(crate) fn check_activation(
    f: &Fields<'_>,
    key: &str,
    expected: &str,
    model: &str,
) -> Result<(), ModelError> {
    match f.find(key).and_then(Value::as_str) {
        Some(act) if act != expected => Err(ModelError::config(
            f.file,
            f.field_name(key),
            format!("'{act}' is not supported ({model} uses {expected})"),
        )),
        _ => Ok(()),
    }
}

/// `tie_word_embeddings` at the top level, else in the text section; false when absent.
pub(crate) fn tie_word_embeddings(top: &Value, text_section: Option<&Value>) -> bool {
    top.get("tie_word_embeddings")
        .and_then(Value::as_bool)
        .or_else(|| {
            text_section
                .and_then(|s| s.get("tie_word_embeddings"))
                .and_then(Value::as_bool)
        })
        .unwrap_or(false)
}

/// End-of-sequence ids at the top level, else in the text section.
pub(crate) fn eos_ids(top: &Value, text_section: Option<&Value>) -> Vec<u32> {
    let ids = ids_of(top.get("eos_token_id"));
    if ids.is_empty() {
        ids_of(text_section.and_then(|s| s.get("eos_token_id")))
    } else {
        ids
    }
}
