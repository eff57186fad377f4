//! The Qwen2 / Qwen3 text decoder shared by both model families: RMSNorm, grouped-query attention
//! with a KV cache (Qwen2: biased q/k/v projections; Qwen3: per-head RMSNorm on q and k, no
//! biases), SwiGLU MLP, tied or untied LM head, multimodal RoPE, and Qwen3-VL's deepstack (visual
//! features added to the hidden states at the image positions after the first layers).
//!
//! Every matrix of the decoder (projections, token table, LM head) is built with
//! [`text_linear`] / [`text_embedding`], so it runs quantised where the checkpoint's GGUF file
//! holds it ([`crate::model::quant`]) and in float otherwise.
//!
//! [`Session`] is a sequence in progress (cache plus next rotary position); both families return
//! one from their prefill, so decoding, scoring and the engine do not care which family runs.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{RmsNorm, VarBuilder};

use super::ModelError;
use super::config::TextConfig;
use super::quant::{QuantizedWeights, TextEmbedding, TextLinear, text_embedding, text_linear};
use super::rope::{MropeLayout, inv_freq, mrope_tables};

struct Attention {
    q: TextLinear,
    k: TextLinear,
    v: TextLinear,
    o: TextLinear,
    /// Qwen3's RMSNorm over each head of q and k, before the rotary embedding.
    qk_norm: Option<(RmsNorm, RmsNorm)>,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

struct Layer {
    attn: Attention,
    gate: TextLinear,
    up: TextLinear,
    down: TextLinear,
    input_norm: RmsNorm,
    post_norm: RmsNorm,
}

/// Keys and values of every layer for the tokens seen so far.
#[derive(Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .and_then(|(k, _)| k.dim(2).ok())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Attention {
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        // [b, l, heads × d] → [b, l, heads, d]; the head norm works on the last dimension, so it
        // comes before the transpose to [b, heads, l, d].
        let split = |t: Tensor, heads: usize, norm: Option<&RmsNorm>| {
            let t = t.reshape((b, l, heads, self.head_dim))?;
            let t = match norm {
                Some(n) => n.forward(&t)?,
                None => t,
            };
            t.transpose(1, 2)?.contiguous()
        };
        let (qn, kn) = match &self.qk_norm {
            Some((q, k)) => (Some(q), Some(k)),
            None => (None, None),
        };
        let q = split(self.q.forward(x)?, self.heads, qn)?;
        let k = split(self.k.forward(x)?, self.kv_heads, kn)?;
        let v = split(self.v.forward(x)?, self.kv_heads, None)?;
        let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        let (k, v) = match cache.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *cache = Some((k.clone(), v.clone()));
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let past = k.dim(2)? - l;
        // Softmax in f32 as the reference does, whatever the compute dtype.
        let y = super::attention::attention(&q, &k, &v, Some(past), scale)?;
        let y = y
            .transpose(1, 2)?
            .reshape((b, l, self.heads * self.head_dim))?;
        self.o.forward(&y)
    }
}

/// Visual features added to the hidden states after the first decoder layers (Qwen3-VL's
/// deepstack): `rows` are the prompt positions of the image tokens, `layers[i]` (`[rows, hidden]`)
/// is added after decoder layer `i`.
pub struct Deepstack {
    pub rows: Vec<u32>,
    pub layers: Vec<Tensor>,
}

/// The rotary embedding of the decoder: inverse frequencies and how the three position
/// components share them.
#[derive(Clone, Debug)]
struct TextRope {
    inv_freq: Vec<f32>,
    section: [usize; 3],
    layout: MropeLayout,
}

pub struct TextModel {
    embed: TextEmbedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: TextLinear,
    rope: TextRope,
    vocab_size: usize,
    device: Device,
    dtype: DType,
}

impl TextModel {
    /// `vb` points at the decoder (`model` or `model.language_model`); `lm_head` is the LM head
    /// when untied; `quant` holds the quantised matrices of a quantised checkpoint.
    pub fn load(
        cfg: &TextConfig,
        vb: &VarBuilder,
        lm_head: Option<TextLinear>,
        quant: Option<&QuantizedWeights>,
    ) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let kv = cfg.num_kv_heads * cfg.head_dim;
        let q_dim = cfg.num_heads * cfg.head_dim;
        let qw = quant;
        let embed = text_embedding(cfg.vocab_size, h, &vb.pp("embed_tokens"), qw)?;
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let lv = vb.pp("layers").pp(i);
            let av = lv.pp("self_attn");
            let mv = lv.pp("mlp");
            let qk_norm = if cfg.qk_norm {
                Some((
                    candle_nn::rms_norm(cfg.head_dim, cfg.rms_norm_eps, av.pp("q_norm"))?,
                    candle_nn::rms_norm(cfg.head_dim, cfg.rms_norm_eps, av.pp("k_norm"))?,
                ))
            } else {
                None
            };
            layers.push(Layer {
                attn: Attention {
                    q: text_linear(h, q_dim, cfg.qkv_bias, &av.pp("q_proj"), qw)?,
                    k: text_linear(h, kv, cfg.qkv_bias, &av.pp("k_proj"), qw)?,
                    v: text_linear(h, kv, cfg.qkv_bias, &av.pp("v_proj"), qw)?,
                    o: text_linear(q_dim, h, cfg.o_bias, &av.pp("o_proj"), qw)?,
                    qk_norm,
                    heads: cfg.num_heads,
                    kv_heads: cfg.num_kv_heads,
                    head_dim: cfg.head_dim,
                },
                gate: text_linear(h, cfg.intermediate_size, false, &mv.pp("gate_proj"), qw)?,
                up: text_linear(h, cfg.intermediate_size, false, &mv.pp("up_proj"), qw)?,
                down: text_linear(cfg.intermediate_size, h, false, &mv.pp("down_proj"), qw)?,
                input_norm: candle_nn::rms_norm(h, cfg.rms_norm_eps, lv.pp("input_layernorm"))?,
                post_norm: candle_nn::rms_norm(
                    h,
                    cfg.rms_norm_eps,
                    lv.pp("post_attention_layernorm"),
                )?,
            });
        }
        let norm = candle_nn::rms_norm(h, cfg.rms_norm_eps, vb.pp("norm"))?;
        let (embed, lm_head) = match lm_head {
            Some(head) => (embed, head),
            None => embed.tied()?,
        };
        Ok(Self {
            embed,
            layers,
            norm,
            lm_head,
            rope: TextRope {
                inv_freq: inv_freq(cfg.head_dim, cfg.rope_theta),
                section: cfg.mrope_section,
                layout: cfg.mrope_layout,
            },
            vocab_size: cfg.vocab_size,
            device: vb.device().clone(),
            dtype: vb.dtype(),
        })
    }

    /// How many of the decoder's matrices (projections, token table, LM head) run quantised,
    /// out of how many.
    pub fn quantized_matrices(&self) -> (usize, usize) {
        let mut flags = vec![self.embed.is_quantized(), self.lm_head.is_quantized()];
        for l in &self.layers {
            let a = &l.attn;
            flags.extend(
                [&a.q, &a.k, &a.v, &a.o, &l.gate, &l.up, &l.down].map(TextLinear::is_quantized),
            );
        }
        (flags.iter().filter(|&&f| f).count(), flags.len())
    }

    /// Bytes of weights a decode step reads: every projection of every layer and the LM head
    /// (the token table is read one row per token).
    pub fn decode_weight_bytes(&self) -> u64 {
        let mut total = self.lm_head.weight_bytes();
        for l in &self.layers {
            let a = &l.attn;
            total += [&a.q, &a.k, &a.v, &a.o, &l.gate, &l.up, &l.down]
                .map(TextLinear::weight_bytes)
                .iter()
                .sum::<usize>();
        }
        total as u64
    }

    /// Multiply-adds of the decoder's matrices per token (2 FLOPs each).
    pub fn matrix_macs_per_token(&self) -> u64 {
        let count = |m: &TextLinear| {
            let (o, i) = m.dims();
            o * i
        };
        let mut total = count(&self.lm_head);
        for l in &self.layers {
            let a = &l.attn;
            total += [&a.q, &a.k, &a.v, &a.o, &l.gate, &l.up, &l.down]
                .map(count)
                .iter()
                .sum::<usize>();
        }
        total as u64
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.layers.len()],
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn embed(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        self.embed.forward(ids)
    }

    /// Embeds `ids` as a `[L, hidden]` tensor after checking every id is in the vocabulary.
    pub fn embed_ids(&self, ids: &[u32]) -> Result<Tensor, ModelError> {
        self.check_ids(ids)?;
        let id_t = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        Ok(self.embed(&id_t)?.squeeze(0)?)
    }

    fn check_ids(&self, ids: &[u32]) -> Result<(), ModelError> {
        if ids.is_empty() {
            return Err(ModelError::Prompt("the prompt has no tokens".into()));
        }
        if let Some(bad) = ids.iter().find(|&&t| t as usize >= self.vocab_size) {
            return Err(ModelError::Prompt(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.vocab_size
            )));
        }
        Ok(())
    }

    /// cos and sin tables (`[tokens, head_dim/2]`, compute dtype) for 3-D positions.
    fn rope_tensors(&self, positions: &[[i64; 3]]) -> Result<(Tensor, Tensor), ModelError> {
        let r = &self.rope;
        let (cos, sin) = mrope_tables(positions, &r.inv_freq, r.section, r.layout);
        let (n, half) = (positions.len(), r.inv_freq.len());
        Ok((
            Tensor::from_vec(cos, (n, half), &self.device)?.to_dtype(self.dtype)?,
            Tensor::from_vec(sin, (n, half), &self.device)?.to_dtype(self.dtype)?,
        ))
    }

    /// Starts a sequence from prompt embeddings (`[L, hidden]`, multimodal rows already in
    /// place) at the given 3-D positions; decoding continues at `next_position`. Returns the
    /// session and the next-token logits.
    pub fn prefill(
        &self,
        ids: &[u32],
        embeds: &Tensor,
        positions: &[[i64; 3]],
        next_position: i64,
        deepstack: Option<&Deepstack>,
    ) -> Result<(Session<'_>, Vec<f32>), ModelError> {
        self.check_ids(ids)?;
        if positions.len() != ids.len() || embeds.dim(0)? != ids.len() {
            return Err(ModelError::Prompt(format!(
                "{} tokens, {} positions and {} embedding rows do not line up",
                ids.len(),
                positions.len(),
                embeds.dim(0)?
            )));
        }
        let (cos, sin) = self.rope_tensors(positions)?;
        let mut session = Session {
            model: self,
            cache: self.new_cache(),
            next_position,
            tokens: ids.to_vec(),
        };
        let logits = self.forward(
            &embeds.unsqueeze(0)?,
            &cos,
            &sin,
            &mut session.cache,
            deepstack,
        )?;
        Ok((session, logits.to_vec1()?))
    }

    /// Runs `embeds` (`[1, L, hidden]`) through the decoder after the cached tokens; returns the
    /// logits of the last position as f32 `[vocab]`.
    pub fn forward(
        &self,
        embeds: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut KvCache,
        deepstack: Option<&Deepstack>,
    ) -> candle_core::Result<Tensor> {
        let (_, l, _) = embeds.dims3()?;
        let deepstack_rows = match deepstack {
            Some(d) if !d.rows.is_empty() => Some(Tensor::new(d.rows.as_slice(), embeds.device())?),
            _ => None,
        };
        let mut x = embeds.clone();
        for (i, (layer, slot)) in self.layers.iter().zip(cache.layers.iter_mut()).enumerate() {
            let h = layer.input_norm.forward(&x)?;
            let h = layer.attn.forward(&h, cos, sin, slot)?;
            x = (x + h)?;
            let h = layer.post_norm.forward(&x)?;
            let h = layer.down.forward(&super::kernels::activation::silu_mul(
                &layer.gate.forward(&h)?,
                &layer.up.forward(&h)?,
            )?)?;
            x = (x + h)?;
            if let (Some(rows), Some(add)) =
                (&deepstack_rows, deepstack.and_then(|d| d.layers.get(i)))
            {
                x = x.index_add(rows, &add.to_dtype(x.dtype())?.unsqueeze(0)?, 1)?;
            }
        }
        let last = x.narrow(1, l - 1, 1)?;
        let last = self.norm.forward(&last)?;
        self.lm_head
            .forward(&last)?
            .flatten_all()?
            .to_dtype(DType::F32)
    }
}

/// Replaces, in order, the rows of `embeds` (`[L, hidden]`) whose token is `token_id` by the rows
/// of `rows` (`[n, hidden]`); `what` names the modality in errors.
pub fn place_rows(
    embeds: &Tensor,
    ids: &[u32],
    token_id: u32,
    rows: &Tensor,
    what: &str,
) -> Result<Tensor, ModelError> {
    let rows = rows.to_dtype(embeds.dtype())?;
    let positions: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] == token_id).collect();
    let n = rows.dim(0)?;
    if positions.len() != n {
        return Err(ModelError::Prompt(format!(
            "{} {what} tokens in the prompt for {n} {what} embeddings",
            positions.len()
        )));
    }
    let mut pieces = Vec::new();
    let mut start = 0usize;
    let mut k = 0usize;
    while k < positions.len() {
        // A run of consecutive placeholder tokens is replaced by one slice.
        let first = positions[k];
        let mut run = 1;
        while k + run < positions.len() && positions[k + run] == first + run {
            run += 1;
        }
        if first > start {
            pieces.push(embeds.narrow(0, start, first - start)?);
        }
        pieces.push(rows.narrow(0, k, run)?);
        start = first + run;
        k += run;
    }
    if pieces.is_empty() {
        return Ok(embeds.clone());
    }
    if start < ids.len() {
        pieces.push(embeds.narrow(0, start, ids.len() - start)?);
    }
    Ok(Tensor::cat(&pieces, 0)?)
}

/// A sequence in progress: the KV cache and the next rotary position.
pub struct Session<'m> {
    model: &'m TextModel,
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
        m.check_ids(ids)?;
        // After the prompt every token advances all three position components together.
        let positions: Vec<[i64; 3]> = (0..ids.len())
            .map(|i| [self.next_position + i as i64; 3])
            .collect();
        let (cos, sin) = m.rope_tensors(&positions)?;
        let id_t = Tensor::new(ids, &m.device)?.unsqueeze(0)?;
        let embeds = m.embed(&id_t)?;
        let logits = m.forward(&embeds, &cos, &sin, &mut self.cache, None)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placed_rows_replace_placeholders_in_order() {
        let dev = Device::Cpu;
        let data: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let embeds = Tensor::from_vec(data, (6, 2), &dev).unwrap();
        let rows =
            Tensor::from_vec(vec![100f32, 101., 200., 201., 300., 301.], (3, 2), &dev).unwrap();
        // Placeholders (9) at 1, 2 and 4: two runs.
        let ids = [0, 9, 9, 3, 9, 5];
        let out = place_rows(&embeds, &ids, 9, &rows, "image").unwrap();
        let v = out.to_vec2::<f32>().unwrap();
        assert_eq!(v[0], [0., 1.]);
        assert_eq!(v[1], [100., 101.]);
        assert_eq!(v[2], [200., 201.]);
        assert_eq!(v[3], [6., 7.]);
        assert_eq!(v[4], [300., 301.]);
        assert_eq!(v[5], [10., 11.]);
        let e = place_rows(&embeds, &ids[..3], 9, &rows, "image")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 image tokens") && e.contains("3 image embeddings"),
            "{e}"
        );
    }
}
