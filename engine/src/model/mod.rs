//! Local model engine: Hugging Face checkpoints run on candle.
//!
//! Part 1 covers Qwen2-VL (the 2B T-wave-inversion variant of ECG-R1): loading a checkpoint
//! directory ([`checkpoint`], [`config`], [`weights`]), the chat template and tokenizer
//! ([`prompt`]), image preprocessing identical to `Qwen2VLImageProcessor` ([`preprocess`]), the
//! network ([`qwen2vl`]), decoding ([`generate`]), P(yes) and the answer ([`answer`]) and the
//! [`engine::LocalModelEngine`] that turns a request into a [`crate::Report`].
//!
//! Part 2 adds Qwen3-VL and ECG-R1-8B (Qwen3-VL + the ECG-CoCa signal tower, [`ecg_coca`]) in
//! [`qwen3vl`]. What the two families share lives beside them: the text decoder and its
//! [`decoder::Session`] ([`decoder`]), attention ([`attention`]), rotary positions ([`rope`]) and
//! the vision tower's common pieces ([`vision`]); [`network::Network`] is either loaded family.
//! The checkpoint, weights, prompt, generation and answer modules are model-agnostic.
//!
//! [`quant`] writes and loads checkpoints whose language-model matrices are GGUF-quantised
//! (q8_0, q4k); the shared text decoder builds its layers with [`quant::text_linear`] and
//! [`quant::text_embedding`], so both families load them.

pub mod answer;
pub mod attention;
pub mod checkpoint;
pub mod config;
pub mod decoder;
pub mod ecg_coca;
pub mod engine;
pub mod generate;
// The one place `unsafe` is allowed: SIMD kernels, each block with its soundness argument.
#[allow(unsafe_code)]
pub mod kernels;
pub mod network;
pub mod parity;
pub mod preprocess;
pub mod prompt;
pub mod quant;
pub mod qwen2vl;
pub mod qwen3vl;
pub mod rope;
pub mod vision;
pub mod weights;

pub use answer::{AnswerParse, YesNoTokens, answer_labels, parse_output, trace_steps, yes_no_word};
pub use checkpoint::{Checkpoint, ModelFamily, resolve_model_path};
pub use engine::{LocalModelEngine, LocalModelOptions};
pub use generate::{GenerationEvent, GenerationOutput, GenerationParams, StopReason};
pub use network::Network;
pub use prompt::{ChatPrompt, PromptInput};

/// Everything that can go wrong loading or running a local model. Each variant names the file,
/// field or tensor involved.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {problem}")]
    File { path: String, problem: String },
    #[error("{file}: field '{field}': {problem}")]
    Config {
        file: String,
        field: String,
        problem: String,
    },
    #[error("{file}: {problem}")]
    Tokenizer { file: String, problem: String },
    #[error("weights: tensor '{name}': {problem}")]
    Weights { name: String, problem: String },
    #[error("image: {0}")]
    Image(String),
    #[error("prompt: {0}")]
    Prompt(String),
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("ECG tower: {0}")]
    EcgTower(#[from] ecg_coca::EcgTowerError),
    #[error("ECG signal: {0}")]
    Signal(String),
    #[error("not enough memory: {0}")]
    Memory(String),
    #[error("cancelled")]
    Cancelled,
}

impl ModelError {
    pub(crate) fn file(path: impl AsRef<std::path::Path>, problem: impl Into<String>) -> Self {
        Self::File {
            path: path.as_ref().display().to_string(),
            problem: problem.into(),
        }
    }

    pub(crate) fn config(
        file: impl Into<String>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self::Config {
            file: file.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Compute precision of the network weights and activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelDType {
    F32,
    Bf16,
    F16,
}

impl ModelDType {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        }
    }

    pub fn candle(self) -> candle_core::DType {
        match self {
            Self::F32 => candle_core::DType::F32,
            Self::Bf16 => candle_core::DType::BF16,
            Self::F16 => candle_core::DType::F16,
        }
    }

    /// The dtype a checkpoint runs in when none is asked for: bf16 on a GPU (what ECG-R1 is
    /// deployed in); on the CPU, bf16 when the weights are stored in bf16 and this processor
    /// runs the packed bf16 kernels ([`kernels::CpuMatmul::detect`]), else f32 (f32 weights
    /// such as the parity fixtures, f16 weights, or a processor without AVX2).
    pub fn default_for(device: &candle_core::Device, weights: Option<candle_core::DType>) -> Self {
        if !device.is_cpu() {
            return Self::Bf16;
        }
        match (weights, kernels::CpuMatmul::detect()) {
            (Some(candle_core::DType::BF16), kernels::CpuMatmul::Packed(_)) => Self::Bf16,
            _ => Self::F32,
        }
    }

    /// [`Self::default_for`] the CPU, with [`Self::default_reason`].
    pub fn cpu_default(weights: Option<candle_core::DType>) -> (Self, String) {
        let cpu = candle_core::Device::Cpu;
        (
            Self::default_for(&cpu, weights),
            Self::default_reason(&cpu, weights),
        )
    }

    /// Why [`Self::default_for`] chose what it chose, in words for `model info` and reports.
    pub fn default_reason(
        device: &candle_core::Device,
        weights: Option<candle_core::DType>,
    ) -> String {
        let kernel = kernels::CpuMatmul::detect();
        match (device.is_cpu(), weights, kernel) {
            (false, _, _) => "bf16 on a GPU".into(),
            (true, Some(candle_core::DType::BF16), kernels::CpuMatmul::Packed(isa)) => format!(
                "bf16: the weights are bf16 and this CPU runs the {} kernels",
                isa.name()
            ),
            (true, Some(candle_core::DType::BF16), kernels::CpuMatmul::Candle) => {
                "f32: the weights are bf16 but this CPU has no fast bf16 kernel (no AVX2), or \
                 ECGR1_CPU_KERNEL=candle"
                    .into()
            }
            (true, w, _) => format!(
                "f32: the weights are stored in {}",
                w.map_or("an unknown dtype".to_string(), |d| format!("{d:?}")
                    .to_lowercase())
            ),
        }
    }
}

impl std::str::FromStr for ModelDType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            "f16" => Ok(Self::F16),
            other => Err(format!(
                "unknown dtype '{other}' (expected f32, bf16 or f16)"
            )),
        }
    }
}

/// Memory the system can still give this process, in bytes (Linux `MemAvailable`); `None`
/// where unknown.
pub fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses to load weights that cannot fit: `parameters` in `dtype`, plus a twentieth and
/// 1.5 GiB for activations, the KV cache and the one tensor being read, against what the system
/// has available. (A quarter on top, as before, refused the 8B model in bf16 — 16.5 GiB of weights
/// that run in 17 GiB — on a 24 GiB machine.)
pub fn check_memory(
    parameters: u64,
    dtype: ModelDType,
    available: Option<u64>,
) -> Result<(), ModelError> {
    let per = dtype.candle().size_in_bytes() as u64;
    let weights = parameters.saturating_mul(per);
    let need = weights.saturating_add(weights / 20).saturating_add(3 << 29);
    match available {
        Some(avail) if need > avail => Err(ModelError::Memory(format!(
            "{parameters} parameters in {} need about {:.1} GiB but {:.1} GiB are available; \
             try --dtype bf16 or a machine with more memory",
            dtype.name(),
            need as f64 / f64::from(1u32 << 30),
            avail as f64 / f64::from(1u32 << 30)
        ))),
        _ => Ok(()),
    }
}

/// Picks the compute device: a GPU when this build has the `cuda` or `metal` feature and one is
/// present, otherwise the CPU. Returns the device and a line saying what was chosen and why.
pub fn select_device(prefer_gpu: bool) -> (candle_core::Device, String) {
    if prefer_gpu {
        #[cfg(feature = "cuda")]
        {
            // With the feature built in, this errors (rather than returning the CPU) when no GPU
            // is present, so the fallback below is needed.
            match candle_core::Device::new_cuda(0) {
                Ok(d) => return (d, "cuda:0".to_string()),
                Err(e) => {
                    // candle appends a backtrace to the error; the first line is the reason.
                    let e = e.to_string();
                    let reason = e.lines().next().unwrap_or("unknown error");
                    return (
                        candle_core::Device::Cpu,
                        format!("cpu (no CUDA device: {reason})"),
                    );
                }
            }
        }
        #[cfg(all(feature = "metal", not(feature = "cuda")))]
        {
            match candle_core::Device::new_metal(0) {
                Ok(d) => return (d, "metal:0".to_string()),
                Err(e) => {
                    return (
                        candle_core::Device::Cpu,
                        format!("cpu (no Metal device: {e})"),
                    );
                }
            }
        }
    }
    (candle_core::Device::Cpu, "cpu".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_check_refuses_what_cannot_fit() {
        assert!(check_memory(1_000, ModelDType::F32, Some(2 << 30)).is_ok());
        // The 8B model in bf16 (16.5 GiB of weights) fits in the 20 GiB a 24 GiB machine has.
        assert!(check_memory(8_870_882_032, ModelDType::Bf16, Some(20 << 30)).is_ok());
        let e = check_memory(2_000_000_000, ModelDType::F32, Some(4 << 30))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not enough memory"), "{e}");
        assert!(check_memory(2_000_000_000, ModelDType::F32, None).is_ok());
    }
}
