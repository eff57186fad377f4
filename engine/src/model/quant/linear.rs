//! Language-model layers that run on float or quantised weights, chosen per tensor at load time.
//!
//! A decoder builds its projections with [`text_linear`] and its token table with
//! [`text_embedding`] instead of `candle_nn::linear*` / `candle_nn::embedding`; with no
//! quantised weights (or a tensor the GGUF file does not hold) they load exactly what candle-nn
//! would.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::model::kernels::linear::PackedLinear;
use crate::model::kernels::q8::{self, PackedQ8};
use crate::model::kernels::{Dense, dense, dense_no_bias};

use super::gguf::QuantizedWeights;

/// A linear layer `y = x Wᵀ + b` over float or quantised `W`.
#[derive(Clone, Debug)]
pub enum TextLinear {
    Float(Dense),
    Quantized {
        weight: QMatMul,
        /// In the compute dtype.
        bias: Option<Tensor>,
    },
    /// q8_0 repacked for the AVX512-VNNI kernel (CPU), the GGUF blocks dropped.
    PackedQ8 {
        weight: Arc<PackedQ8>,
        bias: Option<Vec<f32>>,
    },
}

impl TextLinear {
    pub fn is_quantized(&self) -> bool {
        matches!(
            self,
            Self::Quantized {
                weight: QMatMul::QTensor(_),
                ..
            } | Self::PackedQ8 { .. }
        )
    }

    /// `(out, in)`.
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Self::Float(d) => d.dims().unwrap_or((0, 0)),
            Self::Quantized { weight, .. } => {
                let dims = match weight {
                    QMatMul::QTensor(t) => t.shape().dims().to_vec(),
                    QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.dims().to_vec(),
                };
                match dims[..] {
                    [o, i] => (o, i),
                    _ => (0, 0),
                }
            }
            Self::PackedQ8 { weight, .. } => (weight.rows(), weight.cols()),
        }
    }
}

impl TextLinear {
    /// Bytes of weights one use of the layer reads (what a decode step streams from memory).
    pub fn weight_bytes(&self) -> usize {
        match self {
            Self::Float(d) => d.weight_bytes(),
            Self::Quantized { weight, bias } => {
                let w = match weight {
                    QMatMul::QTensor(t) => t.storage_size_in_bytes(),
                    QMatMul::Tensor(t) | QMatMul::TensorF16(t) => {
                        t.elem_count() * t.dtype().size_in_bytes()
                    }
                };
                w + bias
                    .as_ref()
                    .map_or(0, |b| b.elem_count() * b.dtype().size_in_bytes())
            }
            Self::PackedQ8 { weight, bias } => {
                weight.bytes() + bias.as_ref().map_or(0, |b| 4 * b.len())
            }
        }
    }
}

impl Module for TextLinear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Float(l) => l.forward(x),
            Self::Quantized { weight, bias } => {
                // The quantised kernels take contiguous f32 activations on every backend (the
                // CPU widens bf16 to f32 itself; the CUDA fallback and Metal kernels are f32
                // only), so the activations are converted around the matmul and the result comes
                // back in the compute dtype.
                let dtype = x.dtype();
                let y = if dtype == DType::F32 {
                    weight.forward(&x.contiguous()?)?
                } else {
                    weight.forward(&x.to_dtype(DType::F32)?)?.to_dtype(dtype)?
                };
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
            Self::PackedQ8 { weight, bias } => {
                let dims = x.dims().to_vec();
                let k = weight.cols();
                if dims.last() != Some(&k) {
                    return Err(candle_core::Error::Msg(format!(
                        "activations of shape {dims:?} for a q8_0 layer of inner size {k}"
                    )));
                }
                let xs = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                let m = xs.len() / k;
                let mut out = vec![0f32; m * weight.rows()];
                q8::matmul(&xs, m, weight, bias.as_deref(), &mut out, true)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                let mut out_dims = dims;
                if let Some(last) = out_dims.last_mut() {
                    *last = weight.rows();
                }
                Tensor::from_vec(out, out_dims, x.device())?.to_dtype(x.dtype())
            }
        }
    }
}

/// The q8_0 weight repacked for the VNNI kernel when this is a CPU that runs it; `None` keeps
/// candle's quantised matmul (other types, other processors, a GPU).
fn packed_q8(t: &QTensor, vb: &VarBuilder) -> candle_core::Result<Option<Arc<PackedQ8>>> {
    if !vb.device().is_cpu() || t.dtype() != GgmlDType::Q8_0 || !q8::vnni_available() {
        return Ok(None);
    }
    let &[rows, cols] = t.shape().dims() else {
        return Ok(None);
    };
    let bytes = t.data()?;
    Ok(PackedQ8::from_gguf(&bytes, rows, cols).map(Arc::new))
}

fn quantized_weight(
    quant: Option<&QuantizedWeights>,
    name: &str,
    out_dim: usize,
    in_dim: usize,
    vb: &VarBuilder,
) -> candle_core::Result<Option<Arc<QTensor>>> {
    let Some(q) = quant.filter(|q| q.contains(name)) else {
        return Ok(None);
    };
    let t = q
        .load(name, vb.device())
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    if t.shape().dims() != [out_dim, in_dim] {
        return Err(candle_core::Error::Msg(format!(
            "weights: tensor '{name}' has shape {:?} in {} but the config implies {:?}",
            t.shape().dims(),
            q.path().display(),
            [out_dim, in_dim]
        )));
    }
    Ok(Some(t))
}

/// The linear layer at `vb` (`{prefix}.weight`, and `{prefix}.bias` when `bias`): its weight
/// from the GGUF file when `quant` holds it, else from the float weights behind `vb`. The bias
/// is always float.
pub fn text_linear(
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    vb: &VarBuilder,
    quant: Option<&QuantizedWeights>,
) -> candle_core::Result<TextLinear> {
    let name = format!("{}.weight", vb.prefix());
    let quantized = quantized_weight(quant, &name, out_dim, in_dim, vb)?;
    if let Some(w) = &quantized
        && let Some(packed) = packed_q8(w, vb)?
    {
        // The GGUF copy goes here: only the packed one stays.
        drop(quantized);
        return Ok(TextLinear::PackedQ8 {
            weight: packed,
            bias: if bias {
                Some(
                    vb.get(out_dim, "bias")?
                        .to_dtype(DType::F32)?
                        .to_vec1::<f32>()?,
                )
            } else {
                None
            },
        });
    }
    match quantized {
        Some(w) => Ok(TextLinear::Quantized {
            weight: QMatMul::from_arc(w)?,
            bias: if bias {
                Some(vb.get(out_dim, "bias")?)
            } else {
                None
            },
        }),
        None if bias => Ok(TextLinear::Float(dense(in_dim, out_dim, vb)?)),
        None => Ok(TextLinear::Float(dense_no_bias(in_dim, out_dim, vb)?)),
    }
}

/// A token-embedding table, float or quantised.
#[derive(Clone, Debug)]
pub enum TextEmbedding {
    Float(Embedding),
    /// Rows are dequantised as they are looked up; the result is cast to `dtype`.
    Quantized {
        table: Arc<QTensor>,
        dtype: DType,
    },
    /// The table packed for the CPU kernels as the tied LM head's weight; rows are read back
    /// from the panels, so the table is in memory once.
    PackedRows(Arc<PackedLinear>),
}

impl TextEmbedding {
    pub fn is_quantized(&self) -> bool {
        matches!(self, Self::Quantized { .. })
    }

    /// Embeds token ids (any shape) into `[.., hidden]` in the compute dtype.
    pub fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Float(e) => e.forward(ids),
            Self::Quantized { table, dtype } => table.embedding(ids)?.to_dtype(*dtype),
            Self::PackedRows(p) => {
                let w = p.weight();
                let flat = ids.flatten_all()?.to_vec1::<u32>()?;
                let mut values = Vec::with_capacity(flat.len() * w.cols());
                for &id in &flat {
                    if id as usize >= w.rows() {
                        return Err(candle_core::Error::Msg(format!(
                            "token id {id} is outside the embedding table of {} rows",
                            w.rows()
                        )));
                    }
                    values.extend(w.row(id as usize));
                }
                let mut dims = ids.dims().to_vec();
                dims.push(w.cols());
                Tensor::from_vec(values, dims, ids.device())
            }
        }
    }

    /// The table and the LM head tied to it (`logits = h Eᵀ`), sharing one copy: a quantised
    /// table is shared as it is; a float table the CPU kernels pack becomes the head's packed
    /// weight and the embedding reads its rows from there.
    pub fn tied(self) -> candle_core::Result<(Self, TextLinear)> {
        match self {
            Self::Float(e) => {
                let head = Dense::new(e.embeddings().clone(), None)?;
                match head {
                    Dense::Packed(p) => {
                        drop(e);
                        Ok((
                            Self::PackedRows(p.clone()),
                            TextLinear::Float(Dense::Packed(p)),
                        ))
                    }
                    candle @ Dense::Candle(_) => Ok((Self::Float(e), TextLinear::Float(candle))),
                }
            }
            Self::Quantized { table, dtype } => {
                let head = TextLinear::Quantized {
                    weight: QMatMul::from_arc(table.clone())?,
                    bias: None,
                };
                Ok((Self::Quantized { table, dtype }, head))
            }
            Self::PackedRows(p) => Ok((
                Self::PackedRows(p.clone()),
                TextLinear::Float(Dense::Packed(p)),
            )),
        }
    }
}

/// The token table at `vb` (`{prefix}.weight`, `[vocab, hidden]`), from the GGUF file when
/// `quant` holds it.
pub fn text_embedding(
    vocab: usize,
    hidden: usize,
    vb: &VarBuilder,
    quant: Option<&QuantizedWeights>,
) -> candle_core::Result<TextEmbedding> {
    let name = format!("{}.weight", vb.prefix());
    match quantized_weight(quant, &name, vocab, hidden, vb)? {
        Some(table) => Ok(TextEmbedding::Quantized {
            table,
            dtype: vb.dtype(),
        }),
        None => Ok(TextEmbedding::Float(candle_nn::embedding(
            vocab,
            hidden,
            vb.clone(),
        )?)),
    }
}
