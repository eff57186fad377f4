//! The linear layer every part of the model builds: packed bf16 weights run by this module's
//! kernels on the CPU, candle's `Linear` everywhere else (f32 compute, a GPU, an odd inner
//! dimension).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Shape, Tensor};
use half::bf16;

use super::Isa;
use super::gemm;
use super::packed::PackedBf16;

/// `y = x Wᵀ + b`.
#[derive(Clone, Debug)]
pub enum Dense {
    Candle(candle_nn::Linear),
    Packed(Arc<PackedLinear>),
}

/// Which implementation [`Dense::new`] picks for bf16 weights on the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuMatmul {
    /// This module's kernels on packed weights (the default where the processor has AVX2 or
    /// AVX512-BF16).
    Packed(Isa),
    /// candle's own matmul, which widens bf16 to f32 on every call: the baseline the benchmark
    /// compares against (`ECGR1_CPU_KERNEL=candle`), and the choice on processors with neither.
    Candle,
}

impl CpuMatmul {
    pub fn detect() -> Self {
        let isa = Isa::detect();
        if std::env::var("ECGR1_CPU_KERNEL").as_deref() == Ok("candle") || !isa.fast_bf16() {
            Self::Candle
        } else {
            Self::Packed(isa)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Packed(isa) => isa.name(),
            Self::Candle => "candle",
        }
    }
}

/// A bf16 weight in the kernels' layout with its bias in f32.
pub struct PackedLinear {
    weight: PackedBf16,
    bias: Option<Vec<f32>>,
    isa: Isa,
}

impl PackedLinear {
    pub fn weight(&self) -> &PackedBf16 {
        &self.weight
    }
}

impl std::fmt::Debug for PackedLinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedLinear")
            .field("weight", &self.weight)
            .field("bias", &self.bias.is_some())
            .field("isa", &self.isa)
            .finish()
    }
}

impl Dense {
    /// The layer over `weight` (`[out, in]`) and `bias` (`[out]`). bf16 weights on the CPU are
    /// packed (and the tensor dropped) when [`CpuMatmul::detect`] says so.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> candle_core::Result<Self> {
        Self::with_matmul(weight, bias, CpuMatmul::detect())
    }

    pub fn with_matmul(
        weight: Tensor,
        bias: Option<Tensor>,
        choice: CpuMatmul,
    ) -> candle_core::Result<Self> {
        let CpuMatmul::Packed(isa) = choice else {
            return Ok(Self::Candle(candle_nn::Linear::new(weight, bias)));
        };
        let (rows, cols) = weight.dims2()?;
        if !matches!(weight.device(), Device::Cpu)
            || weight.dtype() != DType::BF16
            || !cols.is_multiple_of(2)
        {
            return Ok(Self::Candle(candle_nn::Linear::new(weight, bias)));
        }
        let values = weight.flatten_all()?.to_vec1::<bf16>()?;
        drop(weight);
        let packed = PackedBf16::pack(&values, rows, cols).ok_or_else(|| {
            candle_core::Error::Msg(format!("a [{rows}, {cols}] weight could not be packed"))
        })?;
        drop(values);
        let bias = match bias {
            Some(b) => {
                let b = b.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                if b.len() != rows {
                    return Err(candle_core::Error::Msg(format!(
                        "bias of {} values for a weight of {rows} rows",
                        b.len()
                    )));
                }
                Some(b)
            }
            None => None,
        };
        Ok(Self::Packed(Arc::new(PackedLinear {
            weight: packed,
            bias,
            isa,
        })))
    }

    pub fn is_packed(&self) -> bool {
        matches!(self, Self::Packed(_))
    }

    /// `(out, in)`.
    pub fn dims(&self) -> candle_core::Result<(usize, usize)> {
        match self {
            Self::Candle(l) => l.weight().dims2(),
            Self::Packed(p) => Ok((p.weight.rows(), p.weight.cols())),
        }
    }

    /// Bytes the weight (and bias) occupy.
    pub fn weight_bytes(&self) -> usize {
        match self {
            Self::Candle(l) => {
                let t = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
                t(l.weight()) + l.bias().map_or(0, t)
            }
            Self::Packed(p) => p.weight.bytes() + p.bias.as_ref().map_or(0, |b| 4 * b.len()),
        }
    }
}

/// The linear layer at `vb` (`weight` `[out, in]` and `bias` `[out]`), as `candle_nn::linear`
/// loads it.
pub fn dense(
    in_dim: usize,
    out_dim: usize,
    vb: &candle_nn::VarBuilder,
) -> candle_core::Result<Dense> {
    Dense::new(
        vb.get((out_dim, in_dim), "weight")?,
        Some(vb.get(out_dim, "bias")?),
    )
}

/// The same without a bias.
pub fn dense_no_bias(
    in_dim: usize,
    out_dim: usize,
    vb: &candle_nn::VarBuilder,
) -> candle_core::Result<Dense> {
    Dense::new(vb.get((out_dim, in_dim), "weight")?, None)
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Candle(l) => l.forward(x),
            Self::Packed(p) => {
                if x.dtype() != DType::BF16 {
                    return Err(candle_core::Error::Msg(format!(
                        "packed bf16 linear layer given {:?} activations",
                        x.dtype()
                    )));
                }
                x.contiguous()?.apply_op1_no_bwd(p.as_ref())
            }
        }
    }
}

impl CustomOp1 for PackedLinear {
    fn name(&self) -> &'static str {
        "packed-bf16-linear"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::BF16(data) = storage else {
            return Err(candle_core::Error::Msg(
                "packed bf16 linear layer given non-bf16 activations".into(),
            ));
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            return Err(candle_core::Error::Msg(
                "packed bf16 linear layer given non-contiguous activations".into(),
            ));
        };
        let dims = layout.shape().dims();
        let k = self.weight.cols();
        if dims.last() != Some(&k) {
            return Err(candle_core::Error::Msg(format!(
                "activations of shape {dims:?} for a layer of inner size {k}"
            )));
        }
        let x = &data[start..end];
        let m = x.len() / k;
        let n = self.weight.rows();
        let mut out = vec![bf16::ZERO; m * n];
        gemm::matmul(self.isa, x, m, &self.weight, self.bias.as_deref(), &mut out)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = n;
        }
        Ok((CpuStorage::BF16(out), Shape::from(out_dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_layer_agrees_with_candle_on_a_batch() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (40, 24), &dev)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        let b = Tensor::randn(0f32, 1.0, 40, &dev)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 3, 24), &dev)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        let candle = Dense::with_matmul(w.clone(), Some(b.clone()), CpuMatmul::Candle).unwrap();
        let packed = Dense::with_matmul(w, Some(b), CpuMatmul::Packed(Isa::Scalar)).unwrap();
        assert!(packed.is_packed() && !candle.is_packed());
        let want = candle.forward(&x).unwrap().to_dtype(DType::F32).unwrap();
        let got = packed.forward(&x).unwrap();
        assert_eq!(got.dims(), &[2, 3, 40]);
        let diff = (got.to_dtype(DType::F32).unwrap() - &want)
            .unwrap()
            .abs()
            .unwrap();
        let scale = want
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        // candle rounds the product and the sum with the bias separately; one bf16 step of the
        // largest value bounds both.
        assert!(diff.max_all().unwrap().to_scalar::<f32>().unwrap() <= scale / 64.0);
        // A non-contiguous input is made contiguous first.
        let xt = x.transpose(0, 1).unwrap();
        assert_eq!(packed.forward(&xt).unwrap().dims(), &[3, 2, 40]);
        // f32 activations are refused rather than silently rounded.
        assert!(packed.forward(&x.to_dtype(DType::F32).unwrap()).is_err());
    }

    #[test]
    fn f32_and_odd_weights_stay_with_candle() {
        let dev = Device::Cpu;
        let w = Tensor::zeros((4, 6), DType::F32, &dev).unwrap();
        assert!(
            !Dense::with_matmul(w, None, CpuMatmul::Packed(Isa::Scalar))
                .unwrap()
                .is_packed()
        );
        let w = Tensor::zeros((4, 5), DType::BF16, &dev).unwrap();
        assert!(
            !Dense::with_matmul(w, None, CpuMatmul::Packed(Isa::Scalar))
                .unwrap()
                .is_packed()
        );
    }
}
