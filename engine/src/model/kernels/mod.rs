//! CPU kernels for the model's matrix products in bf16, the dtype ECG-R1's weights are published in.
//!
//! candle 0.11's CPU matmul has no bf16 kernel: it widens both operands to f32 on every call, so a
//! bf16 decode step reads each weight, writes an f32 copy and reads that again (0.02× of
//! transformers' speed at the 8B shapes). These kernels multiply bf16 activations by bf16 weights
//! with f32 accumulation, reading each weight once:
//!
//! - [`packed::PackedBf16`] holds a weight matrix `[N, K]` re-laid once at load as panels of 16
//!   output rows with the inner dimension interleaved in pairs, which is the operand order of the
//!   AVX512-BF16 dot-product instruction (`vdpbf16ps`); the checkpoint's copy is dropped.
//! - [`gemm::matmul`] computes `y = x Wᵀ + b` on that layout with whichever kernel the processor
//!   runs ([`Isa::detect`], decided at run time, so a plain x86-64 build needs no `target-cpu`):
//!   AMX-BF16 tiles for products of 16 rows or more (`amx.rs`), AVX512-BF16 (`avx512bf16.rs`), AVX2 + FMA widening bf16 to f32 (`avx2.rs`), or portable
//!   scalar code (also the safe reference every SIMD kernel is tested against).
//! - [`linear::Dense`] is the linear layer the decoder, both vision towers, the ECG tower and the
//!   projector build: packed bf16 on the CPU, candle's own `Linear` elsewhere (f32, GPU).
//! - [`q8::PackedQ8`] and [`q8::matmul`] do the same for q8_0 GGUF weights with the AVX512-VNNI
//!   integer dot product (`avx512vnni.rs`), repacked once at load, the GGUF blocks dropped.
//! - [`attention`] is scaled dot-product attention one tile of queries at a time against every
//!   key the tile may see, with an exact softmax per row, in the same kernels, so no score matrix
//!   larger than one tile is ever built.
//!
//! - [`activation`] fuses the MLPs' elementwise activations (SwiGLU, tanh GELU) into one pass
//!   each in bf16.
//!
//! This module is the one place in the workspace where `unsafe` is allowed: each block states why
//! it is sound, and each SIMD path is tested against the scalar reference.

pub mod activation;
#[cfg(target_arch = "x86_64")]
mod amx;
pub mod attention;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512bf16;
#[cfg(target_arch = "x86_64")]
mod avx512vnni;
pub mod gemm;
pub mod linear;
pub mod packed;
pub mod q8;
pub mod roofline;

pub use linear::{CpuMatmul, Dense, dense, dense_no_bias};
pub use packed::PackedBf16;

/// The instruction sets a kernel can be chosen for, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Intel AMX tiles with the bf16 tile product (Sapphire Rapids and later), AVX512-BF16 for
    /// the parts of a product too small for a tile; decode (one row) runs on AVX512-BF16.
    AmxBf16,
    /// AVX-512 with the bf16 dot product (Zen 4, Sapphire Rapids and later).
    Avx512Bf16,
    /// AVX2 + FMA: bf16 widened to f32 in registers (Haswell and later, Zen 1–3).
    Avx2,
    /// Portable code, for any other processor.
    Scalar,
}

impl Isa {
    /// The best kernel this processor runs. `ECGR1_CPU_KERNEL=avx512|avx2|scalar` forces a lesser
    /// one (for benchmarks and for checking the fallbacks on a machine that has the better one).
    pub fn detect() -> Self {
        let best = Self::best_supported();
        match std::env::var("ECGR1_CPU_KERNEL").as_deref() {
            Ok("scalar") => Self::Scalar,
            Ok("avx2") if best != Self::Scalar => Self::Avx2,
            Ok("avx512") if best == Self::AmxBf16 => Self::Avx512Bf16,
            _ => best,
        }
    }

    pub(crate) fn best_supported() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512bf16")
            {
                if amx::available() {
                    return Self::AmxBf16;
                }
                return Self::Avx512Bf16;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Scalar
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::AmxBf16 => "amx-bf16",
            Self::Avx512Bf16 => "avx512-bf16",
            Self::Avx2 => "avx2-fma",
            Self::Scalar => "scalar",
        }
    }

    /// Whether bf16 matrix products run at least as fast as f32 ones here (a SIMD kernel).
    pub fn fast_bf16(self) -> bool {
        self != Self::Scalar
    }
}

/// The worker threads the kernels split work over: rayon's pool, which follows
/// `RAYON_NUM_THREADS` and otherwise the core count.
pub fn threads() -> usize {
    rayon::current_num_threads()
}
