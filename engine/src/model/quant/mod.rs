//! Quantised language-model weights (GGUF q8_0 / q4k through `candle_core::quantized`).
//!
//! A quantised checkpoint is an ordinary checkpoint directory (config, tokenizer, template and
//! processor files copied unchanged) in which the language model's 2-D matmul weights live in a
//! GGUF file under their original tensor names, everything else (vision and ECG towers, norms,
//! biases, tensors whose inner dimension is not a multiple of the block size) stays in a float
//! `model.safetensors`, and [`manifest::QuantManifest`] (`quantization.json`) records the source
//! hashes and which tensors went where. The loader picks each tensor from the GGUF file when it is
//! there, else from safetensors, so a model family adopts quantisation by building its text
//! projections with [`linear::text_linear`] and its token table with
//! [`linear::text_embedding`].
//!
//! The token embedding and the LM head are quantised too, as llama.cpp does for q8_0 and q4_K:
//! the embedding lookup dequantises only the rows it reads (`QTensor::embedding`), and a tied LM
//! head shares the one quantised table instead of keeping a float copy of the largest matrix of
//! a small model (151,936 × 1,536 in Qwen2-VL-2B).

pub mod gguf;
pub mod linear;
pub mod manifest;
pub mod safetensors_out;
pub mod writer;

pub use gguf::QuantizedWeights;
pub use linear::{TextEmbedding, TextLinear, text_embedding, text_linear};
pub use manifest::{MANIFEST_FILE, QuantManifest, QuantType};
pub use writer::{QuantizeReport, quantize_checkpoint};
