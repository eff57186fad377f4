//! The Qwen2 text decoder: RMSNorm, grouped-query attention with biased q/k/v projections and a
//! KV cache, SwiGLU MLP, tied or untied LM head.

use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, Linear, RmsNorm, VarBuilder};

use crate::model::config::TextConfig;

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

struct Layer {
    attn: Attention,
    gate: Linear,
    up: Linear,
    down: Linear,
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
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
}

impl TextModel {
    /// `vb` points at the decoder (`model` or `model.language_model`); `lm_head` is the LM head
    /// weight when untied.
    pub fn load(
        cfg: &TextConfig,
        vb: &VarBuilder,
        lm_head: Option<Tensor>,
    ) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let kv = cfg.num_kv_heads * cfg.head_dim;
        let embed = candle_nn::embedding(cfg.vocab_size, h, vb.pp("embed_tokens"))?;
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let lv = vb.pp("layers").pp(i);
            let av = lv.pp("self_attn");
            let mv = lv.pp("mlp");
            layers.push(Layer {
                attn: Attention {
                    q: candle_nn::linear(h, cfg.num_heads * cfg.head_dim, av.pp("q_proj"))?,
                    k: candle_nn::linear(h, kv, av.pp("k_proj"))?,
                    v: candle_nn::linear(h, kv, av.pp("v_proj"))?,
                    o: candle_nn::linear_no_bias(cfg.num_heads * cfg.head_dim, h, av.pp("o_proj"))?,
                    heads: cfg.num_heads,
                    kv_heads: cfg.num_kv_heads,
                    head_dim: cfg.head_dim,
                },
                gate: candle_nn::linear_no_bias(h, cfg.intermediate_size, mv.pp("gate_proj"))?,
                up: candle_nn::linear_no_bias(h, cfg.intermediate_size, mv.pp("up_proj"))?,
                down: candle_nn::linear_no_bias(cfg.intermediate_size, h, mv.pp("down_proj"))?,
                input_norm: candle_nn::rms_norm(h, cfg.rms_norm_eps, lv.pp("input_layernorm"))?,
                post_norm: candle_nn::rms_norm(
                    h,
                    cfg.rms_norm_eps,
                    lv.pp("post_attention_layernorm"),
                )?,
            });
        }
        let norm = candle_nn::rms_norm(h, cfg.rms_norm_eps, vb.pp("norm"))?;
        let head = lm_head.unwrap_or_else(|| embed.embeddings().clone());
        Ok(Self {
            embed,
            layers,
            norm,
            lm_head: Linear::new(head, None),
        })
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
