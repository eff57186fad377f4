//! ECG-R1's signal path: the ECG-CoCa time-series tower and its `mlp2x_gelu` projector.
//!
//! Tower (ECG-CoCa `EcgTransformer`): `[B, leads, samples]` in mV → `Conv1d(leads → W,
//! kernel = stride = patch, no bias)` → class token + learned positions → `ln_pre` → pre-LN
//! residual blocks (fused-QKV multi-head attention with heads = W / 64, MLP with exact GELU,
//! LayerNorm eps 1e-5) → every token, taken *before* `ln_post`/`proj` (those two are in the
//! checkpoint and are ignored, as ECG-R1 ignores them). Projector: `Linear → GELU → Linear …`
//! (`mlp{N}x_gelu`, N = 2 in ECG-R1-8B).
//!
//! No size is a constant: width, leads and patch come from `conv1.weight`, the token count from
//! `positional_embedding`, the depth from the `transformer.resblocks.N` present, the MLP width from
//! `c_fc`, the projector's sizes from its weights. Every tensor is checked against those sizes, and
//! a mismatch names the tensor and both shapes.

use candle_core::{Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use super::kernels::Dense;

use crate::record::ModelSignal;

/// Where the tower's tensors live in an ECG-R1 checkpoint.
pub const TOWER_PREFIX: &str = "model.ecg_tower";
/// Where the projector's tensors live in an ECG-R1 checkpoint.
pub const PROJECTOR_PREFIX: &str = "model.ecg_projector";
/// ECG-CoCa's attention head width (`CLIPEcgCfg.head_width`): heads = width / 64.
pub const HEAD_WIDTH: usize = 64;
/// `nn.LayerNorm`'s default epsilon, which ECG-CoCa uses everywhere.
pub const LAYER_NORM_EPS: f64 = 1e-5;
/// Attention is quadratic in the token count; a checkpoint asking for more than this is refused
/// before anything is allocated for it (ECG-R1 uses 101).
pub const MAX_TOKENS: usize = 4096;
/// How many block indices past the last contiguous one are probed for a stray block, so a gap
/// (`resblocks.0`, `resblocks.2`, no `resblocks.1`) is an error instead of a silently shorter tower.
/// A `VarBuilder` cannot list its tensors, so the probe is bounded.
const GAP_PROBE: usize = 64;

/// The tensors of one residual block, relative to `transformer.resblocks.N`.
const BLOCK_TENSORS: [&str; 12] = [
    "ln_1.weight",
    "ln_1.bias",
    "attn.in_proj_weight",
    "attn.in_proj_bias",
    "attn.out_proj.weight",
    "attn.out_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
];

#[derive(Debug, thiserror::Error)]
pub enum EcgTowerError {
    #[error("missing tensor `{name}` in the checkpoint")]
    MissingTensor { name: String },
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error(
        "ECG tower width {width} (from `{name}`) is not a multiple of ECG-CoCa's head width {HEAD_WIDTH}"
    )]
    HeadWidth { name: String, width: usize },
    #[error("invalid ECG tower checkpoint: {0}")]
    Checkpoint(String),
    #[error(
        "ECG signal has shape {found:?}; this tower expects [batch, {leads}, {samples}] \
         ({leads} leads × patch {patch} × {patches} patches)"
    )]
    SignalShape {
        found: Vec<usize>,
        leads: usize,
        samples: usize,
        patch: usize,
        patches: usize,
    },
    #[error("ModelSignal holds {len} values, not {leads} leads × {samples} samples")]
    SignalData {
        len: usize,
        leads: usize,
        samples: usize,
    },
    #[error("config.json disagrees with the checkpoint: {0}")]
    Config(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

type Result<T> = std::result::Result<T, EcgTowerError>;

/// The full name a tensor has in the checkpoint, for error messages.
fn full_name(vb: &VarBuilder, name: &str) -> String {
    let prefix = vb.prefix();
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Loads a tensor whose shape is still to be discovered.
fn load(vb: &VarBuilder, name: &str) -> Result<Tensor> {
    if !vb.contains_tensor(name) {
        return Err(EcgTowerError::MissingTensor {
            name: full_name(vb, name),
        });
    }
    Ok(vb.get_unchecked(name)?)
}

/// Loads a tensor and checks its shape.
fn load_shaped(vb: &VarBuilder, name: &str, expected: &[usize]) -> Result<Tensor> {
    let t = load(vb, name)?;
    if t.dims() != expected {
        return Err(EcgTowerError::Shape {
            name: full_name(vb, name),
            expected: expected.to_vec(),
            found: t.dims().to_vec(),
        });
    }
    Ok(t)
}

/// Loads a tensor that must have `rank` dimensions, returning it and its dimensions.
fn load_rank(vb: &VarBuilder, name: &str, rank: usize) -> Result<(Tensor, Vec<usize>)> {
    let t = load(vb, name)?;
    let dims = t.dims().to_vec();
    if dims.len() != rank || dims.contains(&0) {
        return Err(EcgTowerError::Checkpoint(format!(
            "tensor `{}` has shape {dims:?}; expected {rank} non-zero dimensions",
            full_name(vb, name)
        )));
    }
    Ok((t, dims))
}

fn layer_norm(vb: &VarBuilder, name: &str, width: usize) -> Result<LayerNorm> {
    let vb = vb.pp(name);
    let weight = load_shaped(&vb, "weight", &[width])?;
    let bias = load_shaped(&vb, "bias", &[width])?;
    Ok(LayerNorm::new(weight, bias, LAYER_NORM_EPS))
}

fn linear(vb: &VarBuilder, name: &str, out_dim: usize, in_dim: usize) -> Result<Dense> {
    let vb = vb.pp(name);
    let weight = load_shaped(&vb, "weight", &[out_dim, in_dim])?;
    let bias = load_shaped(&vb, "bias", &[out_dim])?;
    Ok(Dense::new(weight, Some(bias))?)
}

/// Sizes of a tower, all read from its tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcgTowerConfig {
    /// Token width W (`conv1.weight` dim 0).
    pub width: usize,
    /// Input leads (`conv1.weight` dim 1).
    pub leads: usize,
    /// Samples per patch: the convolution's kernel and stride (`conv1.weight` dim 2).
    pub patch: usize,
    /// Output tokens: class token + patches (`positional_embedding` dim 0).
    pub tokens: usize,
    /// Residual blocks (`transformer.resblocks.N` present).
    pub depth: usize,
    /// Attention heads: width / 64.
    pub heads: usize,
    /// MLP hidden width (`c_fc.weight` dim 0).
    pub mlp_width: usize,
}

impl EcgTowerConfig {
    /// Samples per lead the tower takes: patch × (tokens − 1).
    pub fn samples(&self) -> usize {
        self.patch * (self.tokens - 1)
    }
}

/// One pre-LN residual block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
struct ResidualBlock {
    ln_1: LayerNorm,
    /// `nn.MultiheadAttention`'s fused projection: rows are Q, then K, then V.
    in_proj: Dense,
    out_proj: Dense,
    ln_2: LayerNorm,
    c_fc: Dense,
    c_proj: Dense,
    heads: usize,
    /// 1 / sqrt(head dim), applied to Q as PyTorch does.
    scale: f64,
}

impl ResidualBlock {
    fn load(vb: &VarBuilder, width: usize, heads: usize, mlp_width: usize) -> Result<Self> {
        let attn = vb.pp("attn");
        let in_proj = Dense::new(
            load_shaped(&attn, "in_proj_weight", &[3 * width, width])?,
            Some(load_shaped(&attn, "in_proj_bias", &[3 * width])?),
        )?;
        Ok(Self {
            ln_1: layer_norm(vb, "ln_1", width)?,
            in_proj,
            out_proj: linear(&attn, "out_proj", width, width)?,
            ln_2: layer_norm(vb, "ln_2", width)?,
            c_fc: linear(vb, "mlp.c_fc", mlp_width, width)?,
            c_proj: linear(vb, "mlp.c_proj", width, mlp_width)?,
            heads,
            scale: 1.0 / ((width / heads) as f64).sqrt(),
        })
    }

    fn attention(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, w) = x.dims3()?;
        let head_dim = w / self.heads;
        // [B, T, 3W] → [3, B, H, T, d]: one permute, then Q, K, V are plain slices.
        let qkv = self
            .in_proj
            .forward(x)?
            .reshape((b, t, 3, self.heads, head_dim))?
            .permute((2, 0, 3, 1, 4))?;
        let q = (qkv.get(0)?.contiguous()? * self.scale)?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, w))?;
        Ok(self.out_proj.forward(&out)?)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = (x + self.attention(&self.ln_1.forward(x)?)?)?;
        let h = self.c_fc.forward(&self.ln_2.forward(&x)?)?.gelu_erf()?;
        Ok((&x + self.c_proj.forward(&h)?)?)
    }
}

/// The ECG-CoCa time-series tower, up to (not including) `ln_post`.
pub struct EcgTower {
    config: EcgTowerConfig,
    /// `conv1.weight` flattened to `[W, leads × patch]`: with kernel = stride and no padding the
    /// convolution is one matrix product over non-overlapping patches.
    patch_embed: Tensor,
    /// `[1, 1, W]`.
    class_embedding: Tensor,
    /// `[1, tokens, W]`.
    positional_embedding: Tensor,
    ln_pre: LayerNorm,
    blocks: Vec<ResidualBlock>,
}

impl std::fmt::Debug for EcgTower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcgTower")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EcgTower {
    /// Builds the tower from a `VarBuilder` positioned at the tower's prefix (for an ECG-R1
    /// checkpoint, `root.pp(TOWER_PREFIX)`). Tensors load in the builder's dtype and device.
    pub fn from_varbuilder(vb: &VarBuilder) -> Result<Self> {
        let (conv, conv_dims) = load_rank(vb, "conv1.weight", 3)?;
        let (width, leads, patch) = (conv_dims[0], conv_dims[1], conv_dims[2]);
        if width % HEAD_WIDTH != 0 {
            return Err(EcgTowerError::HeadWidth {
                name: full_name(vb, "conv1.weight"),
                width,
            });
        }
        let heads = width / HEAD_WIDTH;
        let (positional, pos_dims) = load_rank(vb, "positional_embedding", 2)?;
        let tokens = pos_dims[0];
        if pos_dims[1] != width {
            return Err(EcgTowerError::Shape {
                name: full_name(vb, "positional_embedding"),
                expected: vec![tokens, width],
                found: pos_dims,
            });
        }
        if !(2..=MAX_TOKENS).contains(&tokens) {
            return Err(EcgTowerError::Checkpoint(format!(
                "`{}` gives {tokens} tokens; expected 2 to {MAX_TOKENS} (class token + patches)",
                full_name(vb, "positional_embedding")
            )));
        }
        let class_embedding = load_shaped(vb, "class_embedding", &[width])?;
        let ln_pre = layer_norm(vb, "ln_pre", width)?;

        let blocks_vb = vb.pp("transformer.resblocks");
        let block_present = |n: usize| {
            BLOCK_TENSORS
                .iter()
                .any(|t| blocks_vb.contains_tensor(&format!("{n}.{t}")))
        };
        let mut depth = 0;
        while block_present(depth) {
            depth += 1;
        }
        if let Some(stray) = (depth + 1..=depth + GAP_PROBE).find(|&n| block_present(n)) {
            return Err(EcgTowerError::Checkpoint(format!(
                "transformer blocks are not numbered contiguously: block {stray} exists \
                 but `{}` is missing",
                full_name(&blocks_vb, &format!("{depth}"))
            )));
        }
        if depth == 0 {
            return Err(EcgTowerError::Checkpoint(format!(
                "no transformer blocks: `{}` is missing",
                full_name(&blocks_vb, "0.attn.in_proj_weight")
            )));
        }
        let (_, fc_dims) = load_rank(&blocks_vb, "0.mlp.c_fc.weight", 2)?;
        let mlp_width = fc_dims[0];
        let blocks = (0..depth)
            .map(|n| ResidualBlock::load(&blocks_vb.pp(n), width, heads, mlp_width))
            .collect::<Result<Vec<_>>>()?;

        Ok(Self {
            config: EcgTowerConfig {
                width,
                leads,
                patch,
                tokens,
                depth,
                heads,
                mlp_width,
            },
            patch_embed: conv.reshape((width, leads * patch))?,
            class_embedding: class_embedding.reshape((1, 1, width))?,
            positional_embedding: positional.unsqueeze(0)?,
            ln_pre,
            blocks,
        })
    }

    pub fn config(&self) -> &EcgTowerConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        self.patch_embed.device()
    }

    /// `[B, leads, samples]` (mV) → `[B, tokens, W]`, every token before `ln_post`.
    pub fn forward(&self, signal: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let patches = c.tokens - 1;
        let shape_error = || EcgTowerError::SignalShape {
            found: signal.dims().to_vec(),
            leads: c.leads,
            samples: c.samples(),
            patch: c.patch,
            patches,
        };
        let &[b, leads, samples] = signal.dims() else {
            return Err(shape_error());
        };
        if b == 0 || leads != c.leads || samples != c.samples() {
            return Err(shape_error());
        }
        let signal = signal.to_dtype(self.patch_embed.dtype())?;
        // [B, leads, patches, patch] → [B, patches, leads, patch] → [B·patches, leads·patch];
        // the flattening matches conv1.weight's [W, leads, patch] layout.
        let patches_2d = signal
            .reshape((b, c.leads, patches, c.patch))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * patches, c.leads * c.patch))?;
        let embedded = patches_2d
            .matmul(&self.patch_embed.t()?)?
            .reshape((b, patches, c.width))?;
        let class = self.class_embedding.broadcast_as((b, 1, c.width))?;
        let mut x =
            Tensor::cat(&[&class, &embedded], 1)?.broadcast_add(&self.positional_embedding)?;
        x = self.ln_pre.forward(&x)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        Ok(x)
    }

    /// Runs one [`ModelSignal`] (built by `ModelSignal::from_record`): `[1, tokens, W]`.
    pub fn encode(&self, signal: &ModelSignal) -> Result<Tensor> {
        self.forward(&signal_tensor(signal, self.device())?)
    }
}

/// A [`ModelSignal`] as a `[1, leads, samples]` f32 tensor.
pub fn signal_tensor(signal: &ModelSignal, device: &Device) -> Result<Tensor> {
    if signal.data_mv.len() != signal.leads * signal.samples {
        return Err(EcgTowerError::SignalData {
            len: signal.data_mv.len(),
            leads: signal.leads,
            samples: signal.samples,
        });
    }
    Ok(Tensor::from_slice(
        &signal.data_mv,
        (1, signal.leads, signal.samples),
        device,
    )?)
}

/// The `mlp{N}x_gelu` projector: `Linear(W → H)`, then (N − 1) × (GELU, `Linear(H → H)`), stored
/// as `nn.Sequential` indices 0, 2, 4, …
pub struct EcgProjector {
    layers: Vec<Dense>,
    in_dim: usize,
    out_dim: usize,
}

impl std::fmt::Debug for EcgProjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcgProjector")
            .field("kind", &self.kind())
            .field("in_dim", &self.in_dim)
            .field("out_dim", &self.out_dim)
            .finish_non_exhaustive()
    }
}

impl EcgProjector {
    /// Builds the projector from a `VarBuilder` positioned at its prefix (for an ECG-R1
    /// checkpoint, `root.pp(PROJECTOR_PREFIX)`).
    pub fn from_varbuilder(vb: &VarBuilder) -> Result<Self> {
        if !vb.contains_tensor("0.weight") && vb.contains_tensor("weight") {
            return Err(EcgTowerError::Checkpoint(format!(
                "`{}` is a single linear projector; only mlpNx_gelu projectors \
                 (`{}`, `{}`, …) are supported",
                full_name(vb, "weight"),
                full_name(vb, "0.weight"),
                full_name(vb, "2.weight")
            )));
        }
        let (_, first) = load_rank(vb, "0.weight", 2)?;
        let (hidden, in_dim) = (first[0], first[1]);
        let mut layers = vec![linear(vb, "0", hidden, in_dim)?];
        // Sequential indices: 0 Linear, 1 GELU, 2 Linear, 3 GELU, 4 Linear, …
        let mut index = 2;
        while vb.contains_tensor(&format!("{index}.weight"))
            || vb.contains_tensor(&format!("{index}.bias"))
        {
            layers.push(linear(vb, &index.to_string(), hidden, hidden)?);
            index += 2;
        }
        for stray in [index + 2, index + 4] {
            if vb.contains_tensor(&format!("{stray}.weight")) {
                return Err(EcgTowerError::Checkpoint(format!(
                    "projector layers are not contiguous: `{}` exists but `{}` is missing",
                    full_name(vb, &format!("{stray}.weight")),
                    full_name(vb, &format!("{index}.weight"))
                )));
            }
        }
        Ok(Self {
            layers,
            in_dim,
            out_dim: hidden,
        })
    }

    /// The projector type as ECG-R1's `config.json` spells it (`mlp2x_gelu`).
    pub fn kind(&self) -> String {
        format!("mlp{}x_gelu", self.layers.len())
    }

    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// `[…, W]` → `[…, H]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (n, layer) in self.layers.iter().enumerate() {
            if n > 0 {
                x = x.gelu_erf()?;
            }
            x = layer.forward(&x)?;
        }
        Ok(x)
    }
}

/// Tower and projector together, checked against each other: what ECG-R1 places in the prompt.
#[derive(Debug)]
pub struct EcgEncoder {
    pub tower: EcgTower,
    pub projector: EcgProjector,
}

impl EcgEncoder {
    /// Builds both from a `VarBuilder` at the checkpoint root (`model.ecg_tower.*`,
    /// `model.ecg_projector.*`).
    pub fn from_varbuilder(root: &VarBuilder) -> Result<Self> {
        let tower = EcgTower::from_varbuilder(&root.pp(TOWER_PREFIX))?;
        let projector = EcgProjector::from_varbuilder(&root.pp(PROJECTOR_PREFIX))?;
        if projector.in_dim() != tower.config().width {
            return Err(EcgTowerError::Shape {
                name: format!("{PROJECTOR_PREFIX}.0.weight"),
                expected: vec![projector.out_dim(), tower.config().width],
                found: vec![projector.out_dim(), projector.in_dim()],
            });
        }
        Ok(Self { tower, projector })
    }

    /// Checks the sizes `config.json` states (`ecg_hidden_size`, `ecg_projector_type`, the text
    /// model's `hidden_size`) against what the tensors say; `None` skips a field.
    pub fn check_config(
        &self,
        ecg_hidden_size: Option<usize>,
        projector_type: Option<&str>,
        text_hidden_size: Option<usize>,
    ) -> Result<()> {
        let width = self.tower.config().width;
        if let Some(h) = ecg_hidden_size
            && h != width
        {
            return Err(EcgTowerError::Config(format!(
                "ecg_hidden_size is {h} but `{TOWER_PREFIX}.conv1.weight` gives width {width}"
            )));
        }
        if let Some(kind) = projector_type
            && kind != self.projector.kind()
        {
            return Err(EcgTowerError::Config(format!(
                "ecg_projector_type is `{kind}` but `{PROJECTOR_PREFIX}.*` holds a `{}`",
                self.projector.kind()
            )));
        }
        if let Some(h) = text_hidden_size
            && h != self.projector.out_dim()
        {
            return Err(EcgTowerError::Config(format!(
                "the text model's hidden_size is {h} but the projector outputs {}",
                self.projector.out_dim()
            )));
        }
        Ok(())
    }

    /// `[B, leads, samples]` → `[B, tokens, H]`: the embeddings that replace the `<|ecg_pad|>`
    /// tokens, in order.
    pub fn forward(&self, signal: &Tensor) -> Result<Tensor> {
        self.projector.forward(&self.tower.forward(signal)?)
    }

    /// One [`ModelSignal`] → `[1, tokens, H]`.
    pub fn encode(&self, signal: &ModelSignal) -> Result<Tensor> {
        self.projector.forward(&self.tower.encode(signal)?)
    }
}
