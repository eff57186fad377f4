//! How often quantised language models agree with f32: the 16 greedy tokens, the first
//! next-token log-probabilities, P(yes) after "<answer>", the yes/no answer and the risk band, on
//! the parity prompts. Figures are printed and recorded in `target/tmp/quant_agreement*.json`;
//! the README quotes them.

// Test code throughout: a failed unwrap is a failed test (clippy's in-test allowance does not
// reach helper functions of an integration test crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::model::generate::{GenerationParams, generate, log_softmax, top_k_logprobs};
use ecgr1_engine::model::preprocess::ProcessedImage;
use ecgr1_engine::model::quant::safetensors_out::{PlannedFloat, SafetensorsStreamWriter};
use ecgr1_engine::model::quant::{QuantType, quantize_checkpoint};
use ecgr1_engine::model::weights::SafetensorsFiles;
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType, PromptInput};
use ecgr1_engine::record::ModelSignal;
use ecgr1_engine::report::RiskBand;
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
}

/// A fresh, empty scratch directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("quant-agree-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn engine_at(dir: &Path) -> LocalModelEngine {
    let mut opts = LocalModelOptions::new(dir.display().to_string());
    opts.dtype = Some(ModelDType::F32);
    opts.prefer_gpu = false;
    LocalModelEngine::load(opts).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

fn reference_cases(name: &str) -> Vec<Value> {
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join(format!("reference/{name}.json"))).unwrap(),
    )
    .unwrap();
    r["cases"].as_array().unwrap().clone()
}

fn load_image(file: &str) -> ecgr1_engine::formats::EcgImage {
    match load_path(&fixtures().join(file), &LoadOptions::default()).unwrap() {
        EcgInput::Image(i) => i,
        EcgInput::Signal(_) => panic!("{file} is an image"),
    }
}

/// The model input of a case's signal (ECG-R1 cases name a sample recording), if any.
fn case_signal(eng: &LocalModelEngine, case: &Value) -> Option<ModelSignal> {
    let file = case["ecg"].as_str()?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
    match load_path(&path, &LoadOptions::default()).unwrap() {
        EcgInput::Signal(s) => Some(eng.model_signal(&s.record).unwrap()),
        EcgInput::Image(_) => panic!("{file} is a signal"),
    }
}

/// Greedy tokens, P(yes) and the first next-token log-probabilities of one parity prompt.
fn run_case(eng: &LocalModelEngine, case: &Value) -> (Vec<u32>, f64, Vec<f64>) {
    let img = case["image"]
        .as_str()
        .map(|f| eng.preprocess(&load_image(f)).unwrap());
    let signal = case_signal(eng, case);
    let input = PromptInput {
        system: case["system"].as_str(),
        notes: case["notes"].as_str().unwrap(),
        question: case["question"].as_str().unwrap(),
        with_image: img.is_some(),
        ecg_tokens: if signal.is_some() {
            eng.ecg_tokens()
        } else {
            0
        },
    };
    let (_, prompt) = eng.prompt_ids(&input, img.as_ref()).unwrap();
    let images: Vec<ProcessedImage> = img.iter().cloned().collect();
    let (mut session, logits) = eng
        .model()
        .prefill_with_ecg(&prompt, &images, signal.as_ref())
        .unwrap();
    let logprobs = log_softmax(&logits);
    let params = GenerationParams {
        max_new_tokens: 16,
        stop_token_ids: Vec::new(),
        ..GenerationParams::default()
    };
    let out = generate(&mut session, logits, &prompt, &params, None, &mut |_| {}).unwrap();
    let score = eng
        .score_after_answer_tag(&prompt, img.as_ref(), signal.as_ref())
        .unwrap()
        .unwrap();
    (out.tokens, score.p_yes, logprobs)
}

fn answer(p_yes: f64) -> &'static str {
    if p_yes >= 0.5 { "yes" } else { "no" }
}

/// Quantises `float_dir` to q8_0 and q4k and compares both with f32 on `cases`; one row per
/// case and type.
fn agreement_rows(label: &str, float_dir: &Path, cases: &[Value]) -> Vec<Value> {
    let f32_engine = engine_at(float_dir);
    let quantized: Vec<(QuantType, LocalModelEngine)> = [QuantType::Q8_0, QuantType::Q4K]
        .into_iter()
        .map(|q| {
            let out = scratch(&format!("{label}-{}", q.name()));
            quantize_checkpoint(float_dir, &out, q, &mut |_| {}).unwrap();
            (q, engine_at(&out))
        })
        .collect();
    let mut rows = Vec::new();
    for case in cases {
        let (base_tokens, base_p, base_lp) = run_case(&f32_engine, case);
        let logits: Vec<f32> = base_lp.iter().map(|&x| x as f32).collect();
        let top20: Vec<usize> = top_k_logprobs(&logits, 20)
            .iter()
            .map(|(id, _)| *id as usize)
            .collect();
        for (q, eng) in &quantized {
            let (tokens, p, lp) = run_case(eng, case);
            let top20_diff = top20
                .iter()
                .map(|&i| (lp[i] - base_lp[i]).abs())
                .fold(0f64, f64::max);
            let pairs = || tokens.iter().zip(&base_tokens);
            rows.push(json!({
                "checkpoint": label,
                "case": case["name"],
                "quant": q.name(),
                "quantized_matrices": eng.model().quantized_matrices().0,
                "matrices": eng.model().quantized_matrices().1,
                "greedy_tokens_equal": pairs().filter(|(a, b)| a == b).count(),
                "greedy_common_prefix": pairs().take_while(|(a, b)| a == b).count(),
                "greedy_tokens": base_tokens.len(),
                "top20_logprob_max_diff": top20_diff,
                "p_yes_f32": base_p,
                "p_yes": p,
                "answer_f32": answer(base_p),
                "answer": answer(p),
                "answer_agrees": answer(p) == answer(base_p),
                "band_agrees": RiskBand::from_p_yes(p) == RiskBand::from_p_yes(base_p),
            }));
        }
    }
    rows
}

fn print_and_record(rows: &[Value], file: &str) {
    let same = |v: &Value| if v == true { "same" } else { "DIFF" };
    eprintln!(
        "{:<16}{:<13}{:<6}{:>8}{:>8}{:>11}{:>10}{:>9}{:>8}{:>6}",
        "checkpoint",
        "case",
        "quant",
        "tokens",
        "prefix",
        "top20 |d|",
        "P(yes)f32",
        "P(yes)",
        "answer",
        "band"
    );
    for r in rows {
        eprintln!(
            "{:<16}{:<13}{:<6}{:>8}{:>8}{:>11.2e}{:>10.4}{:>9.4}{:>8}{:>6}",
            r["checkpoint"].as_str().unwrap(),
            r["case"].as_str().unwrap(),
            r["quant"].as_str().unwrap(),
            format!("{}/{}", r["greedy_tokens_equal"], r["greedy_tokens"]),
            format!("{}/{}", r["greedy_common_prefix"], r["greedy_tokens"]),
            r["top20_logprob_max_diff"].as_f64().unwrap(),
            r["p_yes_f32"].as_f64().unwrap(),
            r["p_yes"].as_f64().unwrap(),
            same(&r["answer_agrees"]),
            same(&r["band_agrees"]),
        );
    }
    let record = Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
    std::fs::write(&record, serde_json::to_string_pretty(rows).unwrap()).unwrap();
    eprintln!("recorded in {}", record.display());
}

#[test]
fn agreement_with_f32_on_the_parity_prompts() {
    let mut rows = Vec::new();
    for name in [
        "qwen2vl-tiny",
        "qwen2vl-legacy",
        "qwen3vl-tiny",
        "ecgr1-tiny",
    ] {
        rows.extend(agreement_rows(
            name,
            &fixtures().join(name),
            &reference_cases(name),
        ));
    }
    print_and_record(&rows, "quant_agreement.json");
    // 2 + 2 Qwen2-VL, 3 Qwen3-VL and 4 ECG-R1 (text, image, signal, both) cases, two types each.
    assert_eq!(rows.len(), 22);
    let q8: Vec<&Value> = rows.iter().filter(|r| r["quant"] == "q8_0").collect();
    for r in &q8 {
        // Every matrix of these 64-wide decoders ran quantised, and moved P(yes), not far.
        assert_eq!(r["quantized_matrices"], r["matrices"], "{r}");
        let d = (r["p_yes"].as_f64().unwrap() - r["p_yes_f32"].as_f64().unwrap()).abs();
        assert!(d > 0.0 && d < 0.1, "{r}");
    }
    // Random weights have greedy margins of hundredths of a nat, so a token may flip; the yes/no
    // answer may not flip on more than one prompt in ten.
    let flipped = q8.iter().filter(|r| r["answer_agrees"] != true).count();
    assert!(
        flipped * 10 <= q8.len(),
        "{flipped} of {} answers flipped",
        q8.len()
    );
    // q4k keeps these 64-wide checkpoints in float, so it must reproduce f32 exactly.
    for r in rows.iter().filter(|r| r["quant"] == "q4k") {
        assert_eq!(r["quantized_matrices"], 0, "{r}");
        assert_eq!(r["greedy_tokens_equal"], 16, "{r}");
        assert_eq!(r["p_yes"], r["p_yes_f32"], "{r}");
    }
}

/// A dimension of the tiny checkpoint's text side, widened so every matrix fits q4k's blocks:
/// hidden 64 → 256 (4 heads of 64), key/value width 32 → 128, MLP 128 → 512.
fn widen(d: usize) -> usize {
    match d {
        64 => 256,
        32 => 128,
        128 => 512,
        other => other,
    }
}

/// qwen2vl-tiny widened to hidden 256: same tokenizer, template, vision tower and prompts, fresh
/// random text weights drawn with each original tensor's mean and standard deviation (matrices
/// scaled to keep their gain at the new width). No reference exists for it: it is compared with
/// itself in f32.
fn widened_tiny() -> PathBuf {
    let src = fixtures().join("qwen2vl-tiny");
    let dir = scratch("widened-src");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "chat_template.jinja",
        "generation_config.json",
        "processor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    config["text_config"]["hidden_size"] = json!(256);
    config["text_config"]["intermediate_size"] = json!(512);
    config["text_config"]["rope_parameters"]["mrope_section"] = json!([8, 12, 12]);
    config["vision_config"]["hidden_size"] = json!(256);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let orig = SafetensorsFiles::open(&[src.join("model.safetensors")]).unwrap();
    let mut names: Vec<String> = orig.names().map(str::to_string).collect();
    names.sort_unstable();
    let widened_shape = |name: &str, shape: &[usize]| -> Vec<usize> {
        if name.starts_with("model.") {
            shape.iter().map(|&d| widen(d)).collect()
        } else if name.starts_with("visual.merger.mlp.2.") {
            // The merger's output is the text hidden size.
            let mut s = shape.to_vec();
            s[0] = 256;
            s
        } else {
            shape.to_vec()
        }
    };
    let plan: Vec<PlannedFloat> = names
        .iter()
        .map(|n| PlannedFloat {
            name: n.clone(),
            dtype: DType::F32,
            shape: widened_shape(n, orig.shape(n).unwrap()),
        })
        .collect();
    let file = std::fs::File::create(dir.join("model.safetensors")).unwrap();
    let mut w = SafetensorsStreamWriter::begin(std::io::BufWriter::new(file), plan).unwrap();
    let order: Vec<PlannedFloat> = w.order().cloned().collect();
    for (i, t) in order.iter().enumerate() {
        let x = orig
            .load(&t.name, &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let n: usize = t.shape.iter().product();
        let values = if n == x.len() && t.shape == orig.shape(&t.name).unwrap() {
            x
        } else {
            let mean = x.iter().sum::<f32>() / x.len() as f32;
            let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / x.len() as f32).sqrt();
            // A matrix keeps its gain (and the logits their scale): its spread shrinks by
            // √(old inner width / new inner width), as a fan-in initialisation would.
            let old_inner = *orig.shape(&t.name).unwrap().last().unwrap();
            let new_inner = *t.shape.last().unwrap();
            let sd = if t.shape.len() == 2 {
                sd * (old_inner as f32 / new_inner as f32).sqrt()
            } else {
                sd
            };
            // Uniform noise of half-width sd·√3 has standard deviation sd.
            noise(n, i as u64 + 7, sd * 3f32.sqrt())
                .into_iter()
                .map(|v| v + mean)
                .collect()
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.write_tensor(&t.name, &bytes).unwrap();
    }
    w.finish().unwrap();
    dir
}

fn noise(n: usize, seed: u64, half_width: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            // xorshift64*: a deterministic, roughly uniform stream in [-half_width, half_width).
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let u = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
            (2.0 * u - 1.0) * half_width
        })
        .collect()
}

#[test]
fn agreement_on_a_block_sized_widening_of_the_tiny_checkpoint() {
    let dir = widened_tiny();
    let rows = agreement_rows("tiny-wide-256", &dir, &reference_cases("qwen2vl-tiny"));
    print_and_record(&rows, "quant_agreement_wide.json");
    assert_eq!(rows.len(), 4);
    // Here every matrix fits both block sizes, so both types really run quantised, and q4k's
    // coarser blocks move the log-probabilities more than q8_0's.
    for pair in rows.chunks(2) {
        let (q8, q4) = (&pair[0], &pair[1]);
        assert_eq!(
            (&q8["quant"], &q4["quant"]),
            (&json!("q8_0"), &json!("q4k"))
        );
        assert_eq!(q8["quantized_matrices"], 16, "{q8}");
        assert_eq!(q4["quantized_matrices"], 16, "{q4}");
        let d = |r: &Value| r["top20_logprob_max_diff"].as_f64().unwrap();
        assert!(0.0 < d(q8) && d(q8) < d(q4), "{q8} {q4}");
        assert_eq!(
            q8["answer_agrees"], true,
            "q8_0 changed a yes/no answer: {q8}"
        );
    }
}
