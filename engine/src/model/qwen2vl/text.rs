//! The Qwen2 text decoder: RMSNorm, grouped-query attention with biased q/k/v projections and a
//! KV cache, SwiGLU MLP, tied or untied LM head. The projections, the token table and the LM head
//! run on quantised weights where the checkpoint has them ([`crate::model::quant`]).

use candle_core::{DType, Module, Tensor};
use candle_nn::{RmsNorm, VarBuilder};

use crate::model::config::TextConfig;
use crate::model::quant::{
    QuantizedWeights, TextEmbedding, TextLinear, text_embedding, text_linear,
};

struct Attention {
    q: TextLinear,
    k: TextLinear,
    v: TextLinear,
    o: TextLinear,
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
        mask: Option<&Tensor>,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let shape = |t: Tensor, heads: usize| -> candle_core::Result<Tensor> {
            t.reshape((b, l, heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = shape(self.q.forward(x)?, self.heads)?;
        let k = shape(self.k.forward(x)?, self.kv_heads)?;
        let v = shape(self.v.forward(x)?, self.kv_heads)?;
        let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        let (k, v) = match cache.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *cache = Some((k.clone(), v.clone()));
        let rep = self.heads / self.kv_heads;
        let repeat = |t: &Tensor| -> candle_core::Result<Tensor> {
            if rep == 1 {
                return Ok(t.clone());
            }
            let (b, kv, s, d) = t.dims4()?;
            t.unsqueeze(2)?
                .expand((b, kv, rep, s, d))?
                .reshape((b, kv * rep, s, d))
        };
        let k = repeat(&k)?;
        let v = repeat(&v)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        // Softmax in f32 as the reference does, whatever the compute dtype.
        let y = super::attention::attention(&q, &k.contiguous()?, &v.contiguous()?, mask, scale)?;
        let y = y
            .transpose(1, 2)?
            .reshape((b, l, self.heads * self.head_dim))?;
        self.o.forward(&y)
    }
}

pub struct TextModel {
    embed: TextEmbedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: TextLinear,
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
        let q = quant;
        let embed = text_embedding(cfg.vocab_size, h, &vb.pp("embed_tokens"), q)?;
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let lv = vb.pp("layers").pp(i);
            let av = lv.pp("self_attn");
            let mv = lv.pp("mlp");
            layers.push(Layer {
                attn: Attention {
                    q: text_linear(h, cfg.num_heads * cfg.head_dim, true, &av.pp("q_proj"), q)?,
                    k: text_linear(h, kv, true, &av.pp("k_proj"), q)?,
                    v: text_linear(h, kv, true, &av.pp("v_proj"), q)?,
                    o: text_linear(cfg.num_heads * cfg.head_dim, h, false, &av.pp("o_proj"), q)?,
                    heads: cfg.num_heads,
                    kv_heads: cfg.num_kv_heads,
                    head_dim: cfg.head_dim,
                },
                gate: text_linear(h, cfg.intermediate_size, false, &mv.pp("gate_proj"), q)?,
                up: text_linear(h, cfg.intermediate_size, false, &mv.pp("up_proj"), q)?,
                down: text_linear(cfg.intermediate_size, h, false, &mv.pp("down_proj"), q)?,
                input_norm: candle_nn::rms_norm(h, cfg.rms_norm_eps, lv.pp("input_layernorm"))?,
                post_norm: candle_nn::rms_norm(
                    h,
                    cfg.rms_norm_eps,
                    lv.pp("post_attention_layernorm"),
                )?,
            });
        }
        let norm = candle_nn::rms_norm(h, cfg.rms_norm_eps, vb.pp("norm"))?;
        let lm_head = match lm_head {
            Some(head) => head,
            None => embed.tied_head()?,
        };
        Ok(Self {
            embed,
            layers,
            norm,
            lm_head,
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

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.layers.len()],
        }
    }

    pub fn embed(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        self.embed.forward(ids)
    }

    /// Runs `embeds` (`[1, L, hidden]`) through the decoder after the cached tokens; returns the
    /// logits of the last position as f32 `[vocab]`.
    pub fn forward(
        &self,
        embeds: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut KvCache,
    ) -> candle_core::Result<Tensor> {
        let (_, l, _) = embeds.dims3()?;
        let past = cache.len();
        let mask = if l > 1 {
            // Causal: position i sees the cache and new positions up to i.
            let total = past + l;
            let m: Vec<f32> = (0..l)
                .flat_map(|i| {
                    (0..total).map(move |j| {
                        if j <= past + i {
                            0.0
                        } else {
                            f32::NEG_INFINITY
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(m, (l, total), embeds.device())?.to_dtype(embeds.dtype())?)
        } else {
            None
        };
        let mut x = embeds.clone();
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let h = layer.input_norm.forward(&x)?;
            let h = layer.attn.forward(&h, cos, sin, mask.as_ref(), slot)?;
            x = (x + h)?;
            let h = layer.post_norm.forward(&x)?;
            let h = layer
                .down
                .forward(&(layer.gate.forward(&h)?.silu()? * layer.up.forward(&h)?)?)?;
            x = (x + h)?;
        }
        let last = x.narrow(1, l - 1, 1)?;
        let last = self.norm.forward(&last)?;
        self.lm_head
            .forward(&last)?
            .flatten_all()?
            .to_dtype(DType::F32)
    }
}
