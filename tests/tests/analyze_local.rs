//! `ecgr1 analyze --engine local` end to end on the tiny random-weight Qwen2-VL checkpoint:
//! the model runs, P(yes) comes from its softmax, the band follows it, and malformed output
//! (random weights write gibberish) is reported, not fatal.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use ecgr1_engine::RiskBand;

#[test]
fn local_engine_twi_on_an_image_gives_p_yes_and_band() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/model");
    let image = format!("{root}/ecg_small.png");
    let model = format!("{root}/qwen2vl-tiny");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(
        [
            "ecgr1",
            "analyze",
            &image,
            "--engine",
            "local",
            "--model",
            &model,
            "--task",
            "twi",
            "--max-tokens",
            "12",
            "--json",
        ],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["engine"], "ecg-r1");
    let p = v["p_yes"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    let band = RiskBand::from_p_yes(p).unwrap();
    assert_eq!(v["band"], band.name());
    assert!(!v["parse_issues"].as_array().unwrap().is_empty());
    assert!(v["raw_output"].as_str().is_some());
}
