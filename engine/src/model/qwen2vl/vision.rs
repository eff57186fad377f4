//! The Qwen2-VL vision tower: patch embedding, 2-D rotary attention blocks restricted to each
//! image (shared with Qwen3-VL, [`crate::model::vision`]), quick-GELU MLPs, and the patch merger
//! that folds each 2×2 block of patches into one text-width token.

use candle_core::{Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use crate::model::kernels::{Dense, dense};

use crate::model::config::VisionConfig;
use crate::model::rope::inv_freq;
use crate::model::vision::{PatchEmbed, VisionAttention, VisionRope, layer_norm};

struct Block {
    norm1: LayerNorm,
    norm2: LayerNorm,
    attn: VisionAttention,
    fc1: Dense,
    fc2: Dense,
}

impl Block {
    fn load(cfg: &VisionConfig, vb: &VarBuilder) -> candle_core::Result<Self> {
        let e = cfg.embed_dim;
        Ok(Self {
            norm1: layer_norm(e, vb.pp("norm1"))?,
            norm2: layer_norm(e, vb.pp("norm2"))?,
            attn: VisionAttention::load(&vb.pp("attn"), e, cfg.num_heads)?,
            fc1: dense(e, cfg.mlp_hidden, &vb.pp("mlp").pp("fc1"))?,
            fc2: dense(cfg.mlp_hidden, e, &vb.pp("mlp").pp("fc2"))?,
        })
    }

    /// `x`: `[patches, embed]`.
    fn forward(&self, x: &Tensor, rope: &VisionRope) -> candle_core::Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm1.forward(x)?, rope)?)?;
        let h = self.fc1.forward(&self.norm2.forward(&x)?)?;
        // quick_gelu: x * sigmoid(1.702 x)
        let h = (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?;
        x + self.fc2.forward(&h)?
    }
}

pub struct VisionTower {
    patch_embed: PatchEmbed,
    blocks: Vec<Block>,
    ln_q: LayerNorm,
    merger_fc1: Dense,
    merger_fc2: Dense,
    inv_freq: Vec<f32>,
    merge: usize,
    embed_dim: usize,
}

impl VisionTower {
    pub fn load(cfg: &VisionConfig, vb: &VarBuilder) -> candle_core::Result<Self> {
        let patch_embed = PatchEmbed::load(
            &vb.pp("patch_embed").pp("proj"),
            cfg.embed_dim,
            cfg.in_channels,
            cfg.temporal_patch_size,
            cfg.patch_size,
            false,
        )?;
        let blocks = (0..cfg.depth)
            .map(|i| Block::load(cfg, &vb.pp("blocks").pp(i)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let merged = cfg.embed_dim * cfg.spatial_merge_size * cfg.spatial_merge_size;
        let mvb = vb.pp("merger");
        Ok(Self {
            patch_embed,
            blocks,
            ln_q: layer_norm(cfg.embed_dim, mvb.pp("ln_q"))?,
            merger_fc1: dense(merged, merged, &mvb.pp("mlp").pp("0"))?,
            merger_fc2: dense(merged, cfg.out_hidden_size, &mvb.pp("mlp").pp("2"))?,
            inv_freq: inv_freq(cfg.embed_dim / cfg.num_heads / 2, cfg.rope_theta),
            merge: cfg.spatial_merge_size,
            embed_dim: cfg.embed_dim,
        })
    }

    pub fn patch_dim(&self) -> usize {
        self.patch_embed.patch_dim()
    }

    /// `pixels`: `[patches, patch_dim]` for all images in order; returns `[patches / merge², hidden]`.
    pub fn forward(&self, pixels: &Tensor, grids: &[[usize; 3]]) -> candle_core::Result<Tensor> {
        let mut x = self.patch_embed.forward(pixels)?;
        let rope = VisionRope::new(grids, self.merge, &self.inv_freq, pixels.device())?;
        for b in &self.blocks {
            x = b.forward(&x, &rope)?;
        }
        let n = x.dim(0)?;
        let x = self.ln_q.forward(&x)?;
        let x = x.reshape((
            n / (self.merge * self.merge),
            self.embed_dim * self.merge * self.merge,
        ))?;
        let x = self.merger_fc1.forward(&x)?.gelu_erf()?;
        self.merger_fc2.forward(&x)
    }
}
