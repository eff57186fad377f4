//! Parity with Hugging Face transformers 5.23 on tiny random-weight Qwen3-VL and ECG-R1
//! checkpoints (tests/fixtures/model, written by scripts/make_qwen3vl_fixtures.py): rendered
//! prompt and token ids exact, pixel values within 1e-5, the 3-D rotary positions exact, the vision
//! tower's position embeddings, image tokens and deepstack features and the ECG tower's tokens
//! within 1e-4, top-20 log-probabilities within 1e-3, 16 greedy tokens identical, and the yes/no
//! masses after "<answer>" (the shared checks are in `parity/mod.rs`). Everything loads through
//! the public path (`LocalModelEngine::load`).

// Test code throughout: a failed unwrap is a failed test (clippy's in-test allowance does not
// reach helper functions of an integration test crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod parity;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::model::ModelDType;
use ecgr1_engine::model::parity::{FixtureRoots, ParityReference, check_reference};
use ecgr1_engine::model::preprocess::ProcessedImage;
use ecgr1_engine::model::rope::rope_positions;
use ecgr1_engine::model::{LocalModelEngine, ModelFamily, Network};
use ecgr1_engine::record::ModelSignal;
use parity::{
    assert_reference_parity, case_image, check_prompt, engine, engine_in, max_abs_diff, reference,
    reference_tensors,
};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The record named by a case, turned into the tower's input, checked against the reference's.
fn signal(eng: &LocalModelEngine, case: &Value, label: &str) -> Option<ModelSignal> {
    let file = case["ecg"].as_str()?;
    let record = match load_path(&repo_root().join(file), &LoadOptions::default()).unwrap() {
        EcgInput::Signal(s) => s.record,
        EcgInput::Image(_) => panic!("{file} is a signal"),
    };
    let s = eng.model_signal(&record).unwrap();
    let st = reference_tensors(case["ecg_input"].as_str().unwrap());
    let want = st.load("ecg", &Device::Cpu).unwrap();
    let ours = Tensor::from_slice(&s.data_mv, (1, s.leads, s.samples), &Device::Cpu).unwrap();
    let worst = max_abs_diff(&ours, &want);
    eprintln!("{label}: worst ECG input difference {worst:.2e}");
    assert!(
        worst <= 1e-6,
        "{label}: tower input differs by up to {worst}"
    );
    Some(s)
}

/// The intermediate tensors the generator saved, where this case has them.
fn check_intermediates(
    eng: &LocalModelEngine,
    name: &str,
    case: &Value,
    prompt: &[u32],
    images: &[ProcessedImage],
    ecg: Option<&ModelSignal>,
) {
    let label = format!("{name}/{}", case["name"].as_str().unwrap());
    let st = reference_tensors(&format!("intermediates_{name}.safetensors"));
    let dev = Device::Cpu;
    let Network::Qwen3Vl(m) = eng.model() else {
        panic!("{name} is not a Qwen3-VL network")
    };
    let case_name = case["name"].as_str().unwrap();
    let pos_key = format!("{case_name}.position_ids");
    if st.contains(&pos_key) {
        let want = st.load(&pos_key, &dev).unwrap().to_vec2::<i64>().unwrap();
        let grids: Vec<[usize; 3]> = images.iter().map(|i| i.grid_thw).collect();
        let (pos, _) = rope_positions(prompt, m.config().image_token_id, &grids, 2).unwrap();
        for axis in 0..3 {
            let ours: Vec<i64> = pos.iter().map(|p| p[axis]).collect();
            assert_eq!(ours, want[axis], "{label}: position ids, axis {axis}");
        }
    }
    // Vision intermediates are saved per image file ("small" = ecg_small.png, "tiny").
    if let Some(file) = case["image"].as_str() {
        let key = if file.contains("small") {
            "small"
        } else {
            "tiny"
        };
        if st.contains(&format!("{key}.image_embeds")) {
            let grids: Vec<[usize; 3]> = images.iter().map(|i| i.grid_thw).collect();
            let pos = m.vision().position_embeddings(&grids, &dev).unwrap();
            let want = st.load(&format!("{key}.pos_embeds"), &dev).unwrap();
            let d = max_abs_diff(&pos, &want);
            assert!(d <= 1e-5, "{label}: position embeddings differ by {d}");
            let out = m.encode_images(images).unwrap();
            let want = st.load(&format!("{key}.image_embeds"), &dev).unwrap();
            let d = max_abs_diff(&out.embeds, &want);
            eprintln!("{label}: image tokens differ by up to {d:.2e}");
            assert!(d <= 1e-4, "{label}: image tokens differ by {d}");
            for (k, feat) in out.deepstack.iter().enumerate() {
                let want = st.load(&format!("{key}.deepstack.{k}"), &dev).unwrap();
                let d = max_abs_diff(feat, &want);
                assert!(d <= 1e-4, "{label}: deepstack feature {k} differs by {d}");
            }
        }
    }
    if let Some(s) = ecg
        && st.contains("ecg.projected")
    {
        let enc = m.ecg_encoder().unwrap();
        let tokens = enc.tower.encode(s).unwrap();
        let want = st.load("ecg.tokens", &dev).unwrap();
        let d = max_abs_diff(&tokens, &want);
        assert!(d <= 1e-4, "{label}: ECG tower tokens differ by {d}");
        let projected = enc.encode(s).unwrap();
        let want = st.load("ecg.projected", &dev).unwrap();
        let d = max_abs_diff(&projected, &want);
        eprintln!("{label}: projected ECG tokens differ by up to {d:.2e}");
        assert!(d <= 1e-4, "{label}: projected ECG tokens differ by {d}");
    }
}

fn check_checkpoint(name: &str, family: ModelFamily) {
    let eng = engine(name);
    assert_eq!(eng.checkpoint().family, family, "{name}: family");
    let r = reference(name);
    assert_eq!(
        eng.checkpoint().parameters,
        r["parameters"].as_u64().unwrap(),
        "{name}: parameters"
    );
    for case in r["cases"].as_array().unwrap() {
        let label = format!("{name}/{}", case["name"].as_str().unwrap());
        let img = case_image(&eng, case);
        let ecg = signal(&eng, case, &label);
        let ecg_tokens = if ecg.is_some() { eng.ecg_tokens() } else { 0 };
        let prompt = check_prompt(&eng, case, &label, img.as_ref(), ecg_tokens);
        let images: Vec<ProcessedImage> = img.iter().cloned().collect();
        check_intermediates(&eng, name, case, &prompt, &images, ecg.as_ref());
    }
    assert_reference_parity(&eng, name, false);
}

#[test]
fn qwen3vl_text_and_image_match_transformers() {
    check_checkpoint("qwen3vl-tiny", ModelFamily::Qwen3Vl);
}

#[test]
fn ecgr1_text_image_signal_and_both_match_transformers() {
    check_checkpoint("ecgr1-tiny", ModelFamily::EcgR1);
}

#[test]
fn ecgr1_reports_its_tower_and_refuses_a_signal_without_one() {
    let eng = engine("ecgr1-tiny");
    let tower = eng.model().ecg_tower().unwrap();
    assert_eq!((tower.width, tower.leads, tower.tokens), (64, 12, 101));
    assert_eq!(eng.ecg_tokens(), 101);
    // The image-only Qwen3-VL has no tower: a signal is refused with a message saying so.
    let plain = engine("qwen3vl-tiny");
    assert!(plain.model().ecg_tower().is_none());
    let record = match load_path(
        &repo_root().join("assets/samples/synthetic_sinus.csv"),
        &LoadOptions::default(),
    )
    .unwrap()
    {
        EcgInput::Signal(s) => s.record,
        EcgInput::Image(_) => panic!("a signal"),
    };
    let e = plain.model_signal(&record).unwrap_err().to_string();
    assert!(e.contains("no ECG tower"), "{e}");
}

#[test]
fn an_ecg_pad_id_that_disagrees_with_the_tokenizer_is_refused() {
    use ecgr1_engine::model::ChatPrompt;
    use ecgr1_engine::model::config::ModelConfig;
    let dir = parity::fixtures().join("ecgr1-tiny");
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    assert!(text.contains("\"ecg_token_id\": 472"));
    let cfg = ModelConfig::from_json("config.json", &text).unwrap();
    assert_eq!(cfg.ecg_token_id(), Some(472));
    assert!(ChatPrompt::load(&dir, &cfg).is_ok());
    let wrong = text.replace("\"ecg_token_id\": 472", "\"ecg_token_id\": 471");
    let cfg = ModelConfig::from_json("config.json", &wrong).unwrap();
    let e = ChatPrompt::load(&dir, &cfg).unwrap_err().to_string();
    assert!(
        e.contains("<|ecg_pad|> is id 472") && e.contains("ecg_token_id is 471"),
        "{e}"
    );
}

/// bf16 against transformers in bf16 (`reference/<name>.bf16.json`, written by
/// `make_qwen3vl_fixtures.py --bf16-references` from the same committed checkpoints, weights
/// rounded to bf16 on load by both). Both accumulate matrix products in f32 and round every
/// activation to bf16, in other orders and with other fused steps, so the logits differ by a few
/// bf16 steps of their magnitude (these logits reach 7–11, where a step is 1/32–1/16); the
/// tolerances (`model::parity`'s header) are bf16's own error on the same case, transformers
/// bf16 against transformers f32 (0.08–0.17 here), doubled; greedy steps judged where the
/// reference's top-2 margin is clear.
fn check_bf16(name: &str) {
    let eng = engine_in(name, ModelDType::Bf16);
    assert_eq!(eng.model().dtype(), ModelDType::Bf16);
    assert_reference_parity(&eng, name, true);
}

#[test]
fn qwen3vl_in_bf16_matches_transformers_in_bf16() {
    check_bf16("qwen3vl-tiny");
}

#[test]
fn ecgr1_in_bf16_matches_transformers_in_bf16() {
    check_bf16("ecgr1-tiny");
}

/// The parity check can fail: a reference whose log-probability, greedy token and P(yes) are
/// moved is refused with each difference named.
#[test]
fn a_reference_the_outputs_do_not_match_fails_the_parity_check() {
    let eng = engine("qwen3vl-tiny");
    let path = parity::fixtures().join("reference/qwen3vl-tiny.json");
    let mut r = ParityReference::read(&path).unwrap();
    r.cases.truncate(1);
    let case = &mut r.cases[0];
    case.top_logprobs[3].1 += 0.01;
    case.greedy_tokens[5] = if case.greedy_tokens[5] == 7 { 8 } else { 7 };
    case.p_yes += 0.001;
    let report = check_reference(&eng, &r, None, &FixtureRoots::of_reference(&path)).unwrap();
    let failures = &report.cases[0].failures;
    assert!(!report.passed());
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert!(
        failures[0].starts_with("top-20 log-probabilities differ"),
        "{failures:#?}"
    );
    assert!(
        failures[1].starts_with("greedy token at step 5"),
        "{failures:#?}"
    );
    assert!(failures[2].starts_with("P(yes)"), "{failures:#?}");
}
