//! Times the ECG-R1-8B signal path (ECG-CoCa tower + `mlp2x_gelu` projector) at its real shapes
//! — width 768, 12 blocks, MLP 3072, 101 tokens, projector 768 → 4096 → 4096 — with random
//! weights on the CPU, and, as a baseline in the same run, the PyTorch reference on the same
//! shapes (`scripts/make_ecg_tower_fixtures.py --bench`).
//!
//! ```sh
//! cargo run --release -p ecgr1-engine --example ecg_tower_bench -- [RUNS]
//! ECG_TOWER_PYTHON=/tmp/pyref/bin/python cargo run --release ...   # interpreter with torch
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ecgr1_engine::model::ecg_coca::{EcgEncoder, PROJECTOR_PREFIX, TOWER_PREFIX};

const WIDTH: usize = 768;
const DEPTH: usize = 12;
const MLP: usize = 3072;
const LEADS: usize = 12;
const PATCH: usize = 50;
const TOKENS: usize = 101;
const HIDDEN: usize = 4096;

/// Deterministic uniform values in [-scale, scale] (splitmix64): candle's CPU RNG cannot be
/// seeded, and the figures should not depend on the draw anyway.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // Top 24 bits → [0, 1) → [-1, 1).
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn tensor(&mut self, shape: &[usize], scale: f32) -> candle_core::Result<Tensor> {
        let n = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| self.next_f32() * scale).collect();
        Tensor::from_vec(data, shape, &Device::Cpu)
    }
}

fn random_checkpoint() -> candle_core::Result<HashMap<String, Tensor>> {
    let mut rng = Rng(768);
    let mut ts = HashMap::new();
    let w = WIDTH;
    let fan = |n: usize| 1.0 / (n as f32).sqrt();
    let mut put = |name: String, shape: &[usize], scale: f32| -> candle_core::Result<()> {
        ts.insert(name, rng.tensor(shape, scale)?);
        Ok(())
    };
    let t = TOWER_PREFIX;
    put(
        format!("{t}.conv1.weight"),
        &[w, LEADS, PATCH],
        fan(LEADS * PATCH),
    )?;
    put(format!("{t}.class_embedding"), &[w], fan(w))?;
    put(format!("{t}.positional_embedding"), &[TOKENS, w], fan(w))?;
    for ln in ["ln_pre", "ln_post"] {
        put(format!("{t}.{ln}.weight"), &[w], 1.0)?;
        put(format!("{t}.{ln}.bias"), &[w], 0.1)?;
    }
    put(format!("{t}.proj"), &[w, 512], fan(w))?;
    for n in 0..DEPTH {
        let b = format!("{t}.transformer.resblocks.{n}");
        for ln in ["ln_1", "ln_2"] {
            put(format!("{b}.{ln}.weight"), &[w], 1.0)?;
            put(format!("{b}.{ln}.bias"), &[w], 0.1)?;
        }
        put(format!("{b}.attn.in_proj_weight"), &[3 * w, w], fan(w))?;
        put(format!("{b}.attn.in_proj_bias"), &[3 * w], 0.1)?;
        put(format!("{b}.attn.out_proj.weight"), &[w, w], fan(w))?;
        put(format!("{b}.attn.out_proj.bias"), &[w], 0.1)?;
        put(format!("{b}.mlp.c_fc.weight"), &[MLP, w], fan(w))?;
        put(format!("{b}.mlp.c_fc.bias"), &[MLP], 0.1)?;
        put(format!("{b}.mlp.c_proj.weight"), &[w, MLP], fan(MLP))?;
        put(format!("{b}.mlp.c_proj.bias"), &[w], 0.1)?;
    }
    let p = PROJECTOR_PREFIX;
    put(format!("{p}.0.weight"), &[HIDDEN, w], fan(w))?;
    put(format!("{p}.0.bias"), &[HIDDEN], 0.1)?;
    put(format!("{p}.2.weight"), &[HIDDEN, HIDDEN], fan(HIDDEN))?;
    put(format!("{p}.2.bias"), &[HIDDEN], 0.1)?;
    Ok(ts)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn torch_baseline(runs: usize) -> Result<String, String> {
    let python = std::env::var("ECG_TOWER_PYTHON").unwrap_or_else(|_| "python3".into());
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/make_ecg_tower_fixtures.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--bench", "--runs", &runs.to_string()])
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").to_string();
        return Err(format!("{python} exited with {}: {last}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 10,
    };
    let runs = runs.max(1);
    let start = Instant::now();
    let vb = VarBuilder::from_tensors(random_checkpoint()?, DType::F32, &Device::Cpu);
    let encoder = EcgEncoder::from_varbuilder(&vb)?;
    println!(
        "random ECG-R1-8B signal path: {:?}, projector {} {}→{} (built in {:.0} ms)",
        encoder.tower.config(),
        encoder.projector.kind(),
        encoder.projector.in_dim(),
        encoder.projector.out_dim(),
        start.elapsed().as_secs_f64() * 1e3
    );

    let mut rng = Rng(1);
    let signal = rng.tensor(&[1, LEADS, PATCH * (TOKENS - 1)], 1.0)?;
    encoder.forward(&signal)?; // warm-up
    let (mut tower_ms, mut proj_ms, mut total_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t0 = Instant::now();
        let tokens = encoder.tower.forward(&signal)?;
        let t1 = Instant::now();
        let out = encoder.projector.forward(&tokens)?;
        let t2 = Instant::now();
        if out.dims() != [1, TOKENS, HIDDEN] {
            return Err(format!("unexpected output shape {:?}", out.dims()).into());
        }
        tower_ms.push((t1 - t0).as_secs_f64() * 1e3);
        proj_ms.push((t2 - t1).as_secs_f64() * 1e3);
        total_ms.push((t2 - t0).as_secs_f64() * 1e3);
    }
    let candle_total = median(total_ms);
    println!(
        "candle f32 CPU ({} threads): tower {:.1} ms, projector {:.1} ms, total {:.1} ms per forward (median of {runs})",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        median(tower_ms),
        median(proj_ms),
        candle_total
    );

    match torch_baseline(runs) {
        Ok(line) => {
            println!("torch reference: {line}");
            let parsed: serde_json::Value = serde_json::from_str(&line)?;
            if let Some(torch_ms) = parsed["median_ms"].as_f64() {
                println!(
                    "ratio candle / torch: {:.2} (torch total {:.1} ms)",
                    candle_total / torch_ms,
                    torch_ms
                );
            }
        }
        Err(e) => println!("torch baseline unavailable: {e}"),
    }
    Ok(())
}
