//! Parity with Hugging Face transformers on tiny random-weight Qwen2-VL checkpoints
//! (tests/fixtures/model, written by scripts/make_model_fixtures.py): token ids exact, pixel
//! values within 1e-5, top-20 log-probabilities within 1e-3, 16 greedy tokens identical, and the
//! yes/no masses after "<answer>".

// Test code throughout: a failed unwrap is a failed test (clippy's in-test allowance does not
// reach helper functions of an integration test crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ecgr1_engine::formats::{EcgImage, EcgInput, LoadOptions, load_path};
use ecgr1_engine::model::generate::{GenerationParams, generate, log_softmax};
use ecgr1_engine::model::preprocess::ProcessedImage;
use ecgr1_engine::model::weights::SafetensorsFiles;
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType, PromptInput};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
}

fn engine(name: &str) -> LocalModelEngine {
    let mut opts = LocalModelOptions::new(fixtures().join(name).display().to_string());
    opts.dtype = Some(ModelDType::F32);
    opts.prefer_gpu = false;
    LocalModelEngine::load(opts).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn reference(name: &str) -> Value {
    let path = fixtures().join("reference").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn image(file: &str) -> EcgImage {
    match load_path(&fixtures().join(file), &LoadOptions::default()).unwrap() {
        EcgInput::Image(i) => i,
        EcgInput::Signal(_) => panic!("{file} is an image"),
    }
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

fn reference_pixels(file: &str) -> (Vec<Vec<f32>>, Vec<i64>) {
    let st = SafetensorsFiles::open(&[fixtures().join("reference").join(file)]).unwrap();
    let dev = candle_core::Device::Cpu;
    let pv = st
        .load("pixel_values", &dev)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let grid = st
        .load("image_grid_thw", &dev)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<i64>()
        .unwrap();
    (pv, grid)
}

fn assert_pixels(ours: &ProcessedImage, file: &str) {
    let (pv, grid) = reference_pixels(file);
    let g: Vec<i64> = ours.grid_thw.iter().map(|&x| x as i64).collect();
    assert_eq!(g, grid, "{file}: grid_thw");
    assert_eq!(ours.patches, pv.len(), "{file}: patch count");
    let mut worst = 0f32;
    for (p, row) in pv.iter().enumerate() {
        assert_eq!(row.len(), ours.patch_dim);
        for (j, &r) in row.iter().enumerate() {
            worst = worst.max((ours.pixel_values[p * ours.patch_dim + j] - r).abs());
        }
    }
    eprintln!("{file}: worst pixel difference {worst:.2e}");
    assert!(
        worst <= 1e-5,
        "{file}: pixel values differ by up to {worst}"
    );
}

fn check_checkpoint(name: &str) {
    let eng = engine(name);
    let r = reference(name);
    for case in r["cases"].as_array().unwrap() {
        let label = format!("{name}/{}", case["name"].as_str().unwrap());
        let img = case["image"]
            .as_str()
            .map(|f| eng.preprocess(&image(f)).unwrap());
        if let (Some(p), Some(file)) = (&img, case["pixel_values_file"].as_str()) {
            assert_pixels(p, file);
        }
        let input = PromptInput {
            system: case["system"].as_str(),
            notes: case["notes"].as_str().unwrap(),
            question: case["question"].as_str().unwrap(),
            with_image: img.is_some(),
        };
        let (rendered, prompt) = eng.prompt_ids(&input, img.as_ref()).unwrap();
        assert_eq!(
            rendered,
            case["prompt_text"].as_str().unwrap(),
            "{label}: rendered prompt"
        );
        assert_eq!(prompt, ids(&case["input_ids"]), "{label}: prompt token ids");

        let images: Vec<ProcessedImage> = img.iter().cloned().collect();
        let (mut session, logits) = eng.model().prefill(&prompt, &images).unwrap();
        let lp = log_softmax(&logits);
        let mut worst = 0f64;
        for pair in case["top_logprobs"].as_array().unwrap() {
            let id = pair[0].as_u64().unwrap() as usize;
            let want = pair[1].as_f64().unwrap();
            worst = worst.max((lp[id] - want).abs());
        }
        eprintln!(
            "{label}: prompt {} tokens, worst top-20 log-prob difference {worst:.2e}",
            prompt.len()
        );
        assert!(
            worst <= 1e-3,
            "{label}: top-20 log-probs differ by up to {worst}"
        );
        let ours_top = ecgr1_engine::model::generate::top_k_logprobs(&logits, 1)[0].0;
        assert_eq!(
            ours_top as u64,
            case["top_logprobs"][0][0].as_u64().unwrap(),
            "{label}: top-1"
        );

        let params = GenerationParams {
            max_new_tokens: 16,
            stop_token_ids: Vec::new(),
            ..GenerationParams::default()
        };
        let out = generate(&mut session, logits, &prompt, &params, None, &mut |_| {}).unwrap();
        assert_eq!(
            out.tokens,
            ids(&case["greedy_tokens"]),
            "{label}: greedy tokens"
        );

        let yn = eng.yes_no_tokens();
        assert_eq!(yn.yes, ids(&case["yes_token_ids"]), "{label}: yes tokens");
        assert_eq!(yn.no, ids(&case["no_token_ids"]), "{label}: no tokens");
        let score = eng
            .score_after_answer_tag(&prompt, img.as_ref())
            .unwrap()
            .unwrap();
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-12);
        assert!(
            rel(score.yes_mass, case["yes_mass"].as_f64().unwrap()) < 1e-3,
            "{label}: yes mass {score:?}"
        );
        assert!(
            rel(score.no_mass, case["no_mass"].as_f64().unwrap()) < 1e-3,
            "{label}: no mass {score:?}"
        );
        assert!(
            (score.p_yes - case["p_yes"].as_f64().unwrap()).abs() < 1e-4,
            "{label}: P(yes)"
        );
    }
}

#[test]
fn current_layout_matches_transformers() {
    check_checkpoint("qwen2vl-tiny");
}

#[test]
fn legacy_sharded_bf16_layout_matches_transformers() {
    check_checkpoint("qwen2vl-legacy");
}

#[test]
fn upscaled_image_pixels_match_the_processor() {
    let eng = engine("qwen2vl-tiny");
    let p = eng.preprocess(&image("ecg_tiny.png")).unwrap();
    assert_pixels(&p, "pixels_tiny_upscaled.safetensors");
}
