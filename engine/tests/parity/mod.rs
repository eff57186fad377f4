//! What the Qwen2-VL and Qwen3-VL parity tests share: the fixtures, loading through the public
//! path, and the checks every reference case gets (rendered prompt and token ids exact, pixel
//! values within 1e-5, top-20 log-probabilities within 1e-3, 16 greedy tokens identical, the
//! yes/no masses after "<answer>").

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use ecgr1_engine::formats::{EcgImage, EcgInput, LoadOptions, load_path};
use ecgr1_engine::model::generate::{GenerationParams, generate, log_softmax, top_k_logprobs};
use ecgr1_engine::model::preprocess::ProcessedImage;
use ecgr1_engine::model::weights::SafetensorsFiles;
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType, PromptInput};
use ecgr1_engine::record::ModelSignal;
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
}

pub fn engine(name: &str) -> LocalModelEngine {
    engine_in(name, ModelDType::F32)
}

pub fn engine_in(name: &str, dtype: ModelDType) -> LocalModelEngine {
    let mut opts = LocalModelOptions::new(fixtures().join(name).display().to_string());
    opts.dtype = Some(dtype);
    opts.prefer_gpu = false;
    LocalModelEngine::load(opts).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

pub fn reference(name: &str) -> Value {
    let path = fixtures().join("reference").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn reference_tensors(file: &str) -> SafetensorsFiles {
    SafetensorsFiles::open(&[fixtures().join("reference").join(file)]).unwrap()
}

pub fn image(file: &str) -> EcgImage {
    match load_path(&fixtures().join(file), &LoadOptions::default()).unwrap() {
        EcgInput::Image(i) => i,
        EcgInput::Signal(_) => panic!("{file} is an image"),
    }
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

pub fn max_abs_diff(ours: &Tensor, theirs: &Tensor) -> f32 {
    assert_eq!(ours.dims(), theirs.dims(), "shapes differ");
    (ours - theirs)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

pub fn assert_pixels(ours: &ProcessedImage, file: &str) {
    let st = reference_tensors(file);
    let dev = Device::Cpu;
    let pv = st.load("pixel_values", &dev).unwrap();
    let grid = st
        .load("image_grid_thw", &dev)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<i64>()
        .unwrap();
    let g: Vec<i64> = ours.grid_thw.iter().map(|&x| x as i64).collect();
    assert_eq!(g, grid, "{file}: grid_thw");
    let mine =
        Tensor::from_slice(&ours.pixel_values, (ours.patches, ours.patch_dim), &dev).unwrap();
    let worst = max_abs_diff(&mine, &pv);
    eprintln!("{file}: worst pixel difference {worst:.2e}");
    assert!(
        worst <= 1e-5,
        "{file}: pixel values differ by up to {worst}"
    );
}

/// The case's image preprocessed (checked against the reference pixels where it has them).
pub fn case_image(eng: &LocalModelEngine, case: &Value) -> Option<ProcessedImage> {
    let img = case["image"]
        .as_str()
        .map(|f| eng.preprocess(&image(f)).unwrap())?;
    if let Some(file) = case["pixel_values_file"].as_str() {
        assert_pixels(&img, file);
    }
    Some(img)
}

/// Renders and tokenises the case's prompt, checking both against the reference; returns the ids.
pub fn check_prompt(
    eng: &LocalModelEngine,
    case: &Value,
    label: &str,
    img: Option<&ProcessedImage>,
    ecg_tokens: usize,
) -> Vec<u32> {
    let input = PromptInput {
        system: case["system"].as_str(),
        notes: case["notes"].as_str().unwrap(),
        question: case["question"].as_str().unwrap(),
        with_image: img.is_some(),
        ecg_tokens,
    };
    let (rendered, prompt) = eng.prompt_ids(&input, img).unwrap();
    assert_eq!(
        rendered,
        case["prompt_text"].as_str().unwrap(),
        "{label}: rendered prompt"
    );
    assert_eq!(prompt, ids(&case["input_ids"]), "{label}: prompt token ids");
    prompt
}

/// Prefill, next-token log-probabilities, greedy decoding and the yes/no masses of one case.
pub fn check_outputs(
    eng: &LocalModelEngine,
    case: &Value,
    label: &str,
    prompt: &[u32],
    img: Option<&ProcessedImage>,
    ecg: Option<&ModelSignal>,
) {
    let images: Vec<ProcessedImage> = img.into_iter().cloned().collect();
    let (mut session, logits) = eng.model().prefill_with_ecg(prompt, &images, ecg).unwrap();
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
    assert_eq!(
        u64::from(top_k_logprobs(&logits, 1)[0].0),
        case["top_logprobs"][0][0].as_u64().unwrap(),
        "{label}: top-1"
    );

    let params = GenerationParams {
        max_new_tokens: 16,
        stop_token_ids: Vec::new(),
        ..GenerationParams::default()
    };
    let out = generate(&mut session, logits, prompt, &params, None, &mut |_| {}).unwrap();
    assert_eq!(
        out.tokens,
        ids(&case["greedy_tokens"]),
        "{label}: greedy tokens"
    );

    let yn = eng.yes_no_tokens();
    assert_eq!(yn.yes, ids(&case["yes_token_ids"]), "{label}: yes tokens");
    assert_eq!(yn.no, ids(&case["no_token_ids"]), "{label}: no tokens");
    let score = eng
        .score_after_answer_tag(prompt, img, ecg)
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
