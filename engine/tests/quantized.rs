//! Quantised checkpoints (`ecgr1 model quantize`): the writer's output on a synthetic checkpoint
//! with block-sized shapes and on the tiny parity fixtures, and the loader's choice of quantised
//! matmuls. How often the quantised models agree with f32 is in `quantized_agreement.rs`.

// Test code throughout: a failed unwrap is a failed test (clippy's in-test allowance does not
// reach helper functions of an integration test crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use ecgr1_engine::model::quant::{
    QuantManifest, QuantType, QuantizedWeights, quantize_checkpoint, text_embedding, text_linear,
};
use ecgr1_engine::model::weights::{Backend, SafetensorsFiles};
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType};
use ecgr1_engine::report::Engine;
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
}

/// A fresh, empty scratch directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("quant-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn noise(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            // xorshift64*: a deterministic, roughly uniform stream in [-scale, scale).
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let u = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
            (2.0 * u - 1.0) * scale
        })
        .collect()
}

/// Writes a safetensors file of the given f32/bf16 tensors (bf16 as the upper half of the f32).
fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, DType)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (i, (name, shape, dtype)) in tensors.iter().enumerate() {
        let n: usize = shape.iter().product();
        let values = noise(n, i as u64 + 1, 0.5);
        let start = data.len();
        for v in values {
            match dtype {
                DType::F32 => data.extend_from_slice(&v.to_le_bytes()),
                DType::BF16 => data.extend_from_slice(&((v.to_bits() >> 16) as u16).to_le_bytes()),
                other => panic!("{other:?}"),
            }
        }
        let dt = if *dtype == DType::F32 { "F32" } else { "BF16" };
        header.insert(
            (*name).to_string(),
            json!({"dtype": dt, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let h = serde_json::to_vec(&Value::Object(header)).unwrap();
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).unwrap();
}

const SYNTHETIC: &[(&str, [usize; 2], DType)] = &[
    (
        "model.layers.0.self_attn.q_proj.weight",
        [256, 256],
        DType::F32,
    ),
    ("model.layers.0.self_attn.q_proj.bias", [256, 0], DType::F32),
    (
        "model.layers.0.mlp.down_proj.weight",
        [256, 512],
        DType::BF16,
    ),
    // Inner dimension 96: a multiple of 32 (q8_0) but not of 256 (q4k).
    ("model.layers.0.mlp.gate_proj.weight", [64, 96], DType::F32),
    // Inner dimension 100: a multiple of neither block size.
    ("model.layers.0.mlp.up_proj.weight", [32, 100], DType::F32),
    ("model.embed_tokens.weight", [64, 256], DType::F32),
    (
        "model.layers.0.input_layernorm.weight",
        [256, 0],
        DType::F32,
    ),
    ("visual.blocks.0.attn.qkv.weight", [768, 256], DType::BF16),
];

/// A synthetic float checkpoint in its own folder `name` (tests run in parallel: each writes
/// its own, so none reads a file another is rewriting).
fn synthetic_checkpoint(name: &str) -> PathBuf {
    let dir = scratch(&format!("synthetic-src-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let tensors: Vec<(&str, Vec<usize>, DType)> = SYNTHETIC
        .iter()
        .map(|(n, s, d)| {
            let shape = if s[1] == 0 { vec![s[0]] } else { s.to_vec() };
            (*n, shape, *d)
        })
        .collect();
    write_safetensors(&dir.join("model.safetensors"), &tensors);
    std::fs::write(dir.join("config.json"), "{}").unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), "not copied").unwrap();
    dir
}

/// Largest error of `q` against `x`, per block of `block` values, relative to that block's
/// largest magnitude.
fn worst_block_error(x: &[f32], q: &[f32], block: usize) -> f32 {
    x.chunks(block)
        .zip(q.chunks(block))
        .map(|(xb, qb)| {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            xb.iter()
                .zip(qb)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
                / amax
        })
        .fold(0f32, f32::max)
}

fn check_synthetic(quant: QuantType) {
    let src = synthetic_checkpoint(quant.name());
    let out = scratch(&format!("synthetic-{}", quant.name()));
    let report = quantize_checkpoint(&src, &out, quant, &mut |_| {}).unwrap();
    let m = &report.manifest;
    assert_eq!(QuantManifest::read(&out).unwrap().as_ref(), Some(m));
    assert_eq!(report.copied, ["config.json", "tokenizer.json"]);
    // The source's own model.safetensors is converted, not reported as left out.
    assert_eq!(report.skipped, ["pytorch_model.bin"]);
    let quantized: Vec<&str> = m.quantized.iter().map(|t| t.name.as_str()).collect();
    let kept: Vec<&str> = m.kept_float.iter().map(|t| t.name.as_str()).collect();
    let mut want_q = vec![
        "model.embed_tokens.weight",
        "model.layers.0.mlp.down_proj.weight",
    ];
    let mut want_kept = vec!["model.layers.0.mlp.up_proj.weight"];
    match quant {
        QuantType::Q8_0 => want_q.push("model.layers.0.mlp.gate_proj.weight"),
        QuantType::Q4K => want_kept.insert(0, "model.layers.0.mlp.gate_proj.weight"),
    }
    want_q.push("model.layers.0.self_attn.q_proj.weight");
    assert_eq!(quantized, want_q);
    assert_eq!(kept, want_kept);
    assert!(m.kept_float.iter().all(|k| k.reason.contains("multiple")));
    assert_eq!(m.source.weights_sha256.len(), 1);
    assert_eq!(m.source.weights_sha256[0].1.len(), 64);

    let dev = Device::Cpu;
    let orig = SafetensorsFiles::open(&[src.join("model.safetensors")]).unwrap();
    let float = SafetensorsFiles::open(&[out.join(&m.float_file)]).unwrap();
    let gguf = QuantizedWeights::open(&out.join(&m.gguf_file)).unwrap();
    assert_eq!(gguf.names(), want_q);
    // Everything else is in the float file, byte for byte and in its stored dtype.
    for (name, _, dtype) in SYNTHETIC {
        if want_q.contains(name) {
            assert!(!float.contains(name), "{name} is in both files");
            continue;
        }
        assert_eq!(float.dtype(name), Some(*dtype), "{name}");
        assert_eq!(
            float.read_bytes(name).unwrap(),
            orig.read_bytes(name).unwrap(),
            "{name}"
        );
    }
    // Dequantised weights are within the block format's error of the originals: q8_0 rounds
    // to 1/127 of the block's largest magnitude (half a step, plus the f16 scale's rounding);
    // q4k's steps are 1/15 of a sub-block's range with 6-bit scales, so allow one full step of
    // the largest possible range (twice the largest magnitude).
    let bound = match quant {
        QuantType::Q8_0 => 0.6 / 127.0,
        QuantType::Q4K => 2.0 / 15.0,
    };
    for name in &want_q {
        let x = orig
            .load(name, &dev)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let q = gguf
            .load(name, &dev)
            .unwrap()
            .dequantize(&dev)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let worst = worst_block_error(&x, &q, quant.block_size());
        let rms = (x.iter().zip(&q).map(|(a, b)| (a - b).powi(2)).sum::<f32>()
            / x.iter().map(|a| a * a).sum::<f32>())
        .sqrt();
        eprintln!(
            "{} {name}: worst error {worst:.4} of the block maximum, relative RMS error {rms:.4}",
            quant.name()
        );
        assert!(worst <= bound, "{name}: {worst} > {bound}");
        assert!(rms > 0.0, "{name} was not quantised at all");
    }

    // The layer loaders take quantised weights from the GGUF file, the rest from safetensors.
    let files = Arc::new(float);
    let vb = VarBuilder::from_backend(Box::new(Backend(files)), DType::F32, dev.clone());
    let layer = vb.pp("model.layers.0");
    let q_proj = text_linear(256, 256, true, &layer.pp("self_attn.q_proj"), Some(&gguf)).unwrap();
    let up = text_linear(100, 32, false, &layer.pp("mlp.up_proj"), Some(&gguf)).unwrap();
    let embed = text_embedding(64, 256, &vb.pp("model.embed_tokens"), Some(&gguf)).unwrap();
    assert!(q_proj.is_quantized());
    assert!(!up.is_quantized());
    assert!(embed.is_quantized());
    let (embed, head) = embed.tied().unwrap();
    assert!(embed.is_quantized() && head.is_quantized());
    // A shape the config disagrees with is refused, naming the tensor.
    let e = text_linear(128, 256, true, &layer.pp("self_attn.q_proj"), Some(&gguf))
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.layers.0.self_attn.q_proj.weight"), "{e}");

    // The quantised matmul computes x Wᵀ + b to within the weights' quantisation error.
    let x = Tensor::from_vec(noise(3 * 256, 99, 1.0), (1, 3, 256), &dev).unwrap();
    let w = orig
        .load("model.layers.0.self_attn.q_proj.weight", &dev)
        .unwrap();
    let b = orig
        .load("model.layers.0.self_attn.q_proj.bias", &dev)
        .unwrap();
    let want = x
        .broadcast_matmul(&w.t().unwrap())
        .unwrap()
        .broadcast_add(&b)
        .unwrap();
    let got = q_proj.forward(&x).unwrap();
    let rel = (got - &want)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .sqrt()
        / want
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .sqrt();
    eprintln!("{}: q_proj output relative error {rel:.4}", quant.name());
    assert!(rel < 0.1, "{rel}");
    // bf16 activations (bias in bf16 too, as a bf16 model loads it) go through the same
    // kernels and come back in bf16.
    let vb16 = vb.clone().set_dtype(DType::BF16);
    let q16 = text_linear(
        256,
        256,
        true,
        &vb16.pp("model.layers.0.self_attn.q_proj"),
        Some(&gguf),
    )
    .unwrap();
    let y16 = q16.forward(&x.to_dtype(DType::BF16).unwrap()).unwrap();
    assert_eq!(y16.dtype(), DType::BF16);

    // A non-empty output directory and an already quantised source are refused.
    let again = quantize_checkpoint(&src, &out, quant, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(again.contains("not empty"), "{again}");
    let twice = quantize_checkpoint(&out, &scratch("twice"), quant, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(twice.contains("already a quantised checkpoint"), "{twice}");
}

#[test]
fn q8_0_round_trip_on_a_synthetic_checkpoint() {
    check_synthetic(QuantType::Q8_0);
}

#[test]
fn q4k_round_trip_on_a_synthetic_checkpoint() {
    check_synthetic(QuantType::Q4K);
}

fn engine_at(dir: &Path) -> LocalModelEngine {
    let mut opts = LocalModelOptions::new(dir.display().to_string());
    opts.dtype = Some(ModelDType::F32);
    opts.prefer_gpu = false;
    LocalModelEngine::load(opts).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

/// A quantised copy of a fixture checkpoint; `test` keeps concurrent tests apart.
fn quantized_fixture(name: &str, quant: QuantType, test: &str) -> PathBuf {
    let out = scratch(&format!("{test}-{name}-{}", quant.name()));
    quantize_checkpoint(&fixtures().join(name), &out, quant, &mut |_| {}).unwrap();
    out
}

#[test]
fn tiny_fixtures_load_quantised_and_name_it_in_the_identity() {
    // qwen2vl-tiny: hidden 64, MLP 128, tied embeddings; qwen2vl-legacy: the same sizes in
    // sharded bf16 with an untied LM head.
    for (name, matrices) in [("qwen2vl-tiny", 15), ("qwen2vl-legacy", 16)] {
        let q8 = quantized_fixture(name, QuantType::Q8_0, "identity");
        let m = QuantManifest::read(&q8).unwrap().unwrap();
        assert_eq!(m.quantized.len(), matrices, "{name}");
        assert!(m.kept_float.is_empty(), "{name}: {:?}", m.kept_float);
        let eng = engine_at(&q8);
        // Every projection, the token table and the LM head (tied or not) run quantised.
        assert_eq!(eng.model().quantized_matrices(), (16, 16), "{name}");
        let id = eng.identity();
        assert_eq!(id.dtype.as_deref(), Some("f32, language model q8_0"));
        let gguf = id
            .weights_sha256
            .iter()
            .find(|(f, _)| f == "model-q8_0.gguf")
            .unwrap_or_else(|| panic!("{name}: no GGUF hash in {:?}", id.weights_sha256));
        assert_eq!(gguf.1.len(), 64);

        // Every matrix of these checkpoints is 64 or 128 wide: none fits q4k's 256-value
        // blocks, so all stay float, the manifest says why, and the model is the float one.
        let q4 = quantized_fixture(name, QuantType::Q4K, "identity");
        let m = QuantManifest::read(&q4).unwrap().unwrap();
        assert!(m.quantized.is_empty());
        assert_eq!(m.kept_float.len(), matrices);
        assert!(m.kept_float[0].reason.contains("block size 256"));
        assert_eq!(engine_at(&q4).model().quantized_matrices(), (0, 16));
    }
}
