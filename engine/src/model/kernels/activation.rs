//! The MLPs' elementwise activations in bf16 on the CPU, each in one pass over its operands.
//!
//! candle's bf16 `silu`, `gelu` and `mul` each widen every value to f32, call the C library's
//! `expf` / `tanhf` (`tanhf` through `expm1f`) one value at a time and allocate a new tensor, so
//! with the matrix products in the packed kernels they took about 40 % of a page-image prefill at
//! the 8B shapes (perf, 2026-12-04). Here the decoder's SwiGLU (`silu(gate) · up`) is one fused
//! pass, and the vision tower's tanh-approximated GELU is computed through the identity
//! `0.5 x (1 + tanh u) = x σ(2u)`, both with an exponential in plain arithmetic that the compiler
//! vectorises. Results are rounded once to bf16, as torch rounds its f32 intermediates; f32
//! tensors and other devices keep candle's own operations (the exact-parity path).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use half::bf16;
use rayon::prelude::*;

/// Values per parallel task: large enough that rayon's overhead is noise, small enough that
/// both cores get work on the smallest MLP of a decode step.
const CHUNK: usize = 1 << 14;

/// `silu(gate) · up`.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    if fused_applies(gate) && up.dtype() == DType::BF16 && gate.shape() == up.shape() {
        gate.contiguous()?
            .apply_op2_no_bwd(&up.contiguous()?, &SiluMul)
    } else {
        gate.silu()? * up
    }
}

/// GELU with the tanh approximation (`gelu_pytorch_tanh`).
pub fn gelu_tanh(x: &Tensor) -> candle_core::Result<Tensor> {
    if fused_applies(x) {
        x.contiguous()?.apply_op1_no_bwd(&GeluTanh)
    } else {
        x.gelu()
    }
}

fn fused_applies(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::BF16
}

/// `e^x` in f32 with arithmetic only: `x = n ln 2 + r` with `|r| <= ln 2 / 2`, `e^r` by its
/// Taylor polynomial to degree 7 (relative error below 1e-8 on that interval), `2^n` built in
/// the exponent bits. `x` is clamped to [-87, 88], where `2^n` stays a normal number and the
/// result finite; beyond it the callers' results round to the same bf16 values either way.
#[inline]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `n · LN2_HI` is exact for the n that occur (|n| <= 127).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 · 2^23 rounds to the nearest integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n is an integer in [-126, 127], so the biased exponent is in [1, 254].
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[inline]
fn widen(v: bf16) -> f32 {
    f32::from_bits(u32::from(v.to_bits()) << 16)
}

/// `g σ(g) · u`.
#[inline]
fn silu_mul_one(g: f32, u: f32) -> f32 {
    g / (1.0 + exp(-g)) * u
}

/// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`, as `x σ(2u)`.
#[inline]
fn gelu_tanh_one(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    x / (1.0 + exp(-2.0 * u))
}

struct SiluMul;
struct GeluTanh;

/// The contiguous bf16 values of an operand.
fn bf16_values<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [bf16]> {
    let CpuStorage::BF16(data) = storage else {
        return Err(candle_core::Error::Msg(format!(
            "{op} given non-bf16 values"
        )));
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        return Err(candle_core::Error::Msg(format!(
            "{op} given non-contiguous values"
        )));
    };
    Ok(&data[start..end])
}

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "silu-mul-bf16"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let gate = bf16_values(s1, l1, self.name())?;
        let up = bf16_values(s2, l2, self.name())?;
        if gate.len() != up.len() {
            return Err(candle_core::Error::Msg(format!(
                "silu-mul: gate has {} values, up {}",
                gate.len(),
                up.len()
            )));
        }
        let mut out = vec![bf16::ZERO; gate.len()];
        out.par_chunks_mut(CHUNK)
            .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
            .for_each(|(o, (g, u))| {
                for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                    *o = bf16::from_f32(silu_mul_one(widen(g), widen(u)));
                }
            });
        Ok((CpuStorage::BF16(out), l1.shape().clone()))
    }
}

impl CustomOp1 for GeluTanh {
    fn name(&self) -> &'static str {
        "gelu-tanh-bf16"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = bf16_values(storage, layout, self.name())?;
        let mut out = vec![bf16::ZERO; x.len()];
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, x)| {
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = bf16::from_f32(gelu_tanh_one(widen(x)));
                }
            });
        Ok((CpuStorage::BF16(out), layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn the_exponential_is_within_a_few_ulp_of_the_library_one() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let want = f64::from(x).exp();
            let rel = ((f64::from(exp(x)) - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        // f32 carries 24 bits (6e-8 relative per rounding); a few roundings in the reduction.
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(1000.0).is_finite());
    }

    fn bf16_tensor(values: &[f32], dev: &Device) -> Tensor {
        Tensor::new(values, dev)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap()
    }

    fn values_of(t: &Tensor) -> Vec<f32> {
        t.to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap()
    }

    /// Against the definitions in f64 from the same bf16 inputs: within one bf16 step (the
    /// result is rounded once from a value within 1e-6 of the exact one).
    #[test]
    fn fused_activations_match_their_definitions() {
        let dev = Device::Cpu;
        let n = 3 * CHUNK + 17;
        let xs: Vec<f32> = (0..n)
            .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 24.0)
            .collect();
        let us: Vec<f32> = (0..n)
            .map(|i| ((i as f32 * 0.414_213_6).fract() - 0.5) * 6.0)
            .collect();
        let (x, u) = (bf16_tensor(&xs, &dev), bf16_tensor(&us, &dev));
        let (xb, ub) = (values_of(&x), values_of(&u));
        let step = |v: f64| (v.abs() / 128.0).max(1e-30);
        let silu = values_of(&silu_mul(&x, &u).unwrap());
        let gelu = values_of(&gelu_tanh(&x).unwrap());
        for i in 0..n {
            let (g, v) = (f64::from(xb[i]), f64::from(ub[i]));
            let want = g / (1.0 + (-g).exp()) * v;
            assert!(
                (f64::from(silu[i]) - want).abs() <= step(want),
                "silu·up at {g}, {v}: {} vs {want}",
                silu[i]
            );
            let t = (0.797_884_560_802_865_4 * (g + 0.044_715 * g * g * g)).tanh();
            let want = 0.5 * g * (1.0 + t);
            assert!(
                (f64::from(gelu[i]) - want).abs() <= step(want) + 1e-6,
                "gelu at {g}: {} vs {want}",
                gelu[i]
            );
        }
    }

    #[test]
    fn f32_tensors_keep_candles_operations() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[-2.0f32, -0.5, 0.0, 0.7, 3.0], &dev).unwrap();
        let u = Tensor::new(&[1.0f32, 2.0, 3.0, -1.0, 0.5], &dev).unwrap();
        let ours = silu_mul(&x, &u).unwrap().to_vec1::<f32>().unwrap();
        let candle = (x.silu().unwrap() * &u).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(ours, candle);
        let ours = gelu_tanh(&x).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(ours, x.gelu().unwrap().to_vec1::<f32>().unwrap());
    }
}
