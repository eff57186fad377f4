//! Pieces the Qwen2-VL and Qwen3-VL vision towers share: the patch embedding (a Conv3d whose
//! stride equals its kernel is one matrix product over flattened patches), the 2-D rotary tables
//! of every patch with the per-image attention spans, and the fused-QKV attention restricted to
//! each image.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, LayerNormConfig, VarBuilder};

use super::kernels::{Dense, dense};

use super::ModelError;
use super::preprocess::ProcessedImage;
use super::rope::{vision_patch_positions, vision_tables};

/// The 3-D rotary positions of a prompt with `images` in it (see
/// [`super::rope::rope_positions`]) and the position decoding continues from.
pub fn prompt_positions(
    ids: &[u32],
    images: &[ProcessedImage],
    image_token_id: u32,
    merge: usize,
) -> Result<(Vec<[i64; 3]>, i64), ModelError> {
    let grids: Vec<[usize; 3]> = images.iter().map(|i| i.grid_thw).collect();
    super::rope::rope_positions(ids, image_token_id, &grids, merge).map_err(ModelError::Prompt)
}

/// The pixel values of `images` as one `[patches, patch_dim]` tensor, and their grids in order;
/// refuses patches of another size than the tower's.
pub fn pixel_tensor(
    images: &[ProcessedImage],
    patch_dim: usize,
    device: &Device,
) -> Result<(Tensor, Vec<[usize; 3]>), ModelError> {
    let mut data = Vec::new();
    let mut grids = Vec::new();
    for img in images {
        if img.patch_dim != patch_dim {
            return Err(ModelError::Image(format!(
                "patches of {} values do not fit the vision tower's {patch_dim}",
                img.patch_dim
            )));
        }
        data.extend_from_slice(&img.pixel_values);
        grids.push(img.grid_thw);
    }
    let n = data.len() / patch_dim;
    Ok((Tensor::from_vec(data, (n, patch_dim), device)?, grids))
}

/// LayerNorm epsilon of both towers' blocks and mergers.
pub const VISION_LN_EPS: f64 = 1e-6;

pub fn layer_norm(dim: usize, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(
        dim,
        LayerNormConfig {
            eps: VISION_LN_EPS,
            ..LayerNormConfig::default()
        },
        vb,
    )
}

/// The Conv3d patch embedding as a linear layer over flattened patches (plus the bias Qwen3-VL
/// has).
pub struct PatchEmbed {
    proj: Dense,
    dtype: DType,
    patch_dim: usize,
}

impl PatchEmbed {
    /// `vb` points at `patch_embed.proj`; the kernel is `[embed, channels, temporal, patch,
    /// patch]`.
    pub fn load(
        vb: &VarBuilder,
        embed: usize,
        channels: usize,
        temporal: usize,
        patch: usize,
        bias: bool,
    ) -> candle_core::Result<Self> {
        let patch_dim = channels * temporal * patch * patch;
        let w = vb.get((embed, channels, temporal, patch, patch), "weight")?;
        let dtype = w.dtype();
        let weight = w.reshape((embed, patch_dim))?;
        let bias = if bias {
            Some(vb.get(embed, "bias")?)
        } else {
            None
        };
        Ok(Self {
            proj: Dense::new(weight, bias)?,
            dtype,
            patch_dim,
        })
    }

    pub fn patch_dim(&self) -> usize {
        self.patch_dim
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// `[patches, patch_dim]` → `[patches, embed]`.
    pub fn forward(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        self.proj.forward(&pixels.to_dtype(self.dtype)?)
    }
}

/// Rotary tables for every patch of `grids` (in processed order) and each frame's
/// (start, length) span: attention never crosses from one image (or frame) to another.
pub struct VisionRope {
    pub cos: Tensor,
    pub sin: Tensor,
    pub spans: Vec<(usize, usize)>,
}

impl VisionRope {
    pub fn new(
        grids: &[[usize; 3]],
        merge: usize,
        inv_freq: &[f32],
        device: &Device,
    ) -> candle_core::Result<Self> {
        let mut positions = Vec::new();
        let mut spans = Vec::new();
        for g in grids {
            let frame = g[1] * g[2];
            for _ in 0..g[0] {
                spans.push((positions.len(), frame));
                positions.extend(vision_patch_positions([1, g[1], g[2]], merge));
            }
        }
        let half = 2 * inv_freq.len();
        let (cos, sin) = vision_tables(&positions, inv_freq);
        let n = positions.len();
        Ok(Self {
            cos: Tensor::from_vec(cos, (n, half), device)?,
            sin: Tensor::from_vec(sin, (n, half), device)?,
            spans,
        })
    }
}

/// Multi-head self-attention with a fused `qkv` projection and 2-D rotary embedding.
pub struct VisionAttention {
    qkv: Dense,
    proj: Dense,
    heads: usize,
    head_dim: usize,
}

impl VisionAttention {
    /// `vb` points at the block's `attn`.
    pub fn load(vb: &VarBuilder, dim: usize, heads: usize) -> candle_core::Result<Self> {
        Ok(Self {
            qkv: dense(dim, 3 * dim, &vb.pp("qkv"))?,
            proj: dense(dim, dim, &vb.pp("proj"))?,
            heads,
            head_dim: dim / heads,
        })
    }

    /// `x`: `[patches, dim]` (already normalised).
    pub fn forward(&self, x: &Tensor, rope: &VisionRope) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((n, 3, self.heads, self.head_dim))?
            .permute((1, 2, 0, 3))?; // [3, heads, n, hd]
        let q = qkv.get(0)?.unsqueeze(0)?.contiguous()?;
        let k = qkv.get(1)?.unsqueeze(0)?.contiguous()?;
        let v = qkv.get(2)?.unsqueeze(0)?.contiguous()?;
        // The reference applies the vision rotary in f32.
        let dtype = q.dtype();
        let q = candle_nn::rotary_emb::rope(&q.to_dtype(DType::F32)?, &rope.cos, &rope.sin)?
            .to_dtype(dtype)?;
        let k = candle_nn::rotary_emb::rope(&k.to_dtype(DType::F32)?, &rope.cos, &rope.sin)?
            .to_dtype(dtype)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut outs = Vec::with_capacity(rope.spans.len());
        for &(start, len) in &rope.spans {
            let qi = q.narrow(2, start, len)?;
            let ki = k.narrow(2, start, len)?;
            let vi = v.narrow(2, start, len)?;
            outs.push(super::attention::attention(&qi, &ki, &vi, None, scale)?);
        }
        let o = Tensor::cat(&outs, 2)?
            .squeeze(0)?
            .transpose(0, 1)?
            .reshape((n, self.heads * self.head_dim))?;
        self.proj.forward(&o)
    }
}
