//! The Qwen2-VL vision tower: patch embedding (the Conv3d with stride = kernel is a matmul over
//! flattened patches), 2-D rotary attention blocks restricted to each image, and the patch merger
//! that folds each 2×2 block of patches into one text-width token.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, LayerNormConfig, Linear, VarBuilder};

use super::rope::{inv_freq, vision_patch_positions, vision_tables};
use crate::model::config::VisionConfig;

const LN_EPS: f64 = 1e-6;

fn layer_norm(dim: usize, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(
        dim,
        LayerNormConfig {
            eps: LN_EPS,
            ..LayerNormConfig::default()
        },
        vb,
    )
}

struct Block {
    norm1: LayerNorm,
    norm2: LayerNorm,
    qkv: Linear,
    proj: Linear,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
    head_dim: usize,
}

impl Block {
    fn load(cfg: &VisionConfig, vb: &VarBuilder) -> candle_core::Result<Self> {
        let e = cfg.embed_dim;
        Ok(Self {
            norm1: layer_norm(e, vb.pp("norm1"))?,
            norm2: layer_norm(e, vb.pp("norm2"))?,
            qkv: candle_nn::linear(e, 3 * e, vb.pp("attn").pp("qkv"))?,
            proj: candle_nn::linear(e, e, vb.pp("attn").pp("proj"))?,
            fc1: candle_nn::linear(e, cfg.mlp_hidden, vb.pp("mlp").pp("fc1"))?,
            fc2: candle_nn::linear(cfg.mlp_hidden, e, vb.pp("mlp").pp("fc2"))?,
            heads: cfg.num_heads,
            head_dim: e / cfg.num_heads,
        })
    }

    /// `x`: `[patches, embed]`; `spans`: (start, length) of each image's patches.
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        spans: &[(usize, usize)],
    ) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let h = self.norm1.forward(x)?;
        let qkv = self
            .qkv
            .forward(&h)?
            .reshape((n, 3, self.heads, self.head_dim))?
            .permute((1, 2, 0, 3))?; // [3, heads, n, hd]
        let q = qkv.get(0)?.unsqueeze(0)?.contiguous()?;
        let k = qkv.get(1)?.unsqueeze(0)?.contiguous()?;
        let v = qkv.get(2)?.unsqueeze(0)?.contiguous()?;
        // The reference applies the vision rotary in f32.
        let dtype = q.dtype();
        let q = candle_nn::rotary_emb::rope(&q.to_dtype(DType::F32)?, cos, sin)?.to_dtype(dtype)?;
        let k = candle_nn::rotary_emb::rope(&k.to_dtype(DType::F32)?, cos, sin)?.to_dtype(dtype)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut outs = Vec::with_capacity(spans.len());
        for &(start, len) in spans {
            let qi = q.narrow(2, start, len)?;
            let ki = k.narrow(2, start, len)?;
            let vi = v.narrow(2, start, len)?;
            outs.push(super::attention::attention(
                &qi,
                &ki.contiguous()?,
                &vi.contiguous()?,
                None,
                scale,
            )?);
        }
        let o = Tensor::cat(&outs, 2)?
            .squeeze(0)?
            .transpose(0, 1)?
            .reshape((n, self.heads * self.head_dim))?;
        let x = (x + self.proj.forward(&o)?)?;
        let h = self.fc1.forward(&self.norm2.forward(&x)?)?;
        // quick_gelu: x * sigmoid(1.702 x)
        let h = (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?;
        x + self.fc2.forward(&h)?
    }
}

pub struct VisionTower {
    patch_embed: Tensor,
    blocks: Vec<Block>,
    ln_q: LayerNorm,
    merger_fc1: Linear,
    merger_fc2: Linear,
    inv_freq: Vec<f32>,
    merge: usize,
    embed_dim: usize,
    patch_dim: usize,
    device: Device,
}

impl VisionTower {
    pub fn load(cfg: &VisionConfig, vb: &VarBuilder) -> candle_core::Result<Self> {
        let patch_dim = cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size * cfg.patch_size;
        let w = vb.get(
            (
                cfg.embed_dim,
                cfg.in_channels,
                cfg.temporal_patch_size,
                cfg.patch_size,
                cfg.patch_size,
            ),
            "patch_embed.proj.weight",
        )?;
        let patch_embed = w.reshape((cfg.embed_dim, patch_dim))?.t()?.contiguous()?;
        let blocks = (0..cfg.depth)
            .map(|i| Block::load(cfg, &vb.pp("blocks").pp(i)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let merged = cfg.embed_dim * cfg.spatial_merge_size * cfg.spatial_merge_size;
        let mvb = vb.pp("merger");
        Ok(Self {
            patch_embed,
            blocks,
            ln_q: layer_norm(cfg.embed_dim, mvb.pp("ln_q"))?,
            merger_fc1: candle_nn::linear(merged, merged, mvb.pp("mlp").pp("0"))?,
            merger_fc2: candle_nn::linear(merged, cfg.out_hidden_size, mvb.pp("mlp").pp("2"))?,
            inv_freq: inv_freq(cfg.embed_dim / cfg.num_heads / 2, cfg.rope_theta),
            merge: cfg.spatial_merge_size,
            embed_dim: cfg.embed_dim,
            patch_dim,
            device: vb.device().clone(),
        })
    }

    pub fn patch_dim(&self) -> usize {
        self.patch_dim
    }

    /// `pixels`: `[patches, patch_dim]` for all images in order; returns `[patches / merge², hidden]`.
    pub fn forward(&self, pixels: &Tensor, grids: &[[usize; 3]]) -> candle_core::Result<Tensor> {
        let dtype = self.patch_embed.dtype();
        let mut x = pixels.to_dtype(dtype)?.matmul(&self.patch_embed)?;
        let mut positions = Vec::new();
        let mut spans = Vec::new();
        for g in grids {
            let frame = g[1] * g[2];
            for _ in 0..g[0] {
                spans.push((positions.len(), frame));
                positions.extend(vision_patch_positions([1, g[1], g[2]], self.merge));
            }
        }
        let half = 2 * self.inv_freq.len();
        let (cos, sin) = vision_tables(&positions, &self.inv_freq);
        let n = positions.len();
        let cos = Tensor::from_vec(cos, (n, half), &self.device)?;
        let sin = Tensor::from_vec(sin, (n, half), &self.device)?;
        for b in &self.blocks {
            x = b.forward(&x, &cos, &sin, &spans)?;
        }
        let x = self.ln_q.forward(&x)?;
        let x = x.reshape((
            n / (self.merge * self.merge),
            self.embed_dim * self.merge * self.merge,
        ))?;
        let x = self.merger_fc1.forward(&x)?.gelu_erf()?;
        self.merger_fc2.forward(&x)
    }
}
