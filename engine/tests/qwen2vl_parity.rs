//! Parity with Hugging Face transformers on tiny random-weight Qwen2-VL checkpoints
//! (tests/fixtures/model, written by scripts/make_model_fixtures.py): token ids exact, pixel
//! values within 1e-5, top-20 log-probabilities within 1e-3, 16 greedy tokens identical, and the
//! yes/no masses after "<answer>" (`parity/mod.rs` and the engine's `model::parity`).

// Test code throughout: a failed unwrap is a failed test (clippy's in-test allowance does not
// reach helper functions of an integration test crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod parity;

use parity::{
    assert_pixels, assert_reference_parity, case_image, check_prompt, engine, image, reference,
};

fn check_checkpoint(name: &str) {
    let eng = engine(name);
    let r = reference(name);
    for case in r["cases"].as_array().unwrap() {
        let label = format!("{name}/{}", case["name"].as_str().unwrap());
        let img = case_image(&eng, case);
        check_prompt(&eng, case, &label, img.as_ref(), 0);
    }
    assert_reference_parity(&eng, name, false);
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
