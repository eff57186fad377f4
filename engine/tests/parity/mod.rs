//! What the Qwen2-VL and Qwen3-VL parity tests share: the fixtures, loading through the public
//! path, the checks of the preprocessing (rendered prompt and token ids exact, pixel values
//! within 1e-5), and the engine's own parity check of the outputs (`model::parity`: top-20
//! log-probabilities, 16 greedy tokens, the yes/no masses after "<answer>").

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use ecgr1_engine::formats::{EcgImage, EcgInput, LoadOptions, load_path};
use ecgr1_engine::model::parity::{FixtureRoots, ParityReference, check_reference};
use ecgr1_engine::model::preprocess::ProcessedImage;
use ecgr1_engine::model::weights::SafetensorsFiles;
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType, PromptInput};
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

/// Every case of `reference/<name>.json` (or `<name>.bf16.json`) through the engine's parity
/// check, the one `ecgr1 model parity` runs on any device, asserted to pass; each case's figures
/// are printed.
pub fn assert_reference_parity(eng: &LocalModelEngine, name: &str, bf16: bool) {
    let dir = fixtures().join("reference");
    let f32_path = dir.join(format!("{name}.json"));
    let f32_reference = ParityReference::read(&f32_path).unwrap();
    let (path, reference) = if bf16 {
        let path = dir.join(format!("{name}.bf16.json"));
        let r = ParityReference::read(&path).unwrap();
        assert!(r.is_bf16(), "{}: not a bf16 reference", path.display());
        (path, r)
    } else {
        (f32_path, f32_reference.clone())
    };
    let report = check_reference(
        eng,
        &reference,
        bf16.then_some(&f32_reference),
        &FixtureRoots::of_reference(&path),
    )
    .unwrap();
    assert_eq!(report.cases.len(), reference.cases.len());
    for c in &report.cases {
        eprintln!(
            "{name}/{} ({}): {}",
            c.name,
            report.reference_dtype,
            c.summary()
        );
    }
    let failures: Vec<String> = report
        .cases
        .iter()
        .flat_map(|c| c.failures.iter().map(move |f| format!("{}: {f}", c.name)))
        .collect();
    assert!(failures.is_empty(), "{name}: {failures:#?}");
}
