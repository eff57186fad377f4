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

fn run_analyze(args: &[&str]) -> serde_json::Value {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(args.iter().copied(), &mut out, &mut err);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    serde_json::from_slice(&out).unwrap()
}

/// ECG-R1 (Qwen3-VL + ECG-CoCa, tiny random weights) on a signal file: the signal goes to the ECG
/// tower, not onto paper, and the report says what was done to it; with --image both are read.
#[test]
fn local_ecgr1_reads_the_signal_through_its_tower_with_and_without_an_image() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/model");
    let signal = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/samples/synthetic_sinus.hea"
    );
    let model = format!("{root}/ecgr1-tiny");
    let image = format!("{root}/ecg_small.png");
    let base = [
        "ecgr1",
        "analyze",
        signal,
        "--engine",
        "local",
        "--model",
        &model,
        "--max-tokens",
        "8",
        "--json",
    ];
    let v = run_analyze(&base);
    assert_eq!(v["engine"], "ecg-r1");
    let notes: Vec<&str> = v["input_notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("ECG tower") && n.contains("101 ECG tokens")),
        "{notes:?}"
    );
    assert!(!notes.iter().any(|n| n.contains("rendered")), "{notes:?}");
    assert!(
        !notes.iter().any(|n| n.contains("visual tokens")),
        "{notes:?}"
    );
    // Interpretation: no P(yes), labels (if any) from the answer, malformed output reported.
    assert!(v["p_yes"].is_null());
    assert!(!v["parse_issues"].as_array().unwrap().is_empty());

    let mut both = base.to_vec();
    both.extend(["--image", &image, "--task", "twi"]);
    let v = run_analyze(&both);
    let notes = v["input_notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("ECG tower"))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("visual tokens"))
    );
    let p = v["p_yes"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(v["band"], RiskBand::from_p_yes(p).unwrap().name());
}

/// ECG-R1 on an image alone: the tower is simply not used.
#[test]
fn local_ecgr1_reads_an_image_alone() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/model");
    let model = format!("{root}/ecgr1-tiny");
    let image = format!("{root}/ecg_small.png");
    let v = run_analyze(&[
        "ecgr1",
        "analyze",
        &image,
        "--engine",
        "local",
        "--model",
        &model,
        "--max-tokens",
        "4",
        "--json",
    ]);
    let notes = v["input_notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("visual tokens"))
    );
    assert!(
        !notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("ECG tower"))
    );
}
