//! The Qwen3-VL vision tower: Conv3d patch embedding with bias, a learned square grid of position
//! embeddings bilinearly resampled to each image's patch grid, 2-D rotary attention blocks with
//! tanh-GELU MLPs (`linear_fc1`/`linear_fc2`), the final patch merger, and the deepstack mergers
//! that tap the hidden states after selected blocks.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use crate::model::kernels::{Dense, dense};

use super::config::Qwen3VisionConfig;
use crate::model::rope::{inv_freq, vision_patch_positions};
use crate::model::vision::{PatchEmbed, VisionAttention, VisionRope, layer_norm};

struct Block {
    norm1: LayerNorm,
    norm2: LayerNorm,
    attn: VisionAttention,
    fc1: Dense,
    fc2: Dense,
}

impl Block {
    fn load(cfg: &Qwen3VisionConfig, vb: &VarBuilder) -> candle_core::Result<Self> {
        let e = cfg.hidden_size;
        let mlp = vb.pp("mlp");
        Ok(Self {
            norm1: layer_norm(e, vb.pp("norm1"))?,
            norm2: layer_norm(e, vb.pp("norm2"))?,
            attn: VisionAttention::load(&vb.pp("attn"), e, cfg.num_heads)?,
            fc1: dense(e, cfg.intermediate_size, &mlp.pp("linear_fc1"))?,
            fc2: dense(cfg.intermediate_size, e, &mlp.pp("linear_fc2"))?,
        })
    }

    fn forward(&self, x: &Tensor, rope: &VisionRope) -> candle_core::Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm1.forward(x)?, rope)?)?;
        // gelu_pytorch_tanh (in f32: candle's `gelu`, the tanh approximation).
        let h = crate::model::kernels::activation::gelu_tanh(
            &self.fc1.forward(&self.norm2.forward(&x)?)?,
        )?;
        x + self.fc2.forward(&h)?
    }
}

/// Folds each merge×merge block of patches into one text-width token. The final merger
/// normalises every patch before concatenating the block; the deepstack mergers normalise the
/// concatenation ("postshuffle").
struct Merger {
    norm: LayerNorm,
    fc1: Dense,
    fc2: Dense,
    merged: usize,
    postshuffle: bool,
}

impl Merger {
    fn load(
        cfg: &Qwen3VisionConfig,
        vb: &VarBuilder,
        postshuffle: bool,
    ) -> candle_core::Result<Self> {
        let merged = cfg.hidden_size * cfg.spatial_merge_size * cfg.spatial_merge_size;
        let norm_dim = if postshuffle { merged } else { cfg.hidden_size };
        Ok(Self {
            norm: layer_norm(norm_dim, vb.pp("norm"))?,
            fc1: dense(merged, merged, &vb.pp("linear_fc1"))?,
            fc2: dense(merged, cfg.out_hidden_size, &vb.pp("linear_fc2"))?,
            merged,
            postshuffle,
        })
    }

    /// `[patches, hidden]` → `[patches / merge², out_hidden]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let n = x.elem_count() / self.merged;
        let x = if self.postshuffle {
            self.norm.forward(&x.reshape((n, self.merged))?)?
        } else {
            self.norm.forward(x)?.reshape((n, self.merged))?
        };
        // nn.GELU(): the exact (erf) form.
        self.fc2.forward(&self.fc1.forward(&x)?.gelu_erf()?)
    }
}

/// For each patch (processed order), the four rows of the learned position grid it blends and
/// their weights: `fast_pos_embed_interpolate` of transformers 5.23 (bilinear, align_corners),
/// computed in f32 as the reference does.
pub fn position_taps(grids: &[[usize; 3]], side: usize, merge: usize) -> (Vec<u32>, Vec<f32>) {
    let mut idx = Vec::new();
    let mut weights = Vec::new();
    // Per-axis taps: source coordinate idx·(side−1)/(size−1), the two grid rows around it
    // (clamped to the grid) and the hat-kernel weights 1 − |distance|.
    let axis = |i: usize, size: usize| -> [(usize, f32); 2] {
        let src = (i as f32 * (side - 1) as f32) / (size.saturating_sub(1).max(1)) as f32;
        let floor = src.floor();
        let frac = src - floor;
        let base = floor as usize;
        [0usize, 1].map(|o| {
            let tap = (base + o).min(side - 1);
            let w = (1.0 - (frac - o as f32).abs()).max(0.0);
            (tap, w)
        })
    };
    for g in grids {
        let (h, w) = (g[1], g[2]);
        for _ in 0..g[0] {
            for (row, col) in vision_patch_positions([1, h, w], merge) {
                let hy = axis(row, h);
                let wx = axis(col, w);
                for (ht, hw) in hy {
                    for (wt, ww) in wx {
                        idx.push((ht * side + wt) as u32);
                        weights.push(hw * ww);
                    }
                }
            }
        }
    }
    (idx, weights)
}

pub struct VisionTower {
    patch_embed: PatchEmbed,
    pos_embed: Tensor,
    side: usize,
    blocks: Vec<Block>,
    merger: Merger,
    /// (block index, merger) in `deepstack_visual_indexes` order.
    deepstack: Vec<(usize, Merger)>,
    inv_freq: Vec<f32>,
    merge: usize,
}

/// What the tower returns: the image tokens and one deepstack feature per deepstack layer, all
/// `[patches / merge², out_hidden]`.
pub struct VisionOutput {
    pub embeds: Tensor,
    pub deepstack: Vec<Tensor>,
}

impl VisionTower {
    pub fn load(cfg: &Qwen3VisionConfig, vb: &VarBuilder) -> candle_core::Result<Self> {
        let patch_embed = PatchEmbed::load(
            &vb.pp("patch_embed").pp("proj"),
            cfg.hidden_size,
            cfg.in_channels,
            cfg.temporal_patch_size,
            cfg.patch_size,
            true,
        )?;
        let pos_embed = vb.get(
            (cfg.num_position_embeddings, cfg.hidden_size),
            "pos_embed.weight",
        )?;
        let blocks = (0..cfg.depth)
            .map(|i| Block::load(cfg, &vb.pp("blocks").pp(i)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let merger = Merger::load(cfg, &vb.pp("merger"), false)?;
        let deepstack = cfg
            .deepstack_visual_indexes
            .iter()
            .enumerate()
            .map(|(k, &layer)| {
                Ok((
                    layer,
                    Merger::load(cfg, &vb.pp("deepstack_merger_list").pp(k), true)?,
                ))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            patch_embed,
            pos_embed,
            side: cfg.grid_side(),
            blocks,
            merger,
            deepstack,
            inv_freq: inv_freq(cfg.hidden_size / cfg.num_heads / 2, cfg.rope_theta),
            merge: cfg.spatial_merge_size,
        })
    }

    pub fn patch_dim(&self) -> usize {
        self.patch_embed.patch_dim()
    }

    /// The learned position embeddings resampled to `grids` (`[patches, hidden]`, f32 math).
    pub fn position_embeddings(
        &self,
        grids: &[[usize; 3]],
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let (idx, weights) = position_taps(grids, self.side, self.merge);
        let n = idx.len() / 4;
        let hidden = self.pos_embed.dim(1)?;
        let rows = self
            .pos_embed
            .to_dtype(DType::F32)?
            .index_select(&Tensor::from_vec(idx, n * 4, device)?, 0)?
            .reshape((n, 4, hidden))?;
        let w = Tensor::from_vec(weights, (n, 4, 1), device)?;
        rows.broadcast_mul(&w)?.sum(1)
    }

    /// `pixels`: `[patches, patch_dim]` for all images in order.
    pub fn forward(
        &self,
        pixels: &Tensor,
        grids: &[[usize; 3]],
    ) -> candle_core::Result<VisionOutput> {
        let device = pixels.device();
        let x = self.patch_embed.forward(pixels)?;
        let pos = self
            .position_embeddings(grids, device)?
            .to_dtype(x.dtype())?;
        let mut x = (x + pos)?;
        let rope = VisionRope::new(grids, self.merge, &self.inv_freq, device)?;
        let mut deepstack = Vec::with_capacity(self.deepstack.len());
        for (i, b) in self.blocks.iter().enumerate() {
            x = b.forward(&x, &rope)?;
            for (layer, merger) in &self.deepstack {
                if *layer == i {
                    deepstack.push(merger.forward(&x)?);
                }
            }
        }
        Ok(VisionOutput {
            embeds: self.merger.forward(&x)?,
            deepstack,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_taps_hit_the_grid_corners_and_sum_to_one() {
        // An 8×8 grid resampled to 4×6 patches: corners map exactly onto the grid corners.
        let (idx, w) = position_taps(&[[1, 4, 6]], 8, 2);
        assert_eq!(idx.len(), 24 * 4);
        for p in 0..24 {
            let total: f32 = w[p * 4..p * 4 + 4].iter().sum();
            assert!((total - 1.0).abs() < 1e-6, "patch {p}: {total}");
        }
        // Patch 0 is (0, 0): all weight on grid cell 0.
        assert_eq!(idx[0], 0);
        assert!((w[0] - 1.0).abs() < 1e-6);
        // The last patch in merge order is (3, 5), the bottom-right corner: cell 63.
        let last = 23 * 4;
        let (best, _) = w[last..last + 4]
            .iter()
            .enumerate()
            .fold(
                (0, 0f32),
                |acc, (i, &x)| if x > acc.1 { (i, x) } else { acc },
            );
        assert_eq!(idx[last + best], 63);
    }
}
